"""Baseline learning of the mass balance: the fit r = a + g q of the segment's residual against its throughput
(offset, gain, kappa and their uncertainty), which `decision._decide` subtracts before every test.

One learning window is open at a time (`GI_LEARN_MODE`): the first learning (after `P_LEARN_AFTER_US`), a
"learn now" (`GI_LEARN_CMD_T`, set by the facade), or a periodic re-learning (`P_RELEARN_US`). The window's
blocks are summed into `GF_B_*` beside detection, which goes on with the baseline in use (`GF_BASE_*`).
Blocks of a transient, and those inside a settling time after an operation, are left out (`_block_is_quiet`).
The first learning and "learn now" are adopted when
their window is full. A re-learning's candidate is adopted only if its window saw no alarm and a low CUSUM and
its offset agrees with the baseline in use and with the last confirmed one (`GF_ANC_*`): a leak shows as an
offset step, so a re-learning cannot take one into the baseline; a larger change waits for a human's "this
period was leak-free" (`refit_from_ring`: the ring's blocks of that period, or the rejected candidate's own
window). An adopted re-learning is pooled with the baseline in use (`_pool_candidate`), so the meters' relative gain
is learned across the throughputs the accepted windows visited; the first learning, "learn now" and "this period
was leak-free" start the pool afresh.
"""

from __future__ import annotations

import math

import numpy as np

from ..layout import (
    EV_BASELINE_LEARNED,
    EV_BASELINE_REJECTED,
    GF_ANC_A,
    GF_ANC_G,
    GF_ANC_QBAR,
    GF_ANC_VAR,
    GF_ANC_VARG,
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
    GF_BASE_T0,
    GF_BASE_VAR,
    GF_C_A,
    GF_C_G,
    GF_C_KAPPA,
    GF_C_QBAR,
    GF_C_T0,
    GF_C_T1,
    GF_C_VAR,
    GF_C_VARG,
    GF_CUSUM,
    GF_G_LPV0,
    GF_G_M,
    GF_G_Q,
    GF_G_RUNV,
    GF_G_V,
    GF_KAPPA,
    GF_LEARNED_T,
    GF_LPV_EW,
    GF_LW_T0,
    GF_NEXT_RELEARN,
    GF_POOL_VARG,
    GF_QBAR,
    GF_RL_CUSUM_MAX,
    GF_VAR_G,
    GI_BASE_N,
    GI_G_N,
    GI_LATCHED,
    GI_LEARN_CMD_T,
    GI_LEARN_LAST,
    GI_LEARN_MODE,
    GI_LEARN_REJECTED,
    GI_LEARN_SKIPPED,
    GI_LEARN_SKIPPED_TOTAL,
    GI_LEARN_SOURCE,
    GI_LEARNED,
    GI_N_BLOCKS,
    GI_N_LEARN,
    GI_RELEARN_N,
    GI_RELEARN_REJ_N,
    GI_RING_POS,
    LM_COMMANDED,
    LM_IDLE,
    LM_INITIAL,
    LM_PENDING,
    LM_RELEARN,
    LS_INITIAL,
    LS_LEAK_FREE,
    LS_LEARN_NOW,
    LS_RELEARN,
    N_ROLES,
    P_BLOCK_TICKS,
    P_CUSUM_H,
    P_EPS_LP,
    P_GAIN_PRIOR,
    P_KAPPA_MIN,
    P_LEARN_BLOCKS,
    P_LEARN_GROUP,
    P_LEARN_LPV,
    P_LEARN_SETTLE,
    P_LEARN_TRANS,
    P_LP_NOISE_K,
    P_RELEARN_AGREE,
    P_RELEARN_CHECKS,
    P_RELEARN_CUSUM,
    P_RELEARN_US,
    P_SETTLE_EPS,
    P_SETTLE_MAX_S,
    P_SETTLE_REF_S,
    P_TICK_US,
    R_A,
    R_INVALID,
    R_LP,
    R_LP_VAR,
    R_M,
    R_Q,
    R_TIME,
    R_V,
    R_X,
    REJ_ALARM,
    REJ_CUSUM,
    REJ_DRIFT,
    REJ_OFFSET_STEP,
    ROLE_FLOW_IN,
    ROLE_FLOW_OUT,
    SC_SIGMA_REL,
)
from .common import _emit, _jit
from .settle import _settle_sd

# the running mean of the line-pack variance forgets over this many blocks (an hour at 30 s): a lasting change
# (an estimator settling, a transmitter replaced) becomes the new normal within the hour
LPV_EW_BLOCKS = 120.0

