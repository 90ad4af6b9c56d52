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
M_i = w_i V p_i / (R T Z(p_i)), Z(p) the quadratic fit of the network's gas physics the quasi-steady line pack
uses (GC_Z_Q0..2, `network_config.z_quadratic_fit`; `common.p_over_z`). Why not the detector's older linear Z,
1 + z p through Z(0) = 1 and the operating point: d(p/Z)/dp is what moves the mass with the pressure, and the chord
has it 1-2 % too large at 44-57 bar on natural gas; a 5 % set-point move on a 50-km line moves thousands of kg, so
1 % of that is several times a 1 % leak over a 2-min window. Backward Euler over the tick (stable for a 10-s tick
whatever the cell):

    continuity  M_i(p+) - M_i(p) = dt (m+_{i-1} - m+_i + [i = 0] q_in - [i = N] q_out)
    momentum    m+_j - m_j = dt A / dx (D_j(p+) - (k / N) m+_j sqrt(m+_j^2 + q_reg^2)) / (p+_j + p+_{j+1})
    D_j = p_j^2 - p_{j+1}^2 - elevation's share - c0 / N

which is A dp/dx + friction + gravity in the isothermal p^2 form; steady, it is the location's friction model
p_u^2 - p_d^2 = c0 + k q|q| (+ elevation), with k and c0 from the location's calibration (`location.calibrate`,
learned in leak-free operation), or before that the pipe's prior (GC_LOC_K0) or the first tick's gradient.
Inertia is kept on purpose: through a supply set-point ramp on the 30-km test line the friction-dominated
(diffusion) model of the same grid erred 0.56 kg/s (4.7 % of flow) in a block's line-pack change, with inertia
0.38 kg/s on 6 cells and 0.12 kg/s on 12 (the quasi-steady profile: 3.0 kg/s). Why EST_N_CELLS = 16, not 8
(issue 24's set-point false alarms): a move's pressure front enters through an end, and on 8 cells the end point
owns 3-4 km of a 50-km line, so the model cannot place the mass the front moves and the filter reconciles the
measured end pressure and inflow by moving mass (its sink term) that is not there. On the sample's leak-free
supply set-point moves (-5 %, the controls of transient_leaks layouts 10 and 6: 59 and 47 km at low flow, the line
pack 4.8 and 3.1 h of nominal flow), fed the simulator's true end values, the filter's 2-min line-pack change
erred by up to 4.9 and 4.6 times a 1 % leak on 8 cells, 1.8 and 2.9 on 16, 1.2 and 2.5 on 32 (the numpy oracle);
its Z (linear or the fit), friction (learned, the prior, or fitted to the truth), noise settings (sink_var or
fric_sd x 1/4..4) and kept gains moved it by < 0.5, the temperature not at all (the simulator's is the design
one). A grid stretched towards the ends (8-12 cells) did as well on the 59-km line but not on the 47-km one,
whose error peaks after the ramp, mid-line. 16 cells cost ~4x the full tick's flop of 8 (n^2).

q_reg keeps the friction's derivative finite at zero flow (a stopped or reversing line). Each tick takes one Newton
iteration of the step from the current state on the tridiagonal Jacobian there (Thomas): a linearly implicit Euler
step, as stable as the implicit one, and exact on the continuity rows, which are linear in the flows (and in the
pressures up to Z's curvature), so no mass is made or lost by stopping there; the per-tick change is small enough
that further iterations moved the line pack by < 1e-9 of itself (layout.EST_NEWTON = 3 is no longer used).

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
one-ended 2 % fallback). Where the model's friction drop differs from the measured one (the transmitters' biases, a
friction calibration off), the two ends' innovations are persistent and opposed and their pulls on the mass cancel;
a lone end would pull alone, so it is taken less its offset, the mean of its innovation while both ends were
measured (`_track_offsets`; on the demo city's TR-02 a 2-min outage upstream moved the line pack by 1.5 kg and raised
a 1-min false alarm, now 0.3 kg). And its variance adds the square of the model's drop mismatch (the two offsets'
difference): where the measurements, not the model, shape the profile (a large drop), the profile relaxes to the
model's own drop through the silence and the lone end, as precise as it is, pulled the mass by that; the lone end
is only as good as the model that links it to the other end (on the tests' 30-km line with the friction 5 % off, a
2-min silence moved the mass by 1.95 times a 1 % leak over it; less the offset 1.5; with the variance too 0.62).

