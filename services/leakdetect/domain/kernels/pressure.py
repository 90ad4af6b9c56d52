"""Negative pressure waves (c): front detection per end transmitter, pairing of the two ends' fronts into a
located leak or an operation, expiry of unpaired fronts.
"""

from __future__ import annotations

import math

import numpy as np

from ..layout import (
    EV_NPW_BOUNDARY,
    EV_NPW_LEAK,
    EV_NPW_UNPAIRED,
    GC_AREA_M2,
    GC_LENGTH_M,
    GC_PMID_X0,
    GC_WAVE_SPEED,
    GC_WAVE_SPEED_SD,
    GF_NPW_A_DN,
    GF_NPW_A_M0,
    GF_NPW_A_UP,
    GF_NPW_DONE_T,
    GF_NPW_SIG_DN,
    GF_NPW_SIG_M0,
    GF_NPW_SIG_UP,
    GF_NPW_T_DN,
    GF_NPW_T_M0,
    GF_NPW_T_UP,
    GF_NPWL_SD,
    GF_NPWL_T,
    GF_NPWL_X,
    GI_NPW_PEND_DN,
    GI_NPW_PEND_M0,
    GI_NPW_PEND_UP,
    HEALTH_OK,
    N_PMID,
    N_ROLES,
    P_NPW_CONFIRM_S,
    P_NPW_END_FRAC,
    P_NPW_K,
    P_NPW_MIN_DROP,
    P_NPW_PAIR_TOL,
    P_NPW_REFRACT_S,
    P_NPW_TAU_FAST,
    P_NPW_TAU_SLOW,
    P_RUP_TAU,
    ROLE_FLOW_IN,
    ROLE_FLOW_OUT,
    ROLE_PRESSURE_DOWN,
    ROLE_PRESSURE_MID0,
    ROLE_PRESSURE_UP,
    SC_PRESENT,
    SC_TIME_RES_S,
    SF_A_FAST,
    SF_A_REF,
    SF_A_SLOPE,
    SF_A_SLOW,
    SF_CACHE_DTS,
    SF_EW_FAST,
    SF_EW_REF,
    SF_EW_SLOW,
    SF_FAST_VAR,
    SF_INV_DTS,
    SF_LAST_VALUE,
    SF_NOISE_VAR,
    SF_NPW_BASE,
    SF_P_MIN,
    SF_REF_COV,
    SF_REF_VAR,
    SF_RUP_REF2,
    SF_SLOPE,
    SI_HEALTH,
    SI_HIST_N,
    SI_HIST_POS,
    SI_NPW_N,
    SI_NPW_PHASE,
    SI_NPW_T_DET,
)
from .common import _alpha, _emit, _jit, _jit_inline, _sigma2, _usable

NPW_SLOPE_TAU_S = 30.0
NPW_MAX_RISE_TAU = 2.5  # a front rises from 25 to 75 % within this many smoothing time constants

@_jit_inline
def _tx_cols(p):
    """State columns of pressure transmitter p (0 upstream end, 1 downstream end, 2 + j mid-line meter j): pending
    flag (seg_i), front time, amplitude, timing s.d. (seg_f)."""
    if p == 0:
        return GI_NPW_PEND_UP, GF_NPW_T_UP, GF_NPW_A_UP, GF_NPW_SIG_UP
    if p == 1:
        return GI_NPW_PEND_DN, GF_NPW_T_DN, GF_NPW_A_DN, GF_NPW_SIG_DN
    j = p - 2
    return GI_NPW_PEND_M0 + j, GF_NPW_T_M0 + j, GF_NPW_A_M0 + j, GF_NPW_SIG_M0 + j


@_jit_inline
def _tx_role(p):
    return ROLE_PRESSURE_UP + p if p < 2 else ROLE_PRESSURE_MID0 + p - 2


@_jit_inline
def _tx_pos(s, p, seg_cfg):
    """Position of transmitter p along the segment, m."""
    if p == 0:
        return 0.0
    if p == 1:
        return seg_cfg[s, GC_LENGTH_M]
    return seg_cfg[s, GC_PMID_X0 + p - 2] * seg_cfg[s, GC_LENGTH_M]