# Pooling of adopted re-learnings (`_pool_candidate`): the line r = a + g q a re-learning adopts is the window's
# fit combined with the line in use, whose information is forgotten by e over these times since it was adopted. The
# gain is a difference of the meters' percent-of-reading biases, which drift over weeks: three days of 6-hourly
# re-learnings (~12 windows across the days' throughputs). The level (the offset at the throughput learned) moves
# with slow errors (gas temperature, composition): a re-learning's period, so a window counts about as much as the
# pool's level. 0 = no pooling (each re-learning's window alone, as before).
GAIN_POOL_TAU_S = 3 * 86400.0
LEVEL_POOL_TAU_S = 6 * 3600.0

# refit_from_ring's answers (the facade turns them into errors naming the problem)
REFIT_OUT_OF_REACH = -1  # the period starts before the ring's oldest block
REFIT_NOT_OVER = -2  # the period ends after the segment's clock
REFIT_TOO_FEW = -3  # fewer than three groups of quiet valid blocks in it


@_jit
def _block_movement_sd(ring, s, pos, n_blocks, eps, tb):
    """1 s.d. (kg/s) of the quasi-steady line pack's error in the block ending at ring position `pos`: `eps` of
    the line-pack movement beyond pressure noise (R_A) through the block before it and through it, and at its
    end's rate (R_X): a block's error follows the rate through it and after it."""
    nr = ring.shape[1]
    if n_blocks < 3:
        return np.inf
    a = ring[s, pos, R_A] - ring[s, (pos - 2) % nr, R_A] + ring[s, pos, R_X]
    return eps * a / tb


@_jit
def _settle_learn(settle_s, tb, params, a, g):
    """The settling allowance as learning applies it (`decision._settle_sd`'s `settle`): the quasi-steady
    profile's share of the decayed movement whatever the line-pack model (a block inside a settling time after
    an operation is a transient's, and the state estimator's residual follows a move over that time too)."""
    eps = params[P_SETTLE_EPS] * min(1.0, settle_s / params[P_SETTLE_REF_S])
    # only the movement the ends' net inflow matched (an operation's: a slow leak's own unpacking, or the day's
    # drift below noise, must not hold learning off; kernels.settle._box_opposed)
    return (eps, float(max(1, int(settle_s / tb + 0.5))), params[P_LP_NOISE_K], a, g, 1.0)


@_jit
def _block_is_quiet(s, pos, n_blocks, blk_v, lp_var, lp_prev_var, tb, params, seg_f, ring, settle):
    """Whether a valid block may be learned from: its line-pack model error small beside what its meters
    explain (`P_LEARN_TRANS`), its settling lead small beside them (`P_LEARN_SETTLE`: an operation's set-point or
    demand move settles over the segment's settling time, `_settle_learn`), its line-pack variance not far over its
    running mean (`P_LEARN_LPV`), nor that of the block before (whose line pack it starts from)."""
    sd_meters = math.sqrt(max(blk_v + lp_var + lp_prev_var, 0.0)) / tb
    moving = _block_movement_sd(ring, s, pos, n_blocks, params[P_EPS_LP], tb)
    if moving > params[P_LEARN_TRANS] * sd_meters:
        return False
    if n_blocks < 3:
        return False
    if _settle_sd(ring, s, pos, 0, n_blocks, settle) / tb > params[P_LEARN_SETTLE] * sd_meters:
        return False
    # the line pack at both ends of the block: its change since the block before is what the residual takes, so a
    # block after an end transmitter's silence (its line pack one-ended, 2 % of the line pack uncertain) starts its
    # run of blocks on that line pack, whose variance then dominated the fit's offset s.d. (`_accumulate`'s
    # GF_G_RUNV): on the mdlr_week suite such a baseline stated a 15-min MDLR of 20-37 % until the next re-learning
    ew = seg_f[s, GF_LPV_EW]
    lim = params[P_LEARN_LPV] * ew
    return not (ew > 0.0 and (lp_var > lim or lp_prev_var > lim))


@_jit
def _update_lpv_mean(s, lp_var, params, seg_f):
    """The running mean of the blocks' line-pack variance, each block counted at most at the limit that skips it:
    a few one-ended blocks (2 % of the line pack uncertain, 10^3-10^4 times a two-ended block's variance) had raised
    the mean so far that the partly one-ended block at the silence's end passed as quiet and bent the fit; a lasting
    change (a transmitter gone for good) still moves it, by a factor e every ~40 blocks."""
    ew = seg_f[s, GF_LPV_EW]
    seg_f[s, GF_LPV_EW] = lp_var if ew <= 0.0 else ew + (min(lp_var, params[P_LEARN_LPV] * ew) - ew) / LPV_EW_BLOCKS


