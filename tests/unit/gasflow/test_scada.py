"""SCADA layer: error magnitudes, bias per meter, quantisation, timing, data problems, no ground truth."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from services.gasflow import LeakSpec, NetworkSpec, NodeSpec, PipeSpec, Probe, Scenario, Simulator
from services.gasflow.scada import (
    QUALITY_BAD,
    QUALITY_GOOD,
    QUALITY_SATURATED,
    Instrument,
    Readings,
    ScadaConfig,
    scada_readings,
)

NET = NetworkSpec(
    pipes=(PipeSpec("P", "IN", "OUT", 3000.0, 0.3),),
    nodes=(NodeSpec("IN", "pressure", 5e5), NodeSpec("OUT", "flow", 3.0)),
)


PROBES = (Probe("in", "P", 0.0), Probe("ch4", "P", 1500.0))


@pytest.fixture(scope="module")
def steady():  # type: ignore[no-untyped-def]
    return Simulator(NET).run(Scenario(duration_s=900.0, probes=PROBES, record_interval_s=0.5))


@pytest.fixture(scope="module")
def leaky():  # type: ignore[no-untyped-def]
    sc = Scenario(
        duration_s=900.0,
        probes=PROBES,
        record_interval_s=0.5,
        leaks=(LeakSpec("P", 1510.0, 300.0, rate_kg_per_s=0.05),),
    )
    return Simulator(NET).run(sc)


def _many(kind: str, n: int, **kw: float) -> list[Instrument]:
    return [Instrument(f"{kind}-{i}", "in", kind, 1.0, **kw) for i in range(n)]  # type: ignore[arg-type]


def _errors(readings: Readings, truth: float) -> np.ndarray:
    """Absolute errors, one row per meter."""
    rows = [readings.of_tag(t)[1] - truth for t in readings.tag_ids]
    n = min(len(r) for r in rows)
    return np.array([r[:n] for r in rows])


def test_flow_error_is_one_percent_of_reading_at_95_percent(steady) -> None:  # type: ignore[no-untyped-def]
    truth = float(steady.probe_flow_kg_per_s[0, 0])
    rd = scada_readings(steady, _many("flow", 300, accuracy_pct_of_reading=1.0), seed=7, config=ScadaConfig.ideal())
    rel = _errors(rd, truth) / truth
    assert np.std(rel) == pytest.approx(0.005, rel=0.1)  # σ = accuracy / 2
    assert np.mean(np.abs(rel) <= 0.01) == pytest.approx(0.954, abs=0.03)
    # a fixed bias per meter (70 % of σ) plus white noise (the rest)
    bias = rel.mean(axis=1)
    assert np.std(bias) == pytest.approx(0.7 * 0.005, rel=0.15)
    assert np.mean(np.std(rel, axis=1)) == pytest.approx(math.sqrt(1 - 0.49) * 0.005, rel=0.05)


def test_pressure_error_is_a_tenth_of_a_percent_of_span(steady) -> None:  # type: ignore[no-untyped-def]
    truth = float(steady.probe_pressure_pa[0, 0])
    span = 6e5
    inst = _many("pressure", 300, accuracy_abs_si=0.001 * span)
    inst = [
        dataclasses.replace(i, range_min_si=101325.0, range_max_si=101325.0 + span, resolution_si=span / 65536)
        for i in inst
    ]
    rd = scada_readings(steady, inst, seed=8, config=ScadaConfig.ideal())
    err = _errors(rd, truth)
    assert np.std(err) == pytest.approx(0.0005 * span, rel=0.1)
    # quantised to the 16-bit step
    assert np.allclose(np.round(rd.value_si / (span / 65536)) * (span / 65536), rd.value_si)


def test_temperature_error_half_a_kelvin(steady) -> None:  # type: ignore[no-untyped-def]
    inst = [Instrument(f"tt-{i}", "in", "temperature", 10.0, accuracy_abs_si=0.5) for i in range(300)]
    rd = scada_readings(steady, inst, seed=9, config=ScadaConfig.ideal())
    assert np.std(rd.value_si - steady.probe_temperature_k[0]) == pytest.approx(0.25, rel=0.1)


def test_scan_periods_jitter_and_ordering(steady) -> None:  # type: ignore[no-untyped-def]
    inst = [
        Instrument("pt", "in", "pressure", 0.1, accuracy_abs_si=600.0),
        Instrument("ft", "in", "flow", 1.0, accuracy_pct_of_reading=0.5),
    ]
    cfg = ScadaConfig(dropout_probability=0.0, outage_rate_per_hour=0.0, bad_quality_probability=0.0)
    rd = scada_readings(steady, inst, seed=1, config=cfg)
    assert rd.time_unix_us.dtype == np.int64 and rd.value_si.dtype == np.float64 and rd.quality.dtype == np.int8
    assert np.all(np.diff(rd.time_unix_us) >= 0)
    t_pt = rd.of_tag("pt")[0]
    t_ft = rd.of_tag("ft")[0]
    assert len(t_pt) == pytest.approx(9000, abs=2) and len(t_ft) == pytest.approx(900, abs=2)
    d = np.diff(t_pt) / 1e6
    assert np.median(d) == pytest.approx(0.1, abs=1e-3)
    assert d.min() >= 0.1 - 2 * 0.005 - 0.002 and d.max() <= 0.1 + 2 * 0.005 + 0.002  # ±5 ms jitter, 1 ms stamps
    start = steady.start_time_unix_s * 1e6
    assert t_pt.min() >= start - 1e5 and t_pt.max() <= start + 900e6 + 1e5


def test_dropouts_outages_and_quality_flags(steady) -> None:  # type: ignore[no-untyped-def]
    inst = _many("flow", 20, accuracy_pct_of_reading=1.0)
    inst = [dataclasses.replace(i, range_min_si=0.0, range_max_si=3.0) for i in inst]  # truth 3.0: at the top
    cfg = ScadaConfig(dropout_probability=0.1, outage_rate_per_hour=0.0, bad_quality_probability=0.05)
    rd = scada_readings(steady, inst, seed=2, config=cfg)
    assert len(rd) / (20 * 900) == pytest.approx(0.9, abs=0.02)
    frac_bad = np.mean(rd.quality == QUALITY_BAD)
    assert frac_bad == pytest.approx(0.05, abs=0.01)
    # about half the good samples exceed 3.0 and are pinned at it and flagged saturated
    assert np.mean(rd.quality == QUALITY_SATURATED) == pytest.approx(0.45, abs=0.08)
    assert rd.value_si.max() <= 3.0
    assert set(np.unique(rd.quality)) <= {QUALITY_GOOD, QUALITY_SATURATED, QUALITY_BAD}
    out = ScadaConfig(dropout_probability=0.0, outage_rate_per_hour=20.0, outage_mean_s=60.0)
    rd2 = scada_readings(steady, inst, seed=3, config=out)
    assert len(rd2) < 0.9 * 20 * 900  # ~5 outages of ~1 min per meter in 15 min


def test_methane_sensor_sees_a_nearby_leak(steady, leaky) -> None:  # type: ignore[no-untyped-def]
    inst = [Instrument("ch4", "ch4", "methane_lel", 30.0, accuracy_abs_si=3.0, range_min_si=0.0, range_max_si=100.0)]
    t, v, _ = scada_readings(leaky, inst, seed=4, config=ScadaConfig.ideal()).of_tag("ch4")
    before = v[(t - t[0]) < 250e6]
    assert before.max() < 10.0
    assert v[-5:].mean() > 40.0
    _, v0, _ = scada_readings(steady, inst, seed=4, config=ScadaConfig.ideal()).of_tag("ch4")
    assert v0.max() < 10.0  # no leak: noise and bias only, never below zero
    assert v0.min() >= 0.0


def test_readings_carry_no_ground_truth_and_are_reproducible(steady) -> None:  # type: ignore[no-untyped-def]
    assert {f.name for f in dataclasses.fields(Readings)} == {
        "tag_ids",
        "tag_index",
        "time_unix_us",
        "value_si",
        "quality",
    }
    inst = _many("flow", 3, accuracy_pct_of_reading=1.0)
    a = scada_readings(steady, inst, seed=5)
    b = scada_readings(steady, inst, seed=5)
    c = scada_readings(steady, inst, seed=6)
    assert np.array_equal(a.value_si, b.value_si) and np.array_equal(a.time_unix_us, b.time_unix_us)
    assert not np.array_equal(a.value_si[:100], c.value_si[:100])


@pytest.mark.parametrize(
    "make",
    [
        lambda: Instrument("x", "in", "flow", 0.0),
        lambda: Instrument("x", "in", "flow", 1.0, accuracy_pct_of_reading=float("nan")),
        lambda: Instrument("x", "in", "flow", 1.0, accuracy_abs_si=-1.0),
        lambda: Instrument("x", "in", "flow", 1.0, range_min_si=5.0, range_max_si=1.0),
        lambda: Instrument("x", "in", "vibes", 1.0),  # type: ignore[arg-type]
        lambda: ScadaConfig(dropout_probability=1.5),
        lambda: ScadaConfig(jitter_s=float("nan")),
    ],
)
def test_garbage_instrument_config_raises(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        make()


def test_garbage_instrument_lists_raise(steady) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        scada_readings(steady, [], seed=1)
    with pytest.raises(ValueError):
        scada_readings(steady, [Instrument("x", "nowhere", "flow", 1.0)], seed=1)
    with pytest.raises(ValueError):
        scada_readings(steady, [Instrument("x", "in", "flow", 1.0)] * 2, seed=1)
