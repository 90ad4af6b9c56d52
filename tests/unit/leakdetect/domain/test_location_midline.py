"""Mid-line pressure meters in the gradient location (`kernels.location.midline_position`): the sub-segment that
holds the leak is found and the position solved on it, against the NumPy reference (`reference.location`), and
through the facade on the long-line fixture the mid-line meters fill their roles, in order of position."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.kernels.location import PACK_SHAPE_EXP, PACK_SHAPE_SD, midline_position
from services.leakdetect.reference import location as ref

K = 2.35e9  # Pa^2 s^2 / kg^2 (the long line's)
MODEL_SD = 0.04

CASES = [  # leak x (fraction), mid meters (fractions), leak kg/s, packing kg/s, inflow mean kg/s, inflow s.d.
    (0.625, (0.34,), 0.5, 0.0, 18.4, 0.0),
    (0.2, (0.34,), 1.0, -0.05, 19.0, 0.3),
    (0.55, (0.34, 0.68), 0.3, 0.1, 12.0, 1.0),
    (0.9, (0.34, 0.68), 4.0, -0.5, 25.0, 0.5),
    (0.1, (0.5,), 2.0, -0.2, 20.0, 0.2),
]


def _points(x_true: float, mids: tuple[float, ...], lam: float, pack: float, q_in: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xs = np.array([*mids, 1.0])
    # the leak's effect on each point's p_u^2 - p_j^2 (no noise: the position must come back exactly)
    eps = np.array([K * (ref.prefix_mean_square(y, q_in, lam, pack, PACK_SHAPE_EXP, x_true)
                         - ref.prefix_mean_square(y, q_in, 0.0, pack, PACK_SHAPE_EXP, 2.0)) for y in xs])
    var_eps = np.full(len(xs), 1e18)
    dc = eps + K * 300.0 * xs  # what was measured: the leak-free change of the profile on top
    q1 = float(q_in.mean())
    m1, m2 = PACK_SHAPE_EXP + 1.0, 2.0 * PACK_SHAPE_EXP + 1.0
    dpp = -2.0 * q1 * xs**m1 / m1 + 2.0 * pack * xs**m2 / m2
    return xs, eps, var_eps, dc, dpp


@pytest.mark.parametrize(("x_true", "mids", "lam", "pack", "q_mean", "q_sd"), CASES)
def test_the_sub_segment_and_the_position_on_it_agree_with_the_reference(
        x_true: float, mids: tuple[float, ...], lam: float, pack: float, q_mean: float, q_sd: float) -> None:
    q_in = q_mean + q_sd * np.random.default_rng(5).standard_normal(60)
    xs, eps, var_eps, dc, dpp = _points(x_true, mids, lam, pack, q_in)
    var_k, var_lam, var_pack = (0.02 * K) ** 2, 0.05**2, 0.01**2
    x, sd, i = midline_position(xs, eps, var_eps, dc, dpp, K, var_k, float(q_in.mean()), lam, var_lam, pack,
                                var_pack, MODEL_SD)
    x_ref, sd_ref, i_ref = ref.midline_position(xs, eps, var_eps, dc, K, var_k, q_in, lam, var_lam, pack, var_pack,
                                                PACK_SHAPE_EXP, PACK_SHAPE_SD, MODEL_SD)
    sub = int(np.searchsorted(xs, x_true))
    assert i == i_ref == sub
    assert x == pytest.approx(x_true, abs=2e-3) and x_ref == pytest.approx(x_true, abs=2e-3)
    assert sd == pytest.approx(sd_ref, rel=0.05)


@pytest.mark.parametrize(("x_true", "mids", "scale_err"), [(0.2, (0.5,), 0.06), (0.8, (0.5,), -0.05),
                                                         (0.55, (0.34, 0.68), 0.08)])
def test_the_leak_free_sub_segments_correct_the_scale_of_the_models_change(
        x_true: float, mids: tuple[float, ...], scale_err: float) -> None:
    """The line's throughput changed since the reference and the friction model mispredicts that change by a
    few per cent (flow-dependent friction): the sub-segments without the leak measure the error and the position
    on the leak's sub-segment comes back; without their correction it would be off by several % of the length."""
    q_in = np.full(30, 18.0)
    lam = 0.4
    xs, eps, var_eps, dc, dpp = _points(x_true, mids, lam, 0.0, q_in)
    h = dc - eps  # the model's predicted leak-free change; the real one is (1 + scale_err) times it
    eps_seen = eps - scale_err * h
    dc_seen = dc
    var_lam = 0.01**2
    x, sd, i = midline_position(xs, eps_seen, var_eps, dc_seen, dpp, K, 0.0, 18.0, lam, var_lam, 0.0, 0.0, MODEL_SD)
    x_ref, _, i_ref = ref.midline_position(xs, eps_seen, var_eps, dc_seen, K, 0.0, q_in, lam, var_lam, 0.0, 0.0,
                                           PACK_SHAPE_EXP, PACK_SHAPE_SD, MODEL_SD)
    x_naive, _, _ = ref.midline_position(xs, eps_seen, var_eps, dc_seen, K, 0.0, q_in, lam, var_lam, 0.0, 0.0,
                                         PACK_SHAPE_EXP, PACK_SHAPE_SD, MODEL_SD, scale_sd=1e-12)
    assert i == i_ref == int(np.searchsorted(xs, x_true))
    assert x == pytest.approx(x_true, abs=5e-3) and x_ref == pytest.approx(x_true, abs=5e-3)
    assert abs(x_naive - x_true) > 0.03
    assert math.isfinite(sd) and sd > 0.0


