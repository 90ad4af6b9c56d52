"""Baseline learning of the mass balance: the fit r = a + g q of the segment's residual against its throughput
(offset, gain, kappa and their uncertainty), which `decision._decide` subtracts before every test.
"""

from __future__ import annotations

import math

import numpy as np

from ..layout import (
    EV_BASELINE_LEARNED,
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
    GF_G_LPV0,
    GF_G_M,
    GF_G_Q,
    GF_G_RUNV,
    GF_G_V,
    GF_KAPPA,
    GF_QBAR,
    GF_VAR_G,
    GI_G_N,
    GI_LEARN_LAST,
    GI_LEARNED,
    GI_N_BLOCKS,
    GI_N_LEARN,
    N_ROLES,
    P_GAIN_PRIOR,
    P_KAPPA_MIN,
    P_LEARN_BLOCKS,
    P_LEARN_GROUP,
    ROLE_FLOW_IN,
    ROLE_FLOW_OUT,
    SC_SIGMA_REL,
)
from .common import _emit, _jit


@_jit
def _learn_baseline(s, t_end, blk_m, blk_q, blk_v, d_lp, lp_var, lp_prev_var, tb, params, slot_cfg, seg_f, seg_i,
                    counters, ev_i, ev_f, n_ev):
    """Add a valid block to the baseline fit r = a + g q; once `P_LEARN_BLOCKS` are in, solve it (offset, gain,
    kappa, their uncertainty), mark the segment learned and emit EV_BASELINE_LEARNED."""
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
