"""The pressure-gradient location of balance alarms (`kernels.location`): its calibration, intersection, uncertainty
and fusion against the NumPy reference (`reference.location`), the exact recovery of a leak on the steady model, and
through the facade: a balance alarm the model cannot locate yet is given the whole segment, flagged."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.leakdetect.domain.kernels.location import (
    PACK_SHAPE_EXP,
    PACK_SHAPE_SD,
    calibrate,
    fuse,
    gradient_position,
    phi_coefficients,
)
from services.leakdetect.reference import location as ref

K = 2.35e9  # Pa^2 s^2 / kg^2: the long line's friction coefficient
RNG_SEEDS = range(8)


def _blocks(seed: int, spread: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 120
    phi_true = 324.0 + spread * rng.standard_normal(n)
    var_phi = np.full(n, 0.2**2)
    phi = phi_true + rng.normal(0.0, 0.2, n)
    var_d = np.full(n, 6e9**2)
    d = 3e9 + K * phi_true + rng.normal(0.0, 6e9, n)
    return phi, d, var_d, var_phi


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("spread", [0.0, 5.0, 60.0])
def test_calibration_agrees_with_the_reference(seed: int, spread: float) -> None:
    phi, d, var_d, var_phi = _blocks(seed, spread)
    got = calibrate(float(len(phi)), phi.sum(), (phi * phi).sum(), d.sum(), (phi * d).sum(), (d * d).sum(),
                    var_d.sum(), var_phi.sum(), K * 1.1, K * 0.15, 3.4e10)
    c0, k, cov, s2 = ref.calibrate(phi, d, var_d, var_phi, K * 1.1, K * 0.15, 3.4e10)
    assert got[0] == pytest.approx(c0, rel=1e-6, abs=1e3)
    assert got[1] == pytest.approx(k, rel=1e-9)
    assert (got[2], got[3], got[4]) == pytest.approx((cov[0, 0], cov[0, 1], cov[1, 1]), rel=1e-6)
    assert got[5] == pytest.approx(s2, rel=1e-6)


def test_calibration_learns_k_where_the_throughput_varies_and_keeps_the_prior_split_where_it_does_not() -> None:
    phi, d, var_d, var_phi = _blocks(1, 60.0)
    _, k, cov, _ = ref.calibrate(phi, d, var_d, var_phi, K * 1.1, K * 0.15, 3.4e10)
    assert k == pytest.approx(K, rel=0.01) and math.sqrt(cov[1, 1]) < 0.01 * K
    # steady throughput: only c0 + k phi is pinned; phi's noise must not pull k towards 0 (errors in variables)
    phi, d, var_d, var_phi = _blocks(1, 0.0)
    c0, k, cov, _ = ref.calibrate(phi, d, var_d, var_phi, K, K * 0.15, 3.4e10)
    got = calibrate(120.0, phi.sum(), (phi * phi).sum(), d.sum(), (phi * d).sum(), (d * d).sum(), var_d.sum(),
                    var_phi.sum(), K, K * 0.15, 3.4e10)
    assert got[1] == pytest.approx(k, rel=1e-9) and k == pytest.approx(K, rel=0.05)
    assert c0 + k * 324.0 == pytest.approx(3e9 + K * 324.0, rel=1e-3)


CASES = [  # x (fraction), leak kg/s, packing kg/s, inflow mean kg/s, inflow s.d. over the window
    (0.625, 0.5, 0.0, 18.4, 0.0),
    (0.2, 1.0, -0.05, 19.0, 0.3),
    (0.85, 0.3, 0.1, 12.0, 1.0),
    (0.5, 4.0, -0.5, 25.0, 0.5),
]


@pytest.mark.parametrize(("x_true", "lam", "pack", "q_mean", "q_sd"), CASES)
def test_the_intersection_and_its_uncertainty_agree_with_the_reference(
        x_true: float, lam: float, pack: float, q_mean: float, q_sd: float) -> None:
    q_in = q_mean + q_sd * np.random.default_rng(3).standard_normal(60)
    c0 = -2e10
    cov = np.array([[2.0e20, -5e17], [-5e17, 2.0e15]])
    d_mean = c0 + K * ref.mean_square_flow(x_true, q_in, lam, pack, PACK_SHAPE_EXP)
    var_d, var_lam, var_pack = 1e18, 0.05**2, 0.01**2
    x, sd = gradient_position(d_mean, var_d, c0, K, cov[0, 0], cov[0, 1], cov[1, 1], float(q_in.mean()),
                              float((q_in * q_in).mean()), lam, var_lam, pack, var_pack)
    x_ref, sd_ref = ref.gradient_position(d_mean, var_d, c0, K, cov, q_in, lam, var_lam, pack, var_pack,
                                         PACK_SHAPE_EXP, PACK_SHAPE_SD)
    assert x == pytest.approx(x_true, abs=1e-6) and x_ref == pytest.approx(x_true, abs=1e-6)
    assert sd == pytest.approx(sd_ref, rel=2e-3)


def test_the_steady_model_gives_the_domain_briefs_closed_form() -> None:
    # x = (p_in^2 - p_out^2 - K q_out^2 L) / (K (q_in^2 - q_out^2)) on a level line without packing
    q_in, q_out, x_true = 18.5, 18.0, 0.4
    d = K * (q_in**2 * x_true + q_out**2 * (1 - x_true))
    x, _ = gradient_position(d, 0.0, 0.0, K, 0.0, 0.0, 0.0, q_in, q_in**2, q_in - q_out, 0.0, 0.0, 0.0)
    assert x == pytest.approx((d - K * q_out**2) / (K * (q_in**2 - q_out**2)), rel=1e-12)
    a, b, c = phi_coefficients(q_in, q_in**2, 0.5, 0.0)
    assert (a, b, c) == pytest.approx((q_out**2, q_in**2 - q_out**2, 0.0))


def test_no_leak_in_the_window_is_no_location() -> None:
    x, sd = gradient_position(7e11, 1e18, 0.0, K, 1e20, 0.0, 1e14, 18.0, 324.0, -0.1, 0.01, 0.0, 0.0)
    assert math.isnan(x) and math.isinf(sd)


@pytest.mark.parametrize(("a", "b"), [((1000.0, 300.0), (1500.0, 100.0)), ((0.0, 1.0), (10.0, 1.0))])
def test_fusion_is_the_inverse_variance_mean(a: tuple[float, float], b: tuple[float, float]) -> None:
    got = fuse(a[0], a[1], b[0], b[1])
    assert got == pytest.approx(ref.fuse(a[0], a[1], b[0], b[1]), rel=1e-12)
    assert got[1] < min(a[1], b[1])


@pytest.fixture(scope="module")
def long_line_leak() -> tuple[object, list[np.ndarray]]:
    """The hand-written long line (28 km below a regulator) with a 2 % leak 17.5 km along it from minute 80."""
    from services.gasflow import LeakSpec, Scenario, Simulator
    from services.gasflow.network_adapter import network_spec, tag_probes
    from services.gasflow.scada import instruments_from_tags, scada_readings
    from services.network import load_network

    net = load_network("tests/fixtures/networks/long_line.yaml")
    probes = tag_probes(net)
    run = Simulator(network_spec(net)).run(Scenario(
        duration_s=6600.0, probes=probes, leaks=(LeakSpec("L-01", position_m=17_500.0, onset_time_s=4800.0,
                                                          rate_kg_per_s=0.5),)))
    rd = scada_readings(run, instruments_from_tags(net, [p.probe_id for p in probes]), seed=1)
    return net, [np.array(rd.tag_ids)[rd.tag_index], rd.time_unix_us, rd.value_si, rd.quality]


def test_a_balance_alarm_the_model_cannot_locate_yet_gets_the_whole_segment_flagged(long_line_leak) -> None:
    from services.leakdetect.domain import DetectorParams, Pipeline

    net, (tag, t_us, v, q) = long_line_leak
    # a calibration that never completes: the alarm is raised all the same, over the whole segment
    p = Pipeline.from_network(net, params=DetectorParams(loc_min_cal_blocks=1e9))  # type: ignore[arg-type]
    versions = p.feed(tag=tag, time_unix_us=t_us, value=v, quality=q, si_units=True)
    assert versions and all(a.kind == "leak" for a in versions)
    (alarm,) = p.alarms
    assert alarm.position_interval_m == (0.0, 28_000.0) and alarm.position_m == 14_000.0
    assert alarm.evidence["position_method"] == "none" and alarm.evidence["position_covers_segment"] == 1
    # located with the defaults, from the same readings
    p = Pipeline.from_network(net)  # type: ignore[arg-type]
    p.feed(tag=tag, time_unix_us=t_us, value=v, quality=q, si_units=True)
    (alarm,) = p.alarms
    assert alarm.evidence["position_method"] == "pressure_gradient"
    assert alarm.position_m is not None and abs(alarm.position_m - 17_500) < 1400


def test_location_parameters_are_checked() -> None:
    from services.leakdetect.domain import DetectorParams

    for bad in ({"loc_lag_blocks": 0}, {"loc_lag_blocks": 500}, {"loc_every_blocks": 0}, {"loc_tau_s": 0.0},
                {"loc_min_cal_blocks": 0.0}):
        with pytest.raises(ValueError, match="loc_"):
            DetectorParams(**bad).to_array()  # type: ignore[arg-type]


def test_the_packing_rate_widens_the_interval_by_the_shape_of_its_spread() -> None:
    # with exact data and model, what remains is the packing's shape: |P| q1 PACK_SHAPE_SD in phi, through the slope
    q1, lam, x_true = 18.0, 0.4, 0.3
    quiet = (0.0, 0.0, 0.0)
    sds = []
    for pack in (0.0, -0.2, -0.8):
        a, b, c = phi_coefficients(q1, q1 * q1, lam, pack)
        d = K * (a + b * x_true + c * x_true ** (PACK_SHAPE_EXP + 1.0))
        x, sd = gradient_position(d, 0.0, 0.0, K, *quiet, q1, q1 * q1, lam, 0.0, pack, 0.0)
        assert x == pytest.approx(x_true, abs=1e-9)
        slope = b + (PACK_SHAPE_EXP + 1.0) * c * x_true**PACK_SHAPE_EXP
        assert sd == pytest.approx(PACK_SHAPE_SD * abs(pack) * q1 / slope, rel=1e-9, abs=1e-15)
        sds.append(sd)
    assert sds[0] == 0.0 and 0.0 < sds[1] < sds[2]
    # about |P| / (6 lam) of the length
    assert sds[2] == pytest.approx(0.8 / (6 * lam), rel=0.1)


def test_unpacking_spread_as_a_ramp_from_the_inlet_is_recovered_where_a_uniform_spread_errs() -> None:
    # the truth: an unpacking line whose packing grows linearly from the held inlet (the reference's integral)
    q_in = np.full(30, 12.0)
    lam, pack, x_true = 0.24, -0.5, 0.55
    d = K * ref.mean_square_flow(x_true, q_in, lam, pack, PACK_SHAPE_EXP)
    x, _ = gradient_position(d, 0.0, 0.0, K, 0.0, 0.0, 0.0, 12.0, 144.0, lam, 0.0, pack, 0.0)
    assert x == pytest.approx(x_true, abs=1e-6)
    # read with a uniform spread the same gradient puts the leak upstream, by about |P| / (6 lam)
    x_uniform, _ = ref.gradient_position(d, 0.0, 0.0, K, np.zeros((2, 2)), q_in, lam, 0.0, pack, 0.0, 1.0, 0.0)
    assert x_true - x_uniform == pytest.approx(abs(pack) / (6 * lam), rel=0.15)
