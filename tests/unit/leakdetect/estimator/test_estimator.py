"""The line-pack state estimator (kernels/estimator.py) against its numpy oracle and the simulator's truth."""

from __future__ import annotations

import numpy as np
import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorParams
from services.leakdetect.domain.kernels.estimator import (
    est_end_flow,
    est_init,
    est_leak_response,
    est_leak_response_sums,
    est_line_pack,
    est_tick,
)
from services.leakdetect.domain.kernels.line_pack import mean_pressure
from services.leakdetect.reference.estimator import ReferenceEstimator

from .sim import LENGTH_M, MID_X_FRAC, Q_NOMINAL, SIGMA_P_PA, SIGMA_Q_REL, TICK_S, Trace, trace

PARAMS = DetectorParams()
SINK_VAR = (PARAMS.est_sink_frac * Q_NOMINAL) ** 2
Q_REG = PARAMS.est_qreg_frac * Q_NOMINAL
VAR_P = SIGMA_P_PA**2
MOVE = PARAMS.est_move_frac * Q_NOMINAL
NO_MID = ((-1.0, -1.0), (0.0, 0.0), (0.0, 0.0))  # est_tick's mid-line pressures: none
IDEAL_Z = (1.0, 0.0, 0.0)  # the traces' gas (sim.py): Z = 1


def _silent(tr: Trace, window: tuple[float, float] | None) -> np.ndarray:
    s = np.zeros(tr.t_s.size, dtype=bool)
    if window is not None:
        s[(tr.t_s > window[0]) & (tr.t_s <= window[1])] = True
    return s


def _mid_args(tr: Trace, i: int, mid: bool, silent_mid: np.ndarray) -> tuple[tuple[float, float], ...]:
    """est_tick's mid-line pressures at tick i: the trace's transmitter as the first, unless off or silent."""
    if not mid or silent_mid[i]:
        return NO_MID
    return (MID_X_FRAC, -1.0), (float(tr.pm[i]), 0.0), (VAR_P, 0.0)


