"""Size limits of what a gateway sends: refusals name the field and the limit; details stay bounded."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.contracts.pipewarden.telemetry.v1 import reading_pb2, telemetry_ingest_service_pb2
from services.network import load_demo_network
from services.telemetry.config import TelemetryConfig
from services.telemetry.domain import (
    MAX_GATEWAY_ID_BYTES,
    MAX_QUOTED_CHARS,
    MAX_REJECT_DETAIL_CHARS,
    MAX_TAG_ID_BYTES,
    BatchError,
    TagIndex,
    TagRule,
    ValidationLimits,
    check_batch_shape,
    max_request_bytes,
    validate_batch,
)
from services.telemetry.domain.limits import check_field_size, clipped, quoted

NOW_US = 1_800_000_000_000_000
LIMITS = ValidationLimits(max_clock_skew_us=5_000_000, max_age_us=3_600_000_000)
INDEX = TagIndex.from_network(load_demo_network())
GW = "gw-ds-01"


@dataclass
class R:
    tag_id: str
    source_time_unix_us: int = NOW_US
    value: float = 300.0
    quality: int = reading_pb2.QUALITY_GOOD


def test_the_demo_network_is_within_the_limits() -> None:
    assert max(len(t.encode()) for t in INDEX.rules) <= MAX_TAG_ID_BYTES
    assert max(len(r.gateway_id.encode()) for r in INDEX.rules.values()) <= MAX_GATEWAY_ID_BYTES


@pytest.mark.parametrize(
    "value", ["x" * MAX_TAG_ID_BYTES, "é" * (MAX_TAG_ID_BYTES // 2), "\U0001f600" * (MAX_TAG_ID_BYTES // 4)]
)
def test_a_field_at_its_limit_in_utf8_bytes_passes(value: str) -> None:
    check_field_size("f", value, MAX_TAG_ID_BYTES)


@pytest.mark.parametrize(
    ("value", "size"),
    [("x" * (MAX_TAG_ID_BYTES + 1), MAX_TAG_ID_BYTES + 1), ("é" * 129, 258), ("x" * 1_500_000, 1_500_000)],
)
def test_a_field_over_its_limit_is_refused_naming_field_size_and_limit(value: str, size: int) -> None:
    with pytest.raises(BatchError) as caught:
        check_field_size("batch.readings[7].tag_id", value, MAX_TAG_ID_BYTES)
    assert caught.value.kind == BatchError.INVALID
    message = str(caught.value)
    assert f"batch.readings[7].tag_id is {size} bytes long; at most {MAX_TAG_ID_BYTES} bytes" in message
    assert len(message) < 200


def test_oversized_unknown_tag_refuses_the_whole_batch() -> None:
    readings = [R("DS-M01-PT-UP"), R("NO-SUCH-TAG"), R("T" * (MAX_TAG_ID_BYTES + 1)), R("U" * 10**6)]
    with pytest.raises(BatchError) as caught:
        validate_batch(readings, GW, INDEX, NOW_US, LIMITS)
    assert caught.value.kind == BatchError.INVALID
    assert "batch.readings[2].tag_id" in str(caught.value)  # the first one over the limit


def test_unknown_tag_at_the_limit_is_an_ordinary_rejection_with_a_bounded_detail() -> None:
    tag = "\u2028" * (MAX_TAG_ID_BYTES // 3)  # repr() makes 6 characters of each
    result = validate_batch([R(tag)], GW, INDEX, NOW_US, LIMITS)
    [rejection] = result.rejections
    assert repr(tag) not in rejection.detail
    assert f"({len(tag) - MAX_QUOTED_CHARS} more characters)" in rejection.detail
    assert len(rejection.detail) <= 6 * MAX_QUOTED_CHARS + 100 <= MAX_REJECT_DETAIL_CHARS


def test_long_gateway_id_is_invalid_not_permission_denied() -> None:
    check_batch_shape("g" * MAX_GATEWAY_ID_BYTES, 1, 1, "g" * MAX_GATEWAY_ID_BYTES, max_readings=10)
    with pytest.raises(BatchError) as caught:
        check_batch_shape("gw" + "x" * 10**6, 1, 1, "gw", max_readings=10)
    assert caught.value.kind == BatchError.INVALID
    assert f"batch.gateway_id is 1000002 bytes long; at most {MAX_GATEWAY_ID_BYTES}" in str(caught.value)


def test_network_model_with_ids_over_the_limits_is_refused() -> None:
    def rule(tag_id: str, gateway_id: str) -> TagRule:
        return TagRule(tag_id, gateway_id, "S", "Pa", 0.0, 1.0, 1.0, 0.0)

    TagIndex([rule("t" * MAX_TAG_ID_BYTES, "g" * MAX_GATEWAY_ID_BYTES)])
    with pytest.raises(ValueError, match="tag id"):
        TagIndex([rule("t" * (MAX_TAG_ID_BYTES + 1), "g")])
    with pytest.raises(ValueError, match="gateway id"):
        TagIndex([rule("t", "g" * (MAX_GATEWAY_ID_BYTES + 1))])


def test_quoted_and_clipped() -> None:
    assert quoted("abc") == "'abc'"
    assert quoted("a" * 100, 10) == "'aaaaaaaaaa'... (90 more characters)"
    assert clipped("short", 50) == "short"
    long = clipped("x" * 10_000, 100)
    assert len(long) <= 100 and long.endswith("more characters)")


def test_default_message_limit_admits_the_largest_valid_batch() -> None:
    config = TelemetryConfig()
    n = config.max_readings_per_batch
    worst = reading_pb2.Reading(
        tag_id="x" * MAX_TAG_ID_BYTES, source_time_unix_us=-1, value=-1.5, quality=-1  # type: ignore[arg-type]
    )
    batch = reading_pb2.ReadingBatch(
        gateway_id="g" * MAX_GATEWAY_ID_BYTES, batch_sequence=2**64 - 1, readings=[worst] * n
    )
    request = telemetry_ingest_service_pb2.PublishBatchRequest(batch=batch)
    assert request.ByteSize() <= max_request_bytes(n) <= config.max_receive_message_bytes
    assert max_request_bytes(n) - request.ByteSize() < 64  # the bound is tight


class _NoPublisher:
    async def publish(self, records: object) -> None:
        raise AssertionError("not used")


def test_server_warns_when_the_message_limit_is_below_the_largest_valid_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from services.telemetry.bootstrap import build_server

    network = load_demo_network()
    with caplog.at_level("WARNING", logger="services.telemetry"):
        build_server(TelemetryConfig(), network=network, publisher=_NoPublisher())
        assert not [r for r in caplog.records if "largest valid batch" in r.getMessage()]
        build_server(
            TelemetryConfig(max_receive_message_bytes=1024 * 1024), network=network, publisher=_NoPublisher()
        )
    [warning] = [r for r in caplog.records if "largest valid batch" in r.getMessage()]
    assert warning.largest_valid_batch_bytes == max_request_bytes(10_000)  # type: ignore[attr-defined]
