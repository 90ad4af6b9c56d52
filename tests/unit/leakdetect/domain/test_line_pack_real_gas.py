"""The balance's line pack with the real gas's Z(p) along the profile (issue 19's last leak-free false alarm, issue 24's
MDLR week).

At 44-57 bar the line pack from one Z, linear through Z(0) = 1 and the operating point, at the mean pressure moved
1.6-2.1 % more than the simulator's with the same end pressures (natural gas's Z curves, and p / Z is not linear in
p). `kernels.line_pack.mean_p_over_z` evaluates a quadratic fit of the network's gas physics
(`network_config.z_quadratic_fit`) at each Gauss point; the reference oracle is `reference.balance._mean_p_over_z`.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from services.gasflow.physics import z_factor
from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorParams
from services.leakdetect.domain.detector import DetectorState, process_batch
from services.leakdetect.domain.kernels.line_pack import mean_p_over_z, mean_pressure
from services.leakdetect.domain.network_config import _gas, config_from_network
from services.leakdetect.reference.balance import _mean_p_over_z

from .conftest import T0_US


def test_reference_matches_the_kernel() -> None:
    rng = np.random.default_rng(5)
    n = 200
    pu = rng.uniform(1.2e6, 7e6, n)
    pd = pu - rng.uniform(-2e5, 1.5e6, n)  # some reversed (steady-profile fallback)
    qi = rng.uniform(-0.5, 30.0, n)
    qo = rng.uniform(-0.5, 30.0, n)
    zq = (1.002, -2.4e-8, 1.5e-16)
    m_ref, dm_ref = _mean_p_over_z(pu, pd, qi, qo, zq)
    ker = np.array([mean_p_over_z(*args, *zq) for args in zip(pu, pd, qi, qo, strict=True)])
    np.testing.assert_allclose(ker[:, 0], m_ref, rtol=1e-12)
    np.testing.assert_allclose(ker[:, 1], dm_ref, rtol=1e-12)


def test_a_missing_pressure_gives_no_line_pack() -> None:
    # the sub-segment balances hand it a nan for a point without a reading in the block: their residual must be nan,
    # not one from a line pack with that piece empty
    zq = (1.002, -2.4e-8, 1.5e-16)
    for pu, pd in ((np.nan, 4.5e6), (5.6e6, np.nan)):
        assert all(np.isnan(v) for v in mean_p_over_z(pu, pd, 0.0, 0.0, *zq))
        assert all(np.isnan(v) for v in _mean_p_over_z(np.array(pu), np.array(pd), np.array(0.0), np.array(0.0), zq))


@pytest.mark.parametrize(("pu", "pd", "qi", "qo"), [(5.6e6, 4.5e6, 10.0, 14.0), (5.6e6, 4.5e6, 0.0, 0.0),
                                                   (1.6e6, 1.6e6, 3.0, 3.0), (4.0e6, 4.2e6, 5.0, 5.0)])
def test_ideal_gas_gives_the_mean_pressure(pu: float, pd: float, qi: float, qo: float) -> None:
    m, dm = mean_p_over_z(pu, pd, qi, qo, 1.0, 0.0, 0.0)
    assert m == pytest.approx(mean_pressure(pu, pd, qi, qo), rel=1e-7)
    assert dm == 1.0


@functools.cache
def _network():  # type: ignore[no-untyped-def]
    from benchmarks.layouts import draw_layout

    # issue 19's layout 13: 48 km, DN 300, natural gas (specific gravity 0.605) at 288 K, MOP 62 bar
    return draw_layout(2026_19, 13).network()


def test_the_fit_follows_the_gas_physics_over_the_line_s_range() -> None:
    net = _network()
    seg = net.segments["L-01"]
    g = config_from_network(net, segment_ids=["L-01"]).config.seg_cfg[0]
    p = np.linspace(0.2, 1.1, 50) * seg.max_operating_pressure_pa
    z_true = z_factor(p, net.gas.temperature_k, _gas(net, seg))
    z_fit = g[L.GC_Z_Q0] + g[L.GC_Z_Q1] * p + g[L.GC_Z_Q2] * p * p
    assert np.max(np.abs(z_fit / z_true - 1.0)) < 5e-4


def _true_mass(pu: float, pd: float, vol: float, rt: float, temp: float, net) -> float:  # type: ignore[no-untyped-def]
    """The gas physics' mass on the steady profile (p^2 linear in x), finely integrated."""
    x = np.linspace(0.0, 1.0, 4001)
    p = np.sqrt(pu * pu - (pu * pu - pd * pd) * x)
    rho = p / (z_factor(p, temp, _gas(net, net.segments["L-01"])) * rt)
    return float(vol * np.sum(0.5 * (rho[1:] + rho[:-1]) * np.diff(x)))


def _detector_line_pack(pu: float, pd: float, q: float, estimator: int) -> float:
    """The detector's line pack (kg, the mean of its blocks) fed 5 min of end readings: the given values with a little
    noise (a constant reading is a stuck transmitter); estimator: the quasi-steady line pack (0) or the state
    estimator's (1)."""
    cfg = config_from_network(_network(), segment_ids=["L-01"]).config
    state = DetectorState.new(cfg, DetectorParams(line_pack_estimator=estimator))
    t = T0_US + np.arange(0, 300) * 1_000_000
    roles = (L.ROLE_FLOW_IN, L.ROLE_FLOW_OUT, L.ROLE_PRESSURE_UP, L.ROLE_PRESSURE_DOWN)
    values = (q, q, pu, pd)
    role = np.repeat(np.array(roles, dtype=np.int64)[None, :], t.size, axis=0).ravel()
    noise = np.random.default_rng(1).normal(0.0, 1.0, (t.size, len(roles))) * np.array([0.01, 0.01, 50.0, 50.0])
    val = (np.array(values)[None, :] + noise).ravel()
    tt = np.repeat(t, len(roles))
    process_batch(state, np.zeros(tt.size, dtype=np.int64), role, tt, val, np.ones(tt.size, dtype=np.int64))
    n = int(state.seg_i[0, L.GI_N_BLOCKS])
    assert n >= 5
    lp = state.ring[0, 1:n, L.R_LP]
    assert np.all(lp > 0.0)
    return float(np.mean(lp))


@pytest.mark.parametrize("estimator", [0, 1])
def test_the_line_pack_moves_as_the_real_gas_s_mass(estimator: int) -> None:
    # the leak-free day's range on layout 13: the outlet between 46 and 56 bar under a held inlet; the state
    # estimator's point masses take the same Z(p) (kernels/estimator.py; with the linear Z its movement was larger)
    net = _network()
    g = config_from_network(net, segment_ids=["L-01"]).config.seg_cfg[0]
    vol, temp = g[L.GC_VOLUME_M3], g[L.GC_TEMPERATURE_K]
    rt = g[L.GC_R_SPECIFIC] * temp
    lo, hi = (56.6e5, 46.0e5, 16.0), (56.6e5, 55.7e5, 4.0)
    m_lo, m_hi = _true_mass(lo[0], lo[1], vol, rt, temp, net), _true_mass(hi[0], hi[1], vol, rt, temp, net)
    lp_lo, lp_hi = _detector_line_pack(*lo, estimator), _detector_line_pack(*hi, estimator)
    assert lp_lo == pytest.approx(m_lo, rel=3e-4)
    assert lp_hi == pytest.approx(m_hi, rel=3e-4)
    # the movement is what the balance reads: within 0.3 % of the gas physics' (one linear Z at the mean: +1.0 %)
    assert (lp_hi - lp_lo) == pytest.approx(m_hi - m_lo, rel=3e-3)
