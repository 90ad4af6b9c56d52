"""Numba kernels of the leak detector: one pass over a batch of readings, all state in preallocated arrays.

See `services.leakdetect.domain` for the methods. Everything here is `njit(cache=True)` in nopython mode;
array column indices come from `layout` and are compile-time constants.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from services.network.quality import QUALITY_BAD, QUALITY_MAX, QUALITY_UNCERTAIN, QUALITY_UNSPECIFIED

from . import _numba_cache, layout
from .layout import (
    C_ACCEPTED,
    C_BAD_QUALITY,
    C_EVENTS_DROPPED,
    C_IMPLAUSIBLE,
    C_LATE,
    C_NONFINITE,
    C_OUT_OF_ORDER,
    C_OUT_OF_RANGE,
    C_UNKNOWN_SLOT,
    EF_AUX1,
    EF_AUX2,
    EF_AUX3,
    EF_SIGMA,
    EF_VALUE,
    EI_CODE,
    EI_KIND,
    EI_ONSET,
    EI_ROLE,
    EI_SEG,
    EI_TIME,
    EV_BALANCE_RESUMED,
    EV_BALANCE_SUSPENDED,
    EV_BASELINE_LEARNED,
    EV_HEALTH,
    EV_LEAK,
    EV_LEAK_CLEARED,
    EV_LEAK_UPDATE,
    EV_METHANE,
    EV_METHANE_CLEARED,
    EV_METHANE_RISE,
    EV_NPW_BOUNDARY,
    EV_NPW_LEAK,
    EV_NPW_UNPAIRED,
    EV_RUPTURE,
    GC_AREA_M2,
    GC_LENGTH_M,
    GC_NOMINAL_FLOW,
    GC_R_SPECIFIC,
    GC_TEMPERATURE_K,
    GC_VOLUME_M3,
    GC_WAVE_SPEED,
    GC_WAVE_SPEED_SD,
    GC_Z_SLOPE,
    GF_B_LPV,
    GF_B_T,
    GF_B_V,
    GF_B_VB,
    GF_B_W,
    GF_B_WQ,
    GF_B_WQQ,
    GF_B_WQR,
    GF_B_WR,
    GF_B_WRR,
    GF_BASE_A,
    GF_BASE_G,
    GF_BASE_VAR,
    GF_BLK_LP,
    GF_BLK_LPN,
    GF_BLK_LPSYS,
    GF_BLK_LPVAR,
    GF_BLK_MBAR,
    GF_CUM_A,
    GF_CUM_M,
    GF_CUM_Q,
    GF_CUM_V,
    GF_CUSUM,
    GF_CUSUM_SUM_E,
    GF_CUSUM_SUM_V,
    GF_G_LPV0,
    GF_G_M,
    GF_G_Q,
    GF_G_RUNV,
    GF_G_V,
    GF_KAPPA,
    GF_LAST_E,
    GF_LAST_SIGMA,
    GF_LP,
    GF_LP_VAR,
    GF_MBAR_PREV,
    GF_MDLR0,
    GF_NPW_A_DN,
    GF_NPW_A_UP,
    GF_NPW_SIG_DN,
    GF_NPW_SIG_UP,
    GF_NPW_T_DN,
    GF_NPW_T_UP,
    GF_QBAR,
    GF_SZ0,
    GF_TLP1,
    GF_TLP1_VAR,
    GF_TLP2,
    GF_TLP2_VAR,
    GF_VAR_G,
    GF_Z0,
    GI_BLK_INVALID,
    GI_CLEAR_RUN,
    GI_CLOCK,
    GI_CUSUM_N,
    GI_CUSUM_ONSET,
    GI_G_N,
    GI_LATCHED,
    GI_LEARN_LAST,
    GI_LEARNED,
    GI_LP_VALID,
    GI_N_BLOCKS,
    GI_N_LEARN,
    GI_NPW_PEND_DN,
    GI_NPW_PEND_UP,
    GI_PERSIST0,
    GI_RING_POS,
    GI_RUPTURE_UNTIL,
    GI_SINCE_RAISE,
    GI_SPERSIST0,
    GI_SUSPENDED,
    GI_T_START,
    GI_TICK,
    HEALTH_FLATLINED,
    HEALTH_IMPLAUSIBLE_RATE,
    HEALTH_OK,
    HEALTH_STALE,
    HEALTH_STUCK,
    HEALTH_UNKNOWN,
    HIST_LEN,
    N_ROLES,
    N_WINDOWS,
    P_BLOCK_TICKS,
    P_CH4_HYST,
    P_CH4_ROR,
    P_CH4_ROR_MIN,
    P_CH4_ROR_TAU,
    P_CLEAR_BLOCKS,
    P_CUSUM_H,
    P_CUSUM_K,
    P_END_DIV,
    P_EPS_LP,
    P_FLAT_N,
    P_FLAT_S,
    P_GAIN_PRIOR,
    P_IMPL_CLEAR_N,
    P_KAPPA_MIN,
    P_LEARN_AFTER_US,
    P_LEARN_BLOCKS,
    P_LEARN_GROUP,
    P_LP_NOISE_K,
    P_LP_SCALE_ERR,
    P_LP_TRANS_FLOOR,
    P_MODEL_FLOOR,
    P_NPW_CONFIRM_S,
    P_NPW_END_FRAC,
    P_NPW_K,
    P_NPW_MIN_DROP,
    P_NPW_PAIR_TOL,
    P_NPW_REFRACT_S,
    P_NPW_TAU_FAST,
    P_NPW_TAU_SLOW,
    P_PERSIST,
    P_RUP_CONFIRM,
    P_RUP_FRAC,
    P_RUP_REFRACT_S,
    P_RUP_TAU,
    P_STALE_FACTOR,
    P_STALE_MIN_S,
    P_STEP_REF,
    P_STUCK_FRAC,
    P_TICK_US,
    P_WIN0,
    P_Z_WINDOW,
    R_A,
    R_INVALID,
    R_LP,
    R_LP_VAR,
    R_M,
    R_Q,
    R_TIME,
    R_V,
    R_X,
    RATE_TICKS,
    ROLE_FLOW_IN,
    ROLE_FLOW_OUT,
    ROLE_METHANE_0,
    ROLE_PRESSURE_DOWN,
    ROLE_PRESSURE_UP,
    ROLE_TEMPERATURE,
    SC_CONFINED,
    SC_LEL_ALARM,
    SC_MAX_RATE,
    SC_PRESENT,
    SC_RANGE_MAX,
    SC_RANGE_MIN,
    SC_SCAN_S,
    SC_SIGMA_ABS,
    SC_SIGMA_REL,
    SC_TIME_RES_S,
    SF_A_FAST,
    SF_A_REF,
    SF_A_SLOPE,
    SF_A_SLOW,
    SF_ANCHOR,
    SF_CACHE_DTS,
    SF_CUR_N,
    SF_CUR_SUM,
    SF_EW_FAST,
    SF_EW_REF,
    SF_EW_SLOW,
    SF_HELD,
    SF_HELD_VAR,
    SF_INV_DTS,
    SF_LAST_VALUE,
    SF_NOISE_VAR,
    SF_NPW_BASE,
    SF_NXT_N,
    SF_NXT_SUM,
    SF_RAW,
    SF_ROR,
    SF_RUP_T0,
    SF_SLOPE,
    SI_FLAT_N,
    SI_FLAT_T0,
    SI_GOOD_RUN,
    SI_HEALTH,
    SI_HIST_N,
    SI_HIST_POS,
    SI_IMPL_N,
    SI_LAST_GOOD_TIME,
    SI_LAST_TIME,
    SI_LEVEL,
    SI_NPW_N,
    SI_NPW_PHASE,
    SI_NPW_T_DET,
    SI_RAW_TIME,
    SI_READINGS,
    SI_ROR_LATCH,
    SI_RUP_N,
    SI_STUCK_N,
    TEST_CUSUM,
    TEST_STEP0,
)

_numba_cache.drop_if_dependencies_changed(__file__, layout.__file__)

BIAS_ALLOWANCE = 2.0
Z_CLIP = 3.5  # cap of one block's contribution to the CUSUM: one bad block must not raise an alarm alone
# Smoothing of the gas temperature used for the line pack. Long on purpose: buried gas changes temperature by
# ~1 K a day (a line-pack rate of ~0.1 % of flow), while a short average lets the transmitter's noise wander
# the line pack by more than the leaks the 15- and 60-minute windows look for. Until that long has passed
# the running mean of all readings so far is used.
TEMPERATURE_TAU_S = 14400.0
NPW_SLOPE_TAU_S = 30.0
NPW_MAX_RISE_TAU = 2.5  # a front rises from 25 to 75 % within this many smoothing time constants
UPDATE_BLOCKS = 10  # the leak-rate estimate is refined this many blocks (5 min) after the raise
RUPTURE_FLOW_WAIT_S = 5.0  # a 1 Hz flow meter has spoken by then
RUPTURE_MAX_WAIT_S = 60.0
MAX_CATCHUP_BLOCKS = 70  # a silent gap longer than this many blocks restarts the balance instead of replaying

# Every function here but `group_by_segment` is compiled without numba's runtime (NRT): none of them allocates,
# and the arrays they are passed belong to the caller for the whole call. With the runtime, each call would take and
# drop a reference to every array argument, and numba's pruning pass cannot remove these across branches (numba
# issue #2350): a locked (atomic) increment or decrement each, ~20 cycles, 26 of them per pressure reading alone,
# which was 70 % of the kernel's time. `_nrt=False` is the option numba uses for its own hot helpers (it is not in
# numba's type stubs); an allocation in such a function fails to compile instead of leaking.
_jit = njit(cache=True, error_model="numpy", _nrt=False)  # type: ignore[call-overload]
# the pressure path is the most frequent one (half the readings at 1 Hz, most of them at 10 Hz): inlined into the
# kernel, it is not a call that pushes ~110 words of array descriptors onto the stack for every pressure reading
# (without reference counting, inlining costs nothing else)
_jit_inline = njit(cache=True, error_model="numpy", _nrt=False, inline="always")  # type: ignore[call-overload]


@_jit
def _emit(ev_i, ev_f, n_ev, counters, kind, seg, role, t, onset, code, v, sg, a1, a2, a3):
    k = n_ev[0]
    if k >= ev_i.shape[0]:
        counters[C_EVENTS_DROPPED] += 1
        return
    ev_i[k, EI_KIND] = kind
    ev_i[k, EI_SEG] = seg
    ev_i[k, EI_ROLE] = role
    ev_i[k, EI_TIME] = t
    ev_i[k, EI_ONSET] = onset
    ev_i[k, EI_CODE] = code
    ev_f[k, EF_VALUE] = v
    ev_f[k, EF_SIGMA] = sg
    ev_f[k, EF_AUX1] = a1
    ev_f[k, EF_AUX2] = a2
    ev_f[k, EF_AUX3] = a3
    n_ev[0] = k + 1


@_jit
def _alpha(dt, tau):
    """Weight of a new sample in an exponential average of time constant tau: 1 - exp(-x) ~ x / (1 + x),
    exact enough for smoothing and free of a transcendental call per reading."""
    x = dt / tau
    return x / (1.0 + x)


@_jit
def _sigma2(slot_cfg, slot, v):
    """Variance of one reading of this slot at value v."""
    r = slot_cfg[slot, SC_SIGMA_REL] * v
    a = slot_cfg[slot, SC_SIGMA_ABS]
    return r * r + a * a


@_jit
def _healthy(slot_cfg, slot_i, slot):
    return slot_cfg[slot, SC_PRESENT] != 0.0 and slot_i[slot, SI_HEALTH] == HEALTH_OK


@_jit
def _usable(slot_cfg, slot_f, slot_i, slot):
    """Healthy and with a tick mean to hold (NaN until the first tick with a reading has closed)."""
    return _healthy(slot_cfg, slot_i, slot) and slot_f[slot, SF_HELD] == slot_f[slot, SF_HELD]


@_jit
def _set_health(slot_i, seg_f, slot, seg, role, new, t, ev_i, ev_f, n_ev, counters):
    old = slot_i[slot, SI_HEALTH]
    if new != old:
        slot_i[slot, SI_HEALTH] = new
        _emit(ev_i, ev_f, n_ev, counters, EV_HEALTH, seg, role, t, t, new, seg_f[seg, GF_MDLR0 + 2], 0.0,
              float(old), 0.0, 0.0)


# Gauss-Legendre nodes and weights on [0, 1] for the mean pressure of the line-pack profile
_GL_X = np.array([0.5 * (1.0 - 0.9061798459386640), 0.5 * (1.0 - 0.5384693101056831), 0.5,
                  0.5 * (1.0 + 0.5384693101056831), 0.5 * (1.0 + 0.9061798459386640)])
_GL_W = np.array([0.5 * 0.2369268850561891, 0.5 * 0.4786286704993665, 0.5 * 0.5688888888888889,
                  0.5 * 0.4786286704993665, 0.5 * 0.2369268850561891])


@_jit
def mean_pressure(pu, pd, q_in, q_out):
    """Mean pressure (Pa) of an isothermal gas line from its end pressures and end flows.

    Quasi-steady friction-dominated profile with the mass flow varying linearly from q_in to q_out (the line
    packs or unpacks between the meters): p(x)^2 = pu^2 - (pu^2 - pd^2) F(x) / F(1), F(x) = int_0^x q^2.
    With q_in = q_out it is the steady profile, mean 2/3 (pu + pd - pu pd / (pu + pd)). Against the
    simulator's true line pack it halves the error of the steady profile during operations. Falls back to
    the steady profile when the flows are unknown, reversed or zero, or pu <= pd.
    """
    if not (q_in > 0.0 and q_out > 0.0 and pu > pd):
        return 2.0 / 3.0 * (pu + pd - pu * pd / (pu + pd))
    d = q_out - q_in
    f1 = q_in * q_in + q_in * d + d * d / 3.0
    k = (pu * pu - pd * pd) / f1
    pm = 0.0
    for i in range(5):
        x = _GL_X[i]
        f = q_in * q_in * x + q_in * d * x * x + d * d * x * x * x / 3.0
        pm += _GL_W[i] * math.sqrt(pu * pu - k * f)
    return pm


@_jit
def _line_pack(seg_cfg, slot_cfg, slot_f, slot_i, s):
    """Line pack (kg) from the tick means of the end pressures (and flows, when both are usable: the profile
    of `mean_pressure`), its random variance (kg^2, independent from tick to tick), its systematic variance
    (the same error in every tick: one end missing) and whether it is valid."""
    base = s * N_ROLES
    su = base + ROLE_PRESSURE_UP
    sd = base + ROLE_PRESSURE_DOWN
    ok_u = _usable(slot_cfg, slot_f, slot_i, su)
    ok_d = _usable(slot_cfg, slot_f, slot_i, sd)
    var_sys = 0.0
    if ok_u and ok_d:
        pu = slot_f[su, SF_HELD]
        pd = slot_f[sd, SF_HELD]
        si = base + ROLE_FLOW_IN
        so = base + ROLE_FLOW_OUT
        if _usable(slot_cfg, slot_f, slot_i, si) and _usable(slot_cfg, slot_f, slot_i, so):
            pm = mean_pressure(pu, pd, slot_f[si, SF_HELD], slot_f[so, SF_HELD])
        else:
            pm = mean_pressure(pu, pd, 0.0, 0.0)
        var_p = 0.25 * (slot_f[su, SF_HELD_VAR] + slot_f[sd, SF_HELD_VAR])
    elif ok_u or ok_d:
        one = su if ok_u else sd
        pm = slot_f[one, SF_HELD]
        # one end only: the mean pressure is uncertain by the typical end-to-end difference (2 % of p)
        var_p = slot_f[one, SF_HELD_VAR]
        var_sys = (0.02 * pm) ** 2
    else:
        return 0.0, 0.0, 0.0, False
    if not (pm > 0.0 and var_p == var_p):
        return 0.0, 0.0, 0.0, False
    st = base + ROLE_TEMPERATURE
    temp = seg_cfg[s, GC_TEMPERATURE_K]
    # the smoothed gas temperature, held through a transmitter outage: buried gas changes temperature over
    # hours, while swapping to the design temperature would step the line pack by a percent
    if slot_cfg[st, SC_PRESENT] != 0.0 and slot_f[st, SF_EW_SLOW] > 100.0:
        temp = slot_f[st, SF_EW_SLOW]
    z = 1.0 + seg_cfg[s, GC_Z_SLOPE] * pm
    rt = seg_cfg[s, GC_R_SPECIFIC] * temp
    vol = seg_cfg[s, GC_VOLUME_M3]
    d = vol / (rt * z * z)
    return vol * pm / (z * rt), d * d * var_p, d * d * var_sys, True


@_jit
def _close_tick(s, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring, counters, ev_i, ev_f, n_ev):
    tick_us = np.int64(params[P_TICK_US])
    k = seg_i[s, GI_TICK]
    t_end = (k + 1) * tick_us
    dt = tick_us * 1e-6
    base = s * N_ROLES
    # 1. tick means (sample and hold), staleness
    for role in range(N_ROLES):
        slot = base + role
        if slot_cfg[slot, SC_PRESENT] == 0.0:
            continue
        n = slot_f[slot, SF_CUR_N]
        if n > 0.0:
            m = slot_f[slot, SF_CUR_SUM] / n
            slot_f[slot, SF_HELD] = m
            slot_f[slot, SF_HELD_VAR] = _sigma2(slot_cfg, slot, m) / n
            if role == ROLE_TEMPERATURE:
                # gas temperature changes over hours; its reading noise must not enter the line pack
                if not (slot_f[slot, SF_EW_SLOW] > 0.0):
                    slot_f[slot, SF_EW_SLOW] = m
                else:
                    alpha = max(dt / TEMPERATURE_TAU_S, 1.0 / max(slot_i[slot, SI_READINGS], 1))
                    slot_f[slot, SF_EW_SLOW] += alpha * (m - slot_f[slot, SF_EW_SLOW])
        else:
            slot_f[slot, SF_HELD_VAR] = _sigma2(slot_cfg, slot, slot_f[slot, SF_HELD])
        slot_f[slot, SF_CUR_SUM] = slot_f[slot, SF_NXT_SUM]
        slot_f[slot, SF_CUR_N] = slot_f[slot, SF_NXT_N]
        slot_f[slot, SF_NXT_SUM] = 0.0
        slot_f[slot, SF_NXT_N] = 0.0
        stale_us = max(params[P_STALE_FACTOR] * slot_cfg[slot, SC_SCAN_S], params[P_STALE_MIN_S]) * 1e6
        last = slot_i[slot, SI_LAST_GOOD_TIME]
        ref = last if last >= 0 else seg_i[s, GI_T_START]
        if t_end - ref > stale_us and slot_i[slot, SI_HEALTH] != HEALTH_STALE:
            _set_health(slot_i, seg_f, slot, s, role, HEALTH_STALE, t_end, ev_i, ev_f, n_ev, counters)
    # 2. balance over the tick; the block keeps the mean of the cumulative net inflow and of the line pack
    # over its ticks, so that both sides of the balance are averaged over the same interval: acoustic
    # oscillations (period 4L/c) and pressure noise mostly average out of the line-pack difference.
    si = base + ROLE_FLOW_IN
    so = base + ROLE_FLOW_OUT
    bal_ok = _usable(slot_cfg, slot_f, slot_i, si) and _usable(slot_cfg, slot_f, slot_i, so)
    if bal_ok:
        qin = slot_f[si, SF_HELD]
        qout = slot_f[so, SF_HELD]
        c_prev = seg_f[s, GF_CUM_M]
        seg_f[s, GF_CUM_M] = c_prev + (qin - qout) * dt
        seg_f[s, GF_BLK_MBAR] += 0.5 * (c_prev + seg_f[s, GF_CUM_M])
        seg_f[s, GF_CUM_Q] += 0.5 * (qin + qout) * dt
        seg_f[s, GF_CUM_V] += (slot_f[si, SF_HELD_VAR] + slot_f[so, SF_HELD_VAR]) * dt * dt
        if seg_i[s, GI_SUSPENDED] != 0:
            seg_i[s, GI_SUSPENDED] = 0
            _emit(ev_i, ev_f, n_ev, counters, EV_BALANCE_RESUMED, s, -1, t_end, t_end, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    else:
        seg_i[s, GI_BLK_INVALID] = 1
        if seg_i[s, GI_SUSPENDED] == 0:
            seg_i[s, GI_SUSPENDED] = 1
            seg_f[s, GF_CUSUM] = 0.0
            seg_i[s, GI_CUSUM_N] = 0
            for w in range(N_WINDOWS):
                seg_i[s, GI_PERSIST0 + w] = 0
                seg_i[s, GI_SPERSIST0 + w] = 0
                seg_f[s, GF_MDLR0 + w] = np.inf
                seg_f[s, GF_Z0 + w] = np.nan
                seg_f[s, GF_SZ0 + w] = np.nan
            _emit(ev_i, ev_f, n_ev, counters, EV_BALANCE_SUSPENDED, s, -1, t_end, t_end, 0, np.inf, 0.0, 0.0,
                  0.0, 0.0)
    lp_kg, lp_var, lp_var_sys, lp_ok = _line_pack(seg_cfg, slot_cfg, slot_f, slot_i, s)
    if lp_ok:
        seg_f[s, GF_BLK_LP] += lp_kg
        seg_f[s, GF_BLK_LPVAR] += lp_var
        seg_f[s, GF_BLK_LPSYS] += math.sqrt(lp_var_sys)
        seg_f[s, GF_BLK_LPN] += 1.0
    seg_i[s, GI_TICK] = k + 1
    # 3. block boundary
    bt = np.int64(params[P_BLOCK_TICKS])
    if (k + 1) % bt == 0:
        # the line pack's movement a block ahead at the rate of the block's last ticks (RATE_TICKS == 2)
        ahead = 0.0
        if lp_ok and seg_f[s, GF_TLP2] == seg_f[s, GF_TLP2]:
            noise_allow = params[P_LP_NOISE_K] * math.sqrt(lp_var + seg_f[s, GF_TLP2_VAR])
            ahead = max(abs(lp_kg - seg_f[s, GF_TLP2]) - noise_allow, 0.0) * bt / RATE_TICKS
        _close_block(s, t_end, ahead, params, seg_cfg, slot_cfg, seg_f, seg_i, ring, counters, ev_i, ev_f, n_ev)
    seg_f[s, GF_TLP2] = seg_f[s, GF_TLP1]
    seg_f[s, GF_TLP2_VAR] = seg_f[s, GF_TLP1_VAR]
    seg_f[s, GF_TLP1] = lp_kg if lp_ok else np.nan
    seg_f[s, GF_TLP1_VAR] = lp_var


@_jit
def _close_block(s, t_end, ahead, params, seg_cfg, slot_cfg, seg_f, seg_i, ring, counters, ev_i, ev_f, n_ev):
    bt = params[P_BLOCK_TICKS]
    n_lp = seg_f[s, GF_BLK_LPN]
    lp_ok = n_lp == bt
    lp_now = seg_f[s, GF_BLK_LP] / n_lp if n_lp > 0 else 0.0
    # the tick line packs' errors are independent (pressure noise is white at the tick scale); whatever the
    # instruments do beyond that shows in the residual scatter and is learned as kappa
    lp_var = (seg_f[s, GF_BLK_LPVAR] / (n_lp * n_lp) + (seg_f[s, GF_BLK_LPSYS] / n_lp) ** 2) if n_lp > 0 else 0.0
    prev_ok = seg_i[s, GI_LP_VALID] != 0
    lp_prev = seg_f[s, GF_LP]
    lp_prev_var = seg_f[s, GF_LP_VAR]
    mbar = seg_f[s, GF_BLK_MBAR] / bt
    valid = seg_i[s, GI_BLK_INVALID] == 0 and lp_ok and prev_ok
    blk_m = mbar - seg_f[s, GF_MBAR_PREV]
    nr = ring.shape[1]
    prev_pos = seg_i[s, GI_RING_POS]
    blk_q = seg_f[s, GF_CUM_Q] - ring[s, prev_pos, R_Q]
    blk_v = seg_f[s, GF_CUM_V] - ring[s, prev_pos, R_V]
    if lp_ok and prev_ok:
        # line-pack movement beyond what pressure noise alone would show: noise must not count as a transient
        noise_allow = params[P_LP_NOISE_K] * math.sqrt(lp_var + seg_f[s, GF_LP_VAR])
        seg_f[s, GF_CUM_A] += max(abs(lp_now - lp_prev) - noise_allow, 0.0)
    pos = (prev_pos + 1) % nr
    prev_invalid = ring[s, prev_pos, R_INVALID] if seg_i[s, GI_N_BLOCKS] > 0 else 0.0
    ring[s, pos, R_TIME] = float(t_end)
    ring[s, pos, R_M] = mbar
    ring[s, pos, R_Q] = seg_f[s, GF_CUM_Q]
    ring[s, pos, R_V] = seg_f[s, GF_CUM_V]
    ring[s, pos, R_LP] = lp_now
    ring[s, pos, R_LP_VAR] = lp_var
    ring[s, pos, R_A] = seg_f[s, GF_CUM_A]
    ring[s, pos, R_X] = ahead
    ring[s, pos, R_INVALID] = prev_invalid + (0.0 if valid else 1.0)
    seg_i[s, GI_RING_POS] = pos
    seg_i[s, GI_N_BLOCKS] += 1
    seg_f[s, GF_LP] = lp_now
    seg_f[s, GF_LP_VAR] = lp_var
    seg_f[s, GF_MBAR_PREV] = mbar
    seg_i[s, GI_LP_VALID] = 1 if (lp_ok and seg_i[s, GI_BLK_INVALID] == 0) else 0
    seg_f[s, GF_BLK_MBAR] = 0.0
    seg_f[s, GF_BLK_LP] = 0.0
    seg_f[s, GF_BLK_LPN] = 0.0
    seg_f[s, GF_BLK_LPVAR] = 0.0
    seg_f[s, GF_BLK_LPSYS] = 0.0
    seg_i[s, GI_BLK_INVALID] = 0
    if not valid:
        seg_f[s, GF_CUSUM] = 0.0
        seg_i[s, GI_CUSUM_N] = 0
        for w in range(N_WINDOWS):
            seg_i[s, GI_PERSIST0 + w] = 0
            seg_i[s, GI_SPERSIST0 + w] = 0
        return
    _decide(s, t_end, blk_m, blk_q, blk_v, lp_now, lp_var, lp_prev, lp_prev_var, params, seg_cfg, slot_cfg, seg_f,
            seg_i, ring, counters, ev_i, ev_f, n_ev)


@_jit
def _end_blocks(nb, end_div, nr):
    """Blocks averaged at each end of a window of nb blocks (params.end_avg_div), within the ring's reach."""
    ne = nb // end_div if end_div > 0 else 1
    return max(1, min(ne, nr - nb - 2))


