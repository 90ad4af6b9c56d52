"""Location of the leaks the mass balance finds: pressure-gradient intersection with a friction model calibrated
in leak-free operation (the method of industrial CPM systems; domain brief, "Leak location").

Steady isothermal gas flow with friction (elevation taken out of the gradient with the pipe's profile):
``p_u^2 - p_d^2 = c0 + k * phi``, ``phi = int_0^1 q(xi)|q(xi)| dxi`` over the normalised length. `k` (K * L) and
the offset `c0` (the pressure transmitters' fixed biases, the elevation model's error) are the friction model,
learned per segment by Bayesian least squares from leak-free blocks: a prior on k from the pipe (Darcy friction
of its roughness at nominal flow; `network_config`), a prior on c0 from the transmitters' stated accuracy, and
the blocks' data, forgotten with `P_LOC_TAU_S` so that the model is re-learned as the line changes. A block
calibrates only `P_LOC_LAG` blocks after it closed, and never when a balance alarm's onset lies before it and
its clear after it: a leak is not learned as friction.

With a leak of rate lam at x (fraction of the length), the flow is the measured inflow Q upstream of it and
Q - lam downstream (the leak takes the difference), less the line's packing rate P (kg/s, < 0 while it unpacks):
``q(xi) = Q - P F(xi) - lam [xi > x]``. Where along the line it packs is a model: one end's pressure is held (the
inlet's regulator or supply) and the other end's flow is set by the demand, so a transient's pressure change
(the leak's own unpacking above all) is nil at the held inlet and grows towards the outlet; the packing per
length is taken to grow linearly from the inlet, ``F(xi) = xi^2`` (PACK_SHAPE_EXP = 2). A uniform spread
(exponent 1) placed the leaks of the long, unpacking random layouts upstream of their true position: over
issue 19's 80 located leaks >= 1 % the median error fell from 5.7 to 4.3 % of length with the ramp, p90 from 31 to
26 % (`make bench-detect --suites location`). Averaged over a window (Q1 = mean inflow, Q2 = its mean square, lam
and P the window's), with m = PACK_SHAPE_EXP: ``phi(x) = A + B x + C x^(m+1)`` with ``C = -2 lam P / (m+1)``,
``B = 2 lam Q1 - lam^2`` and ``A = Q2 - 2 P Q1 / (m+1) + P^2 / (2m+1) - 2 lam Q1 + 2 lam P / (m+1) + lam^2``;
with P = 0 it is the brief's ``q_in^2 x + q_out^2 (1 - x)``. The upstream profile (from the inlet pressure with
flow Q) and the downstream one (from the outlet pressure with flow Q - lam) cross where ``c0 + k phi(x)`` equals
the measured ``p_u^2 - p_d^2``. lam is the balance's own compensated imbalance over the window (baseline removed),
P the line pack's change over it.

Uncertainty (1 s.d. of x): the window's p^2 difference (its blocks' residual scatter, at least what the
transmitters' stated noise propagates to), the friction model's posterior (c0, k), and the leak rate's s.d.,
through the slope of phi in x, and the packing's shape: its s.d. in phi is taken as the difference between a
uniform and a ramp spread, |P| Q1 / 3 (PACK_SHAPE_SD), so the interval widens with the line-pack rate against the
leak's (about |P| / (6 lam) of the length) -- the steady profiles' error while the line packs. The 95 % interval is
1.96 s.d., clamped to the segment by the facade and the service. Steady-state gradients with the packing
correction above (no transient model driven from each end's boundary).

A pressure-wave location of the same incident (onset within the wave's travel time plus two blocks) is fused
with the gradient's by inverse variance (`LOC_GRADIENT_NPW`).
"""

from __future__ import annotations

import math

import numpy as np

from ..layout import (
    EV_LEAK_LOCATION,
    GC_LENGTH_M,
    GC_LOC_ELEV,
    GC_LOC_K0,
    GC_LOC_K0_REL_SD,
    GC_PMID_X0,
    GC_WAVE_SPEED,
    GF_BASE_A,
    GF_BASE_G,
    GF_BASE_VAR,
    GF_CUM_LD,
    GF_CUM_LDM0,
    GF_CUM_LN,
    GF_CUM_LNM0,
    GF_CUM_LPP,
    GF_CUM_LQ1,
    GF_CUM_LQ2,
    GF_CUM_LVD,
    GF_CUM_LVDM0,
    GF_CUM_LVQ,
    GF_KAPPA,
    GF_LC_D,
    GF_LC_DD,
    GF_LC_F,
    GF_LC_FD,
    GF_LC_FF,
    GF_LC_PP,
    GF_LC_VD,
    GF_LC_VF,
    GF_LC_W,
    GF_LR_D,
    GF_LR_DM0,
    GF_LR_IMB,
    GF_LR_OK,
    GF_LR_PACK,
    GF_LR_Q,
    GF_LR_Q1,
    GF_LR_Q2,
    GF_LR_VD,
    GF_LR_VDM0,
    GF_LR_VIMB,
    GF_MS0,
    GF_NPWL_SD,
    GF_NPWL_T,
    GF_NPWL_X,
    GF_QBAR,
    GF_VAR_G,
    GI_LATCHED,
    GI_LOC_CLEAR,
    GI_LOC_ONSET,
    GI_N_BLOCKS,
    LOC_GRADIENT,
    LOC_GRADIENT_NPW,
    LOC_NONE,
    N_MS,
    N_PMID,
    N_ROLES,
    P_BLOCK_TICKS,
    P_EPS_LP,
    P_LOC_LAG,
    P_LOC_MIN_CAL,
    P_LOC_MODEL_SD,
    P_LOC_TAU_S,
    P_LP_SCALE_ERR,
    P_TICK_US,
    R_INVALID,
    R_LD,
    R_LDM0,
    R_LN,
    R_LNM0,
    R_LP,
    R_LP_VAR,
    R_LPP,
    R_LQ1,
    R_LQ2,
    R_LVD,
    R_LVDM0,
    R_LVQ,
    R_M,
    R_Q,
    R_TIME,
    R_V,
    ROLE_FLOW_IN,
    ROLE_PRESSURE_DOWN,
    ROLE_PRESSURE_MID0,
    ROLE_PRESSURE_UP,
    SC_PRESENT,
    SC_SIGMA_ABS,
    SC_SIGMA_REL,
    SF_HELD,
    SF_HELD_VAR,
)
from .common import _emit, _jit, _usable
from .decision import _transient_sd