@_jit
def _open_window(s, t0, mode, seg_f, seg_i):
    """Start learning afresh (the baseline in use stays in use)."""
    for col in (GF_B_W, GF_B_WQ, GF_B_WR, GF_B_WQQ, GF_B_WQR, GF_B_WRR, GF_B_VB, GF_B_T, GF_B_V, GF_B_LPV):
        seg_f[s, col] = 0.0
    seg_i[s, GI_N_LEARN] = 0
    seg_i[s, GI_G_N] = 0
    seg_i[s, GI_LEARN_SKIPPED] = 0
    seg_i[s, GI_LEARN_LAST] = -2
    seg_i[s, GI_LEARN_MODE] = mode
    seg_f[s, GF_LW_T0] = t0
    seg_f[s, GF_RL_CUSUM_MAX] = 0.0
    if mode == LM_RELEARN:  # a new candidate: the last one is forgotten
        for col in (GF_C_A, GF_C_G, GF_C_KAPPA, GF_C_VAR, GF_C_VARG, GF_C_QBAR):
            seg_f[s, col] = np.nan
        seg_f[s, GF_C_T0] = 0.0
        seg_f[s, GF_C_T1] = 0.0


@_jit
def _accumulate(s, blk_idx, blk_m, blk_q, blk_v, d_lp, lp_var, lp_prev_var, tb, params, seg_f, seg_i):
    """Add a valid quiet block (number `blk_idx` of the segment's blocks) to the learning sums."""
    # Ordinary least squares r = a + g q over the learning blocks. Equal weights on purpose: the line-pack
    # noise of consecutive blocks cancels in their sum (each block's line pack ends one residual and
    # starts the next), so the mean of a run of blocks is known far better than one block; any unequal
    # weighting would lose that.
    # The blocks are summed in groups of P_LEARN_GROUP consecutive blocks, a fixed time scale whatever the
    # block length: kappa measures the residual scatter, which includes slow errors that a short block
    # shows too little of. A gap (an invalid block, a transient left out) drops the open group.
    consecutive = seg_i[s, GI_LEARN_LAST] == blk_idx - 1
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
    seg_i[s, GI_LEARN_LAST] = blk_idx
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


@_jit
def _solve(s, g_prior, params, slot_cfg, seg_f):
    """The fit of the learning sums: (offset a, gain g, kappa, variance of the prediction at the mean throughput,
    variance of g, mean throughput). The gain is shrunk towards `g_prior` with the prior s.d. of
    `P_GAIN_PRIOR` (0 at the first learning; the gain in use at a re-learning)."""
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
    ridge = mean_vb / (n * var_g0)
    g = (sqr + ridge * g_prior) / (sqq + ridge)
    a = rm - g * qm
    ss = (seg_f[s, GF_B_WRR] - 2.0 * a * seg_f[s, GF_B_WR] - 2.0 * g * seg_f[s, GF_B_WQR] + a * a * sw
          + 2.0 * a * g * seg_f[s, GF_B_WQ] + g * g * seg_f[s, GF_B_WQQ])
    # kappa: residual scatter over the scatter the instruments explain (chi-square per degree of freedom)
    kappa = max(params[P_KAPPA_MIN], math.sqrt(max(ss, 0.0) / max(n - 2, 1) / mean_vb))
    base_var = kappa * kappa * mean_var
    var_g = 1.0 / (n * sqq / (kappa * kappa * mean_vb) + 1.0 / var_g0)
    return a, g, kappa, base_var, var_g, qm


