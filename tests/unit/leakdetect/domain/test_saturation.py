"""Saturated readings in the kernels (issue 18): a meter pinned at its range end is a bound on the truth, used as
evidence where the bound can only understate a leak, counted out of range where it could fake one."""

from __future__ import annotations

import numpy as np

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorConfig
from services.leakdetect.domain.detector import DetectorState, process_batch
from services.leakdetect.reference.synthetic import SyntheticSegment, readings_of
from services.network.quality import QUALITY_GOOD, QUALITY_SATURATED, QUALITY_UNCERTAIN

from .conftest import T0_US

LEAK_KG_PER_S = 3.0  # 30 % of the nominal 10 kg/s, from 2 h
TOP_KG_PER_S = 11.5  # the meters' range ends here: the leak drives the inflow beyond it


def _pinned(role: int, top: float = TOP_KG_PER_S, leak: float = LEAK_KG_PER_S, demand_step: float = 0.0):
    """The synthetic segment with `role`'s meter ranging 0..top; readings beyond it arrive as telemetry sends them:
    at the range end with quality SATURATED. Returns config, readings and the mask of pinned readings."""
    seg = SyntheticSegment()
    cfg = DetectorConfig.empty(1)
    seg.configure(cfg, 0)
    cfg.set_instrument(0, role, sigma_rel=seg.flow_noise_rel, sigma_abs=0.001, range_min=0.0, range_max=top,
                       max_rate_per_s=5 * seg.nominal_flow, scan_period_s=1.0)
    sim = seg.simulate(3 * 3600, seed=11, leak_kg_per_s=leak, leak_start_s=2 * 3600, swing_frac=0.0,
                       demand_step_frac=demand_step, demand_step_s=2 * 3600, t0_us=T0_US)
    seg_idx, roles, t, v, q = readings_of(sim, 0)
    pinned = (roles == role) & (v > top)
    v = np.where(pinned, top, v)
    q = np.where(pinned, QUALITY_SATURATED, QUALITY_GOOD).astype(np.int64)
    return cfg, (seg_idx, roles, t, v, q), pinned


def test_an_inflow_pinned_at_the_top_during_a_leak_still_raises_the_alarm() -> None:
    cfg, (s, r, t, v, q), pinned = _pinned(L.ROLE_FLOW_IN)
    assert pinned[t >= T0_US + int(2.2 * 3600e6)].mean() > 0.2  # the meter is pinned most of the time after onset
    assert not pinned[t < T0_US + int(2 * 3600e6)].any()  # and never before
    state = DetectorState.new(cfg)
    ev = process_batch(state, s, r, t, v, q)
    leaks = ev[ev["kind"] == L.EV_LEAK]
    assert leaks.size >= 1 and leaks["time_us"].min() >= T0_US + int(2 * 3600e6)
    # the pinned readings were used, the meter never called flat-lined or stuck, the balance never suspended
    counters = state.counter_dict()
    assert counters["out_of_range"] == 0 and counters["bad_quality"] == 0
    health = ev[(ev["kind"] == L.EV_HEALTH) & (ev["role"] == L.ROLE_FLOW_IN)]
    assert not np.isin(health["code"], [L.HEALTH_FLATLINED, L.HEALTH_STUCK]).any()
    assert not np.any(ev["kind"] == L.EV_BALANCE_SUSPENDED)


def test_the_same_readings_dropped_as_uncertain_lose_the_evidence() -> None:
    """What saturation used to be (clipped and UNCERTAIN): the meter goes silent, the balance stops."""
    cfg, (s, r, t, v, q), pinned = _pinned(L.ROLE_FLOW_IN)
    q = np.where(pinned, QUALITY_UNCERTAIN, q)
    state = DetectorState.new(cfg)
    ev = process_batch(state, s, r, t, v, q)
    assert state.counter_dict()["bad_quality"] == int(pinned.sum())
    first_alarm_now = process_batch(DetectorState.new(cfg), *_pinned(L.ROLE_FLOW_IN)[1])
    t_now = first_alarm_now[first_alarm_now["kind"] == L.EV_LEAK]["time_us"].min()
    before = ev[ev["kind"] == L.EV_LEAK]
    assert before.size == 0 or before["time_us"].min() > t_now


def test_an_outflow_pinned_at_the_top_is_no_evidence_of_a_leak() -> None:
    """A demand surge beyond the outlet meter's range: the pinned outflow would fake an imbalance the other way
    round (outflow understated = gas missing), so those readings are counted out of range, not used."""
    cfg, (s, r, t, v, q), pinned = _pinned(L.ROLE_FLOW_OUT, leak=0.0, demand_step=0.3)
    assert pinned.sum() > 1000
    state = DetectorState.new(cfg)
    ev = process_batch(state, s, r, t, v, q)
    assert not np.any(ev["kind"] == L.EV_LEAK)
    assert state.counter_dict()["out_of_range"] == int(pinned.sum())


def test_a_saturated_flag_within_the_range_is_taken_at_face_value_as_a_bound() -> None:
    cfg, (s, r, t, v, q), _ = _pinned(L.ROLE_FLOW_IN, leak=0.0)
    q = np.where(r == L.ROLE_FLOW_IN, QUALITY_SATURATED, q)  # a gateway flags the inflow meter saturated all along
    state = DetectorState.new(cfg)
    ev = process_batch(state, s, r, t, v, q)
    assert state.counter_dict()["accepted"] == s.size and not np.any(ev["kind"] == L.EV_LEAK)
