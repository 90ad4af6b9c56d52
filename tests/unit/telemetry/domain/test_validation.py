"""Every rejection reason, SI normalisation and the per-segment columns of validate_batch."""

from __future__ import annotations

import math

import pytest

from services.contracts.pipewarden.telemetry.v1 import reading_pb2
from services.network import STANDARD_ATMOSPHERE_PA
from services.telemetry.domain import RejectReason, to_si, validate_batch

from .readings import GW, INDEX, LIMITS, NETWORK, NOW_US, TAG, R


def reasons(*readings: R, gateway: str = GW) -> list[RejectReason]:
    return [r.reason for r in validate_batch(readings, gateway, INDEX, NOW_US, LIMITS).rejections]


def test_reason_numbers_match_the_contract() -> None:
    for reason in RejectReason:
        assert reading_pb2.RejectReason.Value(f"REJECT_REASON_{reason.name}") == reason.value
    assert len(RejectReason) == len(reading_pb2.RejectReason.keys()) - 1  # all but UNSPECIFIED


def test_tag_of_the_fixture_is_what_the_tests_assume() -> None:
    tag = NETWORK.tags[TAG]
    assert (tag.gateway_id, tag.unit, tag.range_min, tag.range_max) == (GW, "kPa_g", 0.0, 600.0)


def test_valid_reading_is_accepted() -> None:
    result = validate_batch([R(TAG)], GW, INDEX, NOW_US, LIMITS)
    assert result.accepted_count == 1 and result.rejections == []


def test_unknown_tag() -> None:
    assert reasons(R("NO-SUCH-TAG")) == [RejectReason.UNKNOWN_TAG]


def test_tag_of_another_gateway() -> None:
    other = next(t for t in NETWORK.tags.values() if t.gateway_id != GW)
    result = validate_batch([R(other.tag_id)], GW, INDEX, NOW_US, LIMITS)
    assert [r.reason for r in result.rejections] == [RejectReason.TAG_NOT_OWNED]
    assert other.gateway_id in result.rejections[0].detail


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_value(value: float) -> None:
    assert reasons(R(TAG, value=value)) == [RejectReason.NON_FINITE_VALUE]


# Within one span beyond the range a value is a saturated meter (accepted: test_saturation.py); farther out
# no meter reads it.
@pytest.mark.parametrize("value", [-600.001, 1200.001, 1e300])
def test_out_of_range(value: float) -> None:
    result = validate_batch([R(TAG, value=value)], GW, INDEX, NOW_US, LIMITS)
    assert [r.reason for r in result.rejections] == [RejectReason.OUT_OF_RANGE]
    assert "kPa_g" in result.rejections[0].detail


@pytest.mark.parametrize("value", [0.0, 600.0])
def test_range_bounds_are_inclusive(value: float) -> None:
    assert reasons(R(TAG, value=value)) == []


@pytest.mark.parametrize("quality", [reading_pb2.QUALITY_BAD, 7])
def test_bad_quality(quality: int) -> None:
    assert reasons(R(TAG, quality=quality)) == [RejectReason.BAD_QUALITY]


@pytest.mark.parametrize("quality", [reading_pb2.QUALITY_UNSPECIFIED, reading_pb2.QUALITY_UNCERTAIN])
def test_usable_qualities_are_accepted_and_kept(quality: int) -> None:
    result = validate_batch([R(TAG, quality=quality)], GW, INDEX, NOW_US, LIMITS)
    assert result.by_segment["DS-M01"][0].qualities == [quality]


def test_timestamp_in_future_beyond_skew() -> None:
    assert reasons(R(TAG, source_time_unix_us=NOW_US + 5_000_001)) == [RejectReason.TIMESTAMP_IN_FUTURE]
    assert reasons(R(TAG, source_time_unix_us=NOW_US + 5_000_000)) == []


def test_timestamp_too_old() -> None:
    assert reasons(R(TAG, source_time_unix_us=NOW_US - 3_600_000_001)) == [RejectReason.TIMESTAMP_TOO_OLD]
    assert reasons(R(TAG, source_time_unix_us=NOW_US - 3_600_000_000)) == []