@_jit
def _transient_sd(ring, s, pos, nb, n_blocks, eps_state, eps_scale, ne, newest):
    """1 s.d. (kg) of the line-pack model's error over the window of nb blocks ending at ring position pos,
    its ends the means of ne blocks; `newest` is the ring position of the latest block.

    Two parts, both zero on a still line. The quasi-steady profile is wrong while the line packs or unpacks,
    by a fraction `eps_state` of the movement through the blocks at each end of the window: from the block
    before the end's first to the block after its last (the errors of the line packs inside the window cancel:
    each ends one block and starts the next). After the newest block the movement is not known yet; the rate
    of its last ticks stands for it (R_X), since the profile's error follows the rate without delay: a supply
    move shows at the end transmitters before the gas inside has moved. And the line pack's sensitivity to
    pressure is known to a fraction `eps_scale` (pipe volume, Z, temperature), which scales the net change of
    line pack over the window.
    """
    nr = ring.shape[1]
    if nb + ne > n_blocks - 1 or nb + ne > nr - 1:
        back = min(n_blocks - 1, nr - 1)
        if back <= 0:
            return 0.0
        # too early for the block before the start: all the movement recorded counts
        a_all = ring[s, pos, R_A] - ring[s, (pos - back) % nr, R_A] + ring[s, pos, R_X]
        return eps_state * a_all + eps_scale * abs(ring[s, pos, R_LP] - ring[s, (pos - nb) % nr, R_LP])
    j = (pos - nb) % nr
    # after the newest block its last ticks' rate; after an older one the next block's movement
    after_end = ring[s, pos, R_X] if pos == newest else ring[s, (pos + 1) % nr, R_A] - ring[s, pos, R_A]
    a_end = ring[s, pos, R_A] - ring[s, (pos - ne) % nr, R_A] + after_end
    a_start = ring[s, (j + 1) % nr, R_A] - ring[s, (j - ne) % nr, R_A]
    d_lp = ring[s, pos, R_LP] - ring[s, j, R_LP]
    return math.sqrt((eps_state * a_end) ** 2 + (eps_state * a_start) ** 2 + (eps_scale * d_lp) ** 2)