@_jit
def _adopt(s, t_end, source, a, g, kappa, base_var, var_g, qm, t0, n_blocks, seg_f, seg_i, counters, ev_i, ev_f,
           n_ev):
    """Make a fit the baseline in use; emit EV_BASELINE_LEARNED (code: how it was learned, onset: its window's
    start, aux3: the throughput it was learned at). The gain pool starts from its stated variance (a pooled
    re-learning sets the pool's own after this)."""
    seg_f[s, GF_VAR_G] = var_g
    seg_f[s, GF_POOL_VARG] = var_g
    seg_f[s, GF_QBAR] = qm
    seg_f[s, GF_BASE_A] = a
    seg_f[s, GF_BASE_G] = g
    seg_f[s, GF_KAPPA] = kappa
    seg_f[s, GF_BASE_VAR] = base_var
    seg_f[s, GF_LEARNED_T] = float(t_end)
    seg_f[s, GF_BASE_T0] = t0
    seg_i[s, GI_BASE_N] = n_blocks
    seg_i[s, GI_LEARN_SOURCE] = source
    seg_i[s, GI_LEARNED] = 1
    if source != LS_RELEARN:  # confirmed: what later re-learnings must agree with
        seg_f[s, GF_ANC_A] = a
        seg_f[s, GF_ANC_G] = g
        seg_f[s, GF_ANC_VAR] = base_var
        seg_f[s, GF_ANC_VARG] = var_g
        seg_f[s, GF_ANC_QBAR] = qm
    _emit(ev_i, ev_f, n_ev, counters, EV_BASELINE_LEARNED, s, -1, t_end, np.int64(t0), source, a,
          math.sqrt(base_var), g, kappa, qm)


@_jit
def _reject(s, t_end, reason, step, allowed, params, seg_f, seg_i, counters, ev_i, ev_f, n_ev):
    """A re-learning not adopted: EV_BASELINE_REJECTED (code: the reason, value: the candidate's offset step
    against the baseline it was checked with, sigma: what was allowed, aux: the candidate's a, g, kappa)."""
    seg_i[s, GI_LEARN_REJECTED] = reason
    seg_i[s, GI_RELEARN_REJ_N] += 1
    seg_i[s, GI_LEARN_MODE] = LM_IDLE
    seg_f[s, GF_NEXT_RELEARN] = float(t_end) + params[P_RELEARN_US]
    _emit(ev_i, ev_f, n_ev, counters, EV_BASELINE_REJECTED, s, -1, t_end, np.int64(seg_f[s, GF_LW_T0]), reason,
          step, allowed, seg_f[s, GF_C_A], seg_f[s, GF_C_G], seg_f[s, GF_C_KAPPA])


@_jit
def _offset_step(a_c, g_c, var_c, q_c, a_0, g_0, var_0, var_g0, q_0, model_var):
    """The candidate's offset at its own throughput against another baseline's prediction there, and the s.d. of
    that difference (both fits' uncertainty, the other's gain uncertainty away from its throughput, and what no
    instrument explains)."""
    step = (a_c + g_c * q_c) - (a_0 + g_0 * q_c)
    return step, math.sqrt(var_c + var_0 + var_g0 * (q_c - q_0) ** 2 + model_var)


@_jit
def _judge_candidate(s, t_end, model_var, params, seg_f, seg_i, counters, ev_i, ev_f, n_ev):
    """A re-learning's candidate (GF_C_*) against the baseline in use and the last confirmed one; rejected
    (EV_BASELINE_REJECTED) or left pending for the next block's alarm check. Returns whether it passed."""
    k = params[P_RELEARN_AGREE]
    a_c = seg_f[s, GF_C_A]
    g_c = seg_f[s, GF_C_G]
    var_c = seg_f[s, GF_C_VAR]
    q_c = seg_f[s, GF_C_QBAR]
    # the gain's uncertainty away from the baseline's throughput: the wider of the pooled one and the window's own,
    # so a pooled line straighter than the meters' (and the line pack model's) is no offset step
    var_g = max(seg_f[s, GF_VAR_G], seg_f[s, GF_C_VARG])
    step, sd = _offset_step(a_c, g_c, var_c, q_c, seg_f[s, GF_BASE_A], seg_f[s, GF_BASE_G], seg_f[s, GF_BASE_VAR],
                            var_g, seg_f[s, GF_QBAR], model_var)
    if abs(step) > k * sd:
        _reject(s, t_end, REJ_OFFSET_STEP, step, k * sd, params, seg_f, seg_i, counters, ev_i, ev_f, n_ev)
        return False
    step, sd = _offset_step(a_c, g_c, var_c, q_c, seg_f[s, GF_ANC_A], seg_f[s, GF_ANC_G], seg_f[s, GF_ANC_VAR],
                            seg_f[s, GF_ANC_VARG], seg_f[s, GF_ANC_QBAR], model_var)
    if abs(step) > k * sd:
        _reject(s, t_end, REJ_DRIFT, step, k * sd, params, seg_f, seg_i, counters, ev_i, ev_f, n_ev)
        return False
    return True