def test_duplicate_in_batch_rejects_the_later_occurrences_only() -> None:
    result = validate_batch([R(TAG, value=1.0), R(TAG, value=2.0), R(TAG, value=3.0)], GW, INDEX, NOW_US, LIMITS)
    assert [(r.index_in_batch, r.reason) for r in result.rejections] == [
        (1, RejectReason.DUPLICATE_IN_BATCH),
        (2, RejectReason.DUPLICATE_IN_BATCH),
    ]
    assert result.accepted_count == 1


def test_same_tag_at_different_times_is_not_a_duplicate() -> None:
    assert reasons(R(TAG), R(TAG, source_time_unix_us=NOW_US - 1)) == []


def test_rejection_indices_and_counts_in_a_mixed_batch() -> None:
    batch = [
        R(TAG),
        R("NOPE"),
        R(TAG, source_time_unix_us=NOW_US - 1, value=math.nan),
        R(TAG, source_time_unix_us=NOW_US - 2, value=-700.0),
    ]
    result = validate_batch(batch, GW, INDEX, NOW_US, LIMITS)
    assert [r.index_in_batch for r in result.rejections] == [1, 2, 3]
    assert result.rejection_counts() == {
        RejectReason.UNKNOWN_TAG: 1,
        RejectReason.NON_FINITE_VALUE: 1,
        RejectReason.OUT_OF_RANGE: 1,
    }
    assert result.accepted_count == 1 and result.rejected_count == 3


def test_accepted_readings_are_grouped_per_segment_in_columns() -> None:
    tags = [t for t in NETWORK.tags.values() if t.gateway_id == GW][:6]
    batch = [R(t.tag_id, NOW_US - k, value=t.range_min) for k in range(3) for t in tags]
    result = validate_batch(batch, GW, INDEX, NOW_US, LIMITS)
    assert result.accepted_count == 18
    for segment_id, columns in result.by_segment.items():
        for column in columns:
            assert NETWORK.tags[column.tag_id].segment_id == segment_id
            assert column.times_us == [NOW_US, NOW_US - 1, NOW_US - 2]
    assert sum(len(c.times_us) for cs in result.by_segment.values() for c in cs) == 18


@pytest.mark.parametrize(
    ("tag_id", "value", "expected_si"),
    [
        ("DS-M01-PT-UP", 400.0, 400_000.0 + STANDARD_ATMOSPHERE_PA),  # kPa gauge -> Pa absolute
        ("TR-01-PT-UP", 1.6, 1.6e6 + STANDARD_ATMOSPHERE_PA),  # MPa gauge -> Pa absolute
        ("TR-01-TT-UP", 10.0, 283.15),  # degC -> K
        ("TR-01-FT-UP", 3600.0, 0.58 * 1.2930),  # Nm3/h -> kg/s with the gas density at normal conditions
    ],
)
def test_si_normalisation(tag_id: str, value: float, expected_si: float) -> None:
    assert to_si(INDEX, tag_id, value) == pytest.approx(expected_si, rel=1e-12)
    gateway = NETWORK.tags[tag_id].gateway_id
    result = validate_batch([R(tag_id, value=value)], gateway, INDEX, NOW_US, LIMITS)
    (column,) = result.by_segment[NETWORK.tags[tag_id].segment_id]
    assert column.values_si == [pytest.approx(expected_si, rel=1e-12)]


def test_si_normalisation_of_kg_per_h_and_methane() -> None:
    flow = next(t for t in NETWORK.tags.values() if t.unit == "kg/h")
    methane = next(t for t in NETWORK.tags.values() if t.unit == "pct_lel")
    assert to_si(INDEX, flow.tag_id, 3600.0) == pytest.approx(1.0)
    assert to_si(INDEX, methane.tag_id, 12.5) == 12.5


def test_range_is_checked_in_the_tag_unit_before_conversion() -> None:
    # 600 kPa_g is in range although its SI value (701325 Pa) is not below 600.
    assert reasons(R(TAG, value=600.0)) == []


def test_empty_input_gives_empty_result() -> None:
    result = validate_batch([], GW, INDEX, NOW_US, LIMITS)
    assert result.accepted_count == 0 and result.by_segment == {} and result.rejections == []


def test_protobuf_readings_are_accepted_directly() -> None:
    reading = reading_pb2.Reading(
        tag_id=TAG, source_time_unix_us=NOW_US, value=1.0, quality=reading_pb2.QUALITY_GOOD
    )
    assert validate_batch([reading], GW, INDEX, NOW_US, LIMITS).accepted_count == 1
