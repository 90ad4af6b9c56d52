"""Register decoding, scaling and quality, read planning, and the send plan's decisions."""

from __future__ import annotations

import math
import struct

import pytest

from services.gateway.domain import (
    BatchRange,
    DataType,
    Failure,
    FailureAction,
    LanePlan,
    PendingRanges,
    RegisterPoint,
    RegisterTable,
    TokenBucket,
    WordOrder,
    action_for,
    decode_registers,
    plan_blocks,
)
from services.gateway.domain.batches import UNEXPLAINED_ATTEMPTS
from services.gateway.domain.registers import scaled_reading
from services.network.quality import QUALITY_BAD, QUALITY_GOOD, QUALITY_SATURATED, QUALITY_UNCERTAIN


def words(fmt: str, value: float) -> list[int]:
    raw = struct.pack(">" + fmt, value)
    return list(struct.unpack(f">{len(raw) // 2}H", raw))


@pytest.mark.parametrize(
    ("data_type", "fmt", "value"),
    [
        (DataType.INT16, "h", -1234),
        (DataType.UINT16, "H", 65000),
        (DataType.INT32, "i", -70000),
        (DataType.UINT32, "I", 4_000_000_000),
        (DataType.FLOAT32, "f", 412.5),
        (DataType.FLOAT64, "d", -1.0e-3),
    ],
)
def test_decode_both_word_orders(data_type: DataType, fmt: str, value: float) -> None:
    big = words(fmt, value)
    assert decode_registers(big, data_type, WordOrder.BIG) == pytest.approx(value)
    assert decode_registers(big[::-1], data_type, WordOrder.LITTLE) == pytest.approx(value)


def test_decode_wrong_register_count_is_refused() -> None:
    with pytest.raises(ValueError, match="float32 needs 2"):
        decode_registers([1, 2, 3], DataType.FLOAT32, WordOrder.BIG)


def test_scaling_and_quality() -> None:
    assert scaled_reading(4125, 0.1, -10.0, 0.0, 600.0) == (pytest.approx(402.5), QUALITY_GOOD)
    value, quality = scaled_reading(math.nan, 1.0, 0.0, 0.0, 600.0)
    assert (value, quality) == (0.0, QUALITY_BAD)  # in range, so telemetry judges it by quality, not as NaN
    assert scaled_reading(math.inf, 1.0, 0.0, -1.0, 1.0)[1] == QUALITY_BAD
    assert scaled_reading(700.0, 1.0, 0.0, 0.0, 600.0) == (700.0, QUALITY_SATURATED)  # a meter pinned past its end
    assert scaled_reading(-10.0, 1.0, 0.0, 0.0, 600.0) == (-10.0, QUALITY_SATURATED)
    assert scaled_reading(1300.0, 1.0, 0.0, 0.0, 600.0) == (
        1300.0,
        QUALITY_UNCERTAIN,
    )  # no meter reads that: sent as read


def point(
    tag: str, address: int, data_type: DataType = DataType.FLOAT32, unit: int = 1, period: float = 1.0
) -> RegisterPoint:
    return RegisterPoint(
        tag, unit, RegisterTable.HOLDING, address, data_type, WordOrder.BIG, 1.0, 0.0, 0.0, 1.0, period
    )


def test_plan_blocks_merges_contiguous_registers_up_to_the_modbus_limit() -> None:
    points = [point(f"T{i}", 2 * i) for i in range(100)]  # 200 registers
    blocks = plan_blocks(points)
    assert [(b.address, b.count) for b in blocks] == [(0, 124), (124, 76)]
    assert sum(len(b.points) for b in blocks) == 100


def test_plan_blocks_splits_on_gaps_units_and_periods() -> None:
    points = [point("A", 0), point("B", 10), point("C", 2, unit=2), point("D", 4, period=10.0), point("E", 2)]
    blocks = plan_blocks(points)
    assert {(b.unit_id, b.address, b.count, b.scan_period_s) for b in blocks} == {
        (1, 0, 4, 1.0),
        (1, 10, 2, 1.0),
        (2, 2, 2, 1.0),
        (1, 4, 2, 10.0),
    }
    assert len(plan_blocks(points, max_gap=6)) == 3  # A, E and B in one read when gaps may be read over


def test_pending_ranges_free_from_skips_assigned_ranges() -> None:
    pending = PendingRanges([BatchRange(7, 10, 19), BatchRange(8, 20, 29), BatchRange(9, 40, 49)])
    assert pending.free_from(0) == (0, 10)
    assert pending.free_from(10) == (30, 40)
    assert pending.free_from(25) == (30, 40)
    assert pending.free_from(45) == (50, None)
    pending.remove(BatchRange(8, 20, 29))
    assert pending.free_from(10) == (20, 40)


def test_lanes_after_reconnect_with_backlog() -> None:
    lanes = LanePlan()
    lanes.reconnected(next_row_id=1000, unsent_rows=999, threshold_rows=100)
    assert (lanes.live_from_id, lanes.live_cursor) == (1000, 1000)
    lanes.live_cursor = 1500
    lanes.backlog_done()
    assert lanes.live_from_id is None and lanes.backlog_cursor == 1500
    lanes.reconnected(next_row_id=1600, unsent_rows=50, threshold_rows=100)
    assert lanes.live_from_id is None  # a small queue is not a backlog


def test_token_bucket_paces() -> None:
    bucket = TokenBucket(rate_per_s=1000.0, burst=500.0, now_s=0.0)
    assert bucket.available(0.0) == 500.0
    bucket.take(500)
    assert bucket.available(0.1) == pytest.approx(100.0)
    assert bucket.wait_s(300, 0.1) == pytest.approx(0.2)


def test_failure_actions_never_retry_a_refused_batch_forever() -> None:
    assert action_for(Failure.TRANSIENT, 100, 50) is FailureAction.RESEND
    assert action_for(Failure.TOO_LARGE, 100, 1) is FailureAction.SPLIT
    assert action_for(Failure.TOO_LARGE, 1, 1) is FailureAction.DEAD_LETTER
    assert action_for(Failure.REFUSED, 2, 1) is FailureAction.SPLIT
    assert action_for(Failure.NOT_AUTHORISED, 100, 99) is FailureAction.WAIT  # keep the data, alert
    assert action_for(Failure.UNEXPLAINED, 10, 1) is FailureAction.RESEND
    assert action_for(Failure.UNEXPLAINED, 10, UNEXPLAINED_ATTEMPTS) is FailureAction.SPLIT
    assert action_for(Failure.UNEXPLAINED, 1, UNEXPLAINED_ATTEMPTS) is FailureAction.DEAD_LETTER