Z_95 = 1.959964
# The elevation term is a model (one mean pressure level, a straight profile): its error taken as this share of it
ELEV_MODEL_REL_SD = 0.1
# Blocks (2 min) a reference window before the onset needs at least; shorter, the leak is measured against the
# balance's baseline instead
REF_MIN_BLOCKS = 4
# Blocks (10 min) between the reference's end and the onset: a gradual leak's onset is dated late by the balance
# (up to its ramp), and a reference with part of the leak in it would take that part for leak-free operation
REF_GAP_BLOCKS = 20
# Share of a location window's blocks that may be invalid for the balance (their ticks are left out of the means)
MAX_INVALID_SHARE = 0.1
# Blocks (10 min) after an onset left out of a long location window (half of a short one)
SETTLE_BLOCKS = 20
# Packing along the line grows as xi^(PACK_SHAPE_EXP - 1) from the inlet (see the module docstring)
PACK_SHAPE_EXP = 2.0
# 1 s.d. of phi from the packing's shape, per |P| Q1: the gap between a uniform and a ramp spread, 2 (1/2 - 1/3);
# over all refinements of issue 19's located leaks the 95 % intervals then held 94 % of the true positions
PACK_SHAPE_SD = 1.0 / 3.0
# Slack on top of the wave's travel time when a pressure-wave location joins a balance alarm (as the facade joins)
NPW_JOIN_SLACK_S = 10.0
# 1 s.d. (prior) of the scale error of the friction model's predicted leak-free change since the reference: the
# calibration's k is an average over its flows, while the friction factor falls with the flow (Reynolds) and the
# gas's temperature moves; a 15 % throughput change with p^2 drops growing as q^1.85 instead of q^2 mispredicts
# the change by ~8 %. With mid-line meters the leak-free sub-segments measure it (`_leak_free_scale`)
LEAK_FREE_SCALE_SD = 0.1


@_jit
def _loc_tick(s, seg_cfg, slot_f, slot_i, slot_cfg, seg_f):
    """Add the closed tick's means to the location sums, when both end pressures and the inflow are usable and
    the flow is forward (a reversed or stopped line has no gradient to intersect)."""
    base = s * N_ROLES
    su = base + ROLE_PRESSURE_UP
    sd = base + ROLE_PRESSURE_DOWN
    si = base + ROLE_FLOW_IN
    if not (_usable(slot_cfg, slot_f, slot_i, su) and _usable(slot_cfg, slot_f, slot_i, sd)
            and _usable(slot_cfg, slot_f, slot_i, si)):
        return
    pu = slot_f[su, SF_HELD]
    pd = slot_f[sd, SF_HELD]
    q = slot_f[si, SF_HELD]
    if not (pu > 0.0 and pd > 0.0 and q > 0.0):
        return
    pp = 0.5 * (pu * pu + pd * pd)
    seg_f[s, GF_CUM_LD] += pu * pu - pd * pd - seg_cfg[s, GC_LOC_ELEV] * pp
    seg_f[s, GF_CUM_LQ1] += q
    seg_f[s, GF_CUM_LQ2] += q * q
    seg_f[s, GF_CUM_LVD] += 4.0 * (pu * pu * slot_f[su, SF_HELD_VAR] + pd * pd * slot_f[sd, SF_HELD_VAR])
    seg_f[s, GF_CUM_LPP] += pp
    seg_f[s, GF_CUM_LN] += 1.0
    seg_f[s, GF_CUM_LVQ] += 4.0 * q * q * slot_f[si, SF_HELD_VAR]
    for j in range(N_PMID):
        sm = base + ROLE_PRESSURE_MID0 + j
        if slot_cfg[sm, SC_PRESENT] == 0.0 or not _usable(slot_cfg, slot_f, slot_i, sm):
            continue
        pm = slot_f[sm, SF_HELD]
        if not pm > 0.0:
            continue
        # the elevation's share up to the meter: a straight profile between the ends
        ppm = 0.5 * (pu * pu + pm * pm)
        seg_f[s, GF_CUM_LDM0 + j] += pu * pu - pm * pm - seg_cfg[s, GC_LOC_ELEV] * seg_cfg[s, GC_PMID_X0 + j] * ppm
        seg_f[s, GF_CUM_LVDM0 + j] += 4.0 * (pu * pu * slot_f[su, SF_HELD_VAR] + pm * pm * slot_f[sm, SF_HELD_VAR])
        seg_f[s, GF_CUM_LNM0 + j] += 1.0