def run_kernel(tr: Trace, silent_down: tuple[float, float] | None = None, k_scale: float = 1.0,
               full_every: int = PARAMS.est_full_every, mid: bool = False,
               silent_mid: tuple[float, float] | None = None, zq: tuple[float, float, float] = IDEAL_Z
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Line pack, its variance and the state of every tick (the filter started on the first tick); mid: with the
    trace's mid-line transmitter (silent through `silent_mid`); zq: the filter's Z(p)."""
    n = tr.t_s.size
    st = np.zeros((1, L.N_ES))
    est_init(st, 0, 0, tr.pu[0], VAR_P, tr.pd[0], VAR_P, k_scale * tr.k, 0.0, Q_REG)
    silent = _silent(tr, silent_down)
    s_mid = _silent(tr, silent_mid)
    lp, var, x = np.zeros(n), np.zeros(n), np.zeros((n, L.EST_N))
    for i in range(n):
        vq_in = (SIGMA_Q_REL * tr.q_in[i]) ** 2
        vq_out = (SIGMA_Q_REL * tr.q_out[i]) ** 2
        est_tick(st, 0, 0, TICK_S, tr.q_in[i], vq_in, tr.q_out[i], vq_out, tr.pu[i], VAR_P, True, tr.pd[i], VAR_P,
                 not silent[i], tr.vol, LENGTH_M, tr.rt, *zq, 0.0, SINK_VAR, PARAMS.est_friction_sd, Q_REG, full_every,
                 MOVE, *_mid_args(tr, i, mid, s_mid))
        lp[i], var[i] = est_line_pack(st, 0, 0, tr.vol, tr.rt, *zq)
        x[i] = st[0, L.ES_X0 : L.ES_X0 + L.EST_N]
    return lp, var, x


def run_reference(tr: Trace, silent_down: tuple[float, float] | None = None,
                  full_every: int = PARAMS.est_full_every, mid: bool = False,
                  silent_mid: tuple[float, float] | None = None, zq: tuple[float, float, float] = IDEAL_Z
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = tr.t_s.size
    ref = ReferenceEstimator(vol=tr.vol, length=LENGTH_M, rt=tr.rt, zq=zq, elev=0.0, k=tr.k)
    ref.start(tr.pu[0], VAR_P, tr.pd[0], VAR_P, Q_REG)
    silent = _silent(tr, silent_down)
    s_mid = _silent(tr, silent_mid)
    lp, var, x = np.zeros(n), np.zeros(n), np.zeros((n, L.EST_N))
    for i in range(n):
        ref.tick(TICK_S, tr.q_in[i], (SIGMA_Q_REL * tr.q_in[i]) ** 2, tr.q_out[i], (SIGMA_Q_REL * tr.q_out[i]) ** 2,
                 tr.pu[i], VAR_P, None if silent[i] else tr.pd[i], VAR_P, SINK_VAR, PARAMS.est_friction_sd, Q_REG,
                 full_every, MOVE, mids=((MID_X_FRAC, None if s_mid[i] else float(tr.pm[i]), VAR_P),) if mid else ())
        lp[i], var[i] = ref.line_pack()
        x[i, 0::2] = ref.p
        x[i, 1::2] = ref.m
    return lp, var, x


# a natural gas's Z(p) fit (network_config.z_quadratic_fit, ~60 bar MOP): the filter's mass with a curved Z
REAL_Z = (1.002, -2.4e-8, 1.5e-16)


@pytest.mark.parametrize(("case", "silent", "full_every", "zq"), [
    ("operations", None, PARAMS.est_full_every, IDEAL_Z),
    ("operations", (5400.0, 7800.0), PARAMS.est_full_every, IDEAL_Z),
    ("leak", None, PARAMS.est_full_every, IDEAL_Z), ("operations", None, 1, IDEAL_Z),
    ("operations", (5400.0, 7800.0), 1, IDEAL_Z), ("operations", None, PARAMS.est_full_every, REAL_Z),
    ("operations", (5400.0, 7800.0), 1, REAL_Z)])
def test_kernel_matches_the_reference(case: str, silent: tuple[float, float] | None, full_every: int,
                                      zq: tuple[float, float, float]) -> None:
    """On every trace, the steady-state filter (the default: kept gains between full ticks) and the plain EKF
    (a full tick every tick), each against the same in the oracle, to round-off; with Z = 1 and a real gas's Z(p)."""
    tr = trace(case)
    lp_k, var_k, x_k = run_kernel(tr, silent, full_every=full_every, zq=zq)
    lp_r, var_r, x_r = run_reference(tr, silent, full_every=full_every, zq=zq)
    assert np.all(np.isfinite(lp_k)) and np.all(var_k > 0.0)
    np.testing.assert_allclose(x_k[:, 0::2], x_r[:, 0::2], rtol=1e-10)
    np.testing.assert_allclose(x_k[:, 1::2], x_r[:, 1::2], rtol=1e-7, atol=1e-9 * Q_NOMINAL)
    np.testing.assert_allclose(lp_k, lp_r, rtol=1e-10)
    np.testing.assert_allclose(var_k, var_r, rtol=1e-6)


def _block_changes(lp: np.ndarray, blocks: int = 3) -> np.ndarray:
    n = lp.size // blocks
    return np.diff(lp[: n * blocks].reshape(n, blocks).mean(axis=1))


# What the steady-state filter may differ from the plain EKF by (the oracle with a full tick every tick): a block's
# line-pack change (kg; the line pack's s.d. is ~5 kg here, a 1 % leak moves 3.6 kg a block) and the line pack's
# variance (relative). Measured: 0.09 kg and -4 % / +8 %.
KEPT_BLOCK_TOL_KG = 0.25
KEPT_VAR_RANGE = (0.95, 1.12)


@pytest.mark.parametrize(("case", "silent"), [("operations", None), ("operations", (5400.0, 7800.0)),
                                              ("leak", None)])
def test_the_steady_state_filter_stays_near_the_plain_ekf(case: str, silent: tuple[float, float] | None) -> None:
    """The kernel's approximation (kept gains between full ticks, `est_full_every`) against the full EKF of the
    numpy oracle, within the stated tolerance; and it does keep most ticks in steady operation (its speed)."""
    tr = trace(case)
    lp_k, var_k, _ = run_kernel(tr, silent)
    lp_r, var_r, _ = run_reference(tr, silent, full_every=1)
    err = _block_changes(lp_k) - _block_changes(lp_r)
    print(f"{case} silent={silent}: block line-pack change vs the plain EKF max {np.abs(err).max():.3f} kg, "
          f"variance ratio {(var_k / var_r).min():.3f}-{(var_k / var_r).max():.3f}")
    assert np.abs(err).max() < KEPT_BLOCK_TOL_KG
    assert KEPT_VAR_RANGE[0] < (var_k / var_r).min() and (var_k / var_r).max() < KEPT_VAR_RANGE[1]


def _full_ticks(tr: Trace, silent_down: tuple[float, float] | None = None) -> np.ndarray:
    """Which ticks of the default filter were full ones (after a full tick ES_NSKIP is 0, or 1e9 while the gains
    have not settled)."""
    st = np.zeros((1, L.N_ES))
    est_init(st, 0, 0, tr.pu[0], VAR_P, tr.pd[0], VAR_P, tr.k, 0.0, Q_REG)
    silent = _silent(tr, silent_down)
    full = np.zeros(tr.t_s.size, dtype=bool)
    for i in range(tr.t_s.size):
        est_tick(st, 0, 0, TICK_S, tr.q_in[i], (SIGMA_Q_REL * tr.q_in[i]) ** 2, tr.q_out[i],
                 (SIGMA_Q_REL * tr.q_out[i]) ** 2, tr.pu[i], VAR_P, True, tr.pd[i], VAR_P, not silent[i], tr.vol,
                 LENGTH_M, tr.rt, *IDEAL_Z, 0.0, SINK_VAR, PARAMS.est_friction_sd, Q_REG, PARAMS.est_full_every, MOVE,
                 *NO_MID)
        nskip = st[0, L.ES_NSKIP]
        full[i] = nskip == 0.0 or nskip >= 1e8
    return full


def test_full_ticks_come_at_the_start_in_operations_and_while_an_end_is_silent() -> None:
    tr = trace("leak")
    full = _full_ticks(tr)
    assert full[:10].all()  # the start: the covariance settles tick by tick
    steady = (tr.t_s > 1800.0) & (tr.t_s < 3600.0)
    assert full[steady].mean() < 0.15
    tr = trace("operations")
    window = (5400.0, 7800.0)
    full = _full_ticks(tr, window)
    assert full[_silent(tr, window)].all()
    # the supply set-point change moves the end flows: full ticks through it
    assert full[(tr.t_s > 3600.0) & (tr.t_s <= 3900.0)].mean() > 0.5


LEAK_ONSET_TRACE_S = 3600.0  # the "leak" trace's 1 % leak, at 0.4 of the length
LEAK_X_FRAC = 0.4


def _filters_before_the_onset(tr: Trace, mid: bool = False) -> tuple[np.ndarray, ReferenceEstimator]:
    """The kernel's state and the oracle after the ticks before the leak trace's onset (default parameters; mid:
    with the trace's mid-line transmitter)."""
    st = np.zeros((1, L.N_ES))
    est_init(st, 0, 0, tr.pu[0], VAR_P, tr.pd[0], VAR_P, tr.k, 0.0, Q_REG)
    ref = ReferenceEstimator(vol=tr.vol, length=LENGTH_M, rt=tr.rt, zq=IDEAL_Z, elev=0.0, k=tr.k)
    ref.start(tr.pu[0], VAR_P, tr.pd[0], VAR_P, Q_REG)
    for i in range(int(np.searchsorted(tr.t_s, LEAK_ONSET_TRACE_S, side="right"))):
        vq_in, vq_out = (SIGMA_Q_REL * tr.q_in[i]) ** 2, (SIGMA_Q_REL * tr.q_out[i]) ** 2
        est_tick(st, 0, 0, TICK_S, tr.q_in[i], vq_in, tr.q_out[i], vq_out, tr.pu[i], VAR_P, True, tr.pd[i], VAR_P,
                 True, tr.vol, LENGTH_M, tr.rt, *IDEAL_Z, 0.0, SINK_VAR, PARAMS.est_friction_sd, Q_REG,
                 PARAMS.est_full_every, MOVE, *_mid_args(tr, i, mid, np.zeros(1, dtype=bool).repeat(tr.t_s.size)))
        ref.tick(TICK_S, tr.q_in[i], vq_in, tr.q_out[i], vq_out, tr.pu[i], VAR_P, tr.pd[i], VAR_P, SINK_VAR,
                 PARAMS.est_friction_sd, Q_REG, PARAMS.est_full_every, MOVE,
                 mids=((MID_X_FRAC, float(tr.pm[i]), VAR_P),) if mid else ())
    return st, ref


def test_leak_response_matches_the_oracle() -> None:
    tr = trace("leak")
    st, ref = _filters_before_the_onset(tr)
    for n in (1, 6, 21, 51):
        for x in (0.0, 0.3, LEAK_X_FRAC, 0.5, 1.0):
            k = est_leak_response(st, 0, 0, n, x)
            assert k == pytest.approx(ref.leak_response(n, x), rel=1e-9)
    assert np.isnan(est_leak_response(st, 0, 0, 0, 0.5))


def test_the_summed_leak_response_matches_the_oracle_and_the_mean() -> None:
    """est_leak_response_sums (a span's and its halves' shares for an abrupt and a growing leak from one pass,
    decision._est_rate) against its oracle's cumulative curve, averaged over the n_avg ticks ending at each mark as
    the ring's block means are (zero up to the onset), and unaveraged its last sum is n ticks' mean response times n."""
    st, ref = _filters_before_the_onset(trace("leak"))
    for x in (0.0, 0.3, 0.5, 1.0):
        cum = np.concatenate([[0.0], ref.leak_response_cum(40, x)])
        run = np.cumsum(cum)
        for n_avg in (1, 3):
            def avg(v: np.ndarray, k: int, n_avg: int = n_avg) -> float:
                return float(np.sum(v[max(k - n_avg + 1, 0) : k + 1]) / n_avg)

            for na, nm, n in ((0, 0, 1), (0, 6, 12), (5, 20, 40), (12, 12, 12)):
                got = est_leak_response_sums(st, 0, 0, na, nm, n, x, n_avg)
                want = (avg(cum, na), avg(cum, nm), avg(cum, n), avg(run, na), avg(run, nm), avg(run, n))
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        assert cum[12] / 12 == pytest.approx(est_leak_response(st, 0, 0, 12, x), rel=1e-9)
    assert np.all(np.isnan(est_leak_response_sums(st, 0, 0, 0, 0, 0, 0.5, 1)))


# the residual's mean since the onset over the filter's predicted share of the leak: within this of the leak's
# rate on each noise draw, 2 to 10 min after the onset (measured on 3 draws: within 0.24 at 2 min, 0.14 from 3.5)
RATE_FROM_RESPONSE_TOL = 0.3


@pytest.mark.parametrize("seeds", [(1,), pytest.param((2, 3), marks=pytest.mark.slow)])
def test_the_rate_from_the_residual_over_the_predicted_response_finds_the_leak(seeds: tuple[int, ...]) -> None:
    """The residual carries only part of a leak at first (the filter's lag, issue 24 item 2): on the leak trace
    the mean residual since the onset is ~35 % of the leak over 2 min and ~55 % over 3.5; est_leak_response
    predicts that share from the filter alone, and the rate divided by it is the leak's, on every noise draw."""
    leak = 0.01 * Q_NOMINAL
    st, _ = _filters_before_the_onset(trace("leak"))
    tr = trace("leak")
    for seed in seeds:
        tr = trace("leak", noise_seed=seed)
        lp, _, _ = run_kernel(tr)
        r = _residual(tr, lp)
        k0 = int(np.searchsorted(tr.t_s[1:], LEAK_ONSET_TRACE_S, side="right"))
        for n in (12, 21, 30, 60):
            share = est_leak_response(st, 0, 0, n, LEAK_X_FRAC)
            rate = r[k0 : k0 + n].mean() / share
            print(f"seed {seed}, {n * TICK_S:.0f} s after the onset: residual {r[k0:k0 + n].mean() / leak:.3f} of "
                  f"the leak, predicted share {share:.3f}, rate {rate / leak:.3f} of the leak")
            assert abs(rate / leak - 1.0) < RATE_FROM_RESPONSE_TOL
    # where the leak is matters early: a leak at an end shows at once (its transmitter sees it), mid-line late
    early_mid = est_leak_response(st, 0, 0, 12, 0.5)
    early_end = est_leak_response(st, 0, 0, 12, 0.0)
    assert early_mid < 0.5 < 1.0 < early_end
    assert est_leak_response(st, 0, 0, 360, 0.5) == pytest.approx(1.0, abs=0.05)


def test_end_flow_stand_in_is_the_model_flow_beside_the_end() -> None:
    tr = trace("leak")
    st = np.zeros((1, L.N_ES))
    est_init(st, 0, 0, tr.pu[0], VAR_P, tr.pd[0], VAR_P, tr.k, 0.0, Q_REG)
    ref = ReferenceEstimator(vol=tr.vol, length=LENGTH_M, rt=tr.rt, zq=IDEAL_Z, elev=0.0, k=tr.k)
    ref.start(tr.pu[0], VAR_P, tr.pd[0], VAR_P, Q_REG)
    for up in (True, False):
        assert est_end_flow(st, 0, 0, up) == pytest.approx(ref.end_flow(up), rel=1e-12)
    # the steady profile between the measured ends carries the measured flow
    assert est_end_flow(st, 0, 0, True) == pytest.approx(tr.q_in[0], rel=0.02)


def _residual(tr: Trace, lp: np.ndarray) -> np.ndarray:
    """q_in - q_out - dLP/dt per tick (from the second tick)."""
    return (tr.q_in[1:] - tr.q_out[1:]) - np.diff(lp) / TICK_S


def test_balance_residual_converges_to_a_steady_leak() -> None:
    """The filter must not absorb a leak: with its line pack, the balance residual settles on the leak rate."""
    tr = trace("leak")
    lp, _, _ = run_kernel(tr)
    r = _residual(tr, lp)
    t = tr.t_s[1:]
    before = (t > 1800.0) & (t <= 3600.0)
    assert abs(r[before].mean()) < 0.002 * Q_NOMINAL
    leak = 0.01 * Q_NOMINAL
    # within 5 min of the onset the last 2 min's residual carries most of the leak ...
    soon = (t > 3600.0 + 180.0) & (t <= 3600.0 + 300.0)
    assert r[soon].mean() > 0.7 * leak
    # ... and from 10 min on, all of it
    settled = t > 3600.0 + 600.0
    assert r[settled].mean() == pytest.approx(leak, rel=0.05)


def _quasi_steady(tr: Trace) -> np.ndarray:
    pm = np.array([mean_pressure(*a) for a in zip(tr.pu, tr.pd, tr.q_in, tr.q_out, strict=True)])
    return tr.vol * pm / tr.rt


def _block_errors(tr: Trace, lp: np.ndarray, blocks: int = 3) -> np.ndarray:
    """Error of the line pack's change over one block (block means, as the balance takes them), kg."""
    n = lp.size // blocks
    err = (lp - tr.lp_true)[: n * blocks].reshape(n, blocks).mean(axis=1)
    return np.diff(err)


def test_through_operations_the_line_pack_moves_with_the_truth() -> None:
    """Through a supply set-point change and a demand ramp the filter's line pack follows the true one's changes
    better than the quasi-steady profile, and its variance covers its error."""
    tr = trace("operations", noise_seed=3)
    lp, var, _ = run_kernel(tr)
    lp_qs = _quasi_steady(tr)
    ops = (tr.t_s > 3600.0) & (tr.t_s < 9000.0)
    e_est = _block_errors(tr, np.where(ops, lp, lp))[ops[2::3][: _block_errors(tr, lp).size]]
    e_qs = _block_errors(tr, lp_qs)[ops[2::3][: _block_errors(tr, lp).size]]
    print(f"block line-pack change error through operations: estimator rms {np.sqrt(np.mean(e_est**2)):.2f} kg "
          f"max {np.abs(e_est).max():.2f}; quasi-steady rms {np.sqrt(np.mean(e_qs**2)):.2f} "
          f"max {np.abs(e_qs).max():.2f}; estimator sd {np.sqrt(np.median(var)):.2f} kg")
    assert np.abs(e_est).max() < np.abs(e_qs).max()
    # the filter's own error stays within a few of its stated s.d. (two block means, each as uncertain as a tick)
    err = lp - tr.lp_true
    err = err - np.median(err[tr.t_s < 3600.0])  # the line pack's level is the model's; changes matter
    assert np.abs(err[tr.t_s > 600.0]).max() < 5.0 * np.sqrt(np.median(var)) + 0.002 * tr.lp_true.mean()


def test_a_silent_end_keeps_the_line_pack_continuous() -> None:
    """The downstream transmitter silent for 40 min through a demand ramp: the filter runs on with the other
    meters, its line pack continuous and its variance grown; the one-ended 2 % fallback it replaces errs far
    more on this line."""
    tr = trace("operations")
    window = (5400.0, 7800.0)
    lp, var, _ = run_kernel(tr, window)
    lp_all, var_all, _ = run_kernel(tr)
    silent = _silent(tr, window)
    assert var[silent].max() > 2.0 * var_all[silent].max()
    # continuous: no step at the start or end of the silence beyond the line's own movement and noise
    steps = np.abs(np.diff(lp))
    for edge in (np.argmax(silent), len(silent) - np.argmax(silent[::-1])):
        assert steps[edge - 1] < 5.0 * np.sqrt(var[edge]) + np.median(steps)
    # and close to the truth: within 3 s.d. of its own stated uncertainty of the run with both ends
    off = np.abs((lp - lp_all)[silent])
    assert np.all(off < 3.0 * np.sqrt(var[silent]))
    one_ended = tr.vol * tr.pu / tr.rt  # the old fallback's line pack: the remaining end's pressure
    assert np.abs(one_ended - tr.lp_true)[silent].min() > 10.0 * off.max()


# --- a mid-line pressure transmitter (issue 24 item 1: "fed by every meter of the segment") ---------------------
@pytest.mark.parametrize(("case", "silent_mid", "full_every"), [
    ("operations", (5400.0, 7800.0), PARAMS.est_full_every), ("leak", None, PARAMS.est_full_every),
    ("operations", None, 1)])
def test_kernel_matches_the_reference_with_a_mid_line_transmitter(case: str, silent_mid: tuple[float, float] | None,
                                                                  full_every: int) -> None:
    """The mid-line pressure's update (p^2 interpolated between the grid points beside it), its kept gain, and its
    coming and going, in the kernel and the oracle alike."""
    tr = trace(case)
    lp_k, var_k, x_k = run_kernel(tr, full_every=full_every, mid=True, silent_mid=silent_mid)
    lp_r, var_r, x_r = run_reference(tr, full_every=full_every, mid=True, silent_mid=silent_mid)
    assert np.all(np.isfinite(lp_k)) and np.all(var_k > 0.0)
    np.testing.assert_allclose(x_k[:, 0::2], x_r[:, 0::2], rtol=1e-10)
    np.testing.assert_allclose(x_k[:, 1::2], x_r[:, 1::2], rtol=1e-7, atol=1e-9 * Q_NOMINAL)
    np.testing.assert_allclose(lp_k, lp_r, rtol=1e-10)
    np.testing.assert_allclose(var_k, var_r, rtol=1e-6)


def test_leak_response_matches_the_oracle_with_a_mid_line_transmitter() -> None:
    st, ref = _filters_before_the_onset(trace("leak"), mid=True)
    for n in (1, 6, 21):
        for x in (0.1, LEAK_X_FRAC, 0.5, 0.8):
            assert est_leak_response(st, 0, 0, n, x) == pytest.approx(ref.leak_response(n, x), rel=1e-9)


def test_a_mid_line_transmitter_shows_a_leak_sooner_and_narrows_the_line_pack() -> None:
    """What the mid-line meter is for: the depression of a leak between the ends reaches it first, so the balance
    residual carries more of the leak early (measured and as est_leak_response predicts), the rate from it still
    holds, the line pack is less uncertain, and in steady operation it adds no offset to the residual."""
    tr = trace("leak")
    leak = 0.01 * Q_NOMINAL
    t = tr.t_s[1:]
    k0 = int(np.searchsorted(t, LEAK_ONSET_TRACE_S, side="right"))
    out = {}
    for mid in (False, True):
        lp, var, _ = run_kernel(tr, mid=mid)
        r = _residual(tr, lp)
        st, _ = _filters_before_the_onset(tr, mid=mid)
        out[mid] = (r, var, st)
        before = (t > 1800.0) & (t <= 3600.0)
        assert abs(r[before].mean()) < 0.002 * Q_NOMINAL
    for n in (12, 21):
        got = {m: out[m][0][k0 : k0 + n].mean() / leak for m in (False, True)}
        share = {m: est_leak_response(out[m][2], 0, 0, n, LEAK_X_FRAC) for m in (False, True)}
        print(f"{n * TICK_S:.0f} s after the onset: residual {got[False]:.3f} of the leak with the ends, "
              f"{got[True]:.3f} with the mid-line meter; predicted {share[False]:.3f} / {share[True]:.3f}")
        assert share[True] > 1.3 * share[False]
        assert got[True] > got[False] + 0.1
        assert abs(got[True] / share[True] - 1.0) < RATE_FROM_RESPONSE_TOL
    assert np.median(out[True][1]) < 0.8 * np.median(out[False][1])


# --- the rate from the residual (decision._est_rate) --------------------------------------------------------------
BLOCK_TICKS = 3  # 30-s blocks of 10-s ticks


def _state_with_residual(est: np.ndarray, tick_resid: np.ndarray, n_blocks: int = 200):
    """A detector state whose estimator block is `est` (the filter before the leak trace's onset) and whose ring's
    newest blocks had the residual tick_resid (kg/s per tick, oldest first; zero before), with meter and line-pack
    noise far below a leak's. Returns the state and the newest block's ring position."""
    from services.leakdetect.domain.config import DetectorConfig
    from services.leakdetect.domain.detector import DetectorState

    cfg = DetectorConfig.empty(1)
    cfg.set_segment(0, length_m=LENGTH_M, inner_diameter_m=0.4, nominal_flow_kg_per_s=Q_NOMINAL,
                    wave_speed_m_per_s=380.0)
    state = DetectorState.new(cfg, DetectorParams(line_pack_estimator=1))
    state.seg_f[0, L.GF_EST0:L.GF_EST0 + L.N_ES] = est[0]
    # a ring row holds the block mean of the ticks' cumulative net inflow (`balance._close_block`)
    cum = np.cumsum(np.concatenate([np.zeros(n_blocks * BLOCK_TICKS - len(tick_resid)), tick_resid])) * TICK_S
    ring = state.ring
    nr = ring.shape[1]
    for b in range(n_blocks):
        p = b % nr
        ring[0, p, L.R_TIME] = b * BLOCK_TICKS * TICK_S * 1e6
        ring[0, p, L.R_M] = cum[b * BLOCK_TICKS : (b + 1) * BLOCK_TICKS].mean()
        ring[0, p, L.R_Q] = Q_NOMINAL * BLOCK_TICKS * TICK_S * b
        ring[0, p, L.R_V] = 1e-6 * b
        ring[0, p, L.R_LP] = 50_000.0
        ring[0, p, L.R_LP_VAR] = 1e-4
    state.seg_i[0, L.GI_N_BLOCKS] = n_blocks
    return state, (n_blocks - 1) % nr


def _rate_over_run(state, pos: int, n_run: int) -> tuple[float, float]:
    from services.leakdetect.domain.kernels.decision import _est_rate

    ring = state.ring
    nr = ring.shape[1]
    j = (pos - n_run) % nr
    ws = (ring[0, pos, L.R_TIME] - ring[0, j, L.R_TIME]) * 1e-6
    raw = (ring[0, pos, L.R_M] - ring[0, j, L.R_M]) / ws
    settle = (0.0, 10.0, 2.0, 0.0, 0.0, 0.0)
    return _est_rate(raw, 1e-4, ring[0, j, L.R_TIME], ring[0, pos, L.R_TIME], ring[0, j, L.R_TIME], state.params,
                     state.seg_f, 0, ring, pos, n_run, 0.0, 1.0, 0.01, 0.005, 200, settle)


def _tick_residual(st: np.ndarray, rate_per_tick: np.ndarray, x: float) -> np.ndarray:
    """The residual the filter shows tick by tick for a leak at x whose rate in tick k is rate_per_tick[k]
    (superposed steps of est_leak_response_sums' summed response)."""
    n = len(rate_per_tick)
    cum = np.array([0.0] + [est_leak_response_sums(st, 0, 0, 0, 0, k, x, 1)[2] for k in range(1, n + 1)])
    step_resp = np.diff(cum)  # the residual in tick k of a unit leak from tick 0
    steps = np.diff(np.concatenate([[0.0], rate_per_tick]))
    return np.array([sum(steps[i] * step_resp[k - i] for i in range(k + 1)) for k in range(n)])


@pytest.mark.parametrize("x", [0.1, LEAK_X_FRAC])
@pytest.mark.parametrize("shape", ["abrupt", "ramp", "late"])
def test_the_rate_from_the_residual_is_the_rate_now_whether_the_leak_is_abrupt_or_grows(shape: str, x: float) -> None:
    """The rate at a raise or update divides the residual's mean since the onset by the share of a leak it shows
    (decision._est_rate). A leak that grows over the span (a ramp from the onset, 5 min) or started a block after
    the onset found shows a smaller share than an abrupt one from the onset: rated as abrupt, the ramp at 0.4 of this
    30-km line came out at 0.33 of its rate now (the demo city's gradual leaks: 33 % low in the update, their
    intervals holding the truth for 0.17 of them). The halves of the span tell growth; the interval holds the rate
    now for every shape. Where the leak is dominates the rest on this long line (a mid-line leak's residual rises
    for minutes, one near an end at once; the rate is fitted to the positions' mean response, which a ramp at 0.4
    outgrows: 0.6 of it): the positions' spread, in the interval."""
    st, _ = _filters_before_the_onset(trace("leak"))
    leak = 0.01 * Q_NOMINAL
    n_run = 10
    n = n_run * BLOCK_TICKS
    k = np.arange(1, n + 1)
    profile = {"abrupt": np.full(n, leak), "ramp": leak * k / n, "late": np.where(k > 2, leak, 0.0)}[shape]
    state, pos = _state_with_residual(st, _tick_residual(st, profile, x))
    rate, sd = _rate_over_run(state, pos, n_run)
    print(f"{shape} at {x}: rated {rate / leak:.3f} +- {1.96 * sd / leak:.3f} of the leak")
    assert abs(rate - leak) <= 1.96 * sd
    assert abs(rate / leak - 1.0) < 0.45


# --- a lone end through a silence of the other (kernels.estimator._track_offsets) ------------------------------


def test_a_lone_end_is_taken_less_its_offset_from_the_model() -> None:
    """The model's friction 5 % off the line's (as a location calibration can be): while both ends are measured
    their innovations are persistent and opposed and their pulls on the line's mass cancel; a 2-min silence of the
    downstream transmitter in steady operation left the upstream one pulling alone, and the line pack moved by
    1.95 times a 1 % leak over the silence (the demo city's TR-02 false alarm, kernels/estimator._track_offsets).
    Taken less its offset, 1.5 (the profile relaxes to the model's own friction drop and the lone end pulls the
    mass by that); as uncertain as the model's drop mismatch too, 0.62."""
    tr = trace("leak")  # steady until the leak at 1 h
    window = (2400.0, 2520.0)
    lp, _, _ = run_kernel(tr, window, k_scale=0.95)
    lp_all, _, _ = run_kernel(tr, k_scale=0.95)
    silent = _silent(tr, window)
    last = len(silent) - np.argmax(silent[::-1]) - 1
    err_leaks = abs(lp[last] - lp_all[last]) / (window[1] - window[0]) / (0.01 * Q_NOMINAL)
    assert err_leaks < 1.0


def test_the_offsets_match_the_oracle() -> None:
    """The kernel's tracked end offsets (ES_OFF_U / ES_OFF_D) against the oracle's, through a silence."""
    from services.leakdetect.domain.kernels.estimator import ES_OFF_D, ES_OFF_N, ES_OFF_U

    tr = trace("operations")
    st = np.zeros((1, L.N_ES))
    est_init(st, 0, 0, tr.pu[0], VAR_P, tr.pd[0], VAR_P, 0.95 * tr.k, 0.0, Q_REG)
    ref = ReferenceEstimator(vol=tr.vol, length=LENGTH_M, rt=tr.rt, zq=IDEAL_Z, elev=0.0, k=0.95 * tr.k)
    ref.start(tr.pu[0], VAR_P, tr.pd[0], VAR_P, Q_REG)
    silent = _silent(tr, (5400.0, 5600.0))
    for i in range(700):
        vq_in = (SIGMA_Q_REL * tr.q_in[i]) ** 2
        vq_out = (SIGMA_Q_REL * tr.q_out[i]) ** 2
        est_tick(st, 0, 0, TICK_S, tr.q_in[i], vq_in, tr.q_out[i], vq_out, tr.pu[i], VAR_P, not silent[i], tr.pd[i],
                 VAR_P, True, tr.vol, LENGTH_M, tr.rt, *IDEAL_Z, 0.0, SINK_VAR, PARAMS.est_friction_sd, Q_REG,
                 PARAMS.est_full_every, MOVE, *NO_MID)
        ref.tick(TICK_S, tr.q_in[i], vq_in, tr.q_out[i], vq_out, None if silent[i] else tr.pu[i], VAR_P, tr.pd[i],
                 VAR_P, SINK_VAR, PARAMS.est_friction_sd, Q_REG, PARAMS.est_full_every, MOVE)
        assert st[0, ES_OFF_N] == ref.offset_n
        np.testing.assert_allclose(st[0, [ES_OFF_U, ES_OFF_D]], ref.offset, rtol=1e-8, atol=1e-6)
        np.testing.assert_allclose(st[0, L.ES_X0:L.ES_X0 + L.EST_N:2], ref.p, rtol=1e-10)
    assert abs(ref.offset[0]) > 10.0 * SIGMA_P_PA / np.sqrt(60)  # a persistent offset, beyond its mean's noise