@_jit_inline
def _window(ring, s, pos, nb, ne, n_blocks, a, g, kappa, eps, eps_scale, floor, base_var, var_g, q_bar,
            model_var):
    """Imbalance (kg/s, after the baseline) over the window of nb blocks ending at ring position pos, each end
    the mean of ne blocks, and its variance; (nan, inf) where the ring does not hold it or a block is invalid."""
    nr = ring.shape[1]
    if not (n_blocks > nb + ne - 1 and nb + ne - 1 < nr):
        return np.nan, np.inf
    j = (pos - nb) % nr
    if ring[s, pos, R_INVALID] - ring[s, (j - ne + 1) % nr, R_INVALID] != 0.0:
        return np.nan, np.inf
    ws = 0.0
    d_m = 0.0
    dl = 0.0
    d_q = 0.0
    d_v = 0.0
    lpv = 0.0
    for u in range(ne):
        pe = (pos - u) % nr
        ps = (j - u) % nr
        ws += ring[s, pe, R_TIME] - ring[s, ps, R_TIME]
        d_m += ring[s, pe, R_M] - ring[s, ps, R_M]
        dl += ring[s, pe, R_LP] - ring[s, ps, R_LP]
        d_q += ring[s, pe, R_Q] - ring[s, ps, R_Q]
        d_v += ring[s, pe, R_V] - ring[s, ps, R_V]
        lpv += ring[s, pe, R_LP_VAR] + ring[s, ps, R_LP_VAR]
    ws *= 1e-6 / ne
    d_m /= ne
    dl /= ne
    d_q /= ne
    d_v /= ne
    lpv /= ne * ne
    imb = (d_m - dl) / ws - (a + g * d_q / ws)
    tr = _transient_sd(ring, s, pos, nb, n_blocks, eps, eps_scale, ne, pos) / ws
    if tr > 0.0 and floor > 0.0:
        tr = math.sqrt(tr * tr + floor * floor)
    var_w = (kappa * kappa * (d_v + lpv) / (ws * ws) + tr * tr + base_var + var_g * (d_q / ws - q_bar) ** 2
             + model_var)
    return imb, var_w