@_jit
def _pool_candidate(s, t_end, a_c, g_c, var_c, varg_c, q_c, params, slot_cfg, seg_f):
    """A re-learning's line pooled with the line in use: (a, g, variance at q_ref, variance of g as stated, q_ref,
    the pool's own variance of g).

    The window alone knows the gain to ~0.4 % of throughput (its hour's own throughput contrast), which times the
    day's throughput swing moved the stated MDLR by 0.2-1.4 % of flow within a day (mdlr_week suite). Pooled, the
    gain is learned from every accepted window's level across the throughputs they visited. Only an adopted
    candidate enters: one refused (an alarm, the CUSUM, an offset step) never does, nor is the judge's candidate
    pooled (it is judged on its own window). A Kalman update of the line (its level at q_c and its gain) by the
    window's level and slope; the prior is the line in use, its level's and gain's information forgotten
    (LEVEL_POOL_TAU_S, GAIN_POOL_TAU_S), and widened by the window's disagreement with it (chi-square per
    degree of freedom, when over 1: a line that does not fit the throughputs visited is not trusted as one). The
    result is stated at the throughput where its level and gain are uncorrelated, as `decision` uses it."""
    age_s = max(float(t_end) - seg_f[s, GF_LEARNED_T], 0.0) * 1e-6
    q0 = seg_f[s, GF_QBAR]
    g0 = seg_f[s, GF_BASE_G]
    vl0 = seg_f[s, GF_BASE_VAR] * math.exp(age_s / LEVEL_POOL_TAU_S)
    # the pool's own gain variance (GF_POOL_VARG; `_adopt` sets it with the stated GF_VAR_G, so the second branch is
    # only a guard)
    vg_pool = seg_f[s, GF_POOL_VARG] if seg_f[s, GF_POOL_VARG] > 0.0 else seg_f[s, GF_VAR_G]
    vg0 = vg_pool * math.exp(age_s / GAIN_POOL_TAU_S)
    fi = s * N_ROLES + ROLE_FLOW_IN
    fo = s * N_ROLES + ROLE_FLOW_OUT
    rel = max(slot_cfg[fi, SC_SIGMA_REL], slot_cfg[fo, SC_SIGMA_REL])
    var_prior = max(2.0 * (params[P_GAIN_PRIOR] * rel) ** 2, 1e-12)
    vg0 = min(vg0, var_prior)
    # the window's own slope information: its fit's, less the gain prior `_solve` shrank it with
    info_w = 1.0 / varg_c - 1.0 / var_prior
    vg_w = 1.0 / info_w if info_w > 1e-3 / var_prior else np.inf
    d = q_c - q0
    pred = seg_f[s, GF_BASE_A] + g0 * q_c
    y = a_c + g_c * q_c
    chi = 0.5 * ((y - pred) ** 2 / (var_c + vl0 + vg0 * d * d) + (g_c - g0) ** 2 / (vg_w + vg0))
    if chi > 1.0:
        vl0 *= chi
        vg0 *= chi
    # prior of (level at q_c, gain)
    p11 = vl0 + vg0 * d * d
    p12 = vg0 * d
    p22 = vg0
    # information form: prior information plus the window's (its level and its slope, independent)
    det = p11 * p22 - p12 * p12
    i11 = p22 / det + 1.0 / var_c
    i12 = -p12 / det
    i22 = p11 / det + (1.0 / vg_w if math.isfinite(vg_w) else 0.0)
    b1 = (p22 * pred - p12 * g0) / det + y / var_c
    b2 = (-p12 * pred + p11 * g0) / det + (g_c / vg_w if math.isfinite(vg_w) else 0.0)
    det_i = i11 * i22 - i12 * i12
    c11 = i22 / det_i
    c12 = -i12 / det_i
    c22 = i11 / det_i
    lev = c11 * b1 + c12 * b2
    g = c12 * b1 + c22 * b2
    # the throughput where the level and the gain are uncorrelated
    q_ref = q_c - c12 / c22
    # the level moves with slow errors: pooled, it is stated no more certain than its own window's (a narrower one
    # had the next windows' levels refused as offset steps on the mdlr_week suite, the baseline in use went stale)
    var_ref = max(c11 - c12 * c12 / c22, var_c)
    # the gain is stated as pooled. A floor at a quarter of one window's variance (2026-12-07, second session) had
    # covered 4- and 8-min false alarms at the daily peaks of layout 003 (mdlr_week suite): those were the
    # quasi-steady line pack's lag behind the throughput's ramps, not the gain, and `balance._ramp_lag` now takes it
    # out of the line pack (z s.d. at those peaks 1.5-2.2 -> 1.0-1.15); without the floor the suite's figure
    # 2.60 -> 1.79 with no false alarm (2 before)
    return lev - g * q_c, g, var_ref, c22, q_ref, c22