@_jit
def _loc_push(s, pos, seg_f, ring):
    """The location sums at the end of the block just pushed to ring position `pos`."""
    ring[s, pos, R_LD] = seg_f[s, GF_CUM_LD]
    ring[s, pos, R_LQ1] = seg_f[s, GF_CUM_LQ1]
    ring[s, pos, R_LQ2] = seg_f[s, GF_CUM_LQ2]
    ring[s, pos, R_LVD] = seg_f[s, GF_CUM_LVD]
    ring[s, pos, R_LPP] = seg_f[s, GF_CUM_LPP]
    ring[s, pos, R_LN] = seg_f[s, GF_CUM_LN]
    ring[s, pos, R_LVQ] = seg_f[s, GF_CUM_LVQ]
    for j in range(N_PMID):
        ring[s, pos, R_LDM0 + j] = seg_f[s, GF_CUM_LDM0 + j]
        ring[s, pos, R_LVDM0 + j] = seg_f[s, GF_CUM_LVDM0 + j]
        ring[s, pos, R_LNM0 + j] = seg_f[s, GF_CUM_LNM0 + j]


@_jit
def phi_coefficients(q1, q2, lam, pack):
    """(A, B, C) of phi(x) = A + B x + C x^(m+1), m = PACK_SHAPE_EXP: the mean over a window of int_0^1 q^2 for a
    leak lam at x, inflow of mean q1 and mean square q2, packing rate `pack` spread along the line as
    xi^(m-1) (see the module docstring)."""
    m1 = PACK_SHAPE_EXP + 1.0
    a = (q2 - 2.0 * pack * q1 / m1 + pack * pack / (2.0 * PACK_SHAPE_EXP + 1.0) - 2.0 * lam * q1
         + 2.0 * lam * pack / m1 + lam * lam)
    b = 2.0 * lam * q1 - lam * lam
    c = -2.0 * lam * pack / m1
    return a, b, c


@_jit
def calibrate(w, f, ff, d, fd, dd, vd, vf, k0, k0_sd, c0_sd):
    """Posterior of the friction model d = c0 + k phi from weighted block sums (w, sum phi, phi^2, d, phi d, d^2,
    propagated variance of d, and of phi) and the priors k ~ N(k0, k0_sd^2), c0 ~ N(0, c0_sd^2). The blocks'
    noise variance is their residual scatter about the fit, at least the propagated one. phi is measured too:
    its noise would pass for a spread of throughputs and pull k towards 0 (errors in variables), so its
    propagated variance is taken out of the spread first; at a steady throughput the data then pin only
    c0 + k phi and the priors split them. Returns (c0, k, var c0, cov, var k, block variance)."""
    spread = ff - f * f / w
    ff = f * f / w + max(spread - vf, 0.0)
    s2 = vd / w
    c0 = 0.0
    k = k0
    v00 = c0_sd * c0_sd
    v01 = 0.0
    v11 = k0_sd * k0_sd
    for _ in range(3):
        a00 = 1.0 / (c0_sd * c0_sd) + w / s2
        a01 = f / s2
        a11 = 1.0 / (k0_sd * k0_sd) + ff / s2
        b0 = d / s2
        b1 = k0 / (k0_sd * k0_sd) + fd / s2
        det = a00 * a11 - a01 * a01
        c0 = (a11 * b0 - a01 * b1) / det
        k = (a00 * b1 - a01 * b0) / det
        v00 = a11 / det
        v01 = -a01 / det
        v11 = a00 / det
        res = dd - 2.0 * (c0 * d + k * fd) + c0 * c0 * w + 2.0 * c0 * k * f + k * k * ff
        s2 = max(res / w, vd / w)
    return c0, k, v00, v01, v11, s2


@_jit
def gradient_position(d_mean, var_d, c0, k, v00, v01, v11, q1, q2, lam, var_lam, pack, var_pack):
    """Where the upstream and downstream gradient profiles cross, as a fraction of the length (not clamped),
    and its 1 s.d.; (nan, inf) when the window shows no leak to locate (lam <= 0) or no friction (k <= 0)."""
    a, b, c = phi_coefficients(q1, q2, lam, pack)
    if not (lam > 0.0 and k > 0.0 and b > 0.0):
        return np.nan, np.inf
    m = PACK_SHAPE_EXP
    target = (d_mean - c0) / k
    x = (target - a) / b
    for _ in range(6):  # Newton on the nearly linear phi; C is a small packing correction (its power on [0, 1])
        xc = min(max(x, 0.0), 1.0)
        slope = b + (m + 1.0) * c * xc ** m
        if slope <= 0.0:
            break
        x -= (a + b * x + c * xc ** (m + 1.0) - target) / slope
    xc = min(max(x, 0.0), 1.0)
    slope = b + (m + 1.0) * c * xc ** m
    if not (slope > 0.0):
        return np.nan, np.inf
    phi = a + b * x + c * xc ** (m + 1.0)
    # sensitivity of phi to the leak rate and to the packing rate at fixed x
    dphi_dlam = -2.0 * q1 * (1.0 - xc) + 2.0 * lam * (1.0 - xc) + 2.0 * pack * (1.0 - xc ** (m + 1.0)) / (m + 1.0)
    dphi_dpack = (-2.0 * q1 / (m + 1.0) + 2.0 * pack / (2.0 * m + 1.0)
                  + 2.0 * lam * (1.0 - xc ** (m + 1.0)) / (m + 1.0))
    shape = PACK_SHAPE_SD * abs(pack) * q1
    var_pred = v00 + 2.0 * phi * v01 + phi * phi * v11
    var_num = var_d + var_pred + k * k * (dphi_dlam * dphi_dlam * var_lam + dphi_dpack * dphi_dpack * var_pack
                                          + shape * shape)
    return x, math.sqrt(var_num) / (k * slope)