@_jit
def _decide(s, t_end, blk_m, blk_q, blk_v, lp_now, lp_var, lp_prev, lp_prev_var, params, seg_cfg, slot_cfg, seg_f,
            seg_i, ring, counters, ev_i, ev_f, n_ev):
    """Baseline learning, Page's CUSUM on block residuals and the multi-window tests for one valid block."""
    tb = params[P_TICK_US] * params[P_BLOCK_TICKS] * 1e-6
    eps = params[P_EPS_LP]
    floor = params[P_LP_TRANS_FLOOR]
    d_lp = lp_now - lp_prev
    r = (blk_m - d_lp) / tb
    q = blk_q / tb
    var_b = (blk_v + lp_var + lp_prev_var) / (tb * tb)
    nr = ring.shape[1]
    pos = seg_i[s, GI_RING_POS]
    eps_scale = params[P_LP_SCALE_ERR]
    trans = _transient_sd(ring, s, pos, 1, seg_i[s, GI_N_BLOCKS], eps, eps_scale, 1, pos) / tb
    # what no instrument explains (line-pack temperature and Z, meter linearity): a floor on every window
    model_var = (params[P_MODEL_FLOOR] * seg_cfg[s, GC_NOMINAL_FLOW]) ** 2
    if trans > 0.0 and floor > 0.0:
        trans = math.sqrt(trans * trans + floor * floor)
    learned = seg_i[s, GI_LEARNED] != 0
    kappa = seg_f[s, GF_KAPPA] if learned else 1.0
    a = seg_f[s, GF_BASE_A]
    g = seg_f[s, GF_BASE_G]
    base_var = seg_f[s, GF_BASE_VAR]
    warming_up = t_end - seg_i[s, GI_T_START] < params[P_LEARN_AFTER_US]
    if not learned and not warming_up:
        # Ordinary least squares r = a + g q over the learning blocks. Equal weights on purpose: the line-pack
        # noise of consecutive blocks cancels in their sum (each block's line pack ends one residual and
        # starts the next), so the mean of a run of blocks is known far better than one block; any unequal
        # weighting would lose that.
        # The blocks are summed in groups of P_LEARN_GROUP consecutive blocks, a fixed time scale whatever the
        # block length: kappa measures the residual scatter, which includes slow errors that a short block
        # shows too little of. A gap drops the open group.
        consecutive = seg_i[s, GI_LEARN_LAST] == seg_i[s, GI_N_BLOCKS] - 1
        if not consecutive:
            seg_i[s, GI_G_N] = 0
        if seg_i[s, GI_G_N] == 0:
            seg_f[s, GF_G_M] = 0.0
            seg_f[s, GF_G_Q] = 0.0
            seg_f[s, GF_G_V] = 0.0
            seg_f[s, GF_G_LPV0] = lp_prev_var
            # a new run of consecutive blocks: its first and (eventually) last line pack do not cancel
            seg_f[s, GF_G_RUNV] = 0.0 if consecutive else 2.0 * lp_prev_var
        seg_f[s, GF_G_M] += blk_m - d_lp
        seg_f[s, GF_G_Q] += blk_q
        seg_f[s, GF_G_V] += blk_v
        seg_i[s, GI_G_N] += 1
        seg_i[s, GI_LEARN_LAST] = seg_i[s, GI_N_BLOCKS]
        if seg_i[s, GI_G_N] >= np.int64(params[P_LEARN_GROUP]):
            tg = seg_i[s, GI_G_N] * tb
            rg = seg_f[s, GF_G_M] / tg
            qg = seg_f[s, GF_G_Q] / tg
            seg_f[s, GF_B_W] += 1.0
            seg_f[s, GF_B_WQ] += qg
            seg_f[s, GF_B_WR] += rg
            seg_f[s, GF_B_WQQ] += qg * qg
            seg_f[s, GF_B_WQR] += qg * rg
            seg_f[s, GF_B_WRR] += rg * rg
            seg_f[s, GF_B_VB] += (seg_f[s, GF_G_V] + lp_var + seg_f[s, GF_G_LPV0]) / (tg * tg)
            seg_f[s, GF_B_T] += tg
            seg_f[s, GF_B_V] += seg_f[s, GF_G_V]
            seg_f[s, GF_B_LPV] += seg_f[s, GF_G_RUNV]
            seg_i[s, GI_N_LEARN] += seg_i[s, GI_G_N]
            seg_i[s, GI_G_N] = 0
        if seg_i[s, GI_N_LEARN] >= np.int64(params[P_LEARN_BLOCKS]):
            sw = seg_f[s, GF_B_W]
            n = np.int64(sw)
            qm = seg_f[s, GF_B_WQ] / sw
            rm = seg_f[s, GF_B_WR] / sw
            sqq = max(seg_f[s, GF_B_WQQ] / sw - qm * qm, 0.0)
            sqr = seg_f[s, GF_B_WQR] / sw - qm * rm
            fi = s * N_ROLES + ROLE_FLOW_IN
            fo = s * N_ROLES + ROLE_FLOW_OUT
            rel = max(slot_cfg[fi, SC_SIGMA_REL], slot_cfg[fo, SC_SIGMA_REL])
            var_g0 = max(2.0 * (params[P_GAIN_PRIOR] * rel) ** 2, 1e-12)
            # uncertainty of the mean residual: flow noise of every block plus the unmatched line packs at the
            # ends of the runs; the gain's, from the contrast between high- and low-throughput blocks
            t_learn = seg_f[s, GF_B_T]
            mean_var = max((seg_f[s, GF_B_V] + seg_f[s, GF_B_LPV]) / (t_learn * t_learn), 1e-30)
            # the gain is fitted as if the blocks were independent: slow errors (temperature, gas composition,
            # meter linearity) do not cancel between the high- and low-throughput blocks it contrasts
            mean_vb = max(seg_f[s, GF_B_VB] / sw, 1e-30)
            g = sqr / (sqq + mean_vb / (n * var_g0))
            a = rm - g * qm
            ss = (seg_f[s, GF_B_WRR] - 2.0 * a * seg_f[s, GF_B_WR] - 2.0 * g * seg_f[s, GF_B_WQR] + a * a * sw
                  + 2.0 * a * g * seg_f[s, GF_B_WQ] + g * g * seg_f[s, GF_B_WQQ])
            # kappa: residual scatter over the scatter the instruments explain (chi-square per degree of freedom)
            kappa = max(params[P_KAPPA_MIN], math.sqrt(max(ss, 0.0) / max(n - 2, 1) / mean_vb))
            base_var = kappa * kappa * mean_var
            seg_f[s, GF_VAR_G] = 1.0 / (n * sqq / (kappa * kappa * mean_vb) + 1.0 / var_g0)
            seg_f[s, GF_QBAR] = qm
            seg_f[s, GF_BASE_A] = a
            seg_f[s, GF_BASE_G] = g
            seg_f[s, GF_KAPPA] = kappa
            seg_f[s, GF_BASE_VAR] = base_var
            seg_i[s, GI_LEARNED] = 1
            _emit(ev_i, ev_f, n_ev, counters, EV_BASELINE_LEARNED, s, -1, t_end, t_end, 0, a,
                  math.sqrt(base_var), g, kappa, 0.0)
        # no decision while learning; the windows below still state the sensitivity
    e = r - (a + g * q)
    var_g = seg_f[s, GF_VAR_G] if learned else 0.0
    q_bar = seg_f[s, GF_QBAR]
    sig_e = math.sqrt(kappa * kappa * var_b + trans * trans + base_var + var_g * (q - q_bar) ** 2 + model_var)
    seg_f[s, GF_LAST_E] = e
    seg_f[s, GF_LAST_SIGMA] = sig_e
    # Page's CUSUM on block residuals (only once the baseline is known). The baseline's own error is the same
    # in every block, so it is not noise to average: residuals within BIAS_ALLOWANCE s.d. of it are allowed
    # for, and what is left is normalised by the block's noise.
    bias_sd = math.sqrt(base_var + var_g * (q - q_bar) ** 2 + model_var)
    noise_sd = math.sqrt(kappa * kappa * var_b + trans * trans)
    e_adj = max(abs(e) - BIAS_ALLOWANCE * bias_sd, 0.0)
    if e < 0.0:
        e_adj = -e_adj
    z_b = e_adj / noise_sd if learned else -np.inf
    if z_b > Z_CLIP:
        z_b = Z_CLIP
    s_prev = seg_f[s, GF_CUSUM]
    s_new = s_prev + z_b - params[P_CUSUM_K]
    if s_new <= 0.0:
        s_new = 0.0
        seg_i[s, GI_CUSUM_N] = 0
        seg_f[s, GF_CUSUM_SUM_E] = 0.0
        seg_f[s, GF_CUSUM_SUM_V] = 0.0
    else:
        if seg_i[s, GI_CUSUM_N] == 0:
            seg_i[s, GI_CUSUM_ONSET] = t_end - np.int64(tb * 1e6)
        seg_i[s, GI_CUSUM_N] += 1
        seg_f[s, GF_CUSUM_SUM_E] += e
        seg_f[s, GF_CUSUM_SUM_V] += sig_e * sig_e
    seg_f[s, GF_CUSUM] = s_new
    # multi-window tests on the ring
    zthr = params[P_Z_WINDOW]
    persist_n = np.int64(params[P_PERSIST])
    end_div = np.int64(params[P_END_DIV])
    fired = -1
    for wi in range(N_WINDOWS):
        nb = np.int64(params[P_WIN0 + wi])
        z = np.nan
        mdlr = np.inf
        # one block at each end, or the mean of ne blocks: whichever states the smaller uncertainty (that
        # depends on which noise dominates: the line pack's at the ends, or the meters' over the window)
        imb, var_w = _window(ring, s, pos, nb, 1, seg_i[s, GI_N_BLOCKS], a, g, kappa, eps, eps_scale, floor,
                             base_var, var_g, q_bar, model_var)
        ne = _end_blocks(nb, end_div, nr)
        if ne > 1:
            imb_e, var_e = _window(ring, s, pos, nb, ne, seg_i[s, GI_N_BLOCKS], a, g, kappa, eps, eps_scale,
                                   floor, base_var, var_g, q_bar, model_var)
            if var_e < var_w:
                imb, var_w = imb_e, var_e
        if var_w < np.inf:
            sg = math.sqrt(var_w)
            z = imb / sg
            mdlr = zthr * sg
        seg_f[s, GF_Z0 + wi] = z
        seg_f[s, GF_MDLR0 + wi] = mdlr
        if z > zthr:
            seg_i[s, GI_PERSIST0 + wi] += 1
        else:
            seg_i[s, GI_PERSIST0 + wi] = 0
        if fired < 0 and seg_i[s, GI_PERSIST0 + wi] >= persist_n:
            fired = wi
    # step tests: each window against the reference window before it, where the baseline's error (the meters'
    # bias at the current throughput) is nearly the same; the reference and the window share the line pack at
    # their common end, and the line-pack model's errors there add up
    step_fired = -1
    step_rate = np.nan
    step_sd = np.nan
    ref_factor = params[P_STEP_REF]
    n_blk = seg_i[s, GI_N_BLOCKS]
    for wi in range(N_WINDOWS):
        nb = np.int64(params[P_WIN0 + wi])
        n_ref = np.int64(ref_factor * nb + 0.5)
        z = np.nan
        if n_ref >= 1 and nb + n_ref < nr and n_blk > nb + n_ref:
            j = (pos - nb) % nr
            k = (j - n_ref) % nr
            if ring[s, pos, R_INVALID] - ring[s, k, R_INVALID] == 0.0:
                ws = (ring[s, pos, R_TIME] - ring[s, j, R_TIME]) * 1e-6
                wr = (ring[s, j, R_TIME] - ring[s, k, R_TIME]) * 1e-6
                q_w = (ring[s, pos, R_Q] - ring[s, j, R_Q]) / ws
                q_r = (ring[s, j, R_Q] - ring[s, k, R_Q]) / wr
                imb_w = (ring[s, pos, R_M] - ring[s, j, R_M] - (ring[s, pos, R_LP] - ring[s, j, R_LP])) / ws
                imb_r = (ring[s, j, R_M] - ring[s, k, R_M] - (ring[s, j, R_LP] - ring[s, k, R_LP])) / wr
                d = imb_w - imb_r - g * (q_w - q_r)
                tr = (_transient_sd(ring, s, pos, nb, n_blk, eps, eps_scale, 1, pos) / ws
                      + _transient_sd(ring, s, j, n_ref, n_blk - nb, eps, eps_scale, 1, pos) / wr)
                if tr > 0.0 and floor > 0.0:
                    tr = math.sqrt(tr * tr + floor * floor)
                inv_sum = 1.0 / ws + 1.0 / wr
                var_d = (kappa * kappa * ((ring[s, pos, R_V] - ring[s, j, R_V]) / (ws * ws)
                                          + (ring[s, j, R_V] - ring[s, k, R_V]) / (wr * wr)
                                          + ring[s, pos, R_LP_VAR] / (ws * ws)
                                          + ring[s, j, R_LP_VAR] * inv_sum * inv_sum
                                          + ring[s, k, R_LP_VAR] / (wr * wr))
                         + tr * tr + var_g * (q_w - q_r) ** 2 + model_var)
                sd_d = math.sqrt(var_d)
                z = d / sd_d
                if z > zthr:
                    seg_i[s, GI_SPERSIST0 + wi] += 1
                else:
                    seg_i[s, GI_SPERSIST0 + wi] = 0
                if step_fired < 0 and seg_i[s, GI_SPERSIST0 + wi] >= persist_n:
                    step_fired = wi
                    step_rate = d
                    step_sd = sd_d
            else:
                seg_i[s, GI_SPERSIST0 + wi] = 0
        else:
            seg_i[s, GI_SPERSIST0 + wi] = 0
        seg_f[s, GF_SZ0 + wi] = z
    if not learned:
        for wi in range(N_WINDOWS):
            seg_i[s, GI_PERSIST0 + wi] = 0
            seg_i[s, GI_SPERSIST0 + wi] = 0
        return
    cusum_fired = s_new > params[P_CUSUM_H]
    triggered = cusum_fired or fired >= 0 or step_fired >= 0
    if triggered and seg_i[s, GI_LATCHED] == 0:
        if fired >= 0:
            test = fired
        elif cusum_fired:
            test = TEST_CUSUM
        else:
            test = TEST_STEP0 + step_fired
        n_on = seg_i[s, GI_CUSUM_N]
        rate = np.nan
        sg_rate = np.nan
        onset = t_end
        # estimate over the CUSUM run (the change point of Page's test), from the ring when it reaches back
        if n_on > 0 and n_on < nr and seg_i[s, GI_N_BLOCKS] > n_on:
            j = (pos - n_on) % nr
            if ring[s, pos, R_INVALID] - ring[s, j, R_INVALID] == 0.0:
                ws = (ring[s, pos, R_TIME] - ring[s, j, R_TIME]) * 1e-6
                d_m = ring[s, pos, R_M] - ring[s, j, R_M]
                dl = ring[s, pos, R_LP] - ring[s, j, R_LP]
                d_q = ring[s, pos, R_Q] - ring[s, j, R_Q]
                d_v = ring[s, pos, R_V] - ring[s, j, R_V]
                rate = (d_m - dl) / ws - (a + g * d_q / ws)
                tr = _transient_sd(ring, s, pos, n_on, seg_i[s, GI_N_BLOCKS], eps, eps_scale, 1, pos) / ws
                sg_rate = math.sqrt(kappa * kappa * (d_v + ring[s, pos, R_LP_VAR] + ring[s, j, R_LP_VAR])
                                    / (ws * ws) + tr * tr + base_var + var_g * (d_q / ws - q_bar) ** 2)
                onset = seg_i[s, GI_CUSUM_ONSET]
        if rate != rate and step_fired >= 0 and fired < 0 and not cusum_fired:
            # the step itself: the window's imbalance over the reference's, from the window's start
            rate = step_rate
            sg_rate = step_sd
            onset = t_end - np.int64(params[P_WIN0 + step_fired] * tb * 1e6)
        if rate != rate:
            if n_on > 0:
                rate = seg_f[s, GF_CUSUM_SUM_E] / n_on
                sg_rate = math.sqrt(seg_f[s, GF_CUSUM_SUM_V]) / n_on
                onset = seg_i[s, GI_CUSUM_ONSET]
            else:
                wi = fired if fired >= 0 else 0
                nb = np.int64(params[P_WIN0 + wi])
                sg_rate = seg_f[s, GF_MDLR0 + wi] / zthr
                rate = seg_f[s, GF_Z0 + wi] * sg_rate
                onset = t_end - np.int64(nb * tb * 1e6)
        if test == TEST_CUSUM:
            stat = s_new
        elif test >= TEST_STEP0:
            stat = seg_f[s, GF_SZ0 + test - TEST_STEP0]
        else:
            stat = seg_f[s, GF_Z0 + test]
        _emit(ev_i, ev_f, n_ev, counters, EV_LEAK, s, -1, t_end, onset, test, rate, sg_rate, stat, float(test),
              seg_f[s, GF_MDLR0 + 2])
        seg_i[s, GI_LATCHED] = 1
        seg_i[s, GI_CLEAR_RUN] = 0
        seg_i[s, GI_SINCE_RAISE] = 0
    elif seg_i[s, GI_LATCHED] != 0:
        seg_i[s, GI_SINCE_RAISE] += 1
        n_on = seg_i[s, GI_CUSUM_N]
        if seg_i[s, GI_SINCE_RAISE] == UPDATE_BLOCKS and n_on >= 2:
            # the blocks since the raise: all leaking (the onset block is only partly), the current rate
            n_upd = UPDATE_BLOCKS if nr > UPDATE_BLOCKS else nr - 1
            j = (pos - n_upd) % nr
            if ring[s, pos, R_INVALID] - ring[s, j, R_INVALID] == 0.0:
                ws = (ring[s, pos, R_TIME] - ring[s, j, R_TIME]) * 1e-6
                d_q = ring[s, pos, R_Q] - ring[s, j, R_Q]
                rate = (ring[s, pos, R_M] - ring[s, j, R_M] - (ring[s, pos, R_LP] - ring[s, j, R_LP])) / ws - (
                    a + g * d_q / ws)
                tr = _transient_sd(ring, s, pos, n_upd, seg_i[s, GI_N_BLOCKS], eps, eps_scale, 1, pos) / ws
                sg_rate = math.sqrt(kappa * kappa * (ring[s, pos, R_V] - ring[s, j, R_V] + ring[s, pos, R_LP_VAR]
                                                     + ring[s, j, R_LP_VAR]) / (ws * ws)
                                    + tr * tr + base_var + var_g * (d_q / ws - q_bar) ** 2)
                _emit(ev_i, ev_f, n_ev, counters, EV_LEAK_UPDATE, s, -1, t_end, seg_i[s, GI_CUSUM_ONSET], n_upd, rate,
                      sg_rate, s_new, float(TEST_CUSUM), seg_f[s, GF_MDLR0 + 2])
        quiet = s_new == 0.0
        for wi in range(N_WINDOWS):
            if seg_f[s, GF_Z0 + wi] > 2.0:
                quiet = False
        if quiet:
            seg_i[s, GI_CLEAR_RUN] += 1
            if seg_i[s, GI_CLEAR_RUN] >= np.int64(params[P_CLEAR_BLOCKS]):
                seg_i[s, GI_LATCHED] = 0
                seg_i[s, GI_CLEAR_RUN] = 0
                _emit(ev_i, ev_f, n_ev, counters, EV_LEAK_CLEARED, s, -1, t_end, t_end, 0, e, sig_e, 0.0, 0.0,
                      0.0)
        else:
            seg_i[s, GI_CLEAR_RUN] = 0


