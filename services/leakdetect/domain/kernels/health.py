"""Sensor health per tag (codes of pipewarden.leakdetect.v1.SensorHealth): stale, flat-lined, stuck, implausible
rate. A health change is an event (`common._set_health`); an unhealthy flow meter suspends the balance, an
unhealthy pressure transmitter stops its NPW and rupture checks (the driver skips them).
"""

from __future__ import annotations

import numpy as np

from ..layout import (
    C_IMPLAUSIBLE,
    GC_NOMINAL_FLOW,
    GI_T_START,
    HEALTH_FLATLINED,
    HEALTH_IMPLAUSIBLE_RATE,
    HEALTH_OK,
    HEALTH_STALE,
    HEALTH_STUCK,
    N_ROLES,
    P_FLAT_N,
    P_FLAT_S,
    P_IMPL_CLEAR_N,
    P_STALE_FACTOR,
    P_STALE_MIN_S,
    P_STUCK_FRAC,
    ROLE_FLOW_IN,
    ROLE_FLOW_OUT,
    ROLE_METHANE_0,
    ROLE_METHANE_END,
    ROLE_TEMPERATURE,
    SC_MAX_RATE,
    SC_SCAN_S,
    SF_ANCHOR,
    SF_HELD,
    SI_FLAT_N,
    SI_FLAT_T0,
    SI_GOOD_RUN,
    SI_HEALTH,
    SI_IMPL_N,
    SI_LAST_GOOD_TIME,
    SI_STUCK_N,
)
from .common import _jit, _jit_inline, _set_health, _sigma2


@_jit
def _check_stale(s, slot, role, t_end, params, slot_cfg, slot_i, seg_f, seg_i, counters, ev_i, ev_f, n_ev):
    """At a tick's close: stale after max(P_STALE_FACTOR scan periods, P_STALE_MIN_S) without a good reading."""
    stale_us = max(params[P_STALE_FACTOR] * slot_cfg[slot, SC_SCAN_S], params[P_STALE_MIN_S]) * 1e6
    last = slot_i[slot, SI_LAST_GOOD_TIME]
    ref = last if last >= 0 else seg_i[s, GI_T_START]
    if t_end - ref > stale_us and slot_i[slot, SI_HEALTH] != HEALTH_STALE:
        _set_health(slot_i, seg_f, slot, s, role, HEALTH_STALE, t_end, ev_i, ev_f, n_ev, counters)


@_jit_inline
def _rate_plausible(s, role, slot, t, v, prev_v, good_v, prev_t, slot_cfg, slot_i, seg_f, counters, ev_i, ev_f, n_ev):
    """Whether the change to v is within the physics plus four s.d. of the difference of two readings (squares:
    no sqrt per reading), and the value it was judged against. First against the last good reading (good_v): a
    one-reading spike costs that reading only. Else against the last value received (prev_v, a refused one): the
    second reading of a real step confirms it. Refused: counted, the slot marked IMPLAUSIBLE_RATE."""
    if prev_t < 0:
        return True, prev_v
    dts = (t - prev_t) * 1e-6
    max_rate = slot_cfg[slot, SC_MAX_RATE]
    excess = abs(v - good_v) - max_rate * dts
    if not (excess > 0.0 and excess * excess > 32.0 * _sigma2(slot_cfg, slot, good_v)):
        return True, good_v
    excess = abs(v - prev_v) - max_rate * dts
    if not (excess > 0.0 and excess * excess > 32.0 * _sigma2(slot_cfg, slot, prev_v)):
        return True, prev_v
    counters[C_IMPLAUSIBLE] += 1
    slot_i[slot, SI_IMPL_N] += 1
    slot_i[slot, SI_GOOD_RUN] = 0
    _set_health(slot_i, seg_f, slot, s, role, HEALTH_IMPLAUSIBLE_RATE, t, ev_i, ev_f, n_ev, counters)
    return False, prev_v


@_jit_inline
def _health_limits(params):
    """The per-reading health checks' parameters (flat_n, flat_us, stuck_frac, impl_clear), read once per kernel call:
    read per reading they are reloaded and converted every time, since the compiler cannot tell that the state
    arrays written in between are not `params` (a measurable share of the kernel's time)."""
    return (np.int64(params[P_FLAT_N]), params[P_FLAT_S] * 1e6, params[P_STUCK_FRAC],
            np.int64(params[P_IMPL_CLEAR_N]))


@_jit_inline
def _reading_health(s, role, slot, t, v, prev_v, prev_t, limits, seg_cfg, slot_cfg, slot_f, slot_i):
    """Health after an accepted reading: flat-lined (exactly the same value for P_FLAT_N readings over P_FLAT_S),
    stuck (changes far below the random error for twice as many), still IMPLAUSIBLE_RATE until P_IMPL_CLEAR_N
    plausible readings, else OK. Methane sensors are neither flat-lined nor stuck (clean air reads 0).
    `limits` is `_health_limits(params)`."""
    flat_n, flat_us, stuck_frac, impl_clear = limits
    base_slot = s * N_ROLES
    new_h = HEALTH_OK
    # a flow meter reading exactly zero is shut in, unless the meter at the other end still sees flow
    zero_ok = False
    if role <= ROLE_FLOW_OUT and v == 0.0:
        partner = base_slot + (ROLE_FLOW_OUT if role == ROLE_FLOW_IN else ROLE_FLOW_IN)
        zero_ok = abs(slot_f[partner, SF_HELD]) < 0.05 * seg_cfg[s, GC_NOMINAL_FLOW]
    if not ROLE_METHANE_0 <= role < ROLE_METHANE_END and not zero_ok:
        if prev_t >= 0 and v == prev_v:
            slot_i[slot, SI_FLAT_N] += 1
        else:
            slot_i[slot, SI_FLAT_N] = 0
            slot_i[slot, SI_FLAT_T0] = t
        if slot_i[slot, SI_FLAT_N] >= flat_n and t - slot_i[slot, SI_FLAT_T0] >= flat_us:
            new_h = HEALTH_FLATLINED
        if role != ROLE_TEMPERATURE:
            dv = v - slot_f[slot, SF_ANCHOR]
            if prev_t >= 0 and dv * dv <= stuck_frac * stuck_frac * _sigma2(slot_cfg, slot, v):
                slot_i[slot, SI_STUCK_N] += 1
            else:
                slot_i[slot, SI_STUCK_N] = 0
                slot_f[slot, SF_ANCHOR] = v
            if new_h == HEALTH_OK and slot_i[slot, SI_STUCK_N] >= 2 * flat_n:
                new_h = HEALTH_STUCK
    if slot_i[slot, SI_HEALTH] == HEALTH_IMPLAUSIBLE_RATE and slot_i[slot, SI_GOOD_RUN] < impl_clear:
        new_h = HEALTH_IMPLAUSIBLE_RATE
    return new_h
