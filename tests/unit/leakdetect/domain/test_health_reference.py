"""Kernel == reference for the sensor-health checks (f): an outage (stale), a flat-lined and a stuck
transmitter, a one-reading spike and a burst of implausible readings, bad quality, duplicates and out-of-range
values, and generated mixtures of all of them on a pressure transmitter, a flow meter and a temperature."""

from __future__ import annotations

import numpy as np
import pytest

from services.leakdetect.domain import events as E
from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorConfig
from services.leakdetect.domain.detector import DetectorState, decode_events, process_batch
from services.leakdetect.reference.health import HealthEvent, Instrument, health_events

from .conftest import T0_US

PT = Instrument(L.ROLE_PRESSURE_UP, sigma_abs=500.0, range_min=0.0, range_max=2.6e6, max_rate_per_s=2.0e4,
                scan_period_s=1.0)
FT = Instrument(L.ROLE_FLOW_IN, sigma_rel=0.0025, sigma_abs=0.01, range_min=-20.0, range_max=20.0,
                max_rate_per_s=2.0, scan_period_s=1.0)
TT = Instrument(L.ROLE_TEMPERATURE, sigma_abs=0.25, range_min=233.0, range_max=333.0, max_rate_per_s=2.0,
                scan_period_s=10.0)
BASE = {L.ROLE_PRESSURE_UP: 1.5e6, L.ROLE_FLOW_IN: 8.0, L.ROLE_TEMPERATURE: 283.0}
NOISE = {L.ROLE_PRESSURE_UP: 500.0, L.ROLE_FLOW_IN: 0.03, L.ROLE_TEMPERATURE: 0.25}


def _series(inst: Instrument, seconds: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = np.arange(0.0, seconds, inst.scan_period_s) + rng.uniform(0, 0.5)
    v = BASE[inst.role] + NOISE[inst.role] * rng.standard_normal(t.size)
    return {"t": t, "v": v, "q": np.ones(t.size, np.int64)}


def _inject(s: dict[str, np.ndarray], role: int, kind: str, at_s: float, rng: np.random.Generator) -> None:
    t, v, q = s["t"], s["v"], s["q"]
    noise = NOISE[role]
    i = int(np.searchsorted(t, at_s))
    if kind == "outage":
        keep = (t < at_s) | (t > at_s + rng.uniform(20, 300))
        s["t"], s["v"], s["q"] = t[keep], v[keep], q[keep]
    elif kind == "flat":
        v[i : i + int(rng.integers(20, 80))] = v[i]
    elif kind == "stuck":
        n = int(rng.integers(40, 130))
        v[i : i + n] = v[i] + 1e-4 * noise * rng.standard_normal(len(v[i : i + n]))
    elif kind == "spike":
        v[i] += rng.choice([-1, 1]) * rng.uniform(50, 200) * noise
    elif kind == "burst":
        n = int(rng.integers(2, 15))
        v[i : i + n] += rng.uniform(50, 200) * noise
    elif kind == "bad":
        q[i : i + int(rng.integers(1, 30))] = rng.choice([2, 3])
    elif kind == "range":
        v[i : i + int(rng.integers(1, 5))] = 1e9
    elif kind == "nan":
        v[i] = np.nan
    elif kind == "duplicate":
        s["t"] = np.insert(t, i, t[max(i - 1, 0)])
        s["v"] = np.insert(v, i, v[i])
        s["q"] = np.insert(q, i, 1)


def _compare(instruments: list[Instrument], series: dict[int, dict[str, np.ndarray]]) -> list[HealthEvent]:
    role = np.concatenate([np.full(s["t"].size, r) for r, s in series.items()])
    t_us = T0_US + np.round(np.concatenate([s["t"] for s in series.values()]) * 1e6).astype(np.int64)
    v = np.concatenate([s["v"] for s in series.values()])
    q = np.concatenate([s["q"] for s in series.values()])
    order = np.argsort(t_us, kind="stable")
    role, t_us, v, q = role[order], t_us[order], v[order], q[order]
    cfg = DetectorConfig.empty(1)
    cfg.set_segment(0, length_m=5000.0, inner_diameter_m=0.3, nominal_flow_kg_per_s=10.0, wave_speed_m_per_s=380.0)
    for inst in instruments:
        cfg.set_instrument(0, inst.role, sigma_rel=inst.sigma_rel, sigma_abs=inst.sigma_abs, range_min=inst.range_min,
                           range_max=inst.range_max, max_rate_per_s=inst.max_rate_per_s,
                           scan_period_s=inst.scan_period_s)
    raw = process_batch(DetectorState.new(cfg), np.zeros(role.size), role, t_us, v, q)
    got = [(e.role, e.time_us, e.health, e.previous) for e in decode_events(raw)
           if isinstance(e, E.SensorHealthChanged)]
    want = health_events(instruments, role.tolist(), t_us.tolist(), v.tolist(), q.tolist())
    assert got == want
    return want


@pytest.mark.parametrize("kind", ["outage", "flat", "stuck", "spike", "burst", "bad", "range", "nan", "duplicate"])
def test_kernel_equals_reference_for_each_fault(kind: str) -> None:
    rng = np.random.default_rng(len(kind))
    series = {i.role: _series(i, 1800.0, rng) for i in (PT, FT, TT)}
    _inject(series[L.ROLE_PRESSURE_UP], L.ROLE_PRESSURE_UP, kind, 600.0, rng)
    want = _compare([PT, FT, TT], series)
    assert {(r, h) for r, _, h, _ in want} >= {(L.ROLE_PRESSURE_UP, L.HEALTH_OK), (L.ROLE_FLOW_IN, L.HEALTH_OK)}
    expected = {"outage": L.HEALTH_STALE, "flat": L.HEALTH_FLATLINED, "stuck": L.HEALTH_STUCK,
                "spike": L.HEALTH_IMPLAUSIBLE_RATE, "burst": L.HEALTH_IMPLAUSIBLE_RATE}.get(kind)
    if expected is not None:  # the fault shows, and the instrument recovers
        pt = [(h, prev) for r, _, h, prev in want if r == L.ROLE_PRESSURE_UP]
        assert (expected, L.HEALTH_OK) in pt and (L.HEALTH_OK, expected) in pt


@pytest.mark.parametrize("seed", range(8))
def test_kernel_equals_reference_on_generated_mixtures(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    series = {i.role: _series(i, 3600.0, rng) for i in (PT, FT, TT)}
    kinds = ["outage", "flat", "stuck", "spike", "burst", "bad", "range", "nan", "duplicate"]
    for role in series:
        for at in np.sort(rng.uniform(60, 3400, int(rng.integers(2, 8)))):
            _inject(series[role], role, str(rng.choice(kinds)), float(at), rng)
    _compare([PT, FT, TT], series)