@_jit
def _advance_segment(s, tick, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring, counters, ev_i, ev_f,
                     n_ev):
    """Close ticks until `tick` is the open tick or the one after it (one tick of lateness is tolerated)."""
    k = seg_i[s, GI_TICK]
    bt = np.int64(params[P_BLOCK_TICKS])
    if tick - k > MAX_CATCHUP_BLOCKS * bt:
        # long silence: restart the balance at the current block instead of replaying empty ticks
        seg_i[s, GI_TICK] = tick - 1 - ((tick - 1) % bt)
        seg_i[s, GI_LP_VALID] = 0
        seg_i[s, GI_BLK_INVALID] = 1
        seg_f[s, GF_TLP1] = np.nan
        seg_f[s, GF_TLP2] = np.nan
        k = seg_i[s, GI_TICK]
    while tick >= k + 2:
        _close_tick(s, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring, counters, ev_i, ev_f, n_ev)
        k = seg_i[s, GI_TICK]


@_jit
def _front(s, end, t_cross, amp, sig_t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, counters, ev_i,
           ev_f, n_ev):
    """A confirmed pressure-drop front at one end: pair it with the other end's or keep it pending."""
    length = seg_cfg[s, GC_LENGTH_M]
    c = seg_cfg[s, GC_WAVE_SPEED]
    if end == 0:
        other_pend, other_t, other_a, other_sig = GI_NPW_PEND_DN, GF_NPW_T_DN, GF_NPW_A_DN, GF_NPW_SIG_DN
        my_pend, my_t, my_a, my_sig = GI_NPW_PEND_UP, GF_NPW_T_UP, GF_NPW_A_UP, GF_NPW_SIG_UP
    else:
        other_pend, other_t, other_a, other_sig = GI_NPW_PEND_UP, GF_NPW_T_UP, GF_NPW_A_UP, GF_NPW_SIG_UP
        my_pend, my_t, my_a, my_sig = GI_NPW_PEND_DN, GF_NPW_T_DN, GF_NPW_A_DN, GF_NPW_SIG_DN
    if seg_i[s, other_pend] != 0:
        t_o = seg_f[s, other_t]
        sig_o = seg_f[s, other_sig]
        t_up = t_cross if end == 0 else t_o
        t_dn = t_o if end == 0 else t_cross
        dt = (t_up - t_dn) * 1e-6
        sig_dt = math.sqrt(sig_t * sig_t + sig_o * sig_o)
        if abs(dt) <= (1.0 + params[P_NPW_PAIR_TOL]) * length / c + 3.0 * sig_dt:
            seg_i[s, other_pend] = 0
            x = 0.5 * (length + c * dt)
            x = min(max(x, 0.0), length)
            sig_x = math.sqrt((0.5 * c * sig_dt) ** 2 + (0.5 * dt * seg_cfg[s, GC_WAVE_SPEED_SD]) ** 2)
            margin = max(params[P_NPW_END_FRAC] * length, 2.0 * sig_x)
            amp_m = 0.5 * (amp + seg_f[s, other_a])
            onset = np.int64(min(t_up, t_dn) - (length - abs(c * dt)) / (2.0 * c) * 1e6)
            leak_est = 2.0 * seg_cfg[s, GC_AREA_M2] * amp_m / c
            # flows must agree with gas leaving between the meters: more in at the upstream end, less out at
            # the downstream end; an operation outside the segment moves both the same way (or cuts the inflow)
            consistent = True
            fi = s * N_ROLES + ROLE_FLOW_IN
            fo = s * N_ROLES + ROLE_FLOW_OUT
            if slot_cfg[fi, SC_PRESENT] != 0.0 or slot_cfg[fo, SC_PRESENT] != 0.0:
                # meters exist but cannot vouch (stale, over range): not a located leak
                consistent = False
            if _usable(slot_cfg, slot_f, slot_i, fi) and _usable(slot_cfg, slot_f, slot_i, fo):
                d_in = slot_f[fi, SF_LAST_VALUE] - slot_f[fi, SF_EW_SLOW]
                d_out = slot_f[fo, SF_LAST_VALUE] - slot_f[fo, SF_EW_SLOW]
                tol_in = 4.0 * math.sqrt(_sigma2(slot_cfg, fi, slot_f[fi, SF_EW_SLOW]))
                tol_out = 4.0 * math.sqrt(_sigma2(slot_cfg, fo, slot_f[fo, SF_EW_SLOW]))
                consistent = d_in > -tol_in and d_out < tol_out and (d_in - d_out) > tol_in + tol_out
            if not consistent:
                _emit(ev_i, ev_f, n_ev, counters, EV_NPW_BOUNDARY, s, -1, np.int64(max(t_up, t_dn)), onset, 3, x,
                      sig_x, dt, leak_est, amp_m)
            elif x < margin:
                _emit(ev_i, ev_f, n_ev, counters, EV_NPW_BOUNDARY, s, ROLE_PRESSURE_UP, np.int64(max(t_up, t_dn)),
                      onset, 1, x, sig_x, dt, leak_est, amp_m)
            elif x > length - margin:
                _emit(ev_i, ev_f, n_ev, counters, EV_NPW_BOUNDARY, s, ROLE_PRESSURE_DOWN,
                      np.int64(max(t_up, t_dn)), onset, 2, x, sig_x, dt, leak_est, amp_m)
            else:
                _emit(ev_i, ev_f, n_ev, counters, EV_NPW_LEAK, s, -1, np.int64(max(t_up, t_dn)), onset, 0, x,
                      sig_x, dt, leak_est, amp_m)
            return
    seg_i[s, my_pend] = 1
    seg_f[s, my_t] = t_cross
    seg_f[s, my_a] = amp
    seg_f[s, my_sig] = sig_t


