"""Compensated mass balance (a): tick means, the tick's net inflow and line pack, blocks pushed into the
ring of block boundaries (each valid block goes to `decision._decide`), and catching up after silence.
"""

from __future__ import annotations

import math

import numpy as np

from ..layout import (
    ES_OK,
    EV_BALANCE_RESUMED,
    EV_BALANCE_SUSPENDED,
    GC_LOC_K0,
    GC_LOC_K0_REL_SD,
    GF_BASE_A,
    GF_BASE_G,
    GF_BLK_LP,
    GF_BLK_LPD,
    GF_BLK_LPN,
    GF_BLK_LPSYS,
    GF_BLK_LPVAR,
    GF_BLK_MBAR,
    GF_CUM_A,
    GF_CUM_LD,
    GF_CUM_LN,
    GF_CUM_LPP,
    GF_CUM_M,
    GF_CUM_Q,
    GF_CUM_V,
    GF_CUSUM,
    GF_EST0,
    GF_LC_D,
    GF_LC_DD,
    GF_LC_F,
    GF_LC_FD,
    GF_LC_FF,
    GF_LC_PP,
    GF_LC_VD,
    GF_LC_VF,
    GF_LC_W,
    GF_LP,
    GF_LP_VAR,
    GF_LPA_OK,
    GF_LPD_OK,
    GF_LPD_PREV,
    GF_MBAR_PREV,
    GF_MDLR0,
    GF_SZ0,
    GF_TLP1,
    GF_TLP1_VAR,
    GF_TLP2,
    GF_TLP2_VAR,
    GF_Z0,
    GI_BLK_INVALID,
    GI_CUSUM_N,
    GI_LATCHED,
    GI_LP_VALID,
    GI_N_BLOCKS,
    GI_PERSIST0,
    GI_RING_POS,
    GI_SINCE_RAISE,
    GI_SPERSIST0,
    GI_SUSPENDED,
    GI_TICK,
    N_ROLES,
    N_WINDOWS,
    P_BLOCK_TICKS,
    P_LOC_EVERY,
    P_LOC_MIN_CAL,
    P_LP_DIFF_MATCHED,
    P_LP_DIFFUSION,
    P_LP_EST,
    P_LP_NOISE_K,
    P_LP_RAMP_HELD,
    P_LP_RAMP_LAG,
    P_LP_RAMP_SURGE,
    P_TICK_US,
    R_A,
    R_INVALID,
    R_LD,
    R_LN,
    R_LP,
    R_LP_VAR,
    R_LPP,
    R_M,
    R_Q,
    R_RL,
    R_STL_NSB,
    R_TIME,
    R_V,
    R_X,
    RATE_TICKS,
    ROLE_FLOW_IN,
    ROLE_FLOW_OUT,
    ROLE_TEMPERATURE,
    SC_PRESENT,
    SF_CUR_N,
    SF_CUR_SUM,
    SF_EW_SLOW,
    SF_HELD,
    SF_HELD_VAR,
    SF_NXT_N,
    SF_NXT_SUM,
    SI_READINGS,
)
from .common import _emit, _jit, _sigma2, _usable
from .decision import _decide
from .health import _check_stale
from .line_pack import _diffuse, _est_recalibrate, _line_pack, _line_pack_estimated, _settle_time
from .location import _c0_sd, _loc_calibrate, _loc_emit, _loc_push, _loc_tick, calibrate

# Smoothing of the gas temperature used for the line pack. Long on purpose: buried gas changes temperature by
# ~1 K a day (a line-pack rate of ~0.1 % of flow), while a short average lets the transmitter's noise wander
# the line pack by more than the leaks the 15- and 60-minute windows look for. Until that long has passed
# the running mean of all readings so far is used.
TEMPERATURE_TAU_S = 14400.0
MAX_CATCHUP_BLOCKS = 70  # a silent gap longer than this many blocks restarts the balance instead of replaying