@_jit
def _adopt_candidate(s, t_end, params, slot_cfg, seg_f, seg_i, counters, ev_i, ev_f, n_ev):
    """Adopt the pending candidate, pooled with the baseline in use (`_pool_candidate`). Its kappa may fall at
    most to the geometric mean of the one in use and its own: one quiet hour must not halve every threshold."""
    kappa = seg_f[s, GF_C_KAPPA]
    k_use = seg_f[s, GF_KAPPA]
    if kappa < k_use:
        kappa = math.sqrt(kappa * k_use)
    var = seg_f[s, GF_C_VAR] * (kappa / seg_f[s, GF_C_KAPPA]) ** 2
    a = seg_f[s, GF_C_A]
    g = seg_f[s, GF_C_G]
    var_g = seg_f[s, GF_C_VARG]
    qm = seg_f[s, GF_C_QBAR]
    var_pool = var_g
    if GAIN_POOL_TAU_S > 0.0 and seg_i[s, GI_LEARNED] != 0:
        a, g, var, var_g, qm, var_pool = _pool_candidate(s, t_end, a, g, var, var_g, qm, params, slot_cfg, seg_f)
    seg_i[s, GI_RELEARN_N] += 1
    seg_i[s, GI_LEARN_REJECTED] = 0
    seg_i[s, GI_LEARN_MODE] = LM_IDLE
    seg_f[s, GF_NEXT_RELEARN] = float(t_end) + params[P_RELEARN_US]
    _adopt(s, t_end, LS_RELEARN, a, g, kappa, var, var_g, qm, seg_f[s, GF_C_T0], seg_i[s, GI_N_LEARN], seg_f, seg_i,
           counters, ev_i, ev_f, n_ev)
    # the pool goes on from its own variance (the same as the stated one since the floor on that went)
    seg_f[s, GF_POOL_VARG] = var_pool