@_jit
def _c0_sd(s, pp, seg_cfg, slot_cfg):
    """1 s.d. of the model's offset c0 before data: what the end transmitters' stated accuracy (total error, as
    a bound on their fixed bias) does to p_u^2 - p_d^2 at mean square pressure pp, and the elevation model's."""
    base = s * N_ROLES
    p = math.sqrt(pp)
    var = 0.0
    for role in (ROLE_PRESSURE_UP, ROLE_PRESSURE_DOWN):
        slot = base + role
        sg_rel = slot_cfg[slot, SC_SIGMA_REL] * p
        sg_abs = slot_cfg[slot, SC_SIGMA_ABS]
        var += 4.0 * pp * (sg_rel * sg_rel + sg_abs * sg_abs)
    elev = ELEV_MODEL_REL_SD * seg_cfg[s, GC_LOC_ELEV] * pp
    return math.sqrt(var + elev * elev)


@_jit
def _loc_calibrate(s, pos, t_end, params, seg_f, seg_i, ring):
    """Forget, then add the block `P_LOC_LAG` blocks back to the calibration when it is leak-free as far as the
    balance knows: fully location-valid and balance-valid, no alarm latched, not inside an alarm's span."""
    tb = params[P_TICK_US] * params[P_BLOCK_TICKS] * 1e-6
    forget = math.exp(-tb / params[P_LOC_TAU_S])
    for col in (GF_LC_W, GF_LC_F, GF_LC_FF, GF_LC_D, GF_LC_FD, GF_LC_DD, GF_LC_VD, GF_LC_PP, GF_LC_VF):
        seg_f[s, col] *= forget
    lag = np.int64(params[P_LOC_LAG])
    nr = ring.shape[1]
    if seg_i[s, GI_N_BLOCKS] < lag + 2 or seg_i[s, GI_LATCHED] != 0:
        return
    j = (pos - lag) % nr
    i = (j - 1) % nr
    bt = params[P_BLOCK_TICKS]
    if ring[s, j, R_LN] - ring[s, i, R_LN] != bt or ring[s, j, R_INVALID] != ring[s, i, R_INVALID]:
        return
    t_b = ring[s, j, R_TIME]
    onset = seg_i[s, GI_LOC_ONSET]
    clear = seg_i[s, GI_LOC_CLEAR]
    if onset >= 0 and t_b >= onset - tb * 1e6 and (clear < 0 or t_b <= clear):
        return
    q2 = (ring[s, j, R_LQ2] - ring[s, i, R_LQ2]) / bt
    d = (ring[s, j, R_LD] - ring[s, i, R_LD]) / bt
    vd = (ring[s, j, R_LVD] - ring[s, i, R_LVD]) / (bt * bt)
    pp = (ring[s, j, R_LPP] - ring[s, i, R_LPP]) / bt
    # no packing correction here: a block's line-pack rate is mostly pressure noise (tens of kg/s-equivalents of
    # phi on a long line), and leak-free blocks pack little on average; what they do is residual scatter
    phi = q2
    seg_f[s, GF_LC_W] += 1.0
    seg_f[s, GF_LC_F] += phi
    seg_f[s, GF_LC_FF] += phi * phi
    seg_f[s, GF_LC_D] += d
    seg_f[s, GF_LC_FD] += phi * d
    seg_f[s, GF_LC_DD] += d * d
    seg_f[s, GF_LC_VD] += vd
    seg_f[s, GF_LC_PP] += pp
    seg_f[s, GF_LC_VF] += (ring[s, j, R_LVQ] - ring[s, i, R_LVQ]) / (bt * bt)


@_jit
def _window(s, pos, nb, params, seg_f, seg_i, ring):
    """The location's and the balance's means over the nb blocks ending at ring position `pos`: whether it is
    usable (at most MAX_INVALID_SHARE of its blocks invalid for the balance or lacking a pressure or the inflow),
    then seconds, inflow mean,
    its mean square, d's mean and the propagated variance of that mean, the packing rate (shrunk towards 0 by
    its noise, Wiener: a still line's noise is no correction) and its variance, the raw imbalance (net inflow
    less line-pack change) and its variance, the throughput."""
    nr = ring.shape[1]
    j = (pos - nb) % nr
    bt = params[P_BLOCK_TICKS]
    n = ring[s, pos, R_LN] - ring[s, j, R_LN]
    # a few invalid blocks (a tick without a healthy balance: a late or missing reading) are left out of the
    # means rather than ending the location: the leak keeps its position through them
    if nb < 1 or n < (1.0 - MAX_INVALID_SHARE) * nb * bt or (
            ring[s, pos, R_INVALID] - ring[s, j, R_INVALID] > MAX_INVALID_SHARE * nb):
        return False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    ws = (ring[s, pos, R_TIME] - ring[s, j, R_TIME]) * 1e-6
    q1 = (ring[s, pos, R_LQ1] - ring[s, j, R_LQ1]) / n
    q2 = (ring[s, pos, R_LQ2] - ring[s, j, R_LQ2]) / n
    d_mean = (ring[s, pos, R_LD] - ring[s, j, R_LD]) / n
    var_d = (ring[s, pos, R_LVD] - ring[s, j, R_LVD]) / (n * n)
    d_lp = ring[s, pos, R_LP] - ring[s, j, R_LP]
    var_pack = (ring[s, pos, R_LP_VAR] + ring[s, j, R_LP_VAR]) / (ws * ws)
    pack = d_lp / ws
    if var_pack > 0.0:
        pack = pack * pack * pack / (pack * pack + var_pack)
    imb = (ring[s, pos, R_M] - ring[s, j, R_M] - d_lp) / ws
    kappa = seg_f[s, GF_KAPPA]
    tr = _transient_sd(ring, s, pos, nb, seg_i[s, GI_N_BLOCKS], params[P_EPS_LP], params[P_LP_SCALE_ERR], 1,
                       pos) / ws
    var_imb = kappa * kappa * (ring[s, pos, R_V] - ring[s, j, R_V] + ring[s, pos, R_LP_VAR] + ring[s, j, R_LP_VAR]
                               ) / (ws * ws) + tr * tr
    q_thr = (ring[s, pos, R_Q] - ring[s, j, R_Q]) / ws
    return True, ws, q1, q2, d_mean, var_d, pack, var_pack, imb, var_imb, q_thr