@_jit
def _close_tick(s, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring, counters, ev_i, ev_f, n_ev):
    """Close the segment's open tick: tick means and staleness, the tick's balance, its line pack, and the
    block when the tick ends one."""
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
        _check_stale(s, slot, role, t_end, params, slot_cfg, slot_i, seg_f, seg_i, counters, ev_i, ev_f, n_ev)
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
    _loc_tick(s, seg_cfg, slot_f, slot_i, slot_cfg, seg_f)
    if params[P_LP_EST] != 0.0:
        # the state estimator's line pack: its errors persist over several ticks (the filter's memory), so
        # within a block they count as systematic, not as independent tick errors that average down
        lp_kg, lp_var, lp_ok = _line_pack_estimated(params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, s, dt)
        lp_var_rnd = 0.0
        lp_var_sys = lp_var
    else:
        lp_kg, lp_var, lp_var_sys, lp_ok = _line_pack(params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, s)
        lp_var_rnd = lp_var
        if params[P_LP_DIFFUSION] != 0.0:
            # the steady profile's line pack lagged as the gas inside follows the ends; its variance is left as the
            # tick's (the lag averages the noise but carries it over ticks: not counted, on the safe side)
            if lp_ok:
                ts_tick = _settle_time(params, seg_cfg, slot_cfg, slot_f, slot_i, s, lp_kg, lp_ok,
                                       dt * params[P_BLOCK_TICKS])
                lp_lagged = _diffuse(params, seg_f, s, lp_kg, dt, ts_tick)
                seg_f[s, GF_BLK_LPD] += lp_kg - lp_lagged
                lp_kg = lp_lagged
            else:
                seg_f[s, GF_LPD_OK] = 0.0
    if lp_ok:
        seg_f[s, GF_BLK_LP] += lp_kg
        seg_f[s, GF_BLK_LPVAR] += lp_var_rnd
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
        settle_s = _settle_time(params, seg_cfg, slot_cfg, slot_f, slot_i, s, lp_kg, lp_ok, dt * bt)
        _close_block(s, t_end, ahead, settle_s, params, seg_cfg, slot_cfg, seg_f, seg_i, ring, counters, ev_i, ev_f,
                     n_ev)
    seg_f[s, GF_TLP2] = seg_f[s, GF_TLP1]
    seg_f[s, GF_TLP2_VAR] = seg_f[s, GF_TLP1_VAR]
    seg_f[s, GF_TLP1] = lp_kg if lp_ok else np.nan
    seg_f[s, GF_TLP1_VAR] = lp_var


# A set-point move's inflow surge decays over the line's settling time (within exp(-2), 14 %, after two): the inlet
# must have been held this many settling times before the ramp lag's rate span for the ramp to be a demand move's.
RAMP_HELD_SETTLE = 2.0


@_jit
def _inlet_held(s, t_now, t_span, t_from, share, seg_f, seg_i, ring):
    """(held, moved): whether the throughput's ramp came from the outlet (a demand move) rather than from the inlet
    (a set-point or supply move) over the blocks ending from t_from to t_now (us), and the inlet's p^2 change over
    them (newest less oldest block). Held: the range of the inlet's block-mean p^2 at most `share` times the
    outlet's, over those blocks and over the rate's span (the blocks ending after t_span: a set-point move's first
    minutes, the inlet moving while the outlet has not yet, hide in a long look-back's demand movement). A demand
    move changes the friction drop, so the outlet's pressure moves and a held inlet's does not (an unregulated
    inlet's by its feeder's share of the drop, less than the line's); a set-point move shifts the whole line, the
    inlet first and by as much as the outlet. p^2 less half the elevation term, from the location's sums over its
    valid ticks (kernels.location._loc_tick); a block without such ticks is skipped, and with none the ramp counts
    as held (as before this check). With both ends steady either may hold (the rate is then only noise)."""
    nr = ring.shape[1]
    pos = seg_i[s, GI_RING_POS]
    c_pp = seg_f[s, GF_CUM_LPP]
    c_d = seg_f[s, GF_CUM_LD]
    c_n = seg_f[s, GF_CUM_LN]
    t_a = float(t_now)
    u_lo = np.inf
    u_hi = -np.inf
    w_lo = np.inf
    w_hi = -np.inf
    span_u = 0.0
    span_w = 0.0
    u_new = np.nan
    u_old = np.nan
    for _ in range(min(seg_i[s, GI_N_BLOCKS], nr)):
        if t_a < t_from:
            break
        dn = c_n - ring[s, pos, R_LN]
        if dn > 0.0:
            pp = (c_pp - ring[s, pos, R_LPP]) / dn
            hd = 0.5 * (c_d - ring[s, pos, R_LD]) / dn
            u_lo = min(u_lo, pp + hd)
            u_hi = max(u_hi, pp + hd)
            w_lo = min(w_lo, pp - hd)
            w_hi = max(w_hi, pp - hd)
            if u_new != u_new:
                u_new = pp + hd
            u_old = pp + hd
            if t_a > t_span:
                span_u = u_hi - u_lo
                span_w = w_hi - w_lo
        c_pp = ring[s, pos, R_LPP]
        c_d = ring[s, pos, R_LD]
        c_n = ring[s, pos, R_LN]
        t_a = ring[s, pos, R_TIME]
        pos = (pos - 1) % nr
    if not (u_hi >= u_lo):
        return True, 0.0
    held = u_hi - u_lo <= share * (w_hi - w_lo) and span_u <= share * span_w
    return held, u_new - u_old