@_jit
def _expire_fronts(s, t, params, seg_cfg, seg_f, seg_i, counters, ev_i, ev_f, n_ev):
    wait_us = ((1.0 + params[P_NPW_PAIR_TOL]) * seg_cfg[s, GC_LENGTH_M] / seg_cfg[s, GC_WAVE_SPEED]
               + params[P_NPW_CONFIRM_S] + 2.0) * 1e6
    for end in range(2):
        pend = GI_NPW_PEND_UP if end == 0 else GI_NPW_PEND_DN
        tt = GF_NPW_T_UP if end == 0 else GF_NPW_T_DN
        aa = GF_NPW_A_UP if end == 0 else GF_NPW_A_DN
        if seg_i[s, pend] != 0 and t - seg_f[s, tt] > wait_us:
            seg_i[s, pend] = 0
            _emit(ev_i, ev_f, n_ev, counters, EV_NPW_UNPAIRED, s, ROLE_PRESSURE_UP + end, t,
                  np.int64(seg_f[s, tt]), end + 1, seg_f[s, aa], 0.0, 0.0, 0.0, 0.0)


@_jit
def _crossing(hist_t, hist_v, ps, pos0, n_h, t_lim, level):
    """Interpolated time (us, float) of the oldest down-crossing of `level` in the history after t_lim, or -1."""
    hl = hist_t.shape[1]
    t_c = -1.0
    for kk in range(n_h - 1):
        i1 = (pos0 - 1 - kk) % hl
        i0 = (i1 - 1) % hl
        if hist_t[ps, i0] < t_lim:
            break
        v0 = hist_v[ps, i0]
        v1 = hist_v[ps, i1]
        if v0 > level >= v1:
            t_c = hist_t[ps, i0] + (v0 - level) / (v0 - v1) * (hist_t[ps, i1] - hist_t[ps, i0])
    return t_c


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
def _pressure(s, role, slot, t, v, prev_v, prev_t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i,
              hist_t, hist_v, counters, ev_i, ev_f, n_ev):
    """Negative-pressure-wave front detection with sub-sample timing, and the rupture detector."""
    ps = s * 2 + (role - ROLE_PRESSURE_UP)
    hl = hist_t.shape[1]
    hp = slot_i[slot, SI_HIST_POS]
    if prev_t < 0:
        slot_f[slot, SF_EW_FAST] = v
        slot_f[slot, SF_EW_SLOW] = v
        slot_f[slot, SF_EW_REF] = v
        slot_f[slot, SF_NOISE_VAR] = _sigma2(slot_cfg, slot, v)
        hist_t[ps, hp] = t
        hist_v[ps, hp] = v
        slot_i[slot, SI_HIST_POS] = (hp + 1) % hl
        slot_i[slot, SI_HIST_N] = 1
        return
    dts = (t - prev_t) * 1e-6
    # smoothing weights depend on the sample interval only: cached while it stays within 20 % (no division
    # per reading at a steady scan rate; sampling jitter is far below that)
    cd = slot_f[slot, SF_CACHE_DTS]
    if not (abs(dts - cd) <= 0.2 * cd):
        slot_f[slot, SF_CACHE_DTS] = dts
        slot_f[slot, SF_A_FAST] = _alpha(dts, params[P_NPW_TAU_FAST])
        slot_f[slot, SF_A_SLOW] = _alpha(dts, params[P_NPW_TAU_SLOW])
        slot_f[slot, SF_A_SLOPE] = _alpha(dts, NPW_SLOPE_TAU_S)
        slot_f[slot, SF_A_REF] = _alpha(dts, params[P_RUP_TAU])
        slot_f[slot, SF_INV_DTS] = 1.0 / dts if dts > 0.0 else 0.0
    # state in locals: the arrays may alias as far as the compiler knows, locals stay in registers
    af = slot_f[slot, SF_A_FAST]
    a_s = slot_f[slot, SF_A_SLOW]
    a_slope = slot_f[slot, SF_A_SLOPE]
    fast = slot_f[slot, SF_EW_FAST]
    slow = slot_f[slot, SF_EW_SLOW]
    slope = slot_f[slot, SF_SLOPE]
    noise_var = slot_f[slot, SF_NOISE_VAR]
    phase = slot_i[slot, SI_NPW_PHASE]
    inc = af * (v - fast)
    fast += inc
    # the history keeps the smoothed pressure: both ends are smoothed alike, so the lag cancels in t_up - t_down
    hist_t[ps, hp] = t
    hist_v[ps, hp] = fast
    hp_next = hp + 1
    if hp_next == hl:
        hp_next = 0
    slot_i[slot, SI_HIST_POS] = hp_next
    if slot_i[slot, SI_HIST_N] < hl:
        slot_i[slot, SI_HIST_N] += 1
    var_fast = noise_var * af / (2.0 - af)
    kk = params[P_NPW_K]
    if phase == 0:
        slope += a_slope * (inc * slot_f[slot, SF_INV_DTS] - slope)
        d1 = v - prev_v
        noise_var += a_slope * (0.5 * d1 * d1 - noise_var)
        # a ramp (demand, supply set-point) keeps the slow average behind the fast one by slope * lag: detrend
        drop0 = slow - fast + slope * (params[P_NPW_TAU_SLOW] - params[P_NPW_TAU_FAST])
        if drop0 > params[P_NPW_MIN_DROP] and drop0 * drop0 > kk * kk * var_fast:
            slot_i[slot, SI_NPW_PHASE] = 1
            slot_f[slot, SF_NPW_BASE] = slow
            slot_i[slot, SI_NPW_T_DET] = t
            slot_i[slot, SI_NPW_N] = 0
        else:
            slow += a_s * (v - slow)
    elif phase == 1:
        slot_i[slot, SI_NPW_N] += 1
        t_det = slot_i[slot, SI_NPW_T_DET]
        if (t - t_det) * 1e-6 >= params[P_NPW_CONFIRM_S] and slot_i[slot, SI_NPW_N] >= 2:
            sd_fast = math.sqrt(var_fast)
            thr = max(kk * sd_fast, params[P_NPW_MIN_DROP])
            base = slot_f[slot, SF_NPW_BASE]
            amp = base - fast
            if amp > thr:
                # oldest down-crossings of 25, 50 and 75 % of the amplitude since shortly before detection
                t_lim = t_det - np.int64((params[P_NPW_CONFIRM_S] + 2.0 * dts) * 1e6)
                n_h = slot_i[slot, SI_HIST_N]
                t_c = _crossing(hist_t, hist_v, ps, hp_next, n_h, t_lim, base - 0.5 * amp)
                t25 = _crossing(hist_t, hist_v, ps, hp_next, n_h, t_lim, base - 0.25 * amp)
                t75 = _crossing(hist_t, hist_v, ps, hp_next, n_h, t_lim, base - 0.75 * amp)
                # a front is sharp: through the smoothing a step rises from 25 to 75 % in 1.1 tau; a ramp of
                # demand or supply pressure takes far longer (or began before the history) and is no wave front
                rise_s = (t75 - t25) * 1e-6
                sharp = t25 >= 0.0 and t75 >= t25 and rise_s <= NPW_MAX_RISE_TAU * params[P_NPW_TAU_FAST] + 2.0 * dts
                slope_c = 0.5 * amp / max(rise_s, 1e-3)
                if t_c >= 0.0 and sharp:
                    t_c -= params[P_NPW_TAU_FAST] * math.log(2.0) * 1e6
                    res = slot_cfg[slot, SC_TIME_RES_S]
                    sig_t = math.sqrt(dts * dts / 12.0 + res * res + (sd_fast / max(slope_c, 1e-9)) ** 2)
                    _front(s, role - ROLE_PRESSURE_UP, t_c, amp, sig_t, params, seg_cfg, slot_cfg, slot_f, slot_i,
                           seg_f, seg_i, counters, ev_i, ev_f, n_ev)
                slot_i[slot, SI_NPW_PHASE] = 2
            else:
                slot_i[slot, SI_NPW_PHASE] = 0
                slow = fast
    else:
        if (t - slot_i[slot, SI_NPW_T_DET]) * 1e-6 >= params[P_NPW_REFRACT_S]:
            slot_i[slot, SI_NPW_PHASE] = 0
            slow = fast
    slot_f[slot, SF_EW_FAST] = fast
    slot_f[slot, SF_EW_SLOW] = slow
    slot_f[slot, SF_SLOPE] = slope
    slot_f[slot, SF_NOISE_VAR] = noise_var
    # rupture: pressure far below a slow reference, held, and the flow at the same end moving towards the break
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


