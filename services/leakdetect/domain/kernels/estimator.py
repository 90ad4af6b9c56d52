"""Transient line-pack state estimator: an extended Kalman filter on the discretised segment (issue 24).

Why: the quasi-steady line pack (`line_pack.py`) takes the pressure profile between the end transmitters to be
the steady one; while the line packs or unpacks the true profile is not, and the decision had to allow for that
with a transient term (`eps_lp`) that blunted it exactly when operators move set-points and demand ramps. And
with one end's transmitter silent it guessed the profile from the other end with a 2 % allowance, while real
lines lose 5-24 % of their pressure end to end. Here the profile is a state, moved by the physics and the
measured flows, and corrected by whatever pressures are measured; its uncertainty is the filter's covariance.

Model (the simulator's isothermal finite-volume family, `services.gasflow.simulator`, coarsened). The segment is
cut into EST_N_PTS - 1 cells; pressures live on the EST_N_PTS points x_i = i L / (n-1) (the two end points own
half a cell, as the simulator's end nodes do), mass flows on the links between them. Mass of a point
M_i = w_i p_i / (R T (1 + z p_i)) (the detector's linear Z). Continuity, implicit (backward Euler) over the
tick, so a 10-s tick is stable whatever the cell's diffusion time:

    M_i(p+) - M_i(p) = dt (m_{i-1}(p+) - m_i(p+) + [i = 0] q_in - [i = n-1] q_out)

Momentum is friction-dominated: the link flow follows p_j^2 - p_{j+1}^2 - elevation - c0 / N = (k / N) m |m|,
with k (and the pressure transmitters' offset c0) from the pressure-gradient location's calibration
(`location.calibrate`, learned in leak-free operation) or, before that, the pipe's prior (GC_LOC_K0), or the
first tick's measured gradient. The inertia dm/dt is dropped: on gas lines the friction relaxation time
(1 / (2 r |m|), r = f / (2 D rho A)) is a few seconds, below the 10-s tick, and the waves it would carry are
what the block averaging removes anyway; an implicit step of the full model at dt = 10 s reduces to this. The
friction law is regularised below `q_reg` (|m| m -> m sqrt(m^2 + q_reg^2) in effect) so its derivative is
finite at zero flow (a stopped or reversing line). Each tick solves the implicit step by Newton
(EST_NEWTON iterations on the tridiagonal Jacobian) and re-linearises there (an EKF).

Inputs and noise. The end flows are inputs with their tick-mean variances; every point also gets an unmodelled
mass source (variance `sink_var` (kg/s)^2 in total, shared in proportion to volume): the leak the balance looks
for, temperature and Z errors. That term is what keeps the filter from absorbing a leak: without it the total
mass would follow the integrated net inflow (the flow meters are far more precise per tick than the line pack
from pressures), and the balance residual q_in - q_out - dLP/dt would stay near zero for most of an hour after
an onset. With it the total mass follows the pressures within a few ticks (time constant ~ dt sqrt(R / Q)), and
in a steady leak the estimate settles a constant offset above the truth: dLP/dt -> dLP_true/dt and the residual
-> the leak rate (tests/unit/leakdetect/estimator). The flows then shape the profile between the transmitters.
Friction gets a per-tick relative jitter `fric_sd` (the calibration's error is slow, but a persistent-error
state would cost a larger covariance per tick). Pressures at the end points are measured with their tick-mean
variances; a silent transmitter is simply not used, so the line pack stays continuous and its variance grows by
what the missing end no longer pins (this replaces `line_pack.py`'s one-ended 2 % fallback).

Covariance step without allocation, O(n^2) per tridiagonal solve: with C = diag(dM/dp) at the old state and J
the Jacobian of the implicit step at the new one, F = J^-1 C and the point sources enter through J^-1 dt, so
P+ = J^-1 (C P C + dt^2 D) J^-T + s_f^2 g g^T with D the sources' diagonal variance and g = J^-1 dt dnet/dln k.
Each tick is ~2.5 kflop for EST_N_PTS = 7 (the estimator's share of `--suites speed`: see the README).

Line pack = sum of M_i, its variance c^T P c. The state (pressures, covariance, k, c0) lives in the segment's
block of columns GF_EST0.. of seg_f (layout.py), so checkpoints carry it; scratch vectors live there too (the
kernels may not allocate).

`services/leakdetect/reference/estimator.py` is the same filter with dense numpy matrices: the test oracle.
"""

from __future__ import annotations

import math

from ..layout import (
    ES_C0,
    ES_COV0,
    ES_K,
    ES_OK,
    ES_P0,
    ES_W_CP,
    ES_W_DIAG,
    ES_W_G,
    ES_W_LO,
    ES_W_PN,
    ES_W_UP,
    EST_N_PTS,
    EST_NEWTON,
)
from .common import _jit

N = EST_N_PTS


