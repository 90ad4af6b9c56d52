"""Transient line-pack state estimator: an extended Kalman filter on the discretised segment (issue 24).

Why: the quasi-steady line pack (`line_pack.py`) takes the pressure profile between the end transmitters to be
the steady one; while the line packs or unpacks the true profile is not, and the decision had to allow for that
with a transient term (`eps_lp`) that blunted it exactly when operators move set-points and demand ramps. And
with one end's transmitter silent it guessed the profile from the other end with a 2 % allowance, while real
lines lose 5-24 % of their pressure end to end. Here the profile is a state, moved by the physics and the
measured flows, and corrected by whatever pressures are measured; its uncertainty is the filter's covariance.

Model: the simulator's isothermal finite-volume scheme (`services.gasflow.simulator`), coarsened to EST_N_CELLS
cells, same staggered grid: pressures on the EST_N_CELLS + 1 points x_i = i L / N (the two end points own half
a cell and sit on the transmitters), mass flows on the links between them. The state interleaves them,
x = (p_0, m_0, p_1, m_1, ..., m_{N-1}, p_N), so the Jacobian of the implicit step is tridiagonal. Mass of a point
M_i = w_i p_i / (R T (1 + z p_i)) (the detector's linear Z). Backward Euler over the tick (stable for a 10-s tick
whatever the cell):

    continuity  M_i(p+) - M_i(p) = dt (m+_{i-1} - m+_i + [i = 0] q_in - [i = N] q_out)
    momentum    m+_j - m_j = dt A / dx (D_j(p+) - (k / N) m+_j sqrt(m+_j^2 + q_reg^2)) / (p+_j + p+_{j+1})
    D_j = p_j^2 - p_{j+1}^2 - elevation's share - c0 / N

which is A dp/dx + friction + gravity in the isothermal p^2 form; steady, it is the location's friction model
p_u^2 - p_d^2 = c0 + k q|q| (+ elevation), with k and c0 from the location's calibration (`location.calibrate`,
learned in leak-free operation), or before that the pipe's prior (GC_LOC_K0) or the first tick's gradient.
Inertia is kept on purpose: through a supply set-point ramp on the 30-km test line the friction-dominated
(diffusion) model of the same grid erred 0.56 kg/s (4.7 % of flow) in a block's line-pack change, with inertia
0.38 kg/s on 6 cells and 0.12 kg/s on 12 (the quasi-steady profile: 3.0 kg/s). q_reg keeps the friction's
derivative finite at zero flow (a stopped or reversing line). Each tick solves the step by Newton (EST_NEWTON
iterations on the tridiagonal Jacobian, Thomas) and re-linearises there (an EKF).

Inputs and noise. The end flows are inputs with their tick-mean variances; every point also gets an unmodelled
mass source (variance `sink_var` (kg/s)^2 in total, shared in proportion to volume): the leak the balance looks
for, temperature and Z errors. That term is what keeps the filter from absorbing a leak: the prediction conserves
mass with the measured flows, so the balance residual q_in - q_out - dLP/dt is exactly minus the mass the
pressure measurements add per unit time; without the term the total mass would follow the integrated net inflow
(the flow meters are far more precise per tick than the line pack from pressures) and the residual would stay
near zero for most of an hour after an onset. With it the total mass follows the pressures within a few ticks,
and in a steady leak the estimate settles at a constant offset: dLP/dt -> dLP_true/dt and the residual -> the
leak rate (tests/unit/leakdetect/estimator). Friction gets a per-tick relative jitter `fric_sd`. The end
pressures are measured with their tick-mean variances; a silent transmitter is simply not used, so the line pack
stays continuous and its variance grows by what the missing end no longer pins (this replaces `line_pack.py`'s
one-ended 2 % fallback).

Covariance without allocation: with C = diag(dM/dp on pressure rows, 1 on flow rows) at the old state and J the
Jacobian of the step at the new one, F = J^-1 C and the point sources enter through J^-1 dt, so
P+ = J^-1 (C P C + dt^2 D) J^-T + s_f^2 g g^T (D the sources' diagonal variance, g = dx+/dln k): 2 n tridiagonal
solves of n, ~10 n^2 flop, n = 2 EST_N_CELLS + 1. Measured (10 s ticks, 4 meters at 1 Hz, 2000 segments, one
core of the shared dev machine): the kernel fell from 15.1 to 4.3 M readings/s with the estimator on. Keeping the
covariance between full ticks (`est_full_every`) gave 4.5: the cost is the per-tick Newton step (3 iterations
with square roots and divisions on every link) and the segment's 3.6-kB state block, not the covariance. Next:
one Newton iteration from the previous (converged) state, fewer cells on short lines.

Line pack = sum of M_i, its variance c^T P c. The state (x, covariance, k, c0) lives in the segment's block of
columns GF_EST0.. of seg_f (layout.py), so checkpoints carry it; the scratch vectors live there too (the kernels
may not allocate).

`services/leakdetect/reference/estimator.py` is the same filter with dense numpy matrices: the test oracle.
"""

