"""The simulator's public options for published cases: ideal gas, a fixed wave speed, a fixed friction factor,
and the Gyrya & Zlotnik (2019) fast transient against an independent method-of-characteristics solution."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from benchmarks import simulator_validation as gz
from services.gasflow import GasSpec, NetworkSpec, NodeSpec, PipeSpec, Probe, Scenario, Schedule, Simulator
from services.gasflow.physics import density, wave_speed, z_factor


def test_ideal_gas_has_z_one_and_the_isothermal_sound_speed() -> None:
    ideal = GasSpec(specific_gravity=0.6, equation_of_state="ideal")
    p = np.array([1e5, 2e6, 7e6])
    assert np.all(z_factor(p, 288.15, ideal) == 1.0)
    assert wave_speed(p, 288.15, ideal) == pytest.approx(math.sqrt(ideal.specific_gas_constant * 288.15))
    assert float(density(7e6, 288.15, ideal)) == pytest.approx(7e6 / (ideal.specific_gas_constant * 288.15))
    assert float(z_factor(7e6, 288.15, GasSpec(specific_gravity=0.6))) < 0.9  # the real gas default is kept


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"equation_of_state": "peng-robinson"}, "equation_of_state must be one of dak, ideal"),
    ],
)
def test_bad_gas_options_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GasSpec(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"darcy_friction_factor": 0.0}, "darcy_friction_factor must be > 0"),
        ({"darcy_friction_factor": float("nan")}, "darcy_friction_factor must be a finite number"),
        ({"darcy_friction_factor": 0.5}, "is not a pipe's"),
        ({"wave_speed_m_per_s": -340.0}, "wave_speed_m_per_s must be > 0"),
        ({"wave_speed_m_per_s": 20.0}, r"outside \[100, 2000\] m/s"),
    ],
)
def test_bad_pipe_options_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PipeSpec("P", "A", "B", 1000.0, 0.3, **kwargs)


def _line(**pipe_options: float) -> NetworkSpec:
    return NetworkSpec(
        pipes=(PipeSpec("P", "IN", "OUT", 10_000.0, 0.5, n_cells=50, **pipe_options),),
        nodes=(NodeSpec("IN", "pressure", 5e6), NodeSpec("OUT", "flow", 60.0)),
        gas=GasSpec(equation_of_state="ideal"),
    )


def test_fixed_friction_and_wave_speed_give_the_isothermal_flow_equation_in_steady_state() -> None:
    # p1² - p2² = f c² m² L / (D A²) exactly for p = c² ρ (the staggered scheme telescopes to it)
    c, f = 380.0, 0.012
    sim = Simulator(_line(darcy_friction_factor=f, wave_speed_m_per_s=c))
    result = sim.run(Scenario(duration_s=10.0, probes=(Probe("in", "P", 0.0), Probe("out", "P", 10_000.0))))
    p_in, p_out = result.probe_pressure_pa[-1]
    area = math.pi * 0.5**2 / 4
    expected = f * c**2 * 60.0**2 * 10_000.0 / (0.5 * area**2)
    assert p_in**2 - p_out**2 == pytest.approx(expected, rel=1e-6)
    assert sim.grid.c_max == pytest.approx(c)


def test_a_fixed_wave_speed_sets_the_arrival_time_of_a_pressure_wave() -> None:
    arrivals = {}
    for c in (330.0, 400.0):
        net = NetworkSpec(
            pipes=(
                PipeSpec(
                    "P", "IN", "OUT", 20_000.0, 0.5, n_cells=400, darcy_friction_factor=0.01, wave_speed_m_per_s=c
                ),
            ),
            nodes=(NodeSpec("IN", "pressure", 5e6), NodeSpec("OUT", "flow", 0.0)),
        )
        result = Simulator(net).run(
            Scenario(
                duration_s=90.0,
                schedules={"IN": Schedule.step(5e6, 4.9e6, 1.0)},
                probes=(Probe("out", "P", 20_000.0),),
                record_interval_s=0.1,
            )
        )
        p = result.probe_pressure_pa[:, 0]
        arrivals[c] = float(result.time_s[np.argmax(p < 5e6 - 50e3)])  # half the step
    for c, t in arrivals.items():
        assert t - 1.0 == pytest.approx(20_000.0 / c, abs=1.0)


def test_gz2019_coarse_simulator_converges_to_the_characteristics_solution() -> None:
    """Fast version: a 1000-cell reference (within 0.4 % of the 4000-cell one) and two simulator grids."""
    reference = gz.reference_outlet_pressure(1000)
    assert reference.min() == pytest.approx(2.78e6, rel=0.01)  # the published trough: about 2.8 MPa at 30 min
    errors = [gz.max_rel_error_pct(gz.simulator_outlet_pressure(dx), reference) for dx in (200.0, 100.0)]
    assert errors[1] < errors[0] < 5.0
    assert errors[1] < 2.0


@pytest.mark.slow
def test_gz2019_grid_convergence_and_one_percent() -> None:
    table, reference, simulated = gz.convergence()
    # the reference converges: each refinement changes it less, the last by under 0.1 %
    assert table.reference_change_pct[-1] < 0.1
    assert table.reference_change_pct[-1] < table.reference_change_pct[0]
    # the simulator converges to it and meets the goal on the validation grid
    errs = table.simulator_error_pct
    assert all(b < a for a, b in itertools.pairwise(errs))
    assert gz.max_rel_error_pct(simulated, reference) <= 1.0


def test_explicit_meter_errors_are_noise_and_a_bias_within_its_bound() -> None:
    from services.gasflow.scada import ExplicitErrors, Instrument, ScadaConfig, scada_readings

    net = NetworkSpec(
        pipes=(PipeSpec("P", "IN", "OUT", 3000.0, 0.3),),
        nodes=(NodeSpec("IN", "pressure", 5e5), NodeSpec("OUT", "flow", 3.0)),
    )
    result = Simulator(net).run(Scenario(duration_s=300.0, probes=(Probe("in", "P", 0.0),), record_interval_s=0.5))
    truth = float(result.probe_flow_kg_per_s[0, 0])
    errors = ExplicitErrors(noise_sd_rel=0.002, bias_bound_rel=0.01)
    meters = [Instrument(f"f{i}", "in", "flow", 1.0, errors=errors) for i in range(300)]
    rd = scada_readings(result, meters, seed=3, config=ScadaConfig.ideal())
    rel = np.array([rd.of_tag(t)[1][:250] / truth - 1.0 for t in rd.tag_ids])
    bias = rel.mean(axis=1)
    assert np.max(np.abs(bias)) <= 0.01 + 4 * 0.002 / np.sqrt(250)  # within the bound (plus the mean's noise)
    assert np.std(bias) == pytest.approx(0.01 / np.sqrt(3.0), rel=0.15)  # uniform within ±bound
    assert np.mean(np.std(rel, axis=1)) == pytest.approx(0.002, rel=0.05)
    with pytest.raises(ValueError, match="noise_sd_rel must be finite and >= 0"):
        ExplicitErrors(noise_sd_rel=-1.0)