@_jit
def _flow(pa, pb, kl, elev_l, c0_l, d0):
    """Link flow (kg/s) between points of pressures pa (upstream) and pb, and its derivatives in pa and pb."""
    e2 = 0.5 * elev_l
    d = pa * pa - pb * pb - e2 * (pa * pa + pb * pb) - c0_l
    s = d * d + d0 * d0
    r = 1.0 / math.sqrt(kl * math.sqrt(s))  # kl^-1/2 s^-1/4
    m = d * r
    dm_dd = r * (1.0 - d * d / (2.0 * s))
    return m, dm_dd * pa * (2.0 - elev_l), -dm_dd * pb * (2.0 + elev_l)


@_jit
def _weight(i):
    """Volume share of point i (the end points own half a cell)."""
    w = 1.0 / (N - 1)
    return 0.5 * w if (i == 0 or i == N - 1) else w


@_jit
def _jacobian(st, s, b0, dt, q_in, q_out, vol, rt, zs, kl, elev_l, c0_l, d0, with_residual):
    """At the pressures in the scratch column ES_W_PN: the tridiagonal Jacobian of the implicit step into
    ES_W_DIAG / ES_W_LO / ES_W_UP and, with_residual, minus the step's residual into ES_W_G (the Newton right-hand
    side); otherwise dnet/dln k into ES_W_G. b0: the segment's first column of the estimator block."""
    pn0 = b0 + ES_W_PN
    for i in range(N):
        p = st[s, pn0 + i]
        z = 1.0 + zs * p
        w = _weight(i) * vol / rt
        st[s, b0 + ES_W_DIAG + i] = w / (z * z)
        if with_residual:
            p_old = st[s, b0 + ES_P0 + i]
            st[s, b0 + ES_W_G + i] = -(w * p / z - w * p_old / (1.0 + zs * p_old))
        else:
            st[s, b0 + ES_W_G + i] = 0.0
    if with_residual:
        st[s, b0 + ES_W_G] += dt * q_in
        st[s, b0 + ES_W_G + N - 1] -= dt * q_out
    for j in range(N - 1):
        m, a, b = _flow(st[s, pn0 + j], st[s, pn0 + j + 1], kl, elev_l, c0_l, d0)
        # net_j -= m, net_{j+1} += m
        st[s, b0 + ES_W_DIAG + j] += dt * a
        st[s, b0 + ES_W_DIAG + j + 1] -= dt * b
        st[s, b0 + ES_W_UP + j] = dt * b  # J[j, j+1]
        st[s, b0 + ES_W_LO + j] = -dt * a  # J[j+1, j]
        if with_residual:
            st[s, b0 + ES_W_G + j] -= dt * m
            st[s, b0 + ES_W_G + j + 1] += dt * m
        else:
            # dm/dln k at fixed d: -m / 2
            st[s, b0 + ES_W_G + j] += 0.5 * m * dt
            st[s, b0 + ES_W_G + j + 1] -= 0.5 * m * dt


@_jit
def _factor(st, s, b0):
    """Thomas factorisation of the Jacobian in place: ES_W_CP gets the modified upper diagonal, ES_W_DIAG the
    pivots."""
    dg = b0 + ES_W_DIAG
    cp = b0 + ES_W_CP
    st[s, cp] = st[s, b0 + ES_W_UP] / st[s, dg]
    for i in range(1, N):
        piv = st[s, dg + i] - st[s, b0 + ES_W_LO + i - 1] * st[s, cp + i - 1]
        st[s, dg + i] = piv
        if i < N - 1:
            st[s, cp + i] = st[s, b0 + ES_W_UP + i] / piv
    # ES_W_DIAG[0] stays the first pivot


@_jit
def _solve_col(st, s, b0, base, stride):
    """Solve J x = b in place for the vector at columns base + i * stride (factored J)."""
    dg = b0 + ES_W_DIAG
    cp = b0 + ES_W_CP
    lo = b0 + ES_W_LO
    st[s, base] = st[s, base] / st[s, dg]
    for i in range(1, N):
        st[s, base + i * stride] = (st[s, base + i * stride] - st[s, lo + i - 1] * st[s, base + (i - 1) * stride]) \
            / st[s, dg + i]
    for i in range(N - 2, -1, -1):
        st[s, base + i * stride] -= st[s, cp + i] * st[s, base + (i + 1) * stride]


@_jit
def est_init(st, s, b0, pu, var_pu, pd, var_pd, k, c0_off):
    """Start the filter on the steady profile between the end pressures (p^2 linear in x), each point as
    uncertain as the ends plus a tenth of the end-to-end difference."""
    st[s, b0 + ES_K] = k
    st[s, b0 + ES_C0] = c0_off
    spread = (0.1 * (pu - pd)) ** 2 + max(var_pu, var_pd)
    for i in range(N):
        x = i / (N - 1.0)
        st[s, b0 + ES_P0 + i] = math.sqrt(max(pu * pu - (pu * pu - pd * pd) * x, 1e6))
        for j in range(N):
            st[s, b0 + ES_COV0 + i * N + j] = spread if i == j else 0.0
    st[s, b0 + ES_OK] = 1.0