@_jit
def _methane(s, role, slot, t, v, prev_v, prev_t, params, slot_cfg, slot_f, slot_i, counters, ev_i, ev_f, n_ev):
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


@_jit
def process_kernel(starts, readings, r_begin, r_end, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring,
                   hist_t, hist_v, counters, ev_i, ev_f, n_ev):
    """Process readings[r_begin:r_end] of a batch grouped by `group_by_segment`: segment s has the readings
    readings[starts[s]:starts[s + 1]], in time order for best results (the API sorts); unknown segments come last.
    """
    n_seg = seg_cfg.shape[0]
    tick_us = np.int64(params[P_TICK_US])
    flat_n = np.int64(params[P_FLAT_N])
    flat_us = params[P_FLAT_S] * 1e6
    stuck_frac = params[P_STUCK_FRAC]
    impl_clear = np.int64(params[P_IMPL_CLEAR_N])
    s = -1
    seg_end = starts[0]
    for r in range(r_begin, r_end):
        while r >= seg_end:  # on to the group this reading is in (skipping segments without readings)
            s += 1
            seg_end = starts[s + 1]
        if s >= n_seg:  # the last group: readings of unknown segments, only counted
            counters[C_UNKNOWN_SLOT] += r_end - r
            break
        rd = readings[r]
        role = np.int64(rd.role)
        if role < 0 or role >= N_ROLES:
            counters[C_UNKNOWN_SLOT] += 1
            continue
        base_slot = s * N_ROLES
        slot = base_slot + role
        if slot_cfg[slot, SC_PRESENT] == 0.0:
            counters[C_UNKNOWN_SLOT] += 1
            continue
        t = np.int64(rd.time_us)
        if t <= slot_i[slot, SI_LAST_TIME]:
            counters[C_OUT_OF_ORDER] += 1
            continue
        v = rd.value
        quality = rd.quality
        # segment clock and ticks
        # the tick of this reading without a 64-bit division in the common cases (open tick or the next)
        k_open = seg_i[s, GI_TICK]
        t_open = k_open * tick_us
        if k_open >= 0 and t_open <= t < t_open + tick_us:
            tick = k_open
        elif k_open >= 0 and t_open + tick_us <= t < t_open + 2 * tick_us:
            tick = k_open + 1
        else:
            tick = t // tick_us
        if k_open < 0:
            seg_i[s, GI_TICK] = tick
            seg_i[s, GI_T_START] = t
            seg_i[s, GI_BLK_INVALID] = 1
        elif tick >= seg_i[s, GI_TICK] + 2:
            _advance_segment(s, tick, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring, counters,
                             ev_i, ev_f, n_ev)
        if t > seg_i[s, GI_CLOCK]:
            seg_i[s, GI_CLOCK] = t
        slot_i[slot, SI_LAST_TIME] = t
        if quality != QUALITY_BAD and math.isfinite(v):
            slot_f[slot, SF_RAW] = v
            slot_i[slot, SI_RAW_TIME] = t
        if quality == QUALITY_BAD or (quality == QUALITY_UNCERTAIN and role < ROLE_METHANE_0):
            # UNCERTAIN is a clipped or out-of-calibration value: wrong for a balance, still an alarm for methane
            counters[C_BAD_QUALITY] += 1
            continue
        if not math.isfinite(v):
            counters[C_NONFINITE] += 1
            continue
        if v < slot_cfg[slot, SC_RANGE_MIN] or v > slot_cfg[slot, SC_RANGE_MAX]:
            counters[C_OUT_OF_RANGE] += 1
            continue
        prev_v = slot_f[slot, SF_LAST_VALUE]
        prev_t = slot_i[slot, SI_LAST_GOOD_TIME]
        slot_f[slot, SF_LAST_VALUE] = v
        is_methane = role >= ROLE_METHANE_0
        # implausible rate of change (beyond the physics plus four s.d. of noise)
        if prev_t >= 0:
            dts = (t - prev_t) * 1e-6
            # beyond the physics plus four s.d. of the difference of two readings (squares: no sqrt per reading)
            excess = abs(v - prev_v) - slot_cfg[slot, SC_MAX_RATE] * dts
            if excess > 0.0 and excess * excess > 32.0 * _sigma2(slot_cfg, slot, prev_v):
                counters[C_IMPLAUSIBLE] += 1
                slot_i[slot, SI_IMPL_N] += 1
                slot_i[slot, SI_GOOD_RUN] = 0
                _set_health(slot_i, seg_f, slot, s, role, HEALTH_IMPLAUSIBLE_RATE, t, ev_i, ev_f, n_ev, counters)
                continue
        slot_i[slot, SI_GOOD_RUN] += 1
        slot_i[slot, SI_LAST_GOOD_TIME] = t
        slot_i[slot, SI_READINGS] += 1
        counters[C_ACCEPTED] += 1
        # flat-lined: exactly the same value; stuck: changes far below the random error
        new_h = HEALTH_OK
        # a flow meter reading exactly zero is shut in, unless the meter at the other end still sees flow
        zero_ok = False
        if role <= ROLE_FLOW_OUT and v == 0.0:
            partner = base_slot + (ROLE_FLOW_OUT if role == ROLE_FLOW_IN else ROLE_FLOW_IN)
            zero_ok = abs(slot_f[partner, SF_HELD]) < 0.05 * seg_cfg[s, GC_NOMINAL_FLOW]
        if not is_methane and not zero_ok:
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
        if new_h != slot_i[slot, SI_HEALTH]:
            _set_health(slot_i, seg_f, slot, s, role, new_h, t, ev_i, ev_f, n_ev, counters)
        # accumulate into the open tick, the next one, or (late) the open one
        k_open = seg_i[s, GI_TICK]
        if tick <= k_open:
            if tick < k_open:
                counters[C_LATE] += 1
            slot_f[slot, SF_CUR_SUM] += v
            slot_f[slot, SF_CUR_N] += 1.0
        else:
            slot_f[slot, SF_NXT_SUM] += v
            slot_f[slot, SF_NXT_N] += 1.0
        if new_h != HEALTH_OK:
            continue
        if role <= ROLE_FLOW_OUT:
            # slow flow references: the rupture detector's supply-cut veto, the NPW flow-consistency check
            if prev_t < 0 or slot_f[slot, SF_EW_SLOW] != slot_f[slot, SF_EW_SLOW]:
                slot_f[slot, SF_EW_SLOW] = v
            else:
                slot_f[slot, SF_EW_SLOW] += min(1.0, (t - prev_t) * 1e-6 / 60.0) * (v - slot_f[slot, SF_EW_SLOW])
        elif role in (ROLE_PRESSURE_UP, ROLE_PRESSURE_DOWN):
            _pressure(s, role, slot, t, v, prev_v, prev_t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i,
                      hist_t, hist_v, counters, ev_i, ev_f, n_ev)
            if seg_i[s, GI_NPW_PEND_UP] != 0 or seg_i[s, GI_NPW_PEND_DN] != 0:
                _expire_fronts(s, t, params, seg_cfg, seg_f, seg_i, counters, ev_i, ev_f, n_ev)
        elif is_methane:
            _methane(s, role, slot, t, v, prev_v, prev_t, params, slot_cfg, slot_f, slot_i, counters, ev_i, ev_f,
                     n_ev)


