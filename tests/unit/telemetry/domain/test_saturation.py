"""A value beyond a meter's range is a saturated reading: accepted at the range end with its own quality code,
counted, never dropped (issue 18)."""

from __future__ import annotations

import pytest

from services.contracts.pipewarden.telemetry.v1 import reading_pb2
from services.network import STANDARD_ATMOSPHERE_PA
from services.network.quality import QUALITY_SATURATED, USABLE_QUALITIES
from services.telemetry.domain import RejectReason, validate_batch

from .readings import GW, INDEX, LIMITS, NETWORK, NOW_US, TAG, R


def _one(reading: R):  # type: ignore[no-untyped-def]
    result = validate_batch([reading], GW, INDEX, NOW_US, LIMITS)
    return result, result.by_segment.get("DS-M01", [None])[0]


@pytest.mark.parametrize(("value", "pinned_kpa"), [(600.001, 600.0), (1150.0, 600.0), (-0.001, 0.0), (-550.0, 0.0)])
def test_beyond_the_range_is_accepted_at_the_range_end_as_saturated(value: float, pinned_kpa: float) -> None:
    result, column = _one(R(TAG, value=value))
    assert result.rejections == [] and result.accepted_count == 1 and result.saturated_count == 1
    assert column.qualities == [QUALITY_SATURATED]
    assert column.values_si == [pytest.approx(pinned_kpa * 1e3 + STANDARD_ATMOSPHERE_PA)]


def test_a_gateway_may_flag_saturation_itself() -> None:
    result, column = _one(R(TAG, value=600.0, quality=QUALITY_SATURATED))
    assert column.qualities == [QUALITY_SATURATED] and result.saturated_count == 1
    assert QUALITY_SATURATED in USABLE_QUALITIES


def test_bad_quality_beyond_the_range_is_still_bad() -> None:
    result, _ = _one(R(TAG, value=700.0, quality=reading_pb2.QUALITY_BAD))
    assert [r.reason for r in result.rejections] == [RejectReason.BAD_QUALITY]


def test_in_range_readings_are_not_saturated_and_far_out_is_refused() -> None:
    result, column = _one(R(TAG, value=600.0))
    assert column.qualities == [reading_pb2.QUALITY_GOOD] and result.saturated_count == 0
    far, _ = _one(R(TAG, value=1200.5))
    assert [r.reason for r in far.rejections] == [RejectReason.OUT_OF_RANGE]
    assert "not a saturated meter" in far.rejections[0].detail


def test_a_flow_pinned_during_a_rupture_keeps_every_reading() -> None:
    flow = next(t for t in NETWORK.tags.values() if t.gateway_id == GW and t.kind.value == "flow")
    top = flow.range_max
    batch = [R(flow.tag_id, NOW_US - k, value=top * (1.0 + 0.001 * k)) for k in range(1, 21)]
    result = validate_batch(batch, GW, INDEX, NOW_US, LIMITS)
    assert result.rejected_count == 0 and result.accepted_count == result.saturated_count == 20
    (column,) = [c for cs in result.by_segment.values() for c in cs]
    assert set(column.qualities) == {QUALITY_SATURATED} and len(set(column.values_si)) == 1