@_jit_inline
def _mid_active(s, j, seg_cfg, slot_cfg, slot_i):
    """Whether mid-line meter j takes part in the pairing: present, placed inside the line, healthy."""
    slot = s * N_ROLES + ROLE_PRESSURE_MID0 + j
    x = seg_cfg[s, GC_PMID_X0 + j]
    return slot_cfg[slot, SC_PRESENT] != 0.0 and 0.0 < x < 1.0 and slot_i[slot, SI_HEALTH] == HEALTH_OK


@_jit
def _fronts_pending(s, seg_i):
    """Whether any transmitter of the segment has a front waiting for its partner."""
    if seg_i[s, GI_NPW_PEND_UP] != 0 or seg_i[s, GI_NPW_PEND_DN] != 0:
        return True
    for j in range(N_PMID):  # noqa: SIM110 (a loop numba compiles plainly)
        if seg_i[s, GI_NPW_PEND_M0 + j] != 0:
            return True
    return False


@_jit
def _front(s, p, t_cross, t_now, amp, sig_t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, counters,
           ev_i, ev_f, n_ev):
    """A confirmed pressure-drop front at transmitter p (confirmed at t_now): pair it with a pending front of an
    adjacent transmitter (along the line, among the ends and the active mid-line meters: the two meters that
    bracket a source inside the line see its wave first) or keep it pending; a front still pending at this
    transmitter is reported unpaired when the new one takes its place. With mid-line meters, the later arrivals of
    a paired wave at the other meters are taken in silence (GF_NPW_DONE_T)."""
    length = seg_cfg[s, GC_LENGTH_M]
    c = seg_cfg[s, GC_WAVE_SPEED]
    n_mid = 0
    for j in range(N_PMID):
        if _mid_active(s, j, seg_cfg, slot_cfg, slot_i):
            n_mid += 1
    if n_mid > 0 and t_cross <= seg_f[s, GF_NPW_DONE_T]:
        return  # a later arrival of a wave already paired
    x_p = _tx_pos(s, p, seg_cfg)
    # the adjacent transmitters below and above p
    q_lo = -1
    q_hi = -1
    x_lo = -1.0
    x_hi = 2.0 * length + 1.0
    for q in range(2 + N_PMID):
        if q == p or (q >= 2 and not _mid_active(s, q - 2, seg_cfg, slot_cfg, slot_i)):
            continue
        x_q = _tx_pos(s, q, seg_cfg)
        if x_q < x_p and x_q > x_lo:
            q_lo = q
            x_lo = x_q
        elif x_q > x_p and x_q < x_hi:
            q_hi = q
            x_hi = x_q
    # the earliest pending front of the two within the wave's travel time between them
    best = -1
    best_t = 0.0
    for q in (q_lo, q_hi):
        if q < 0:
            continue
        pend_q, t_col, _, sig_col = _tx_cols(q)
        if seg_i[s, pend_q] == 0:
            continue
        t_o = seg_f[s, t_col]
        sig_o = seg_f[s, sig_col]
        sig_dt = math.sqrt(sig_t * sig_t + sig_o * sig_o)
        if abs(t_cross - t_o) * 1e-6 <= (1.0 + params[P_NPW_PAIR_TOL]) * abs(_tx_pos(s, q, seg_cfg) - x_p) / c + (
                3.0 * sig_dt) and (best < 0 or t_o < best_t):
            best = q
            best_t = t_o
    if best >= 0:
        pend_o, t_col, a_col, sig_col = _tx_cols(best)
        seg_i[s, pend_o] = 0
        sig_o = seg_f[s, sig_col]
        sig_dt = math.sqrt(sig_t * sig_t + sig_o * sig_o)
        a_lo = best if best == q_lo else p  # the lower transmitter of the pair, and the upper
        x_a = _tx_pos(s, a_lo, seg_cfg)
        x_b = x_hi if best == q_hi else x_p
        sub = x_b - x_a
        t_up = t_cross if a_lo == p else best_t
        t_dn = best_t if a_lo == p else t_cross
        dt = (t_up - t_dn) * 1e-6
        x = x_a + 0.5 * (sub + c * dt)
        x = min(max(x, x_a), x_b)
        sig_x = math.sqrt((0.5 * c * sig_dt) ** 2 + (0.5 * dt * seg_cfg[s, GC_WAVE_SPEED_SD]) ** 2)
        margin = max(params[P_NPW_END_FRAC] * length, 2.0 * sig_x)
        amp_m = 0.5 * (amp + seg_f[s, a_col])
        onset = np.int64(min(t_up, t_dn) - (sub - abs(c * dt)) / (2.0 * c) * 1e6)
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
        t_ev = np.int64(max(t_up, t_dn))
        if not consistent:
            _emit(ev_i, ev_f, n_ev, counters, EV_NPW_BOUNDARY, s, -1, t_ev, onset, 3, x, sig_x, dt, leak_est, amp_m)
        elif x < margin:
            _emit(ev_i, ev_f, n_ev, counters, EV_NPW_BOUNDARY, s, ROLE_PRESSURE_UP, t_ev, onset, 1, x, sig_x, dt,
                  leak_est, amp_m)
        elif x > length - margin:
            _emit(ev_i, ev_f, n_ev, counters, EV_NPW_BOUNDARY, s, ROLE_PRESSURE_DOWN, t_ev, onset, 2, x, sig_x, dt,
                  leak_est, amp_m)
        else:
            _emit(ev_i, ev_f, n_ev, counters, EV_NPW_LEAK, s, -1, t_ev, onset, 0, x, sig_x, dt, leak_est, amp_m)
            # kept for the balance alarm of the same incident to fuse with its gradient location
            seg_f[s, GF_NPWL_X] = x
            seg_f[s, GF_NPWL_SD] = sig_x
            seg_f[s, GF_NPWL_T] = float(onset)
        if n_mid > 0:
            # the wave reaches the other meters later: their fronts, pending or to come, are its
            done = float(onset) + ((1.0 + params[P_NPW_PAIR_TOL]) * length / c + 3.0 * sig_dt) * 1e6
            seg_f[s, GF_NPW_DONE_T] = done
            for q in range(2 + N_PMID):
                pend_q, t_col, _, _ = _tx_cols(q)
                if seg_i[s, pend_q] != 0 and float(onset) - 3.0 * sig_dt * 1e6 <= seg_f[s, t_col] <= done:
                    seg_i[s, pend_q] = 0
        return
    my_pend, my_t, my_a, my_sig = _tx_cols(p)
    if seg_i[s, my_pend] != 0:
        # the refractory (30 s) is shorter than a long line's pairing wait: a front without partner is reported,
        # not overwritten
        _emit(ev_i, ev_f, n_ev, counters, EV_NPW_UNPAIRED, s, _tx_role(p), t_now, np.int64(seg_f[s, my_t]), p + 1,
              seg_f[s, my_a], 0.0, 0.0, 0.0, 0.0)
    seg_i[s, my_pend] = 1
    seg_f[s, my_t] = t_cross
    seg_f[s, my_a] = amp
    seg_f[s, my_sig] = sig_t