@_jit
def advance_kernel(now_us, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring, counters, ev_i, ev_f,
                   n_ev):
    """Advance every started segment's clock to now_us: closes ticks so that silent tags turn stale."""
    tick_us = np.int64(params[P_TICK_US])
    tick = now_us // tick_us
    for s in range(seg_cfg.shape[0]):
        if seg_i[s, GI_TICK] < 0:
            continue
        if tick >= seg_i[s, GI_TICK] + 2:
            _advance_segment(s, tick, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring, counters,
                             ev_i, ev_f, n_ev)
        if seg_i[s, GI_NPW_PEND_UP] != 0 or seg_i[s, GI_NPW_PEND_DN] != 0:
            _expire_fronts(s, now_us, params, seg_cfg, seg_f, seg_i, counters, ev_i, ev_f, n_ev)


__all__ = ["advance_kernel", "process_kernel"]

# referenced for completeness of the layout (kept so that ruff does not flag an unused import)
_UNUSED = (GC_NOMINAL_FLOW, HEALTH_STALE, HEALTH_UNKNOWN, SC_SCAN_S, HIST_LEN, ROLE_FLOW_IN)


@njit(cache=True, error_model="numpy")
def group_by_segment(seg_idx, role_idx, time_us, value, quality, n_seg, starts, out):
    """Stable counting sort of a batch by segment into `out` (records of `detector.READING_DTYPE`): segment s gets
    out[starts[s]:starts[s + 1]], readings of unknown segments come last (starts has n_seg + 2 entries).

    Segments share no state, so processing a batch segment by segment gives the same result as in time order,
    while each segment's state stays in cache for all its readings. One record array rather than one array per
    column: the scatter then keeps one partly written cache line per segment, which fits in L2, instead of one
    per segment and column, which did not (3x slower). The segment is implied by the group. Roles outside
    0..N_ROLES-1 become -1 and qualities outside 0..3 become UNSPECIFIED, which the kernel treats alike, so that no
    value beyond the record's int32 wraps into a valid one.
    """
    n = seg_idx.shape[0]
    starts[:] = 0
    for i in range(n):
        s = seg_idx[i]
        b = s if (s >= 0 and s < n_seg) else n_seg
        starts[b + 1] += 1
    for b in range(1, n_seg + 2):
        starts[b] += starts[b - 1]
    pos = starts[: n_seg + 1].copy()
    for i in range(n):
        s = seg_idx[i]
        b = s if (s >= 0 and s < n_seg) else n_seg
        k = pos[b]
        pos[b] = k + 1
        role = role_idx[i]
        qual = quality[i]
        o = out[k]
        o.time_us = time_us[i]
        o.value = value[i]
        o.role = role if (role >= 0 and role < N_ROLES) else -1
        o.quality = qual if (qual >= QUALITY_UNSPECIFIED and qual <= QUALITY_MAX) else QUALITY_UNSPECIFIED
