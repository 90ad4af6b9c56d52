"""Rupture (e): a large fast pressure collapse at an end, vetoed when the flows show a supply cut; never waits
for a balance window.
"""

from __future__ import annotations

import math

import numpy as np

from ..layout import (
    EV_RUPTURE,
    GC_NOMINAL_FLOW,
    GI_RUPTURE_UNTIL,
    N_ROLES,
    P_RUP_CONFIRM,
    P_RUP_FRAC,
    P_RUP_REFRACT_S,
    ROLE_FLOW_IN,
    ROLE_FLOW_OUT,
    ROLE_PRESSURE_UP,
    SC_PRESENT,
    SF_A_REF,
    SF_EW_REF,
    SF_EW_SLOW,
    SF_RAW,
    SF_RUP_T0,
    SI_NPW_PHASE,
    SI_NPW_T_DET,
    SI_RAW_TIME,
    SI_RUP_N,
)
from .common import _emit, _jit, _jit_inline, _sigma2

RUPTURE_FLOW_WAIT_S = 5.0  # a 1 Hz flow meter has spoken by then
RUPTURE_MAX_WAIT_S = 60.0

@_jit
def _rupture_flow_verdict(s, role, t, t0, seg_cfg, slot_cfg, slot_f, slot_i):
    """1: the flow at this end moves towards a break inside (more in at the upstream end, less out at the
    downstream end); -1: it moves the other way or not at all (a supply cut, a valve, a demand surge);
    0: no flow reading since the drop began, wait. A missing or silent meter leaves the pressure to decide."""
    upstream = role == ROLE_PRESSURE_UP
    f = s * N_ROLES + (ROLE_FLOW_IN if upstream else ROLE_FLOW_OUT)
    if slot_cfg[f, SC_PRESENT] == 0.0 or slot_f[f, SF_EW_SLOW] != slot_f[f, SF_EW_SLOW]:
        return 1
    if slot_i[f, SI_RAW_TIME] <= np.int64(t0):
        return 1 if (t - t0) * 1e-6 > RUPTURE_FLOW_WAIT_S else 0
    ref = slot_f[f, SF_EW_SLOW]
    d = slot_f[f, SF_RAW] - ref
    tol = max(4.0 * math.sqrt(_sigma2(slot_cfg, f, ref)), 0.05 * seg_cfg[s, GC_NOMINAL_FLOW])
    if (upstream and d > tol) or (not upstream and d < -tol):
        return 1
    return -1


@_jit_inline
def _rupture(s, role, slot, t, v, prev_t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_i, counters, ev_i, ev_f, n_ev):
    """Pressure far below a slow reference, held, and the flow at the same end moving towards the break."""
    ref = slot_f[slot, SF_EW_REF]
    drop = ref - v
    if drop > params[P_RUP_FRAC] * ref:
        if slot_i[slot, SI_RUP_N] == 0:
            slot_f[slot, SF_RUP_T0] = float(prev_t)
        slot_i[slot, SI_RUP_N] += 1
        held_s = (t - slot_f[slot, SF_RUP_T0]) * 1e-6
        if slot_i[slot, SI_RUP_N] >= 2 and held_s >= params[P_RUP_CONFIRM]:
            verdict = _rupture_flow_verdict(s, role, t, slot_f[slot, SF_RUP_T0], seg_cfg, slot_cfg, slot_f, slot_i)
            if verdict > 0:
                if t >= seg_i[s, GI_RUPTURE_UNTIL]:
                    seg_i[s, GI_RUPTURE_UNTIL] = t + np.int64(params[P_RUP_REFRACT_S] * 1e6)
                    t0 = np.int64(slot_f[slot, SF_RUP_T0])
                    if slot_i[slot, SI_NPW_PHASE] != 0 and slot_i[slot, SI_NPW_T_DET] < t0:
                        t0 = slot_i[slot, SI_NPW_T_DET]
                    rate = drop / max((t - t0) * 1e-6, 1e-3)
                    _emit(ev_i, ev_f, n_ev, counters, EV_RUPTURE, s, role, t, t0, 0, drop, 0.0, rate, ref, 0.0)
                verdict = -1
            if verdict < 0 or held_s > RUPTURE_MAX_WAIT_S:
                # decided (or an operation, or a slow decline): the new level is the reference from now on
                slot_f[slot, SF_EW_REF] = v
                slot_i[slot, SI_RUP_N] = 0
    else:
        slot_i[slot, SI_RUP_N] = 0
        slot_f[slot, SF_EW_REF] += slot_f[slot, SF_A_REF] * (v - ref)