from __future__ import annotations

import math

from ..layout import (
    ES_C0,
    ES_COV0,
    ES_K,
    ES_KD0,
    ES_KU0,
    ES_NSKIP,
    ES_OK,
    ES_OKD_REF,
    ES_OKU_REF,
    ES_QI_REF,
    ES_QO_REF,
    ES_W_CP,
    ES_W_DIAG,
    ES_W_G,
    ES_W_LO,
    ES_W_PN,
    ES_W_UP,
    ES_X0,
    EST_N,
    EST_N_CELLS,
    EST_NEWTON,
)
from .common import _jit

N = EST_N  # state size: EST_N_CELLS + 1 pressures, EST_N_CELLS flows, interleaved
NC = EST_N_CELLS


@_jit
def _weight(i):
    """Volume share of point i (the end points own half a cell)."""
    w = 1.0 / NC
    return 0.5 * w if (i == 0 or i == NC) else w


@_jit
def _phi(m, q_reg):
    """The friction's m|m|, regularised below q_reg, and its derivative."""
    r = math.sqrt(m * m + q_reg * q_reg)
    return m * r, r + m * m / r


@_jit
def _jacobian(st, s, b0, dt, q_in, q_out, vol, rt, zs, kl, elev_l, c0_l, a_dx, q_reg, with_residual):
    """At the state in the scratch column ES_W_PN: the tridiagonal Jacobian of the implicit step into
    ES_W_DIAG / ES_W_LO (J[r, r-1]) / ES_W_UP (J[r, r+1]) and, with_residual, minus the step's residual into ES_W_G
    (Newton's right-hand side); otherwise -dG/dln k there (its solve is dx+/dln k)."""
    xn = b0 + ES_W_PN
    for i in range(NC + 1):
        r = 2 * i
        p = st[s, xn + r]
        z = 1.0 + zs * p
        w = _weight(i) * vol / rt
        st[s, b0 + ES_W_DIAG + r] = w / (z * z)
        st[s, b0 + ES_W_LO + r] = -dt if i > 0 else 0.0
        st[s, b0 + ES_W_UP + r] = dt if i < NC else 0.0
        g = 0.0
        if with_residual:
            p_old = st[s, b0 + ES_X0 + r]
            net = 0.0
            if i > 0:
                net += st[s, xn + r - 1]
            if i < NC:
                net -= st[s, xn + r + 1]
            if i == 0:
                net += q_in
            if i == NC:
                net -= q_out
            g = -(w * p / z - w * p_old / (1.0 + zs * p_old) - dt * net)
        st[s, b0 + ES_W_G + r] = g
    e2 = 0.5 * elev_l
    for j in range(NC):
        r = 2 * j + 1
        pa = st[s, xn + r - 1]
        pb = st[s, xn + r + 1]
        m = st[s, xn + r]
        ph, dph = _phi(m, q_reg)
        ps = pa + pb
        d = pa * pa - pb * pb - e2 * (pa * pa + pb * pb) - c0_l
        h = (d - kl * ph) / ps
        st[s, b0 + ES_W_DIAG + r] = 1.0 + dt * a_dx * kl * dph / ps
        st[s, b0 + ES_W_LO + r] = -dt * a_dx * (pa * (2.0 - elev_l) - h) / ps
        st[s, b0 + ES_W_UP + r] = -dt * a_dx * (-pb * (2.0 + elev_l) - h) / ps
        if with_residual:
            st[s, b0 + ES_W_G + r] = -(m - st[s, b0 + ES_X0 + r] - dt * a_dx * h)
        else:
            st[s, b0 + ES_W_G + r] = -dt * a_dx * kl * ph / ps


@_jit
def _factor(st, s, b0):
    """Thomas factorisation of the Jacobian in place: ES_W_CP gets the modified upper diagonal, ES_W_DIAG the
    pivots."""
    dg = b0 + ES_W_DIAG
    cp = b0 + ES_W_CP
    st[s, cp] = st[s, b0 + ES_W_UP] / st[s, dg]
    for i in range(1, N):
        piv = st[s, dg + i] - st[s, b0 + ES_W_LO + i] * st[s, cp + i - 1]
        st[s, dg + i] = piv
        st[s, cp + i] = st[s, b0 + ES_W_UP + i] / piv


