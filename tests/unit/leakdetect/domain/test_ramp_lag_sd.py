"""The ramp-lag correction's own error (issue 19's random layouts' leak-free days): a test's line packs carry the
correction's change between them (`lp_ramp_lag_sd` of it, 1 s.d.; the window and step tests and the CUSUM's block
residual), kernel and reference alike."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorParams
from services.leakdetect.domain.detector import DetectorState, process_batch
from services.leakdetect.reference.balance import run_reference

from .test_balance import _kernel_against_reference

N_BLOCKS = 200
BLOCK_S = 30.0
TWO_MIN = 1  # window index of the 2-min window (4 blocks)


def _still_line_ring(p: DetectorParams, rl: np.ndarray) -> np.ndarray:
    """A still line (no net inflow, no movement) whose line pack is less the ramp-lag correction rl (kg) per block,
    as `balance._close_block` keeps it."""
    ring = np.zeros((1, p.ring_len, L.N_R))
    idx = np.arange(N_BLOCKS) % p.ring_len
    ring[0, idx, L.R_TIME] = np.arange(N_BLOCKS) * BLOCK_S * 1e6
    ring[0, idx, L.R_Q] = np.arange(N_BLOCKS) * 10.0 * BLOCK_S
    ring[0, idx, L.R_V] = np.arange(N_BLOCKS) * 1e-4
    ring[0, idx, L.R_LP_VAR] = 0.1
    ring[0, idx, L.R_LP] = 1e5 - rl
    ring[0, idx, L.R_RL] = rl
    return ring


def _window_z(p: DetectorParams, rl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every window's z and step test's z at the newest block (`_tests`)."""
    from services.leakdetect.domain.kernels.decision import _tests

    ring = _still_line_ring(p, rl)
    seg_f = np.zeros((1, L.N_GF))
    seg_i = np.zeros((1, L.N_GI), dtype=np.int64)
    seg_i[0, L.GI_N_BLOCKS] = N_BLOCKS
    settle = (0.0, 10.0, p.lp_noise_k, 0.0, 0.0, 0.0)
    pos = (N_BLOCKS - 1) % p.ring_len
    _tests(0, pos, 0.0, 0.0, 1.0, p.eps_lp, p.lp_scale_err, 0.0, 1e-8, 0.0, 10.0, 0.0, p.to_array(), seg_f, seg_i, ring,
           settle)
    return (seg_f[0, L.GF_Z0:L.GF_Z0 + L.N_WINDOWS].copy(), seg_f[0, L.GF_SZ0:L.GF_SZ0 + L.N_WINDOWS].copy())


def test_a_correction_that_goes_on_inside_a_window_is_not_a_leak() -> None:
    """Layout s202619-000 (47 km): after a 6-min inflow meter outage in the morning ramp the correction (2.9 kg) went
    on three blocks after the balance resumed, so the 2-min window from the first block after the outage to the
    newest one saw the line pack fall by it and raised a 4.7 %-of-flow alarm (z 6.7). Here a still line whose
    correction goes on 3 kg for its last 3 blocks: without lp_ramp_lag_sd the 2-min window and its step test read
    it as a leak; with it, 0.4 of the change is the line-pack model's error and neither does."""
    rl = np.where(np.arange(N_BLOCKS) >= N_BLOCKS - 3, 3.0, 0.0)
    z_off, sz_off = _window_z(DetectorParams(lp_ramp_lag_sd=0.0), rl)
    z_on, sz_on = _window_z(DetectorParams(), rl)
    assert DetectorParams().lp_ramp_lag_sd == 0.4
    assert z_off[TWO_MIN] > 5.0 and sz_off[TWO_MIN] > 5.0
    assert z_on[TWO_MIN] < 2.5 and sz_on[TWO_MIN] < 2.5
    assert np.all(np.abs(z_on[np.isfinite(z_on)]) <= np.abs(z_off[np.isfinite(z_off)]) + 1e-12)


def test_a_steady_correction_cancels_between_the_ends_and_costs_nothing() -> None:
    """A steady ramp's correction is the same at both ends of every window, and so is its error: no allowance."""
    rl = np.full(N_BLOCKS, 5.0)
    z_off, sz_off = _window_z(DetectorParams(lp_ramp_lag_sd=0.0), rl)
    z_on, sz_on = _window_z(DetectorParams(), rl)
    np.testing.assert_array_equal(z_on, z_off)
    np.testing.assert_array_equal(sz_on, sz_off)


@pytest.mark.parametrize("ne", [1, 3])
def test_the_allowance_is_the_reference_s(ne: int) -> None:
    from services.leakdetect.domain.kernels.decision import _ramp_lag_var
    from services.leakdetect.reference.balance import _ramp_lag_var as reference_ramp_lag_var

    p = DetectorParams()
    rl = np.random.default_rng(7).normal(0.0, 4.0, N_BLOCKS)
    ring = _still_line_ring(p, rl)
    tvals = (np.arange(N_BLOCKS) * BLOCK_S * 1e6).astype(np.float64)
    for nb in (4, 8, 16, 30):
        kernel = _ramp_lag_var(ring, 0, (N_BLOCKS - 1) % p.ring_len, nb, ne, 0.5)
        reference = reference_ramp_lag_var(rl, tvals, N_BLOCKS - 1, nb, ne, 0.5)
        assert kernel == pytest.approx(reference, rel=1e-12)
        d = sum(rl[N_BLOCKS - 1 - u] - rl[N_BLOCKS - 1 - nb - u] for u in range(ne)) / ne
        assert kernel == pytest.approx((0.5 * d / (nb * BLOCK_S)) ** 2, rel=1e-12)


def test_kernel_matches_the_reference_with_the_correction_s_error(balance_case):
    """With a strong correction (the case's throughput ramps) the stated MDLR grows by its error, in the kernel as in
    the reference."""
    cfg, readings, _ = balance_case
    stated = {}
    for share in (0.0, 2.0):
        _, stated[share] = _kernel_against_reference(cfg, readings, DetectorParams(lp_ramp_lag=0.5,
                                                                                   lp_ramp_lag_sd=share))
    assert np.all(stated[2.0] >= stated[0.0] * (1.0 - 1e-12))
    assert not np.allclose(stated[0.0], stated[2.0], rtol=1e-6)
    # the CUSUM's block residual: its s.d. at the last block, kernel against reference, grows by it too
    sigma = {}
    for share in (0.0, 2.0):
        p = DetectorParams(lp_ramp_lag=0.5, lp_ramp_lag_sd=share)
        state = DetectorState.new(cfg, p)
        process_batch(state, *readings)
        ref = run_reference(*readings, cfg, p)
        last = [float(ref.blocks[seg]["sigma"].dropna().iloc[-1]) for seg in range(cfg.n_segments)]
        np.testing.assert_allclose(state.seg_f[:, L.GF_LAST_SIGMA], last, rtol=1e-9)
        sigma[share] = np.array(last)
    assert np.all(sigma[2.0] >= sigma[0.0]) and np.any(sigma[2.0] > sigma[0.0] * (1.0 + 1e-9))
    for bad in (-0.1, math.inf, math.nan):
        with pytest.raises(ValueError, match="lp_ramp_lag_sd"):
            DetectorParams(lp_ramp_lag_sd=bad).to_array()