@_jit
def _expire_fronts(s, t, params, seg_cfg, seg_f, seg_i, counters, ev_i, ev_f, n_ev):
    wait_us = ((1.0 + params[P_NPW_PAIR_TOL]) * seg_cfg[s, GC_LENGTH_M] / seg_cfg[s, GC_WAVE_SPEED]
               + params[P_NPW_CONFIRM_S] + 2.0) * 1e6
    for p in range(2 + N_PMID):
        pend, tt, aa, _ = _tx_cols(p)
        if seg_i[s, pend] != 0 and t - seg_f[s, tt] > wait_us:
            seg_i[s, pend] = 0
            _emit(ev_i, ev_f, n_ev, counters, EV_NPW_UNPAIRED, s, _tx_role(p), t, np.int64(seg_f[s, tt]), p + 1,
                  seg_f[s, aa], 0.0, 0.0, 0.0, 0.0)


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


@_jit_inline
def _npw_start(slot, ps, t, v, slot_cfg, slot_f, slot_i, hist_t, hist_v):
    """The transmitter's first good reading: the averages and the history start at it."""
    hl = hist_t.shape[1]
    hp = slot_i[slot, SI_HIST_POS]
    slot_f[slot, SF_EW_FAST] = v
    slot_f[slot, SF_EW_SLOW] = v
    slot_f[slot, SF_EW_REF] = v
    slot_f[slot, SF_RUP_REF2] = v
    slot_f[slot, SF_P_MIN] = v
    slot_f[slot, SF_NOISE_VAR] = _sigma2(slot_cfg, slot, v)
    # both averages are this one reading: its whole noise, shared (`_fast_threshold`)
    slot_f[slot, SF_FAST_VAR] = 1.0
    slot_f[slot, SF_REF_VAR] = 1.0
    slot_f[slot, SF_REF_COV] = 1.0
    hist_t[ps, hp] = t
    hist_v[ps, hp] = v
    slot_i[slot, SI_HIST_POS] = (hp + 1) % hl
    slot_i[slot, SI_HIST_N] = 1


