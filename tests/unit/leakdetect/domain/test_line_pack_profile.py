"""The line-pack profile of the mass balance: steady closed form at equal flows, physical ordering otherwise."""

import numpy as np
import pytest

from services.leakdetect.domain.kernels.line_pack import mean_pressure
from services.leakdetect.reference.balance import _mean_pressure


def steady(pu: float, pd: float) -> float:
    return 2.0 / 3.0 * (pu + pd - pu * pd / (pu + pd))


@pytest.mark.parametrize(("pu", "pd"), [(1.6e6, 1.55e6), (1.6e6, 1.2e6), (7e6, 5e6)])
def test_equal_flows_give_the_steady_profile(pu: float, pd: float) -> None:
    assert mean_pressure(pu, pd, 3.0, 3.0) == pytest.approx(steady(pu, pd), rel=1e-6)


def test_unusable_flows_or_reversed_pressures_fall_back_to_the_steady_profile() -> None:
    assert mean_pressure(1.6e6, 1.5e6, 0.0, 0.0) == steady(1.6e6, 1.5e6)
    assert mean_pressure(1.5e6, 1.6e6, 2.0, 2.0) == steady(1.5e6, 1.6e6)
    assert mean_pressure(1.6e6, 1.5e6, -1.0, 2.0) == steady(1.6e6, 1.5e6)


def test_mean_pressure_is_lower_when_the_flow_falls_along_the_line() -> None:
    # with more flow upstream the pressure falls faster near the inlet, so the mean pressure between the same
    # end pressures is lower than with the flow growing downstream
    packing = mean_pressure(1.6e6, 1.5e6, 4.0, 2.0)
    unpacking = mean_pressure(1.6e6, 1.5e6, 2.0, 4.0)
    assert 1.5e6 < packing < unpacking < 1.6e6


def test_reference_profile_matches_the_kernel() -> None:
    rng = np.random.default_rng(3)
    pu = rng.uniform(1.2e6, 2e6, 50)
    pd = pu - rng.uniform(-1e4, 3e5, 50)
    qi = rng.uniform(-0.5, 5, 50)
    qo = rng.uniform(-0.5, 5, 50)
    ref = _mean_pressure(pu, pd, qi, qo)
    ker = np.array([mean_pressure(*args) for args in zip(pu, pd, qi, qo, strict=True)])
    np.testing.assert_allclose(ker, ref, rtol=1e-12)


@pytest.mark.parametrize("name", ["eps_lp", "lp_noise_k", "lp_scale_err", "model_floor_frac", "step_ref_factor"])
@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_balance_uncertainty_parameters_refuse_garbage(name: str, bad: float) -> None:
    from services.leakdetect.domain.config import DetectorParams

    with pytest.raises(ValueError, match=name):
        DetectorParams(**{name: bad}).to_array()
