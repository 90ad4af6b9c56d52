"""Methane %LEL in confined spaces (d): level crossings with hysteresis and grade hints, rate of rise.
"""

from __future__ import annotations

from ..layout import (
    EV_METHANE,
    EV_METHANE_CLEARED,
    EV_METHANE_RISE,
    P_CH4_HYST,
    P_CH4_ROR,
    P_CH4_ROR_MIN,
    P_CH4_ROR_TAU,
    SC_CONFINED,
    SC_LEL_ALARM,
    SF_ROR,
    SI_LEVEL,
    SI_ROR_LATCH,
)
from .common import _alpha, _emit, _jit


@_jit
def _methane(s, role, slot, t, v, prev_v, prev_t, params, slot_cfg, slot_f, slot_i, counters, ev_i, ev_f, n_ev):
    """A methane reading: level up (EV_METHANE with its grade hint), back below the alarm level with
    hysteresis (EV_METHANE_CLEARED), smoothed rate of rise over its threshold (EV_METHANE_RISE)."""
    cur = slot_i[slot, SI_LEVEL]
    lvl = 0
    for i in range(3):
        if v >= slot_cfg[slot, SC_LEL_ALARM + i]:
            lvl = i + 1
    confined = slot_cfg[slot, SC_CONFINED] != 0.0
    if prev_t >= 0:
        dts = max((t - prev_t) * 1e-6, 1e-3)
        rate = (v - prev_v) / dts * 60.0
        a = _alpha(dts, params[P_CH4_ROR_TAU])
        slot_f[slot, SF_ROR] += a * (rate - slot_f[slot, SF_ROR])
    ror = slot_f[slot, SF_ROR]
    if lvl > cur:
        hint = 4 - lvl  # level 3 -> grade 1 hint, 2 -> grade 2, 1 -> grade 3
        if lvl == 1 and confined:
            hint = 2
        _emit(ev_i, ev_f, n_ev, counters, EV_METHANE, s, role, t, t, lvl, v, 0.0, ror, float(hint),
              1.0 if confined else 0.0)
        slot_i[slot, SI_LEVEL] = lvl
    elif lvl < cur:
        hyst = params[P_CH4_HYST]
        new = cur
        while new > 0 and v < slot_cfg[slot, SC_LEL_ALARM + new - 1] - hyst:
            new -= 1
        if new != cur:
            slot_i[slot, SI_LEVEL] = new
            if new == 0:
                _emit(ev_i, ev_f, n_ev, counters, EV_METHANE_CLEARED, s, role, t, t, 0, v, 0.0, ror, 0.0,
                      1.0 if confined else 0.0)
    thr = params[P_CH4_ROR]
    if slot_i[slot, SI_ROR_LATCH] == 0:
        if ror > thr and v >= params[P_CH4_ROR_MIN]:
            slot_i[slot, SI_ROR_LATCH] = 1
            _emit(ev_i, ev_f, n_ev, counters, EV_METHANE_RISE, s, role, t, t, 0, v, 0.0, ror, 2.0,
                  1.0 if confined else 0.0)
    elif ror < 0.5 * thr:
        slot_i[slot, SI_ROR_LATCH] = 0