@_jit
def _learn_step(s, t_end, blk_m, blk_q, blk_v, d_lp, lp_var, lp_prev_var, model_var, tb, params, slot_cfg, seg_f,
                seg_i, ring, counters, ev_i, ev_f, n_ev, settle_s):
    """A valid block after the warm-up: open, feed, close and judge the learning window (see the module's
    docstring). Detection goes on with the baseline in use throughout."""
    mode = seg_i[s, GI_LEARN_MODE]
    learned = seg_i[s, GI_LEARNED] != 0
    checks = params[P_RELEARN_CHECKS] != 0.0
    t_start = float(t_end) - tb * 1e6
    if mode == LM_PENDING:
        # the candidate's window closed with the block before: an alarm raised by that block shows now
        if checks and (seg_i[s, GI_LATCHED] != 0
                       or seg_f[s, GF_CUSUM] > params[P_RELEARN_CUSUM] * params[P_CUSUM_H]):
            _reject(s, t_end, REJ_ALARM, 0.0, 0.0, params, seg_f, seg_i, counters, ev_i, ev_f, n_ev)
        else:
            _adopt_candidate(s, t_end, params, slot_cfg, seg_f, seg_i, counters, ev_i, ev_f, n_ev)
        mode = seg_i[s, GI_LEARN_MODE]
    cmd = seg_i[s, GI_LEARN_CMD_T]
    if cmd > 0 and t_start >= cmd:
        seg_i[s, GI_LEARN_CMD_T] = 0
        _open_window(s, t_start, LM_COMMANDED, seg_f, seg_i)
    elif mode == LM_IDLE and learned and params[P_RELEARN_US] > 0.0 and seg_i[s, GI_LATCHED] == 0:
        if seg_f[s, GF_NEXT_RELEARN] <= 0.0:
            seg_f[s, GF_NEXT_RELEARN] = seg_f[s, GF_LEARNED_T] + params[P_RELEARN_US]
        if t_start >= seg_f[s, GF_NEXT_RELEARN]:
            _open_window(s, t_start, LM_RELEARN, seg_f, seg_i)
    elif mode == LM_INITIAL and seg_f[s, GF_LW_T0] == 0.0:
        seg_f[s, GF_LW_T0] = t_start
    mode = seg_i[s, GI_LEARN_MODE]
    if mode == LM_RELEARN and checks:
        # the CUSUM after the block before, and an alarm raised or latched since the window opened
        seg_f[s, GF_RL_CUSUM_MAX] = max(seg_f[s, GF_RL_CUSUM_MAX], seg_f[s, GF_CUSUM])
        if seg_i[s, GI_LATCHED] != 0:
            _reject(s, t_end, REJ_ALARM, 0.0, 0.0, params, seg_f, seg_i, counters, ev_i, ev_f, n_ev)
            return
        if seg_f[s, GF_RL_CUSUM_MAX] > params[P_RELEARN_CUSUM] * params[P_CUSUM_H]:
            _reject(s, t_end, REJ_CUSUM, seg_f[s, GF_RL_CUSUM_MAX], params[P_RELEARN_CUSUM] * params[P_CUSUM_H],
                    params, seg_f, seg_i, counters, ev_i, ev_f, n_ev)
            return
    pos = seg_i[s, GI_RING_POS]
    quiet = _block_is_quiet(s, pos, seg_i[s, GI_N_BLOCKS], blk_v, lp_var, lp_prev_var, tb, params, seg_f, ring,
                            _settle_learn(settle_s, tb, params, seg_f[s, GF_BASE_A],
                                                         seg_f[s, GF_BASE_G]))
    _update_lpv_mean(s, lp_var, params, seg_f)
    if mode in (LM_IDLE, LM_PENDING):
        return
    if not quiet:
        seg_i[s, GI_LEARN_SKIPPED] += 1
        seg_i[s, GI_LEARN_SKIPPED_TOTAL] += 1
        return
    _accumulate(s, seg_i[s, GI_N_BLOCKS], blk_m, blk_q, blk_v, d_lp, lp_var, lp_prev_var, tb, params, seg_f, seg_i)
    if seg_i[s, GI_N_LEARN] < np.int64(params[P_LEARN_BLOCKS]):
        return
    g_prior = seg_f[s, GF_BASE_G] if (learned and mode == LM_RELEARN) else 0.0
    a, g, kappa, base_var, var_g, qm = _solve(s, g_prior, params, slot_cfg, seg_f)
    if mode != LM_RELEARN:
        seg_i[s, GI_LEARN_MODE] = LM_IDLE
        seg_f[s, GF_NEXT_RELEARN] = float(t_end) + params[P_RELEARN_US]
        _adopt(s, t_end, LS_INITIAL if mode == LM_INITIAL else LS_LEARN_NOW, a, g, kappa, base_var, var_g, qm,
               seg_f[s, GF_LW_T0], seg_i[s, GI_N_LEARN], seg_f, seg_i, counters, ev_i, ev_f, n_ev)
        return
    seg_f[s, GF_C_A] = a
    seg_f[s, GF_C_G] = g
    seg_f[s, GF_C_KAPPA] = kappa
    seg_f[s, GF_C_VAR] = base_var
    seg_f[s, GF_C_VARG] = var_g
    seg_f[s, GF_C_QBAR] = qm
    seg_f[s, GF_C_T0] = seg_f[s, GF_LW_T0]
    seg_f[s, GF_C_T1] = float(t_end)
    if not checks:
        _adopt_candidate(s, t_end, params, slot_cfg, seg_f, seg_i, counters, ev_i, ev_f, n_ev)
    elif _judge_candidate(s, t_end, model_var, params, seg_f, seg_i, counters, ev_i, ev_f, n_ev):
        seg_i[s, GI_LEARN_MODE] = LM_PENDING


@_jit
def ring_reach_us(s, seg_i, ring):
    """The earliest start (us) of a block the ring can still refit from (a block's line-pack movement needs the
    two blocks before it); 0 while the ring holds too few blocks."""
    nr = ring.shape[1]
    back = min(seg_i[s, GI_N_BLOCKS], nr) - 1
    if back < 3:
        return 0.0
    return ring[s, (seg_i[s, GI_RING_POS] - (back - 1)) % nr, R_TIME]


@_jit
def _ring_block_usable(s, pos, age, back, n_blocks, t0_us, t1_us, tb, params, seg_f, ring):
    """Whether the ring's block `age` blocks before the newest lies wholly in [t0_us, t1_us], is valid and quiet
    (its movement needs the two blocks before it in the ring)."""
    nr = ring.shape[1]
    if age + 2 > back:
        return False
    p = (pos - age) % nr
    q = (p - 1) % nr
    if ring[s, q, R_TIME] < t0_us or ring[s, p, R_TIME] > t1_us or ring[s, p, R_INVALID] != ring[s, q, R_INVALID]:
        return False
    # the ring keeps no settling time: the longest (P_SETTLE_MAX_S) stands in, so a refit errs on the quiet side
    return _block_is_quiet(s, p, n_blocks - age, ring[s, p, R_V] - ring[s, q, R_V], ring[s, p, R_LP_VAR],
                           ring[s, q, R_LP_VAR], tb, params, seg_f, ring,
                           _settle_learn(params[P_SETTLE_MAX_S], tb, params, seg_f[s, GF_BASE_A],
                                        seg_f[s, GF_BASE_G]))