@_jit
def _ramp_lag(s, t_end, settle_s, params, seg_f, seg_i, ring):
    """The quasi-steady line pack's lead (kg) over the gas inside while the throughput ramps (`lp_ramp_lag`):
    P_LP_RAMP_LAG T_s^2 dq/dt, dq/dt the throughput over the block closing and the one before against the two before
    those, over the time between their centres. 0 where those blocks are not all valid (the ring's history is short,
    or holds an invalid block). With P_LP_RAMP_HELD > 0, also 0 where the inlet's pressure moved over RAMP_HELD_SETTLE
    settling times before the span, or over the span, by more than that share of the outlet's (`_inlet_held`: a
    set-point move, not a demand move's ramp), unless P_LP_RAMP_SURGE and the throughput moves the inlet's way (the
    inflow's surge). The block closing is valid; the ring's newest entry is the block before it."""
    c = params[P_LP_RAMP_LAG]
    # the state estimator's line pack follows the gas inside itself, and so does the diffusion lag's (`_diffuse`)
    if not (c > 0.0) or params[P_LP_EST] != 0.0 or params[P_LP_DIFFUSION] != 0.0 or seg_i[s, GI_N_BLOCKS] < 4:
        return 0.0
    nr = ring.shape[1]
    p1 = seg_i[s, GI_RING_POS]
    p2 = (p1 - 1) % nr
    p4 = (p1 - 3) % nr
    if ring[s, p1, R_INVALID] != ring[s, p4, R_INVALID]:
        return 0.0
    t0 = ring[s, p4, R_TIME]
    t2 = ring[s, p2, R_TIME]
    t_now = float(t_end)
    if not (t_now > t2 and t2 > t0):
        return 0.0
    q_new = (seg_f[s, GF_CUM_Q] - ring[s, p2, R_Q]) / ((t_now - t2) * 1e-6)
    q_old = (ring[s, p2, R_Q] - ring[s, p4, R_Q]) / ((t2 - t0) * 1e-6)
    rate = (q_new - q_old) / (0.5 * (t_now - t0) * 1e-6)
    share = params[P_LP_RAMP_HELD]
    if share > 0.0:
        held, moved = _inlet_held(s, t_now, t0, t0 - RAMP_HELD_SETTLE * settle_s * 1e6, share, seg_f, seg_i, ring)
        if not held and not (params[P_LP_RAMP_SURGE] != 0.0 and rate * moved > 0.0):
            return 0.0
    return c * settle_s * settle_s * rate


@_jit
def _matched_lag(s, lag, valid, blk_m, blk_q, d_lp, tb, seg_f, seg_i, ring):
    """The block's R_RL with `lp_diffusion_matched`: the ring's last R_RL moved by the change of the block's mean
    lag only where the block's line pack moved the way the ends' net inflow after the baseline in use did (an
    operation); the whole lag after an invalid block (its change from none). 0 for an invalid block."""
    prev = seg_f[s, GF_LPD_PREV]
    if not valid:
        seg_f[s, GF_LPD_PREV] = np.nan
        return 0.0
    seg_f[s, GF_LPD_PREV] = lag
    if prev != prev or seg_i[s, GI_N_BLOCKS] == 0:
        return lag
    base = ring[s, seg_i[s, GI_RING_POS], R_RL]
    net = blk_m - (seg_f[s, GF_BASE_A] * tb + seg_f[s, GF_BASE_G] * blk_q)
    if net * d_lp > 0.0:
        return base + (lag - prev)
    return base