@_jit
def _update(st, s, b0, idx, z, var_z):
    """Scalar measurement of the pressure at point idx."""
    cov = b0 + ES_COV0
    hs = st[s, cov + idx * N + idx] + var_z
    if not (hs > 0.0):
        return
    innov = z - st[s, b0 + ES_P0 + idx]
    for i in range(N):
        st[s, b0 + ES_W_G + i] = st[s, cov + i * N + idx] / hs  # gain
    for i in range(N):
        st[s, b0 + ES_P0 + i] += st[s, b0 + ES_W_G + i] * innov
    for i in range(N):
        gi = st[s, b0 + ES_W_G + i] * hs
        for j in range(N):
            st[s, cov + i * N + j] -= gi * st[s, b0 + ES_W_G + j]


@_jit
def est_tick(st, s, b0, dt, q_in, var_qin, q_out, var_qout, pu, var_pu, ok_u, pd, var_pd, ok_d, vol, rt, zs,
             elev, sink_var, fric_sd, q_reg):
    """One tick of the filter: predict over dt with the tick's mean end flows, then take the end pressures that
    are usable. `elev`: GC_LOC_ELEV (elevation's share of p^2 over the segment); sink_var: variance of the
    unmodelled sources, (kg/s)^2; fric_sd: per-tick relative s.d. of the friction; q_reg: flow (kg/s) below which
    the friction law is regularised."""
    nl = N - 1.0
    kl = st[s, b0 + ES_K] / nl
    elev_l = elev / nl
    c0_l = st[s, b0 + ES_C0] / nl
    d0 = kl * q_reg * q_reg
    pn0 = b0 + ES_W_PN
    cov = b0 + ES_COV0
    # 1. implicit step by Newton from the current pressures
    for i in range(N):
        st[s, pn0 + i] = st[s, b0 + ES_P0 + i]
    for _ in range(EST_NEWTON):
        _jacobian(st, s, b0, dt, q_in, q_out, vol, rt, zs, kl, elev_l, c0_l, d0, True)
        _factor(st, s, b0)
        _solve_col(st, s, b0, b0 + ES_W_G, 1)
        for i in range(N):
            st[s, pn0 + i] = max(st[s, pn0 + i] + st[s, b0 + ES_W_G + i], 1e3)
    # 2. covariance: P <- C P C + dt^2 D (C at the old pressures), then J^-1 . J^-T at the new ones
    for i in range(N):
        p = st[s, b0 + ES_P0 + i]
        z = 1.0 + zs * p
        st[s, b0 + ES_W_CP + i] = _weight(i) * vol / (rt * z * z)  # C, until _factor overwrites it
    for i in range(N):
        ci = st[s, b0 + ES_W_CP + i]
        for j in range(N):
            st[s, cov + i * N + j] *= ci * st[s, b0 + ES_W_CP + j]
        dvar = sink_var * _weight(i)
        if i == 0:
            dvar += var_qin
        if i == N - 1:
            dvar += var_qout
        st[s, cov + i * N + i] += dt * dt * dvar
    _jacobian(st, s, b0, dt, q_in, q_out, vol, rt, zs, kl, elev_l, c0_l, d0, False)
    _factor(st, s, b0)
    for j in range(N):  # columns: X = J^-1 A
        _solve_col(st, s, b0, cov + j, N)
    for i in range(N):  # rows: X J^-T = (J^-1 X^T)^T
        _solve_col(st, s, b0, cov + i * N, 1)
    _solve_col(st, s, b0, b0 + ES_W_G, 1)  # g = J^-1 dt dnet/dln k
    fv = fric_sd * fric_sd
    for i in range(N):
        st[s, b0 + ES_P0 + i] = st[s, pn0 + i]
        for j in range(i, N):
            v = 0.5 * (st[s, cov + i * N + j] + st[s, cov + j * N + i]) \
                + fv * st[s, b0 + ES_W_G + i] * st[s, b0 + ES_W_G + j]
            st[s, cov + i * N + j] = v
            st[s, cov + j * N + i] = v
    # 3. the end pressures that are there
    if ok_u:
        _update(st, s, b0, 0, pu, var_pu)
    if ok_d:
        _update(st, s, b0, N - 1, pd, var_pd)


@_jit
def est_line_pack(st, s, b0, vol, rt, zs):
    """Line pack (kg) of the filter's state and its variance (kg^2)."""
    lp = 0.0
    var = 0.0
    cov = b0 + ES_COV0
    for i in range(N):
        p = st[s, b0 + ES_P0 + i]
        z = 1.0 + zs * p
        w = _weight(i) * vol / rt
        lp += w * p / z
        st[s, b0 + ES_W_CP + i] = w / (z * z)
    for i in range(N):
        ci = st[s, b0 + ES_W_CP + i]
        for j in range(N):
            var += ci * st[s, cov + i * N + j] * st[s, b0 + ES_W_CP + j]
    return lp, var


@_jit
def est_end_flow(st, s, b0, upstream, q_reg, elev):
    """The model's flow in the link next to an end: what stands for a silent flow meter there."""
    nl = N - 1.0
    kl = st[s, b0 + ES_K] / nl
    j = 0 if upstream else N - 2
    m, _, _ = _flow(st[s, b0 + ES_P0 + j], st[s, b0 + ES_P0 + j + 1], kl, elev / nl, st[s, b0 + ES_C0] / nl,
                    kl * q_reg * q_reg)
    return m