@_jit
def refit_from_ring(s, t0_us, t1_us, params, slot_cfg, seg_f, seg_i, ring, counters, ev_i, ev_f, n_ev):
    """"This period was leak-free": the baseline refitted from the ring's valid quiet blocks lying wholly in
    [t0_us, t1_us], adopted at once (LS_LEAK_FREE, the new confirmed baseline). When a rejected re-learning's
    window lies in the period, that candidate is adopted instead (its blocks may have left the ring). Returns
    the blocks used, or REFIT_OUT_OF_REACH / REFIT_NOT_OVER / REFIT_TOO_FEW."""
    nr = ring.shape[1]
    n_blocks = seg_i[s, GI_N_BLOCKS]
    pos = seg_i[s, GI_RING_POS]
    tb = params[P_TICK_US] * params[P_BLOCK_TICKS] * 1e-6
    t_now = ring[s, pos, R_TIME] if n_blocks > 0 else 0.0
    c_t0 = seg_f[s, GF_C_T0]
    rej = seg_i[s, GI_LEARN_REJECTED]
    if (seg_i[s, GI_LEARN_MODE] != LM_PENDING and (rej in (REJ_OFFSET_STEP, REJ_DRIFT)) and c_t0 > 0.0
            and c_t0 >= t0_us and seg_f[s, GF_C_T1] <= t1_us):
        seg_i[s, GI_LEARN_REJECTED] = 0
        seg_i[s, GI_LEARN_MODE] = LM_IDLE
        seg_f[s, GF_NEXT_RELEARN] = t_now + params[P_RELEARN_US]
        _adopt(s, np.int64(t_now), LS_LEAK_FREE, seg_f[s, GF_C_A], seg_f[s, GF_C_G], seg_f[s, GF_C_KAPPA],
               seg_f[s, GF_C_VAR], seg_f[s, GF_C_VARG], seg_f[s, GF_C_QBAR], c_t0, np.int64(params[P_LEARN_BLOCKS]),
               seg_f, seg_i, counters, ev_i, ev_f, n_ev)
        return np.int64(params[P_LEARN_BLOCKS])
    back = min(n_blocks, nr) - 1  # blocks with a block before them in the ring
    if back < 3 or t0_us < ring_reach_us(s, seg_i, ring):
        return REFIT_OUT_OF_REACH
    if t1_us > t_now:
        return REFIT_NOT_OVER
    # first count the groups the period gives (runs of usable blocks, a gap drops the open group), so that a
    # refused refit leaves the open learning window as it was
    group = int(params[P_LEARN_GROUP])
    groups = 0
    run = 0
    for age in range(back - 1, -1, -1):
        if _ring_block_usable(s, pos, age, back, n_blocks, t0_us, t1_us, tb, params, seg_f, ring):
            run += 1
        else:
            groups += run // group
            run = 0
    groups += run // group
    if groups < 3:
        return REFIT_TOO_FEW
    # the open window's sums are reused for the refit: whatever it was learning is abandoned
    _open_window(s, t0_us, LM_IDLE, seg_f, seg_i)
    for age in range(back - 1, -1, -1):
        if not _ring_block_usable(s, pos, age, back, n_blocks, t0_us, t1_us, tb, params, seg_f, ring):
            continue
        p = (pos - age) % nr
        q = (p - 1) % nr
        _accumulate(s, n_blocks - 1 - age, ring[s, p, R_M] - ring[s, q, R_M], ring[s, p, R_Q] - ring[s, q, R_Q],
                    ring[s, p, R_V] - ring[s, q, R_V], ring[s, p, R_LP] - ring[s, q, R_LP], ring[s, p, R_LP_VAR],
                    ring[s, q, R_LP_VAR], tb, params, seg_f, seg_i)
    a, g, kappa, base_var, var_g, qm = _solve(s, 0.0, params, slot_cfg, seg_f)
    seg_i[s, GI_LEARN_REJECTED] = 0
    seg_f[s, GF_NEXT_RELEARN] = t_now + params[P_RELEARN_US]
    _adopt(s, np.int64(t_now), LS_LEAK_FREE, a, g, kappa, base_var, var_g, qm, float(t0_us), seg_i[s, GI_N_LEARN],
           seg_f, seg_i, counters, ev_i, ev_f, n_ev)
    return seg_i[s, GI_N_LEARN]