@_jit_inline
def _smoothing_weights(slot, dts, params, slot_f):
    """Smoothing weights of the pressure averages (NPW fast, slow and slope; the rupture reference) for the
    sample interval: cached while it stays within 20 % (no division per reading at a steady scan rate;
    sampling jitter is far below that)."""
    cd = slot_f[slot, SF_CACHE_DTS]
    if not (abs(dts - cd) <= 0.2 * cd):
        slot_f[slot, SF_CACHE_DTS] = dts
        slot_f[slot, SF_A_FAST] = _alpha(dts, params[P_NPW_TAU_FAST])
        slot_f[slot, SF_A_SLOW] = _alpha(dts, params[P_NPW_TAU_SLOW])
        slot_f[slot, SF_A_SLOPE] = _alpha(dts, NPW_SLOPE_TAU_S)
        slot_f[slot, SF_A_REF] = _alpha(dts, params[P_RUP_TAU])
        slot_f[slot, SF_INV_DTS] = 1.0 / dts if dts > 0.0 else 0.0


@_jit_inline
def _npw(s, role, slot, ps, t, v, prev_v, dts, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, hist_t, hist_v,
         counters, ev_i, ev_f, n_ev):
    """Negative-pressure-wave front detection with sub-sample timing at one end: idle -> confirming a drop ->
    refractory; a confirmed sharp front goes to `_front`."""
    hl = hist_t.shape[1]
    hp = slot_i[slot, SI_HIST_POS]
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
    # the fast average's variance (its division taken only where a drop passes the fixed floor: rarely, in phase 0)
    var_fast_pre = noise_var
    kk = params[P_NPW_K]
    if phase == 0:
        slope += a_slope * (inc * slot_f[slot, SF_INV_DTS] - slope)
        d1 = v - prev_v
        noise_var += a_slope * (0.5 * d1 * d1 - noise_var)
        # a ramp (demand, supply set-point) keeps the slow average behind the fast one by slope * lag: detrend
        drop0 = slow - fast + slope * (params[P_NPW_TAU_SLOW] - params[P_NPW_TAU_FAST])
        if drop0 > params[P_NPW_MIN_DROP] and drop0 * drop0 > kk * kk * (var_fast_pre * af / (2.0 - af)):
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
            var_fast = var_fast_pre * af / (2.0 - af)
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
                    _front(s, role - ROLE_PRESSURE_UP if role <= ROLE_PRESSURE_DOWN else role - ROLE_PRESSURE_MID0 + 2,
                           t_c, t, amp, sig_t, params, seg_cfg, slot_cfg, slot_f,
                           slot_i, seg_f, seg_i, counters, ev_i, ev_f, n_ev)
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