def test_the_shorter_sub_segment_narrows_the_interval_the_leak_rate_error_gives() -> None:
    """The leak rate's error moves the position by its lever, the distance to the next point downstream: with a
    mid-line meter just below the leak it is small, with the outlet far away large."""
    q_in = np.full(10, 18.0)
    x_true, lam, var_lam = 0.3, 0.5, 0.1**2
    sds = []
    for mids in ((), (0.35,)):
        xs, eps, var_eps, dc, dpp = _points(x_true, mids, lam, 0.0, q_in)
        _, sd, _ = midline_position(xs, eps, var_eps * 1e-6, dc, dpp, K, 0.0, 18.0, lam, var_lam, 0.0, 0.0, 0.0)
        sds.append(sd)
    assert sds[1] < 0.2 * sds[0]


def test_no_leak_is_no_midline_location() -> None:
    xs = np.array([0.5, 1.0])
    x, sd, i = midline_position(xs, np.zeros(2), np.ones(2), np.zeros(2), np.zeros(2), K, 0.0, 18.0, -0.1, 0.01,
                                0.0, 0.0, MODEL_SD)
    assert math.isnan(x) and math.isinf(sd) and i == -1


def test_the_long_lines_mid_line_pressure_meters_fill_their_roles_in_order_of_position() -> None:
    from services.leakdetect.domain.network_config import config_from_network
    from services.network import load_network

    net = load_network("tests/fixtures/networks/long_line.yaml")
    built = config_from_network(net, segment_ids=["L-01"])
    mids = {t: r for t, r in built.tag_role.items() if L.ROLE_PRESSURE_MID0 <= r < L.ROLE_PRESSURE_MID0 + L.N_PMID}
    length = net.segments["L-01"].length_m
    positions = sorted(net.tags[t].position_m for t in mids)
    assert len(mids) == min(L.N_PMID, 2)
    by_role = sorted(mids, key=lambda t: mids[t])
    assert [net.tags[t].position_m for t in by_role] == positions
    cfg = built.config.seg_cfg[0]
    assert list(cfg[L.GC_PMID_X0:L.GC_PMID_X0 + len(mids)]) == pytest.approx([p / length for p in positions])
