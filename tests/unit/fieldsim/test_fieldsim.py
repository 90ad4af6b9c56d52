"""Batches at scan periods, plausible values that telemetry accepts, bad-reading injection, and garbage."""

from __future__ import annotations

import pytest

from services.fieldsim import BadReadings, BatchBuilder, PlausibleValues
from services.fieldsim.__main__ import main as cli_main
from services.network import TagKind, load_demo_network
from services.telemetry.domain import RejectReason, TagIndex, ValidationLimits, validate_batch

NETWORK = load_demo_network()
LIMITS = ValidationLimits(max_clock_skew_us=5_000_000, max_age_us=3_600_000_000)
T0 = 1_800_000_000.0  # on every scan grid


def builder(gateway: str = "gw-transmission", **kwargs) -> BatchBuilder:  # type: ignore[no-untyped-def]
    values = PlausibleValues(NETWORK, seed=1)
    return BatchBuilder(gateway, NETWORK.tags_of_gateway(gateway), values, first_sequence=7, seed=2, **kwargs)


def test_samples_follow_scan_periods_and_sequences_increase() -> None:
    b = builder()
    first = b.build(T0)
    second = b.build(T0 + 1.0)
    assert first is not None and second is not None
    assert (first.batch_sequence, second.batch_sequence) == (7, 8)
    per_tag: dict[str, int] = {}
    for r in second.readings:
        per_tag[r.tag_id] = per_tag.get(r.tag_id, 0) + 1
    for tag in NETWORK.tags_of_gateway("gw-transmission"):
        expected = round(1.0 / tag.scan_period_s) if tag.scan_period_s <= 1.0 else 0
        assert per_tag.get(tag.tag_id, 0) == expected, tag.tag_id
    assert b.build(T0 + 1.0) is None  # nothing new is due


def test_plausible_values_pass_telemetry_validation() -> None:
    for gateway in NETWORK.gateways:
        b = builder(gateway)
        for k in range(3):
            batch = b.build(T0 + 10.0 * k)
            assert batch is not None
            now_us = int((T0 + 10.0 * k) * 1e6)
            result = validate_batch(batch.readings, gateway, TagIndex.from_network(NETWORK), now_us, LIMITS)
            assert result.rejections == [], (gateway, result.rejections[:3])


def test_flows_are_consistent_along_a_segment() -> None:
    values = PlausibleValues(NETWORK, seed=3, noise=False)
    for segment_id in ("TR-01", "DS-M01"):
        up = NETWORK.end_tag(segment_id, TagKind.FLOW, upstream=True)
        down = NETWORK.end_tag(segment_id, TagKind.FLOW, upstream=False)
        assert up is not None and down is not None
        assert values.sample(up, T0) == pytest.approx(values.sample(down, T0), rel=1e-9)
        p_up = NETWORK.end_tag(segment_id, TagKind.PRESSURE, upstream=True)
        p_down = NETWORK.end_tag(segment_id, TagKind.PRESSURE, upstream=False)
        assert p_up is not None and p_down is not None
        assert values.sample(p_up, T0) > values.sample(p_down, T0)


def test_bad_readings_are_injected_and_rejected() -> None:
    b = builder("gw-ds-01", bad=BadReadings(fraction=1.0))
    index = TagIndex.from_network(NETWORK)
    seen: set[RejectReason] = set()
    for k in range(4):
        batch = b.build(T0 + k)
        assert batch is not None
        result = validate_batch(batch.readings, "gw-ds-01", index, int((T0 + k) * 1e6), LIMITS)
        assert len(result.rejections) == 1
        seen.add(result.rejections[0].reason)
    assert seen == {RejectReason.OUT_OF_RANGE, RejectReason.UNKNOWN_TAG}


def test_sequence_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        BatchBuilder("gw-ds-01", (), PlausibleValues(NETWORK), first_sequence=0)


@pytest.mark.parametrize(
    "argv",
    [
        ["--tokens", "nonsense", "--duration", "0.1"],
        ["--tokens", "gw-nope=tok12345", "--gateways", "gw-nope", "--duration", "0.1"],
        ["--tokens", "", "--duration", "0.1"],
        ["--tokens", "gw-ds-01=tok12345", "--replay-from", "600", "--time-scale", "0.5", "--duration", "0.1"],
        ["--tokens", "gw-ds-01=tok12345", "--replay-from", "600", "--batch-source-s", "-1", "--duration", "0.1"],
    ],
)
def test_cli_refuses_garbage(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPEWARDEN_FIELDSIM_GATEWAY_TOKENS", raising=False)
    monkeypatch.delenv("PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS", raising=False)
    assert cli_main(argv) == 2