Mid-line pressure transmitters (issue 24 item 1: "fed by every meter of the segment") are measurements too: the
pressure at x_frac is taken as p^2 linear in x between the two grid points beside it (the steady profile's shape
within a cell), an EKF update with H = dh/dp there, after the ends' updates; their gains are kept like the ends'
(ES_KM0..), and a transmitter that comes, goes or moves forces a full tick (ES_XM_REF0.. hold the positions the
kept gains were computed with). Why it matters: a leak's depression forms between the ends and reaches them only
over the line's settling time, so with the ends alone the residual shows a leak at 0.4 of the 30-km test line
as 33 % of its rate over the first 2 min; with a transmitter at mid-line, 97 % (est_leak_response predicts 33 %
and 89 %), and the line pack's variance falls (tests/unit/leakdetect/estimator). Mid-line flow meters are not
fed: the detector's slots carry none (they are issue 19's sub-segment balances, kernels/subsegment.py).

Covariance without allocation: with C = diag(dM/dp on pressure rows, 1 on flow rows) and J the Jacobian of the
step, both at the old state, F = J^-1 C and the point sources enter through J^-1 dt, so
P+ = J^-1 (C P C + dt^2 D) J^-T + s_f^2 g g^T (D the sources' diagonal variance, g = dx+/dln k): 2 n tridiagonal
solves of n (reciprocal pivots), ~10 n^2 flop, n = 2 EST_N_CELLS + 1.

Steady-state filter (speed). Once the gains settle at an operating point the covariance recursion gives the same
gains every tick, so it need not run: a full tick (Jacobian, factorisation, covariance, gains, line-pack
variance) is taken while the gains move by more than GAIN_SETTLED_REL per tick (the start, a transmitter back),
while an end pressure is silent (the variance must grow tick by tick), when an end flow moved more than `move`
since the last full tick (an operation), and at least every `full_every` ticks; a kept tick steps the state with
the last full tick's factorised Jacobian and updates it with its gains, and the line pack's variance is the one
stored then. On the estimator tests' traces (30-km line, operations, a silent end, a leak) with full_every 30 the
block line-pack changes stay within 0.1 kg of the plain EKF's (the line pack's s.d. ~5 kg, a 1 % leak 3.6 kg a
block) and the variance within -5 % / +8 %; 6 % of the ticks were full on the steady leak trace, 13 % on the
operations trace; ~10 % on `estimator_speed`'s synthetic lines. Measured (`python -m benchmarks.detection
--suites speed`, `estimator_speed`: 2,000 segments, 4 meters at 1 Hz, after 10 min of warm-up, one core of the
shared dev machine under load): on 8 cells a full tick ~3.7 us, a kept one ~0.2 us; the kernels with the
estimator on ran at 0.92-1.04 of their speed with the quasi-steady line pack (before, the plain EKF with 3 Newton
iterations every tick: 0.18-0.21). On 16 cells (2026-12-07, one run under load): 13.6 M readings/s of CPU with
the estimator on against 15.5 off after the warm-up (0.88; 8 cells 0.73-1.05 over two runs); of wall clock 3.6 M/s
from the start, while the gains settle and every tick is a full one, against 7.5 after the warm-up in the same run
(8 cells: 11.3-11.7 against 10.8-15.2): the full tick's n^2 work.

Line pack = sum of M_i, its variance c^T P c (at full ticks). The state (x, covariance, k, c0) lives in the
segment's block of columns GF_EST0.. of seg_f (layout.py), so checkpoints carry it; the scratch vectors live there
too (the kernels may not allocate).

`services/leakdetect/reference/estimator.py` is the same filter with dense numpy matrices: the test oracle.
"""

from __future__ import annotations

import math

from ..layout import (
    ES_C0,
    ES_COV0,
    ES_K,
    ES_KD0,
    ES_KM0,
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
    ES_XM_REF0,
    EST_N,
    EST_N_CELLS,
    N_PMID,
)
from .common import _jit, _jit_inline, p_over_z

N = EST_N  # state size: EST_N_CELLS + 1 pressures, EST_N_CELLS flows, interleaved
NC = EST_N_CELLS
# Columns of the block this module gives a meaning beyond layout.py's names. The step is one Newton iteration
# computed in place, so the Newton iterate's scratch (ES_W_PN) is free and keeps, between full ticks, the
# line-pack variance of the last full tick; ES_W_UP holds C and then dG/dln k during a full tick (after the
# factorisation has consumed the upper diagonal). ES_W_DIAG (reciprocal pivots), ES_W_LO and ES_W_CP keep the
# factorised Jacobian of the last full tick for the steps of the kept ticks.
ES_LPVAR = ES_W_PN
ES_MSCALE = ES_W_PN + 1  # vol / (R T) of the last full tick (kg/Pa): its C with Z(p), for est_leak_response
ES_Z0 = ES_W_PN + 2  # that tick's Z(p) = z0 + z1 p + z2 p^2 (the segment's GC_Z_Q0..2)
ES_DT = ES_W_PN + 3  # its tick, s
ES_Z1 = ES_W_PN + 4
ES_Z2 = ES_W_PN + 5
# Each end pressure's offset from the model (Pa; the mean of its innovation against the predicted state while both
# ends are measured) and the ticks that mean has seen; the last columns of the scratch, away from the ones above.
ES_OFF_U = ES_W_PN + N - 3
ES_OFF_D = ES_W_PN + N - 2
ES_OFF_N = ES_W_PN + N - 1
# Time constant (s) of that mean. The offset is the model's friction drop against the two transmitters' (their biases
# and the friction model's error, which moves with the flow over hours); a communication outage lasts minutes
# (the SCADA model's mean 2 min). 10 min averages a tick mean's noise down to a tenth of it (sqrt(dt / 2 tau) at
# 10-s ticks) and is still short against the flow's diurnal change.
OFFSET_TAU_S = 600.0
# A full tick whose gains moved less than this (relative, per end, separately over the pressure and the flow rows)
# from the previous full tick's says the covariance has settled at the operating point: the ticks after it keep
# them. Otherwise the next tick is a full one too, so a transient of the covariance (the start, a meter that
# came back, an operation) is propagated tick by tick as in the plain EKF.
GAIN_SETTLED_REL = 5e-3


@_jit_inline
def _weight(i):
    """Volume share of point i (the end points own half a cell)."""
    w = 1.0 / NC
    return 0.5 * w if (i == 0 or i == NC) else w


@_jit_inline
def _phi(m, q_reg):
    """The friction's m|m|, regularised below q_reg, and its derivative."""
    r = math.sqrt(m * m + q_reg * q_reg)
    return m * r, r + m * m / r


@_jit
def _step_rhs(st, s, b0, dt, q_in, q_out, vol, rt, z0, z1, z2, kl, elev_l, c0_l, a_dx, q_reg, with_jacobian):
    """At the state (ES_X0): minus the implicit step's residual there into ES_W_G (Newton's right-hand side; the
    continuity rows reduce to dt times the net inflow, the pressures being the old ones) and, with_jacobian, the
    tridiagonal Jacobian into ES_W_DIAG / ES_W_LO (J[r, r-1]) / ES_W_UP (J[r, r+1])."""
    x0 = b0 + ES_X0
    g = b0 + ES_W_G
    for i in range(NC + 1):
        r = 2 * i
        net = 0.0
        if i > 0:
            net += st[s, x0 + r - 1]
        if i < NC:
            net -= st[s, x0 + r + 1]
        if i == 0:
            net += q_in
        if i == NC:
            net -= q_out
        st[s, g + r] = dt * net
        if with_jacobian:
            _, dpz = p_over_z(st[s, x0 + r], z0, z1, z2)
            st[s, b0 + ES_W_DIAG + r] = _weight(i) * vol / rt * dpz
            st[s, b0 + ES_W_LO + r] = -dt if i > 0 else 0.0
            st[s, b0 + ES_W_UP + r] = dt if i < NC else 0.0
    e2 = 0.5 * elev_l
    for j in range(NC):
        r = 2 * j + 1
        pa = st[s, x0 + r - 1]
        pb = st[s, x0 + r + 1]
        m = st[s, x0 + r]
        ph, dph = _phi(m, q_reg)
        inv_ps = 1.0 / (pa + pb)
        d = pa * pa - pb * pb - e2 * (pa * pa + pb * pb) - c0_l
        h = (d - kl * ph) * inv_ps
        st[s, g + r] = dt * a_dx * h
        if with_jacobian:
            st[s, b0 + ES_W_DIAG + r] = 1.0 + dt * a_dx * kl * dph * inv_ps
            st[s, b0 + ES_W_LO + r] = -dt * a_dx * (pa * (2.0 - elev_l) - h) * inv_ps
            st[s, b0 + ES_W_UP + r] = -dt * a_dx * (-pb * (2.0 + elev_l) - h) * inv_ps


@_jit
def _factor(st, s, b0):
    """Thomas factorisation of the Jacobian in place: ES_W_CP gets the modified upper diagonal, ES_W_DIAG the
    reciprocal pivots (the solves multiply)."""
    dg = b0 + ES_W_DIAG
    cp = b0 + ES_W_CP
    inv = 1.0 / st[s, dg]
    st[s, dg] = inv
    st[s, cp] = st[s, b0 + ES_W_UP] * inv
    for i in range(1, N):
        inv = 1.0 / (st[s, dg + i] - st[s, b0 + ES_W_LO + i] * st[s, cp + i - 1])
        st[s, dg + i] = inv
        st[s, cp + i] = st[s, b0 + ES_W_UP + i] * inv


@_jit_inline
def _solve_col(st, s, b0, base, stride):
    """Solve J x = b in place for the vector at columns base + i * stride (J factored)."""
    dg = b0 + ES_W_DIAG
    cp = b0 + ES_W_CP
    lo = b0 + ES_W_LO
    prev = st[s, base] * st[s, dg]
    st[s, base] = prev
    for i in range(1, N):
        c = base + i * stride
        prev = (st[s, c] - st[s, lo + i] * prev) * st[s, dg + i]
        st[s, c] = prev
    for i in range(N - 2, -1, -1):
        c = base + i * stride
        prev = st[s, c] - st[s, cp + i] * prev
        st[s, c] = prev


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
        st[s, b0 + ES_KU0 + r] = 0.0
        st[s, b0 + ES_KD0 + r] = 0.0
        for j in range(N_PMID):
            st[s, b0 + ES_KM0 + j * N + r] = 0.0
    for j in range(N_PMID):
        st[s, b0 + ES_XM_REF0 + j] = -1.0
    st[s, b0 + ES_NSKIP] = 1e9  # the first tick is a full one
    st[s, b0 + ES_OK] = 1.0
    st[s, b0 + ES_LPVAR] = math.nan  # set by the first (full) tick, as the three below
    st[s, b0 + ES_MSCALE] = math.nan
    st[s, b0 + ES_Z0] = math.nan
    st[s, b0 + ES_Z1] = math.nan
    st[s, b0 + ES_Z2] = math.nan
    st[s, b0 + ES_DT] = math.nan
    st[s, b0 + ES_OFF_U] = 0.0
    st[s, b0 + ES_OFF_D] = 0.0
    st[s, b0 + ES_OFF_N] = 0.0


@_jit_inline
def _track_offsets(st, s, b0, dt, pu, pd):
    """With both end pressures measured: each one's innovation against the predicted state, averaged (a running
    mean at the start, then exponential over OFFSET_TAU_S). Why: where the model's friction drop differs from the
    measured one (the transmitters' biases, the friction model's error), the two ends' innovations are persistent
    and opposed, and their pulls on the line's mass cancel; when one end goes silent the other's pull is alone, and
    the filter moved mass that was not there (the demo city's TR-02: 1.8 kg in a minute, a 1-min false alarm, on a
    2-min outage of the upstream transmitter). A lone end is taken less its offset (`est_tick`)."""
    n = st[s, b0 + ES_OFF_N] + 1.0
    a = max(dt / OFFSET_TAU_S, 1.0 / n)
    st[s, b0 + ES_OFF_N] = n
    st[s, b0 + ES_OFF_U] += a * (pu - st[s, b0 + ES_X0] - st[s, b0 + ES_OFF_U])
    st[s, b0 + ES_OFF_D] += a * (pd - st[s, b0 + ES_X0 + N - 1] - st[s, b0 + ES_OFF_D])


@_jit
def _update(st, s, b0, idx, z, var_z, k0):
    """Scalar measurement of the state at row idx; its gain is kept at columns k0.. for the ticks that reuse it.
    Returns whether the gain moved less than GAIN_SETTLED_REL from the one there before."""
    hs = st[s, b0 + ES_COV0 + idx * N + idx] + var_z
    return _gain_update(st, s, b0, idx, 1.0, idx, 0.0, hs, z - st[s, b0 + ES_X0 + idx], k0)


@_jit_inline
def _gain_update(st, s, b0, ra, wa, rb, wb, hs, innov, k0):
    """The update by a scalar measurement whose H is wa at state row ra and wb at row rb (a point measurement: wb 0),
    innovation `innov` of variance hs: the gain (kept at columns k0.. for the ticks that reuse it), the state and the
    covariance. Returns whether the gain moved less than GAIN_SETTLED_REL from the one there before."""
    cov = b0 + ES_COV0
    if not (hs > 0.0):
        for i in range(N):
            st[s, k0 + i] = 0.0
        return False
    d_p = 0.0
    n_p = 0.0
    d_m = 0.0
    n_m = 0.0
    inv = 1.0 / hs
    for i in range(N):
        kn = (wa * st[s, cov + i * N + ra] + wb * st[s, cov + i * N + rb]) * inv  # gain
        dk = abs(kn - st[s, k0 + i])
        if i % 2 == 0:
            d_p = max(d_p, dk)
            n_p = max(n_p, abs(kn))
        else:
            d_m = max(d_m, dk)
            n_m = max(n_m, abs(kn))
        st[s, k0 + i] = kn
    _apply_kept_gain(st, s, b0, innov, k0)
    for i in range(N):
        gi = st[s, k0 + i] * hs
        for j in range(N):
            st[s, cov + i * N + j] -= gi * st[s, k0 + j]
    return d_p <= GAIN_SETTLED_REL * n_p and d_m <= GAIN_SETTLED_REL * n_m


@_jit_inline
def _apply_kept_gain(st, s, b0, innov, k0):
    """The state moved by the gain at columns k0.. times the innovation (the covariance is left as it is)."""
    for i in range(N):
        st[s, b0 + ES_X0 + i] += st[s, k0 + i] * innov


@_jit_inline
def _update_kept(st, s, b0, idx, z, k0):
    """Scalar measurement with the gain kept from the last full tick (the covariance stays as it was then)."""
    _apply_kept_gain(st, s, b0, z - st[s, b0 + ES_X0 + idx], k0)


@_jit_inline
def _mid_h(st, s, xs, x_frac):
    """A mid-line transmitter at x_frac of the length as a measurement of the state at columns xs..: the pressure
    there, with p^2 linear in x between the grid points beside it (the steady profile's shape within a cell: on
    8 cells interpolating p itself would bias it by up to ~0.04 % of p on a line losing 20 % end to end), the
    first of those points' row, and dh/dp of both."""
    pos = min(max(x_frac, 0.0), 1.0) * NC
    i0 = min(int(pos), NC - 1)
    fr = pos - i0
    pa = st[s, xs + 2 * i0]
    pb = st[s, xs + 2 * i0 + 2]
    h = math.sqrt(max((1.0 - fr) * pa * pa + fr * pb * pb, 1.0))
    return h, 2 * i0, (1.0 - fr) * pa / h, fr * pb / h


@_jit
def _update_mid(st, s, b0, x_frac, z, var_z, k0):
    """A mid-line pressure's measurement update (the EKF's, H = dh/dp at the two points beside it); its gain is
    kept at columns k0..; returns whether it moved less than GAIN_SETTLED_REL from the one there before."""
    cov = b0 + ES_COV0
    h, ra, wa, wb = _mid_h(st, s, b0 + ES_X0, x_frac)
    rb = ra + 2
    hs = (wa * wa * st[s, cov + ra * N + ra] + 2.0 * wa * wb * st[s, cov + ra * N + rb]
          + wb * wb * st[s, cov + rb * N + rb] + var_z)
    return _gain_update(st, s, b0, ra, wa, rb, wb, hs, z - h, k0)


@_jit_inline
def _update_mid_kept(st, s, b0, x_frac, z, k0):
    """A mid-line pressure with the gain kept from the last full tick."""
    h, _, _, _ = _mid_h(st, s, b0 + ES_X0, x_frac)
    _apply_kept_gain(st, s, b0, z - h, k0)


@_jit
def _store_line_pack_var(st, s, b0, z0, z1, z2, vol, rt):
    """c^T P c, c = dM/dp at the state: the line pack's variance, kept with the covariance it comes from. Each
    point's d(p/Z)/dp is evaluated once, into the step's scratch (ES_W_G, free once the step is applied), not once
    per pair: the same numbers in the same order."""
    cov = b0 + ES_COV0
    dz = b0 + ES_W_G
    for j in range(NC + 1):
        _, dpz = p_over_z(st[s, b0 + ES_X0 + 2 * j], z0, z1, z2)
        st[s, dz + j] = dpz
    var = 0.0
    for i in range(NC + 1):
        ci = _weight(i) * st[s, dz + i]
        row = 0.0
        for j in range(NC + 1):
            row += st[s, cov + 2 * i * N + 2 * j] * _weight(j) * st[s, dz + j]
        var += ci * row
    f = vol / rt
    st[s, b0 + ES_LPVAR] = var * f * f


@_jit
def est_tick(st, s, b0, dt, q_in, var_qin, q_out, var_qout, pu, var_pu, ok_u, pd, var_pd, ok_d, vol, length, rt,
             z0, z1, z2, elev, sink_var, fric_sd, q_reg, full_every, move, mid_x, mid_p, mid_var):
    """One tick of the filter: step the model over dt with the tick's mean end flows, then take the end pressures
    that are usable, then the mid-line ones: mid_x, mid_p, mid_var are N_PMID-tuples of each mid-line transmitter's
    position (fraction of the length; outside (0, 1) or nan: none, or silent this tick), tick-mean pressure (Pa)
    and its variance. z0, z1, z2: the gas's Z(p) (GC_Z_Q0..2). `elev`: GC_LOC_ELEV (elevation's share of p^2 over
    the segment); sink_var: variance of the unmodelled sources, (kg/s)^2; fric_sd: per-tick relative s.d. of the
    friction; q_reg: flow (kg/s) below which the friction law is regularised.

    A full tick (the EKF's: Jacobian, covariance, gains) is taken while the covariance has not settled (the
    gains of the last full tick moved by more than GAIN_SETTLED_REL), when an end flow moved more than `move`
    kg/s since the last full tick or an end pressure came or went (the operating point or the meters changed),
    and at least every `full_every` ticks (which checks that the gains still hold). In between (a kept tick) the
    filter is the steady-state one of the last full tick: the step uses its factorised Jacobian and the
    measurements its gains; the covariance and the line pack's variance stay."""
    nskip = st[s, b0 + ES_NSKIP]
    mid_moved = False  # a mid-line transmitter came, went or moved since the last full tick: its gains are others
    for j in range(N_PMID):
        xm = mid_x[j] if (mid_x[j] > 0.0 and mid_x[j] < 1.0) else -1.0
        mid_moved = mid_moved or xm != st[s, b0 + ES_XM_REF0 + j]
    full = (mid_moved or nskip + 1.0 >= full_every or not (ok_u and ok_d) or abs(q_in - st[s, b0 + ES_QI_REF]) > move
            or abs(q_out - st[s, b0 + ES_QO_REF]) > move or (1.0 if ok_u else 0.0) != st[s, b0 + ES_OKU_REF]
            or (1.0 if ok_d else 0.0) != st[s, b0 + ES_OKD_REF])
    kl = st[s, b0 + ES_K] / NC
    elev_l = elev / NC
    c0_l = st[s, b0 + ES_C0] / NC
    a_dx = vol / length / (length / NC)  # A / dx
    x0 = b0 + ES_X0
    g = b0 + ES_W_G
    cov = b0 + ES_COV0
    if not full:
        # one Newton iteration of the implicit step from the current state with the kept Jacobian
        _step_rhs(st, s, b0, dt, q_in, q_out, vol, rt, z0, z1, z2, kl, elev_l, c0_l, a_dx, q_reg, False)
        _solve_col(st, s, b0, g, 1)
        for i in range(N):
            v = st[s, x0 + i] + st[s, g + i]
            st[s, x0 + i] = max(v, 1e3) if i % 2 == 0 else v
        _track_offsets(st, s, b0, dt, pu, pd)  # a kept tick has both ends
        if ok_u:
            _update_kept(st, s, b0, 0, pu, b0 + ES_KU0)
        if ok_d:
            _update_kept(st, s, b0, N - 1, pd, b0 + ES_KD0)
        for j in range(N_PMID):
            if st[s, b0 + ES_XM_REF0 + j] >= 0.0:
                _update_mid_kept(st, s, b0, mid_x[j], mid_p[j], b0 + ES_KM0 + j * N)
        st[s, b0 + ES_NSKIP] = nskip + 1.0
        return
    st[s, b0 + ES_QI_REF] = q_in
    st[s, b0 + ES_QO_REF] = q_out
    st[s, b0 + ES_OKU_REF] = 1.0 if ok_u else 0.0
    st[s, b0 + ES_OKD_REF] = 1.0 if ok_d else 0.0
    # 1. the implicit step linearised at the current state (one Newton iteration: a linearly implicit Euler step)
    _step_rhs(st, s, b0, dt, q_in, q_out, vol, rt, z0, z1, z2, kl, elev_l, c0_l, a_dx, q_reg, True)
    _factor(st, s, b0)
    _solve_col(st, s, b0, g, 1)  # the step, applied after the covariance (which needs the old state)
    # 2. covariance: P <- C P C + dt^2 D (C = dM/dp at the old state on the pressure rows), then J^-1 . J^-T
    up = b0 + ES_W_UP  # free once factorised: C now, dG/dln k below
    for r in range(N):
        if r % 2 == 0:
            _, dpz = p_over_z(st[s, x0 + r], z0, z1, z2)
            st[s, up + r] = _weight(r // 2) * vol / rt * dpz
        else:
            st[s, up + r] = 1.0
    for i in range(N):
        ci = st[s, up + i]
        for j in range(N):
            st[s, cov + i * N + j] *= ci * st[s, up + j]
        if i % 2 == 0:
            dvar = sink_var * _weight(i // 2)
            if i == 0:
                dvar += var_qin
            if i == N - 1:
                dvar += var_qout
            st[s, cov + i * N + i] += dt * dt * dvar
    for j in range(N):  # columns: X = J^-1 A
        _solve_col(st, s, b0, cov + j, N)
    for i in range(N):  # rows: X J^-T = (J^-1 X^T)^T
        _solve_col(st, s, b0, cov + i * N, 1)
    # the friction's jitter: g = dx+/dln k = -J^-1 dG/dln k, dG/dln k = -dt A/dx (k/N) phi / (p_a + p_b)
    for r in range(N):
        if r % 2 == 0:
            st[s, up + r] = 0.0
        else:
            pa = st[s, x0 + r - 1]
            pb = st[s, x0 + r + 1]
            ph, _ = _phi(st[s, x0 + r], q_reg)
            st[s, up + r] = -dt * a_dx * kl * ph / (pa + pb)
    _solve_col(st, s, b0, up, 1)
    fv = fric_sd * fric_sd
    for i in range(N):
        v = st[s, x0 + i] + st[s, g + i]
        st[s, x0 + i] = max(v, 1e3) if i % 2 == 0 else v
        for j in range(i, N):
            v = 0.5 * (st[s, cov + i * N + j] + st[s, cov + j * N + i]) + fv * st[s, up + i] * st[s, up + j]
            st[s, cov + i * N + j] = v
            st[s, cov + j * N + i] = v
    # 3. the end pressures that are there (a lone end less its offset from the model, and as uncertain as the
    # model's drop: `_track_offsets`); their gains say whether the covariance has settled
    settled = True
    if ok_u and ok_d:
        _track_offsets(st, s, b0, dt, pu, pd)
    mis2 = (st[s, b0 + ES_OFF_U] - st[s, b0 + ES_OFF_D]) ** 2
    if ok_u:
        zu = pu if ok_d else pu - st[s, b0 + ES_OFF_U]
        settled = _update(st, s, b0, 0, zu, var_pu if ok_d else var_pu + mis2, b0 + ES_KU0) and settled
    if ok_d:
        zd = pd if ok_u else pd - st[s, b0 + ES_OFF_D]
        settled = _update(st, s, b0, N - 1, zd, var_pd if ok_u else var_pd + mis2, b0 + ES_KD0) and settled
    for j in range(N_PMID):
        xm = mid_x[j] if (mid_x[j] > 0.0 and mid_x[j] < 1.0) else -1.0
        st[s, b0 + ES_XM_REF0 + j] = xm
        if xm >= 0.0:
            settled = _update_mid(st, s, b0, xm, mid_p[j], mid_var[j], b0 + ES_KM0 + j * N) and settled
    st[s, b0 + ES_NSKIP] = 0.0 if settled else 1e9
    _store_line_pack_var(st, s, b0, z0, z1, z2, vol, rt)
    st[s, b0 + ES_MSCALE] = vol / rt
    st[s, b0 + ES_Z0] = z0
    st[s, b0 + ES_Z1] = z1
    st[s, b0 + ES_Z2] = z2
    st[s, b0 + ES_DT] = dt


@_jit
def est_line_pack(st, s, b0, vol, rt, z0, z1, z2):
    """Line pack (kg) of the filter's state and its variance (kg^2, that of the last full tick)."""
    lp = 0.0
    for i in range(NC + 1):
        pz, _ = p_over_z(st[s, b0 + ES_X0 + 2 * i], z0, z1, z2)
        lp += _weight(i) * pz
    return lp * vol / rt, st[s, b0 + ES_LPVAR]


@_jit
def est_end_flow(st, s, b0, upstream):
    """The model's flow in the link next to an end: what stands for a silent flow meter there."""
    return st[s, b0 + ES_X0 + (1 if upstream else N - 2)]


@_jit
def est_leak_response(st, s, b0, n_ticks, x_frac):
    """What share of a leak's rate the balance residual (q_in - q_out - dLP/dt with this filter's line pack)
    shows, averaged over the first n_ticks after an abrupt onset at x_frac of the length (0: upstream end).

    Why: the residual does not carry the whole leak at once. Mass leaves at the leak from its onset, but the end
    pressures learn of it only as the depression spreads, and the filter takes what they say with its gains; so the
    residual rises from ~0 to the leak's rate over some minutes (on the tests' 30-km line: 33 % of it over the
    first 2 min, 54 % over 3.5, 83 % over 10, as measured within 0.06 on 3 noise draws) and a rate averaged from
    the onset is low by that share. Dividing by it gives the rate; its spread over the leak's possible positions
    belongs in the rate's interval. The whole
    curve, tick by tick: `est_leak_response_sums`."""
    if n_ticks < 1:
        return math.nan
    return est_leak_response_sums(st, s, b0, 0, 0, n_ticks, x_frac, 1)[2] / n_ticks


@_jit
def est_leak_response_sums(st, s, b0, na, nm, n_ticks, x_frac, n_avg):
    """The residual's response to a unit leak from an abrupt onset at x_frac summed over its first k ticks, C(k) (in
    ticks times the leak's rate: C(k) / k is `est_leak_response` over k ticks), and the running sums of C,
    S(k) = C(1) + ... + C(k) (a leak growing by 1 / n each tick shows S(k) / n, by superposition), each averaged over
    the n_avg ticks ending at k = na, nm and n_ticks (C = S = 0 up to the onset): (C(na), C(nm), C(n_ticks), S(na),
    S(nm), S(n_ticks)), 0 <= na, nm <= n_ticks; all nan where the filter has no steady state to respond with. The
    average is the balance's: a ring row holds the block mean of the ticks' cumulative net inflow and line pack
    (`balance._close_block`), so a span between two rows sees the tick sums averaged over each end's block. One pass
    gives a span's and its halves' shares for an abrupt and for a growing leak (`decision._est_rate`) without an
    array (the kernels do not allocate).

    How: the linear response of the steady-state filter of the last full tick (its factorised Jacobian J at that
    operating point and tick, C = dM/dp at the current pressures, its gains, the ends it used) to a unit point sink
    between the grid points beside x_frac: the line's true deviation x+ = J^-1 (C x - dt e) and the filter's
    xh+ = J^-1 C xh, corrected by the measured end pressures of x with the gains; the residual summed over n ticks
    telescopes to -c^T xh_n / dt. O(n EST_N) flop; the scratch vectors ES_W_G and ES_W_UP (free between
    ticks) carry x and xh, so it must not be called inside a tick."""
    nan = math.nan
    if n_ticks < 1 or st[s, b0 + ES_OK] == 0.0 or not (st[s, b0 + ES_DT] > 0.0):
        return nan, nan, nan, nan, nan, nan
    vol_rt = st[s, b0 + ES_MSCALE]
    z0 = st[s, b0 + ES_Z0]
    z1 = st[s, b0 + ES_Z1]
    z2 = st[s, b0 + ES_Z2]
    dt = st[s, b0 + ES_DT]
    xt = b0 + ES_W_G
    xh = b0 + ES_W_UP
    pos = min(max(x_frac, 0.0), 1.0) * NC
    i0 = min(int(pos), NC - 1)
    fr = pos - i0
    ok_u = st[s, b0 + ES_OKU_REF] != 0.0
    ok_d = st[s, b0 + ES_OKD_REF] != 0.0
    for r in range(N):
        st[s, xt + r] = 0.0
        st[s, xh + r] = 0.0
    c_a = 0.0
    c_m = 0.0
    s_a = 0.0
    s_m = 0.0
    c_b = 0.0
    s_b = 0.0
    c_k = 0.0
    s_k = 0.0
    pu_prev = 0.0  # the line's deviation at the last tick's end at the measured points (ends, mid-line 0 and 1)
    pd_prev = 0.0
    pm_prev0 = 0.0
    pm_prev1 = 0.0
    for k in range(1, n_ticks + 1):
        for i in range(NC + 1):
            r = 2 * i
            _, dpz = p_over_z(st[s, b0 + ES_X0 + r], z0, z1, z2)
            c = _weight(i) * vol_rt * dpz
            sink = (1.0 - fr) if i == i0 else (fr if i == i0 + 1 else 0.0)
            st[s, xt + r] = c * st[s, xt + r] - dt * sink
            st[s, xh + r] = c * st[s, xh + r]
        _solve_col(st, s, b0, xt, 1)
        _solve_col(st, s, b0, xh, 1)
        # the filter takes a tick's mean reading for the pressure at the tick's end (`line_pack`): of a moving
        # pressure, the mean of the tick's start and end
        y_u = 0.5 * (st[s, xt] + pu_prev)
        y_d = 0.5 * (st[s, xt + N - 1] + pd_prev)
        pu_prev = st[s, xt]
        pd_prev = st[s, xt + N - 1]
        if ok_u:
            innov = y_u - st[s, xh]
            for r in range(N):
                st[s, xh + r] += st[s, b0 + ES_KU0 + r] * innov
        if ok_d:
            innov = y_d - st[s, xh + N - 1]
            for r in range(N):
                st[s, xh + r] += st[s, b0 + ES_KD0 + r] * innov
        for j in range(N_PMID):
            xm = st[s, b0 + ES_XM_REF0 + j]
            if xm >= 0.0:
                _, ra, wa, wb = _mid_h(st, s, b0 + ES_X0, xm)
                h_now = wa * st[s, xt + ra] + wb * st[s, xt + ra + 2]
                h_prev = pm_prev0 if j == 0 else pm_prev1
                if j == 0:
                    pm_prev0 = h_now
                else:
                    pm_prev1 = h_now
                innov = 0.5 * (h_now + h_prev) - (wa * st[s, xh + ra] + wb * st[s, xh + ra + 2])
                k0 = b0 + ES_KM0 + j * N
                for r in range(N):
                    st[s, xh + r] += st[s, k0 + r] * innov
        lp = 0.0
        for i in range(NC + 1):
            _, dpz = p_over_z(st[s, b0 + ES_X0 + 2 * i], z0, z1, z2)
            lp += _weight(i) * vol_rt * dpz * st[s, xh + 2 * i]
        c_k = -lp / dt
        s_k += c_k
        if na - n_avg < k <= na:
            c_a += c_k / n_avg
            s_a += s_k / n_avg
        if nm - n_avg < k <= nm:
            c_m += c_k / n_avg
            s_m += s_k / n_avg
        if n_ticks - n_avg < k:
            c_b += c_k / n_avg
            s_b += s_k / n_avg
    return c_a, c_m, c_b, s_a, s_m, s_b
