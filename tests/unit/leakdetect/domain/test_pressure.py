"""Negative pressure waves (location, boundary events) and the rupture detector on synthetic pressure."""

from __future__ import annotations

import numpy as np
import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.detector import DetectorState, advance_to, decode_events, process_batch

from .conftest import T0_US, front_readings, pressure_config

LENGTH, C = 10_000.0, 380.0


@pytest.mark.parametrize(("scan_s", "tol_pct"), [(0.1, 1.0), (1.0, 2.0)])
@pytest.mark.parametrize("x_m", [1500.0, 4200.0, 5000.0, 7700.0])
def test_npw_locates_a_leak_within_tolerance(scan_s, tol_pct, x_m):
    cfg = pressure_config(LENGTH, C, scan_s)
    t_leak = 50.0
    r = front_readings(t_leak + x_m / C, t_leak + (LENGTH - x_m) / C, 3000.0, scan_s=scan_s, seed=int(x_m))
    ev = process_batch(DetectorState.new(cfg), *r)
    npw = ev[ev["kind"] == L.EV_NPW_LEAK]
    assert len(npw) == 1
    e = npw[0]
    assert abs(e["value"] - x_m) <= tol_pct / 100 * LENGTH
    # the stated uncertainty covers the error and reflects the sampling period
    assert abs(e["value"] - x_m) <= 4 * e["sigma"] + 1.0
    assert e["sigma"] > 0
    assert abs((e["onset_us"] - T0_US) / 1e6 - t_leak) < 2.0
    # leak size from the front amplitude (Joukowsky): 2 A dp / c
    (named,) = decode_events(npw)
    assert named.size_estimate_kg_per_s == pytest.approx(2 * np.pi * 0.2**2 * 3000.0 / C, rel=0.1)


def test_wave_entering_from_the_downstream_end_is_an_operational_event():
    cfg = pressure_config(LENGTH, C, 0.1)
    r = front_readings(40.0 + LENGTH / C, 40.0, 3000.0)
    ev = process_batch(DetectorState.new(cfg), *r)
    assert not np.any(ev["kind"] == L.EV_NPW_LEAK)
    b = ev[ev["kind"] == L.EV_NPW_BOUNDARY]
    assert len(b) == 1 and b[0]["code"] == 2 and b[0]["value"] > 0.95 * LENGTH


def test_wave_entering_from_upstream_is_an_operational_event():
    cfg = pressure_config(LENGTH, C, 0.1)
    r = front_readings(40.0, 40.0 + LENGTH / C, 3000.0)
    ev = process_batch(DetectorState.new(cfg), *r)
    b = ev[ev["kind"] == L.EV_NPW_BOUNDARY]
    assert len(b) == 1 and b[0]["code"] == 1
    assert not np.any(ev["kind"] == L.EV_NPW_LEAK)


def test_a_drop_at_one_end_only_is_unpaired():
    cfg = pressure_config(LENGTH, C, 0.1)
    r = front_readings(40.0, 1e9, 3000.0, seconds=100.0)
    state = DetectorState.new(cfg)
    ev = process_batch(state, *r)
    ev = np.concatenate([ev, advance_to(state, T0_US + 200_000_000)])
    assert not np.any(ev["kind"] == L.EV_NPW_LEAK)
    assert np.sum(ev["kind"] == L.EV_NPW_UNPAIRED) == 1


def test_noise_alone_raises_nothing():
    cfg = pressure_config(LENGTH, C, 0.1)
    r = front_readings(1e9, 1e9, 0.0, seconds=600.0, noise_pa=100.0)
    ev = process_batch(DetectorState.new(cfg), *r)
    assert not np.any(np.isin(ev["kind"], [L.EV_NPW_LEAK, L.EV_NPW_BOUNDARY, L.EV_NPW_UNPAIRED, L.EV_RUPTURE]))


def test_rupture_detected_within_seconds_and_only_once():
    cfg = pressure_config(LENGTH, C, 0.1)
    # 20 % collapse over 3 s, reaching the ends 5 s and 21 s after the break
    r = front_readings(65.0, 81.0, 0.2 * 1.5e6, rise_s=3.0, seconds=200.0)
    ev = process_batch(DetectorState.new(cfg), *r)
    rup = ev[ev["kind"] == L.EV_RUPTURE]
    assert len(rup) == 1
    assert (rup[0]["time_us"] - T0_US) / 1e6 - 65.0 < 3.0
    assert rup[0]["value"] > 0.015 * 1.5e6


def test_a_small_leak_front_is_not_a_rupture():
    cfg = pressure_config(LENGTH, C, 0.1)
    r = front_readings(50.0, 60.0, 3000.0)
    ev = process_batch(DetectorState.new(cfg), *r)
    assert not np.any(ev["kind"] == L.EV_RUPTURE)


def _with_flows(inflow_after: float, outflow_after: float, t_change_s: float) -> tuple:
    """Pressure collapse at both ends plus 1 Hz flow meters that move as given after t_change_s."""
    cfg = pressure_config(LENGTH, C, 0.1)
    for role in (L.ROLE_FLOW_IN, L.ROLE_FLOW_OUT):
        cfg.set_instrument(0, role, sigma_rel=0.002, range_min=0.0, range_max=100.0, scan_period_s=1.0)
    p = front_readings(t_change_s, t_change_s + 2.0, 0.05 * 1.5e6, rise_s=2.0, seconds=200.0)
    t = np.arange(0.0, 200.0, 1.0) + 0.37
    parts = [p]
    rng = np.random.default_rng(3)
    for role, after in ((L.ROLE_FLOW_IN, inflow_after), (L.ROLE_FLOW_OUT, outflow_after)):
        q = np.where(t < t_change_s, 10.0, after) * (1 + 0.002 * rng.standard_normal(t.size))
        parts.append((np.zeros(t.size, dtype=np.int64), np.full(t.size, role, dtype=np.int64),
                      T0_US + np.round(t * 1e6).astype(np.int64), q, np.ones(t.size, dtype=np.int64)))
    from .conftest import merged

    return cfg, merged(parts)


def test_rupture_confirmed_by_flows_running_towards_the_break():
    cfg, r = _with_flows(25.0, 2.0, 80.0)
    ev = process_batch(DetectorState.new(cfg), *r)
    rup = ev[ev["kind"] == L.EV_RUPTURE]
    assert len(rup) == 1
    assert (rup[0]["time_us"] - T0_US) / 1e6 - 80.0 < 5.0


def test_supply_cut_is_not_a_rupture():
    # upstream valve closing: pressure collapses and the inflow falls (and the outflow follows later)
    cfg, r = _with_flows(2.0, 10.0, 80.0)
    ev = process_batch(DetectorState.new(cfg), *r)
    assert not np.any(ev["kind"] == L.EV_RUPTURE)