@_jit
def _solve_col(st, s, b0, base, stride):
    """Solve J x = b in place for the vector at columns base + i * stride (J factored)."""
    dg = b0 + ES_W_DIAG
    cp = b0 + ES_W_CP
    lo = b0 + ES_W_LO
    st[s, base] = st[s, base] / st[s, dg]
    for i in range(1, N):
        st[s, base + i * stride] = (st[s, base + i * stride] - st[s, lo + i] * st[s, base + (i - 1) * stride]) \
            / st[s, dg + i]
    for i in range(N - 2, -1, -1):
        st[s, base + i * stride] -= st[s, cp + i] * st[s, base + (i + 1) * stride]


@_jit
def est_init(st, s, b0, pu, var_pu, pd, var_pd, k, c0_off, q_reg):
    """Start the filter on the steady profile between the end pressures (p^2 linear in x, the flow that carries
    it), each pressure as uncertain as the ends plus a tenth of the end-to-end difference, each flow by a tenth
    of itself and q_reg."""
    st[s, b0 + ES_K] = k
    st[s, b0 + ES_C0] = c0_off
    spread = (0.1 * (pu - pd)) ** 2 + max(var_pu, var_pd)
    d = pu * pu - pd * pd - c0_off
    q = math.sqrt(abs(d) / k) if k > 0.0 else 0.0
    if d < 0.0:
        q = -q
    for r in range(N):
        if r % 2 == 0:
            x = (r // 2) / NC
            st[s, b0 + ES_X0 + r] = math.sqrt(max(pu * pu - (pu * pu - pd * pd) * x, 1e6))
            v = spread
        else:
            st[s, b0 + ES_X0 + r] = q
            v = (0.1 * abs(q) + q_reg) ** 2
        for c in range(N):
            st[s, b0 + ES_COV0 + r * N + c] = v if r == c else 0.0
    st[s, b0 + ES_NSKIP] = 1e9  # the first tick is a full one
    st[s, b0 + ES_OK] = 1.0


@_jit
def _update(st, s, b0, idx, z, var_z, k0):
    """Scalar measurement of the state at row idx; its gain is kept at columns k0.. for the ticks that reuse it."""
    cov = b0 + ES_COV0
    hs = st[s, cov + idx * N + idx] + var_z
    if not (hs > 0.0):
        for i in range(N):
            st[s, k0 + i] = 0.0
        return
    innov = z - st[s, b0 + ES_X0 + idx]
    for i in range(N):
        st[s, k0 + i] = st[s, cov + i * N + idx] / hs  # gain
    for i in range(N):
        st[s, b0 + ES_X0 + i] += st[s, k0 + i] * innov
    for i in range(N):
        gi = st[s, k0 + i] * hs
        for j in range(N):
            st[s, cov + i * N + j] -= gi * st[s, k0 + j]


@_jit
def _update_kept(st, s, b0, idx, z, k0):
    """Scalar measurement with the gain kept from the last full tick (the covariance stays as it was then)."""
    innov = z - st[s, b0 + ES_X0 + idx]
    for i in range(N):
        st[s, b0 + ES_X0 + i] += st[s, k0 + i] * innov


@_jit
def est_tick(st, s, b0, dt, q_in, var_qin, q_out, var_qout, pu, var_pu, ok_u, pd, var_pd, ok_d, vol, length, rt,
             zs, elev, sink_var, fric_sd, q_reg, full_every, move):
    """One tick of the filter: predict over dt with the tick's mean end flows, then take the end pressures that
    are usable. `elev`: GC_LOC_ELEV (elevation's share of p^2 over the segment); sink_var: variance of the
    unmodelled sources, (kg/s)^2; fric_sd: per-tick relative s.d. of the friction; q_reg: flow (kg/s) below which
    the friction law is regularised. The covariance is propagated (a full EKF tick) when `full_every` ticks have
    passed since the last full one, or an end flow moved more than `move` kg/s since, or an end pressure came or
    went; otherwise the state moves with the model and the gains of the last full tick (the steady-state gain
    of a line whose operating point stays put), at a fifth of the cost."""
    full = (st[s, b0 + ES_NSKIP] + 1.0 >= full_every or abs(q_in - st[s, b0 + ES_QI_REF]) > move
            or abs(q_out - st[s, b0 + ES_QO_REF]) > move or (1.0 if ok_u else 0.0) != st[s, b0 + ES_OKU_REF]
            or (1.0 if ok_d else 0.0) != st[s, b0 + ES_OKD_REF])
    kl = st[s, b0 + ES_K] / NC
    elev_l = elev / NC
    c0_l = st[s, b0 + ES_C0] / NC
    a_dx = vol / length / (length / NC)  # A / dx
    xn = b0 + ES_W_PN
    cov = b0 + ES_COV0
    # 1. implicit step by Newton from the current state
    for i in range(N):
        st[s, xn + i] = st[s, b0 + ES_X0 + i]
    for _ in range(EST_NEWTON):
        _jacobian(st, s, b0, dt, q_in, q_out, vol, rt, zs, kl, elev_l, c0_l, a_dx, q_reg, True)
        _factor(st, s, b0)
        _solve_col(st, s, b0, b0 + ES_W_G, 1)
        for i in range(N):
            v = st[s, xn + i] + st[s, b0 + ES_W_G + i]
            st[s, xn + i] = max(v, 1e3) if i % 2 == 0 else v
    if not full:
        for i in range(N):
            st[s, b0 + ES_X0 + i] = st[s, xn + i]
        if ok_u:
            _update_kept(st, s, b0, 0, pu, b0 + ES_KU0)
        if ok_d:
            _update_kept(st, s, b0, N - 1, pd, b0 + ES_KD0)
        st[s, b0 + ES_NSKIP] += 1.0
        return
    st[s, b0 + ES_NSKIP] = 0.0
    st[s, b0 + ES_QI_REF] = q_in
    st[s, b0 + ES_QO_REF] = q_out
    st[s, b0 + ES_OKU_REF] = 1.0 if ok_u else 0.0
    st[s, b0 + ES_OKD_REF] = 1.0 if ok_d else 0.0
    # 2. covariance: P <- C P C + dt^2 D (C at the old state), then J^-1 . J^-T at the new one
    for r in range(N):
        if r % 2 == 0:
            p = st[s, b0 + ES_X0 + r]
            z = 1.0 + zs * p
            st[s, b0 + ES_W_CP + r] = _weight(r // 2) * vol / (rt * z * z)  # C, until _factor overwrites it
        else:
            st[s, b0 + ES_W_CP + r] = 1.0
    for i in range(N):
        ci = st[s, b0 + ES_W_CP + i]
        for j in range(N):
            st[s, cov + i * N + j] *= ci * st[s, b0 + ES_W_CP + j]
        if i % 2 == 0:
            dvar = sink_var * _weight(i // 2)
            if i == 0:
                dvar += var_qin
            if i == N - 1:
                dvar += var_qout
            st[s, cov + i * N + i] += dt * dt * dvar
    _jacobian(st, s, b0, dt, q_in, q_out, vol, rt, zs, kl, elev_l, c0_l, a_dx, q_reg, False)
    _factor(st, s, b0)
    for j in range(N):  # columns: X = J^-1 A
        _solve_col(st, s, b0, cov + j, N)
    for i in range(N):  # rows: X J^-T = (J^-1 X^T)^T
        _solve_col(st, s, b0, cov + i * N, 1)
    _solve_col(st, s, b0, b0 + ES_W_G, 1)  # g = dx+/dln k
    fv = fric_sd * fric_sd
    for i in range(N):
        st[s, b0 + ES_X0 + i] = st[s, xn + i]
        for j in range(i, N):
            v = 0.5 * (st[s, cov + i * N + j] + st[s, cov + j * N + i]) \
                + fv * st[s, b0 + ES_W_G + i] * st[s, b0 + ES_W_G + j]
            st[s, cov + i * N + j] = v
            st[s, cov + j * N + i] = v
    # 3. the end pressures that are there
    if ok_u:
        _update(st, s, b0, 0, pu, var_pu, b0 + ES_KU0)
    if ok_d:
        _update(st, s, b0, N - 1, pd, var_pd, b0 + ES_KD0)


@_jit
def est_line_pack(st, s, b0, vol, rt, zs):
    """Line pack (kg) of the filter's state and its variance (kg^2)."""
    lp = 0.0
    var = 0.0
    cov = b0 + ES_COV0
    for i in range(NC + 1):
        p = st[s, b0 + ES_X0 + 2 * i]
        z = 1.0 + zs * p
        w = _weight(i) * vol / rt
        lp += w * p / z
        st[s, b0 + ES_W_CP + i] = w / (z * z)
    for i in range(NC + 1):
        ci = st[s, b0 + ES_W_CP + i]
        for j in range(NC + 1):
            var += ci * st[s, cov + 2 * i * N + 2 * j] * st[s, b0 + ES_W_CP + j]
    return lp, var


@_jit
def est_end_flow(st, s, b0, upstream):
    """The model's flow in the link next to an end: what stands for a silent flow meter there."""
    return st[s, b0 + ES_X0 + (1 if upstream else N - 2)]