@_jit
def _close_block(s, t_end, ahead, settle_s, params, seg_cfg, slot_cfg, seg_f, seg_i, ring, counters, ev_i, ev_f, n_ev):
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
    # the ramp-lag correction taken off this block's line pack (or the diffusion lag's, `lp_diffusion`), kept in the
    # ring: the tests count its change between the line packs they difference as uncertain (`decision._ramp_lag_sd`)
    if params[P_LP_DIFFUSION] != 0.0:
        # the diffusion lag (already off the ticks' line packs, `_diffuse`) is the correction: its block mean
        rl = seg_f[s, GF_BLK_LPD] / n_lp if valid else 0.0
        if params[P_LP_DIFF_MATCHED] != 0.0:
            rl = _matched_lag(s, rl, valid, blk_m, blk_q, lp_now - seg_f[s, GF_LP], bt * params[P_TICK_US] * 1e-6,
                              seg_f, seg_i, ring)
    else:
        rl = _ramp_lag(s, t_end, settle_s, params, seg_f, seg_i, ring) if valid else 0.0
        lp_now -= rl
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
    ring[s, pos, R_RL] = rl
    ring[s, pos, R_INVALID] = prev_invalid + (0.0 if valid else 1.0)
    ring[s, pos, R_STL_NSB] = 0.0  # no settling lead kept for the new block yet (`settle._settle_sd`)
    seg_i[s, GI_RING_POS] = pos
    seg_i[s, GI_N_BLOCKS] += 1
    _loc_push(s, pos, seg_f, ring)
    _loc_calibrate(s, pos, t_end, params, seg_f, seg_i, ring)
    if params[P_LP_EST] != 0.0:
        _est_friction(s, params, seg_cfg, slot_cfg, seg_f)
    seg_f[s, GF_LP] = lp_now
    seg_f[s, GF_LP_VAR] = lp_var
    seg_f[s, GF_MBAR_PREV] = mbar
    seg_i[s, GI_LP_VALID] = 1 if (lp_ok and seg_i[s, GI_BLK_INVALID] == 0) else 0
    seg_f[s, GF_BLK_MBAR] = 0.0
    seg_f[s, GF_BLK_LP] = 0.0
    seg_f[s, GF_BLK_LPN] = 0.0
    seg_f[s, GF_BLK_LPVAR] = 0.0
    seg_f[s, GF_BLK_LPSYS] = 0.0
    seg_f[s, GF_BLK_LPD] = 0.0
    seg_i[s, GI_BLK_INVALID] = 0
    if not valid:
        seg_f[s, GF_CUSUM] = 0.0
        seg_i[s, GI_CUSUM_N] = 0
        for w in range(N_WINDOWS):
            seg_i[s, GI_PERSIST0 + w] = 0
            seg_i[s, GI_SPERSIST0 + w] = 0
        return
    _decide(s, t_end, blk_m, blk_q, blk_v, lp_now, lp_var, lp_prev, lp_prev_var, settle_s, params, seg_cfg, slot_cfg,
            seg_f, seg_i, ring, counters, ev_i, ev_f, n_ev)
    if seg_i[s, GI_LATCHED] != 0:
        # the alarm's leak located at its raise, then refined every P_LOC_EVERY blocks while it persists
        since = seg_i[s, GI_SINCE_RAISE]
        if since % np.int64(params[P_LOC_EVERY]) == 0:
            _loc_emit(s, t_end, pos, params, seg_cfg, slot_cfg, seg_f, seg_i, ring, counters, ev_i, ev_f, n_ev,
                      since == 0)


@_jit
def _est_friction(s, params, seg_cfg, slot_cfg, seg_f):
    """The estimator's friction model from the location's calibration once it has enough blocks (learned in
    leak-free operation only: a leak is not learned as friction); until then the pipe's prior or the first
    tick's gradient (line_pack._line_pack_estimated)."""
    w = seg_f[s, GF_LC_W]
    k0 = seg_cfg[s, GC_LOC_K0]
    if k0 <= 0.0 or w < params[P_LOC_MIN_CAL]:
        return
    c0, k, _, _, _, _ = calibrate(w, seg_f[s, GF_LC_F], seg_f[s, GF_LC_FF], seg_f[s, GF_LC_D], seg_f[s, GF_LC_FD],
                                  seg_f[s, GF_LC_DD], seg_f[s, GF_LC_VD], seg_f[s, GF_LC_VF], k0,
                                  k0 * seg_cfg[s, GC_LOC_K0_REL_SD], _c0_sd(s, seg_f[s, GF_LC_PP] / w, seg_cfg,
                                                                           slot_cfg))
    _est_recalibrate(seg_f, s, k, c0)


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
        seg_f[s, GF_EST0 + ES_OK] = 0.0  # the estimator restarts from the profile between the ends
        seg_f[s, GF_LPA_OK] = 0.0  # and the line pack forgets the friction drop it held through a silent end
        k = seg_i[s, GI_TICK]
    while tick >= k + 2:
        _close_tick(s, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring, counters, ev_i, ev_f, n_ev)
        k = seg_i[s, GI_TICK]