@_jit
def _loc_reference(s, pos, t_end, onset, params, seg_f, seg_i, ring):
    """At the raise: the leak-free reference, the blocks ending REF_GAP_BLOCKS before the onset's (at most
    `P_LOC_LAG`, at least REF_MIN_BLOCKS, within the ring's reach); GF_LR_OK = 0 when there is none."""
    seg_f[s, GF_LR_OK] = 0.0
    for j in range(N_PMID):
        seg_f[s, GF_LR_DM0 + j] = np.nan
    nr = ring.shape[1]
    tb_us = params[P_TICK_US] * params[P_BLOCK_TICKS]
    since = np.int64((t_end - onset) // tb_us)  # whole blocks since the onset; the onset's own block before them
    gap = since + 1 + REF_GAP_BLOCKS
    n_ref = min(np.int64(params[P_LOC_LAG]), nr - 3 - gap, seg_i[s, GI_N_BLOCKS] - gap - 1)
    if since < 0 or n_ref < REF_MIN_BLOCKS:
        return
    end = (pos - gap) % nr
    ok, _, q1, q2, d_mean, var_d, pack, _, imb, var_imb, q_thr = _window(s, end, n_ref, params, seg_f, seg_i, ring)
    if not ok:
        return
    seg_f[s, GF_LR_OK] = 1.0
    seg_f[s, GF_LR_IMB] = imb
    seg_f[s, GF_LR_VIMB] = var_imb
    seg_f[s, GF_LR_Q] = q_thr
    seg_f[s, GF_LR_D] = d_mean
    seg_f[s, GF_LR_VD] = var_d
    seg_f[s, GF_LR_Q1] = q1
    seg_f[s, GF_LR_Q2] = q2
    seg_f[s, GF_LR_PACK] = pack
    for jm in range(N_PMID):
        ok_m, c_m, var_m = _mid_window(s, end, n_ref, jm, ring)
        if ok_m:
            seg_f[s, GF_LR_DM0 + jm] = c_m
            seg_f[s, GF_LR_VDM0 + jm] = var_m


@_jit
def _loc_window(s, pos, t_end, onset, params, seg_cfg, slot_cfg, seg_f, seg_i, ring):
    """The gradient location over the blocks since the onset (the onset's own block only partly leaks), within
    the ring's reach: (x m, 1 s.d. m, window s), or (nan, inf, 0) when it cannot be had.

    With a reference before the onset (`_loc_reference`), the leak and the pressure difference are measured
    against it: the leak rate is the step of the balance's raw imbalance (the meters' biases and what drifted
    since the baseline was learned cancel; the baseline's gain times the throughput's change remains), and the
    model's offset c0 cancels (d_ref - k phi_ref takes its place; only k's uncertainty remains). Without one,
    against the calibrated model and the balance's baseline."""
    length = seg_cfg[s, GC_LENGTH_M]
    w_cal = seg_f[s, GF_LC_W]
    if seg_cfg[s, GC_LOC_K0] <= 0.0 or w_cal < params[P_LOC_MIN_CAL]:
        return np.nan, np.inf, 0.0
    nr = ring.shape[1]
    tb_us = params[P_TICK_US] * params[P_BLOCK_TICKS]
    since = np.int64((t_end - onset) // tb_us)
    # the line's first minutes after the onset are its most transient (the steady profiles mislead most): the
    # window leaves out the first half of them, at most SETTLE_BLOCKS
    nb = since - min(np.int64(SETTLE_BLOCKS), since // 2)
    nb = min(nb, nr - 3, seg_i[s, GI_N_BLOCKS] - 1)
    if nb < 1:
        return np.nan, np.inf, 0.0
    ok, ws, q1, q2, d_mean, var_d_prop, pack, var_pack, imb, var_imb, q_thr = _window(s, pos, nb, params, seg_f,
                                                                                      seg_i, ring)
    if not ok:
        return np.nan, np.inf, 0.0
    # the friction model
    pp_cal = seg_f[s, GF_LC_PP] / w_cal
    k0 = seg_cfg[s, GC_LOC_K0]
    c0, k, v00, v01, v11, s2 = calibrate(w_cal, seg_f[s, GF_LC_F], seg_f[s, GF_LC_FF], seg_f[s, GF_LC_D],
                                         seg_f[s, GF_LC_FD], seg_f[s, GF_LC_DD], seg_f[s, GF_LC_VD],
                                         seg_f[s, GF_LC_VF], k0, k0 * seg_cfg[s, GC_LOC_K0_REL_SD],
                                         _c0_sd(s, pp_cal, seg_cfg, slot_cfg))
    var_d = max(s2 / nb, var_d_prop)
    g = seg_f[s, GF_BASE_G]
    var_g = seg_f[s, GF_VAR_G]
    if seg_f[s, GF_LR_OK] != 0.0:
        q_ref = seg_f[s, GF_LR_Q]
        lam = (imb - g * q_thr) - (seg_f[s, GF_LR_IMB] - g * q_ref)
        var_lam = var_imb + seg_f[s, GF_LR_VIMB] + var_g * (q_thr - q_ref) ** 2
        phi_ref, _, _ = phi_coefficients(seg_f[s, GF_LR_Q1], seg_f[s, GF_LR_Q2], 0.0, seg_f[s, GF_LR_PACK])
        # the reference's blocks scatter about the model as any blocks do
        n_ref = np.int64(params[P_LOC_LAG])
        var_dref = max(s2 / n_ref, seg_f[s, GF_LR_VD])
        c0 = seg_f[s, GF_LR_D] - k * phi_ref
        v00 = var_dref + phi_ref * phi_ref * v11
        v01 = -phi_ref * v11
        # mid-line pressure meters: the sub-segment that holds the leak, and the position on it
        x_m, sd_m = _loc_midline(s, pos, nb, params, seg_cfg, seg_f, ring, k, v11,
                                 max(1.0, var_d / var_d_prop) if var_d_prop > 0.0 else 1.0, d_mean, var_d, q1, q2,
                                 lam, var_lam, pack, var_pack)
        if x_m == x_m and sd_m < np.inf:
            return x_m * length, sd_m * length, ws
    else:
        lam = imb - (seg_f[s, GF_BASE_A] + g * q_thr)
        var_lam = var_imb + seg_f[s, GF_BASE_VAR] + var_g * (q_thr - seg_f[s, GF_QBAR]) ** 2
    x, sd = gradient_position(d_mean, var_d, c0, k, v00, v01, v11, q1, q2, lam, var_lam, pack, var_pack)
    if not (x == x and sd < np.inf):
        return np.nan, np.inf, 0.0
    model = params[P_LOC_MODEL_SD]
    return x * length, math.sqrt(sd * sd + model * model) * length, ws


@_jit
def _mid_window(s, pos, nb, j, ring):
    """Mid-line meter j over the nb blocks ending at ring position `pos`: whether it was usable on all but
    MAX_INVALID_SHARE of the window's location-valid ticks, the mean of c_j = p_u^2 - p_j^2 (less its elevation
    share) and the propagated variance of that mean."""
    nr = ring.shape[1]
    i = (pos - nb) % nr
    n = ring[s, pos, R_LN] - ring[s, i, R_LN]
    nm = ring[s, pos, R_LNM0 + j] - ring[s, i, R_LNM0 + j]
    if not (n > 0.0 and nm >= (1.0 - MAX_INVALID_SHARE) * n):
        return False, 0.0, 0.0
    c = (ring[s, pos, R_LDM0 + j] - ring[s, i, R_LDM0 + j]) / nm
    var = (ring[s, pos, R_LVDM0 + j] - ring[s, i, R_LVDM0 + j]) / (nm * nm)
    return True, c, var


@_jit
def phi0_prefix(x, q1, q2, pack):
    """int_0^x q^2 of the leak-free flow q = Q - pack xi^2 (window means q1 = mean Q, q2 = mean Q^2), and its
    derivative in pack: the friction profile's share up to x."""
    m1 = PACK_SHAPE_EXP + 1.0
    m2 = 2.0 * PACK_SHAPE_EXP + 1.0
    val = q2 * x - 2.0 * pack * q1 * x ** m1 / m1 + pack * pack * x ** m2 / m2
    return val, -2.0 * q1 * x ** m1 / m1 + 2.0 * pack * x ** m2 / m2


@_jit
def leak_g(y, q1, lam, pack):
    """g(y) = 2 lam Q1 y - 2 lam pack y^(m+1) / (m+1) - lam^2 y: a leak lam at x changes int_0^y q^2 by
    g(min(x, y)) - g(y); returns g, dg/dy, dg/dlam, dg/dpack."""
    m1 = PACK_SHAPE_EXP + 1.0
    g = 2.0 * lam * q1 * y - 2.0 * lam * pack * y ** m1 / m1 - lam * lam * y
    dg = 2.0 * lam * (q1 - pack * y ** PACK_SHAPE_EXP) - lam * lam
    return g, dg, 2.0 * q1 * y - 2.0 * pack * y ** m1 / m1 - 2.0 * lam * y, -2.0 * lam * y ** m1 / m1


@_jit
def _solve_g(target, lo, hi, q1, lam, pack):
    """The y in [lo, hi] with g(y) = target (g increases there while the flow is forward), else the nearer end."""
    g_lo = leak_g(lo, q1, lam, pack)[0]
    g_hi = leak_g(hi, q1, lam, pack)[0]
    if target <= g_lo:
        return lo
    if target >= g_hi:
        return hi
    a = lo
    b = hi
    for _ in range(40):
        mid = 0.5 * (a + b)
        if leak_g(mid, q1, lam, pack)[0] < target:
            a = mid
        else:
            b = mid
    return 0.5 * (a + b)


@_jit
def _leak_free_scale(i, xs, eps, var_eps, dc, k, q1, lam, var_lam, pack):
    """The leak-free sub-segments' correction of the friction model's predicted change, for candidate i (the
    sub-segment that holds the leak): each other sub-segment's change of its own drop is known but for the
    prediction's scale (1 + delta) (flow-dependent friction, the gas's temperature: the calibration's k is an
    average over its flows), so their residuals against it measure delta, weighted by their variance, with the
    prior delta ~ N(0, LEAK_FREE_SCALE_SD^2). Returns (delta, var delta, the prior's chi^2 term)."""
    n = xs.shape[0]
    num = 0.0
    den = 1.0 / (LEAK_FREE_SCALE_SD * LEAK_FREE_SCALE_SD)
    for sg in range(n):
        if sg == i:
            continue
        e_a = eps[sg - 1] if sg > 0 else 0.0
        h_a = (dc[sg - 1] - eps[sg - 1]) if sg > 0 else 0.0
        v_a = var_eps[sg - 1] if sg > 0 else 0.0
        h = (dc[sg] - eps[sg]) - h_a
        expect = 0.0
        lever = 0.0
        if sg > i:  # downstream of the leak: the leak's flow loss through the whole sub-segment
            a = xs[sg - 1] if sg > 0 else 0.0
            g_a, _, gl_a, _ = leak_g(a, q1, lam, pack)
            g_b, _, gl_b, _ = leak_g(xs[sg], q1, lam, pack)
            expect = k * (g_a - g_b)
            lever = k * (gl_a - gl_b)
        v = var_eps[sg] + v_a + lever * lever * var_lam
        if not v > 0.0:
            continue
        r = (eps[sg] - e_a) - expect
        num += -r * h / v
        den += h * h / v
    delta = num / den
    return delta, 1.0 / den, delta * delta / (LEAK_FREE_SCALE_SD * LEAK_FREE_SCALE_SD)


@_jit
def midline_position(xs, eps, var_eps, dc, dphi0_dpack, k, var_k, q1, lam, var_lam, pack, var_pack, model_sd):
    """The leak's position (fraction of the length) from the pressure points along the line: xs (ascending, the
    last one the outlet, 1), eps_j = the change of p_u^2 - p_j^2 since the reference less the friction model's
    leak-free change h_j = dc_j - eps_j, k (g(min(x, x_j)) - g(x_j)) in expectation (`leak_g`), with variances
    var_eps, the measured changes dc_j (k's lever) and d(int_0^x_j q^2)/d pack at each point.

    Each sub-segment between consecutive points (the inlet, eps = 0, first) is a candidate: the sub-segments
    without the leak first rescale the model's leak-free change, eps_j -> eps_j + delta h_j (`_leak_free_scale`:
    the calibration's k is an average over its flows, and the change since the reference is what the position
    rests on); the position is then solved on the candidate alone from the change of its own drop,
    eps_i - eps_(i-1) = k (g(x) - g(x_i)), clamped to it; the candidate whose position explains every point best
    (chi^2 over the points, diagonal, with delta's prior) is taken. Its 1 s.d.: the two points' pressure
    variance, k's, delta's, the leak rate's and the packing rate's through the sub-segment's lever (its length,
    not the line's), the packing shape's and the model's error scaled to the sub-segment.
    Returns (x, sd, candidate index); (nan, inf, -1) when there is no leak to locate (lam <= 0 or no friction)."""
    n = xs.shape[0]
    if not (lam > 0.0 and k > 0.0):
        return np.nan, np.inf, -1
    best = -1
    best_chi = np.inf
    best_x = np.nan
    best_sd = np.inf
    for i in range(n):
        a = xs[i - 1] if i > 0 else 0.0
        b = xs[i]
        delta, var_delta, chi = _leak_free_scale(i, xs, eps, var_eps, dc, k, q1, lam, var_lam, pack)
        h_b = dc[i] - eps[i]
        h_a = (dc[i - 1] - eps[i - 1]) if i > 0 else 0.0
        e_a = (eps[i - 1] + delta * h_a) if i > 0 else 0.0
        v_a = var_eps[i - 1] if i > 0 else 0.0
        dc_a = dc[i - 1] if i > 0 else 0.0
        dp_a = dphi0_dpack[i - 1] if i > 0 else 0.0
        g_b, _, gl_b, gp_b = leak_g(b, q1, lam, pack)
        x = _solve_g(g_b + (eps[i] + delta * h_b - e_a) / k, a, b, q1, lam, pack)
        for j in range(n):
            g_j, _, gl_j, _ = leak_g(xs[j], q1, lam, pack)
            g_x, dg_x, gl_x, _ = leak_g(min(x, xs[j]), q1, lam, pack)
            r = eps[j] + delta * (dc[j] - eps[j]) - k * (g_x - g_j)
            lever = k * (gl_x - gl_j)
            v = var_eps[j] + lever * lever * var_lam + (k * model_sd * dg_x) ** 2
            if v > 0.0:
                chi += r * r / v
        if chi < best_chi:
            g_x, dg_x, gl_x, gp_x = leak_g(x, q1, lam, pack)
            if not dg_x > 0.0:
                continue
            sub = b - a
            ddc = dc[i] - dc_a
            # sensitivities of g(x) = g(b) + (dc_b - dc_a) / k - (1 + delta) (phi0_b - phi0_a)
            var_g = ((var_eps[i] + v_a) / (k * k) + (ddc / (k * k)) ** 2 * var_k
                     + ((h_b - h_a) / k) ** 2 * var_delta
                     + (gl_b - gl_x) ** 2 * var_lam
                     + (gp_b - gp_x - (dphi0_dpack[i] - dp_a)) ** 2 * var_pack
                     + (PACK_SHAPE_SD * abs(pack) * q1 * sub) ** 2)
            best = i
            best_chi = chi
            best_x = x
            best_sd = math.sqrt(var_g / (dg_x * dg_x) + (model_sd * sub) ** 2)
    return best_x, best_sd, best


@_jit
def _loc_midline(s, pos, nb, params, seg_cfg, seg_f, ring, k, v11, var_scale, d_mean, var_d, q1, q2, lam, var_lam,
                 pack, var_pack):
    """The mid-line meters' location (`midline_position`) over the nb blocks ending at `pos`, against the
    reference window (`_loc_reference`): (x fraction, sd fraction), or (nan, inf) without a usable mid meter.
    var_scale: the blocks' scatter over the propagated variance (the whole segment's), applied to the mid meters'."""
    n_ok = 0
    for j in range(N_PMID):
        x_j = seg_cfg[s, GC_PMID_X0 + j]
        if 0.0 < x_j < 1.0 and seg_f[s, GF_LR_DM0 + j] == seg_f[s, GF_LR_DM0 + j]:
            n_ok += 1
    if n_ok == 0:
        return np.nan, np.inf
    xs = seg_f[s, GF_MS0 : GF_MS0 + N_MS]
    eps = seg_f[s, GF_MS0 + N_MS : GF_MS0 + 2 * N_MS]
    var_eps = seg_f[s, GF_MS0 + 2 * N_MS : GF_MS0 + 3 * N_MS]
    dc = seg_f[s, GF_MS0 + 3 * N_MS : GF_MS0 + 4 * N_MS]
    dpp = seg_f[s, GF_MS0 + 4 * N_MS : GF_MS0 + 5 * N_MS]
    q1r = seg_f[s, GF_LR_Q1]
    q2r = seg_f[s, GF_LR_Q2]
    packr = seg_f[s, GF_LR_PACK]
    n = 0
    for j in range(N_PMID + 1):
        if j < N_PMID:
            x_j = seg_cfg[s, GC_PMID_X0 + j]
            if not (0.0 < x_j < 1.0 and seg_f[s, GF_LR_DM0 + j] == seg_f[s, GF_LR_DM0 + j]):
                continue
            ok, c, var_c = _mid_window(s, pos, nb, j, ring)
            if not ok:
                continue
            c_ref = seg_f[s, GF_LR_DM0 + j]
            var_ref = seg_f[s, GF_LR_VDM0 + j]
        else:
            x_j = 1.0
            c = d_mean
            var_c = var_d
            c_ref = seg_f[s, GF_LR_D]
            var_ref = seg_f[s, GF_LR_VD]
        ph, dph = phi0_prefix(x_j, q1, q2, pack)
        ph_r, _ = phi0_prefix(x_j, q1r, q2r, packr)
        xs[n] = x_j
        dc[n] = c - c_ref
        eps[n] = dc[n] - k * (ph - ph_r)
        var_eps[n] = (var_c + var_ref) * var_scale + (ph - ph_r) ** 2 * v11
        dpp[n] = dph
        n += 1
    if n < 2:
        return np.nan, np.inf
    x, sd, _ = midline_position(xs[:n], eps[:n], var_eps[:n], dc[:n], dpp[:n], k, v11, q1, lam, var_lam, pack,
                                var_pack, params[P_LOC_MODEL_SD])
    return x, sd


@_jit
def fuse(x_a, sd_a, x_b, sd_b):
    """Inverse-variance weighted mean of two independent estimates, and its s.d."""
    w_a = 1.0 / (sd_a * sd_a)
    w_b = 1.0 / (sd_b * sd_b)
    return (w_a * x_a + w_b * x_b) / (w_a + w_b), 1.0 / math.sqrt(w_a + w_b)


@_jit
def _loc_emit(s, t_end, pos, params, seg_cfg, slot_cfg, seg_f, seg_i, ring, counters, ev_i, ev_f, n_ev, at_raise):
    """Locate the latched alarm's leak and emit EV_LEAK_LOCATION: fused with the incident's pressure-wave location
    when there is one. At the raise an alarm that cannot be located yet gets LOC_NONE (the whole segment); later
    refinements are emitted only when located."""
    onset = seg_i[s, GI_LOC_ONSET]
    if at_raise:
        _loc_reference(s, pos, t_end, onset, params, seg_f, seg_i, ring)
    x_g, sd_g, ws = _loc_window(s, pos, t_end, onset, params, seg_cfg, slot_cfg, seg_f, seg_i, ring)
    length = seg_cfg[s, GC_LENGTH_M]
    have_g = x_g == x_g
    if have_g:
        x_g = min(max(x_g, 0.0), length)
    x = x_g
    sd = sd_g
    method = LOC_GRADIENT if have_g else LOC_NONE
    t_npw = seg_f[s, GF_NPWL_T]
    tb_s = params[P_TICK_US] * params[P_BLOCK_TICKS] * 1e-6
    join_us = (length / seg_cfg[s, GC_WAVE_SPEED] + NPW_JOIN_SLACK_S + 2.0 * tb_s) * 1e6
    if t_npw == t_npw and abs(t_npw - onset) <= join_us:
        x_n = seg_f[s, GF_NPWL_X]
        sd_n = seg_f[s, GF_NPWL_SD]
        if have_g:
            x, sd = fuse(x_g, sd_g, x_n, sd_n)
            method = LOC_GRADIENT_NPW
        elif at_raise:
            return  # the incident keeps its pressure-wave location until the gradient gives one to fuse
    if method == LOC_NONE and not at_raise:
        return
    if method == LOC_NONE:
        x = 0.5 * length
        sd = np.inf
    # no gradient estimate: 0 with an infinite s.d. (no nan in the event arrays: they are compared whole)
    _emit(ev_i, ev_f, n_ev, counters, EV_LEAK_LOCATION, s, -1, t_end, onset, method, x, sd,
          x_g if have_g else 0.0, sd_g, ws)
