"""Acceptance tests of the transient simulator: steady state, conservation, wave speed, convergence."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from services.gasflow import (
    GasSpec,
    LeakSpec,
    NetworkSpec,
    NodeSpec,
    PipeSpec,
    Probe,
    Scenario,
    Schedule,
    Simulator,
    ValveSpec,
    daily_profile_schedule,
    wave_speed,
    z_factor,
)
from services.gasflow._kernel import friction_factor, orifice_flow

GAS = GasSpec(specific_gravity=0.6)
T = 288.15


def one_pipe(
    length_m: float = 5000.0,
    diameter_m: float = 0.3,
    p_in: float = 5e5,
    demand: float = 3.0,
    dz: float = 0.0,
    n_cells: int | None = None,
) -> NetworkSpec:
    return NetworkSpec(
        pipes=(
            PipeSpec("P", "IN", "OUT", length_m, diameter_m, elevation_change_m=dz, temperature_k=T, n_cells=n_cells),
        ),
        nodes=(NodeSpec("IN", "pressure", p_in), NodeSpec("OUT", "flow", demand)),
        gas=GAS,
    )


ENDS = (Probe("in", "P", 0.0), Probe("out", "P", 5000.0))


def analytic_flow(p1: float, p2: float, length: float, diam: float, dz: float, m_guess: float) -> float:
    """Isothermal steady flow equation with elevation (Osiadacz 1987 eq. 2.46 form):
    p1² - e^s p2² = f c² m² L_e / (D A²), s = 2 g Δz / c², L_e = L (e^s - 1)/s, Z at the mean pressure."""
    area = math.pi * diam**2 / 4
    p_mean = 2.0 / 3.0 * (p1 + p2 - p1 * p2 / (p1 + p2))
    c2 = float(z_factor(p_mean, T, GAS)) * GAS.specific_gas_constant * T
    s = 2 * 9.80665 * dz / c2
    le = length * (math.expm1(s) / s if s else 1.0)
    m = m_guess
    for _ in range(20):  # f depends on Re, i.e. on m
        f = friction_factor(m * diam / (area * GAS.viscosity_pa_s), 4.5e-5 / diam)
        m = math.sqrt((p1**2 - math.exp(s) * p2**2) * diam * area**2 / (f * c2 * le))
    return m


@pytest.mark.parametrize(("demand", "dz", "diam"), [(3.0, 0.0, 0.3), (1.0, 40.0, 0.2), (6.0, -30.0, 0.4)])
def test_steady_state_matches_isothermal_flow_equation(demand: float, dz: float, diam: float) -> None:
    r = Simulator(one_pipe(demand=demand, dz=dz, diameter_m=diam)).run(Scenario(duration_s=60.0, probes=ENDS))
    p1, p2 = r.probe_pressure_pa[-1]
    assert p1 - p2 > 1000.0  # a real pressure drop, not a trivial case
    assert analytic_flow(p1, p2, 5000.0, diam, dz, demand) == pytest.approx(demand, rel=0.005)
    # and it stays steady
    assert np.ptp(r.probe_pressure_pa[:, 1]) < 1e-6 * p2
    assert np.allclose(r.probe_flow_kg_per_s, demand, rtol=1e-9)


def test_steady_state_holds_in_a_branched_network_with_a_regulator() -> None:
    net = NetworkSpec(
        pipes=(
            PipeSpec("T1", "GATE", "REG~in", 6000.0, 0.38, temperature_k=T),
            PipeSpec("M1", "REG", "J", 2500.0, 0.3, temperature_k=T),
            PipeSpec("M2", "J", "D1", 2000.0, 0.2, temperature_k=T),
            PipeSpec("M3", "J", "D2", 1500.0, 0.2, elevation_change_m=10.0, temperature_k=T),
        ),
        nodes=(
            NodeSpec("GATE", "pressure", 1.7e6),
            NodeSpec("REG~in", "flow", regulator_outlet="REG"),
            NodeSpec("REG", "pressure", 5e5),
            NodeSpec("J", "junction"),
            NodeSpec("D1", "flow", 1.2),
            NodeSpec("D2", "flow", 0.8),
        ),
        gas=GAS,
    )
    probes = (Probe("t1", "T1", 6000.0), Probe("m1", "M1", 0.0), Probe("m2", "M2", 2000.0))
    r = Simulator(net).run(Scenario(duration_s=120.0, probes=probes))
    assert np.allclose(r.probe_flow_kg_per_s[-1], [2.0, 2.0, 1.2], rtol=1e-6)
    assert np.ptp(r.probe_pressure_pa, axis=0).max() < 1.0
    assert r.node_injection_kg_per_s[-1, r.node("GATE")] == pytest.approx(2.0, rel=1e-6)


def test_mass_is_conserved_through_a_busy_transient() -> None:
    duration = 4 * 3600.0
    net = one_pipe(demand=3.0)
    scenario = Scenario(
        duration_s=duration,
        schedules={
            "OUT": daily_profile_schedule(3.0, duration, start_hour=5, noise_fraction=0.05, seed=3),
            "IN": Schedule([0, 3600, 3660, 7200, 7210], [5e5, 5e5, 5.3e5, 5.3e5, 4.9e5]),
        },
        valves=(ValveSpec("v", "P", "end", Schedule([0, 9000, 9060, 10000, 10030], [1, 1, 0.2, 0.2, 1])),),
        leaks=(
            LeakSpec("P", 1234.0, 1800.0, kind="gradual", rate_kg_per_s=0.08, ramp_s=600.0),
            LeakSpec("P", 4100.0, 11000.0, kind="rupture", orifice_diameter_m=0.03, end_time_s=12000.0),
        ),
        probes=ENDS,
        record_interval_s=1.0,
    )
    r = Simulator(net).run(scenario)
    inflow = r.cumulative_injection_kg[-1].sum()  # supply minus demand
    leak = r.cumulative_leak_kg[-1].sum()
    d_pack = r.line_pack_kg[-1] - r.line_pack_kg[0]
    throughput = r.cumulative_injection_kg[-1, r.node("IN")]
    assert leak > 100.0
    assert abs(inflow - leak - d_pack) < 1e-9 * throughput  # exact bookkeeping
    # the same balance from the recorded rates (trapezoid over 1 s samples), as a detector would see it
    t = r.time_s
    q_in = np.trapezoid(r.node_injection_kg_per_s[:, r.node("IN")], t)
    q_out = -np.trapezoid(r.node_injection_kg_per_s[:, r.node("OUT")], t)
    q_leak = np.trapezoid(r.leak_outflow_kg_per_s.sum(axis=1), t)
    assert abs(q_in - q_out - q_leak - d_pack) < 1e-3 * q_in
    # per-pipe line pack adds up to the network's (one pipe here)
    assert np.allclose(r.pipe_line_pack_kg[:, 0], r.line_pack_kg)


@pytest.mark.parametrize(
    "schedules",
    [
        {"IN": Schedule([0, 60, 360], [5e5, 5e5, 5.15e5])},  # supply pressure ramp of 3 %
        {"OUT": Schedule.step(3.0, 4.0, at_s=60.0, ramp_s=60.0)},  # demand step
    ],
    ids=["supply-ramp", "demand-step"],
)
def test_end_probes_meter_the_pipe_line_pack_change(schedules: dict[str, Schedule]) -> None:
    """Flow probes at x = 0 and x = L measure the flow at the pipe ends, so ∫(in - out) dt is the
    change of the pipe's line pack (half cells at the end nodes included), not (n-1)/n of it."""
    length = 9100.0  # 91 cells of 100 m: metering between the first and last links would be 1.1 % off
    r = Simulator(one_pipe(length_m=length)).run(
        Scenario(
            duration_s=1200.0,
            schedules=schedules,
            probes=(Probe("in", "P", 0.0), Probe("out", "P", length)),
            record_interval_s=1.0,
        )
    )
    q = r.probe_flow_kg_per_s[:, 0] - r.probe_flow_kg_per_s[:, 1]
    metered = np.concatenate(([0.0], np.cumsum(0.5 * (q[1:] + q[:-1]) * np.diff(r.time_s))))
    d_pack = r.pipe_line_pack_kg[:, 0] - r.pipe_line_pack_kg[0, 0]
    assert abs(d_pack[-1]) > 50.0  # a real transient
    assert abs(metered[-1] - d_pack[-1]) < 1e-3 * abs(d_pack[-1])
    assert np.abs(metered - d_pack).max() < 1e-3 * abs(d_pack[-1])


def test_end_probes_balance_the_line_pack_step_by_step() -> None:
    """Recording every step: in - out at the pipe ends is the backward difference of the pipe's line
    pack to round-off, also with the far end a pressure node (dρ/dt of Dirichlet points counts)."""
    net = NetworkSpec(
        pipes=(PipeSpec("P", "IN", "OUT", 5000.0, 0.3, temperature_k=T),),
        nodes=(NodeSpec("IN", "pressure", 5e5), NodeSpec("OUT", "pressure", 4.5e5)),
        gas=GAS,
    )
    r = Simulator(net).run(
        Scenario(
            duration_s=120.0,
            schedules={
                "IN": Schedule([0, 10, 40], [5e5, 5e5, 5.2e5]),
                "OUT": Schedule([0, 20, 30], [4.5e5, 4.5e5, 4.4e5]),
            },
            probes=ENDS,
            record_interval_s=0.1,  # below the stable step: one record per step
        )
    )
    assert r.dt_s == pytest.approx(0.1)
    q = r.probe_flow_kg_per_s[:, 0] - r.probe_flow_kg_per_s[:, 1]
    rate = np.diff(r.pipe_line_pack_kg[:, 0]) / r.dt_s
    assert np.abs(rate).max() > 0.3  # kg/s: a real transient
    assert np.allclose(q[1:], rate, rtol=0.0, atol=1e-8)


def test_pressure_step_reaches_far_end_after_l_over_c() -> None:
    length = 5000.0
    p0 = 5e5
    # a wide pipe and a small step keep the gas velocity behind the front, hence friction damping of
    # the front, small (a 1 % step in a 0.3 m pipe loses a third of its amplitude over 5 km)
    net = NetworkSpec(
        pipes=(PipeSpec("P", "IN", "OUT", length, 0.6, temperature_k=T, n_cells=100),),
        nodes=(NodeSpec("IN", "pressure", p0), NodeSpec("OUT", "flow", 0.0)),  # closed far end
        gas=GAS,
    )
    step = 0.001 * p0
    sc = Scenario(
        duration_s=25.0,
        schedules={"IN": Schedule.step(p0, p0 + step, at_s=1.0)},
        probes=(Probe("out", "P", length),),
        record_interval_s=0.1,  # dt = 0.1 s: Courant number 0.74, as in normal runs
    )
    r = Simulator(net).run(sc)
    rise = r.probe_pressure_pa[:, 0] - p0
    # a closed end doubles the incident wave: the front's middle is where the rise crosses one step
    k = int(np.argmax(rise >= step))
    t_cross = np.interp(step, rise[k - 1 : k + 1], r.time_s[k - 1 : k + 1])
    c = float(wave_speed(p0 + step / 2, T, GAS))
    assert t_cross - 1.0 == pytest.approx(length / c, rel=0.01)
    assert rise[: int(0.9 * (1.0 + length / c) / 0.1)].max() < 0.01 * step  # nothing arrives early
    assert rise.max() > 1.8 * step  # reflected at the closed end with little loss


def _demand_step_series(n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    net = one_pipe(demand=2.0, n_cells=n_cells)
    sc = Scenario(
        duration_s=60.0,
        schedules={"OUT": Schedule.step(2.0, 4.0, at_s=5.0, ramp_s=5.0)},
        probes=(Probe("out", "P", 5000.0), Probe("mid", "P", 2500.0)),
        record_interval_s=0.5,
    )
    r = Simulator(net).run(sc)
    return r.probe_pressure_pa[:, 0], r.probe_flow_kg_per_s[:, 1]


def test_grid_convergence() -> None:
    """RMS error over the transient (outlet pressure, mid-pipe flow) against a 640-cell reference."""
    p_ref, m_ref = _demand_step_series(640)
    errors = []
    for n in (20, 40, 80, 160):
        p, m = _demand_step_series(n)
        errors.append(
            float(
                np.sqrt(np.mean((p - p_ref) ** 2)) / np.ptp(p_ref) + np.sqrt(np.mean((m - m_ref) ** 2)) / np.ptp(m_ref)
            )
        )
    assert all(b < a for a, b in itertools.pairwise(errors)), errors
    # at least first order: the numerical viscosity (α c dx) and the time step both scale with dx
    order = math.log2(errors[0] / errors[-1]) / 3.0
    assert order > 0.9, errors


def test_closed_valve_stops_the_flow() -> None:
    net = one_pipe(demand=0.0)
    sc = Scenario(
        duration_s=600.0,
        schedules={"OUT": Schedule.step(0.0, 1.0, at_s=10.0)},
        valves=(ValveSpec("v", "P", "start", Schedule.step(1.0, 0.0, at_s=100.0, ramp_s=20.0)),),
        probes=(Probe("in", "P", 0.0),),
    )
    r = Simulator(net).run(sc)
    assert r.probe_flow_kg_per_s[50, 0] > 0.5
    assert abs(r.probe_flow_kg_per_s[200:, 0]).max() == 0.0
    # the demand now empties the line pack: pressure at the outlet keeps falling
    assert r.line_pack_kg[-1] < r.line_pack_kg[150] - 400.0


def test_rupture_discharges_like_a_choked_orifice() -> None:
    net = one_pipe(demand=1.0)
    d = 0.05
    sc = Scenario(
        duration_s=60.0,
        leaks=(LeakSpec("P", 2500.0, 10.0, kind="rupture", orifice_diameter_m=d),),
        probes=(Probe("leak", "P", 2500.0),),
        record_interval_s=0.5,
    )
    r = Simulator(net).run(sc)
    k = 40  # t = 20 s
    p = r.probe_pressure_pa[k, 0]
    rho = p / (float(z_factor(p, T, GAS)) * GAS.specific_gas_constant * T)
    expected = orifice_flow(p, rho, 0.61 * math.pi * d * d / 4, GAS.heat_capacity_ratio, 101325.0)
    assert r.leak_outflow_kg_per_s[k, 0] == pytest.approx(expected, rel=0.01)
    assert r.leak_outflow_kg_per_s[:19, 0].max() == 0.0  # nothing before onset
    # choked flow: p · Cd A · sqrt(γ/(Z R T) (2/(γ+1))^((γ+1)/(γ-1)))
    g = GAS.heat_capacity_ratio
    assert expected == pytest.approx(
        0.61 * math.pi * d * d / 4 * math.sqrt(g * p * rho * (2 / (g + 1)) ** ((g + 1) / (g - 1)))
    )


def test_leak_lowers_pressure_and_splits_flows() -> None:
    sim = Simulator(one_pipe())
    base = sim.run(Scenario(duration_s=900.0, probes=ENDS))
    leaky = sim.run(Scenario(duration_s=900.0, probes=ENDS, leaks=(LeakSpec("P", 1000.0, 100.0, rate_kg_per_s=0.1),)))
    assert leaky.probe_flow_kg_per_s[-1, 0] == pytest.approx(3.1, rel=1e-3)
    assert leaky.probe_flow_kg_per_s[-1, 1] == pytest.approx(3.0, rel=1e-3)
    assert leaky.probe_pressure_pa[-1, 1] < base.probe_pressure_pa[-1, 1] - 100.0
    assert leaky.cumulative_leak_kg[-1, 0] == pytest.approx(0.1 * 800.0, rel=1e-3)


@pytest.mark.parametrize(
    "make",
    [
        lambda: PipeSpec("P", "A", "B", -5.0, 0.3),
        lambda: PipeSpec("P", "A", "B", float("nan"), 0.3),
        lambda: PipeSpec("P", "A", "B", 100.0, 0.0),
        lambda: PipeSpec("P", "A", "A", 100.0, 0.3),
        lambda: PipeSpec("P", "A", "B", 100.0, 0.3, elevation_change_m=500.0),
        lambda: PipeSpec("P", "A", "B", 100.0, 0.3, n_cells=0),
        lambda: NodeSpec("A", "pressure", float("nan")),
        lambda: NodeSpec("A", "pressure", -1.0),
        lambda: NodeSpec("A", "sink"),  # type: ignore[arg-type]
        lambda: Schedule([0.0, 1.0], [5e5, float("nan")]),
        lambda: Schedule([1.0, 0.0], [5e5, 5e5]),
        lambda: Schedule([0.0], [1.0, 2.0]),
        lambda: LeakSpec("P", -1.0, 0.0, rate_kg_per_s=0.1),
        lambda: LeakSpec("P", 1.0, 0.0, rate_kg_per_s=-0.1),
        lambda: LeakSpec("P", 1.0, 0.0),  # neither rate nor orifice
        lambda: LeakSpec("P", 1.0, 0.0, kind="gradual", rate_kg_per_s=0.1),  # no ramp
        lambda: LeakSpec("P", 1.0, 0.0, kind="meteor", rate_kg_per_s=0.1),  # type: ignore[arg-type]
        lambda: Scenario(duration_s=0.0),
        lambda: Scenario(duration_s=float("inf")),
        lambda: ValveSpec("v", "P", "start", Schedule.constant(1.5)),
        lambda: NetworkSpec(pipes=(PipeSpec("P", "A", "B", 100.0, 0.3),), nodes=(NodeSpec("A", "pressure", 5e5),)),
        lambda: NetworkSpec(
            pipes=(PipeSpec("P", "A", "B", 100.0, 0.3),), nodes=(NodeSpec("A", "flow"), NodeSpec("B", "flow"))
        ),
        lambda: Simulator(one_pipe(), dx_target_m=-1.0),
        lambda: Simulator(one_pipe(), cfl=2.0),
    ],
)
def test_garbage_specs_raise_value_error(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize(
    "scenario",
    [
        Scenario(duration_s=10.0, leaks=(LeakSpec("P", 5001.0, 0.0, rate_kg_per_s=0.1),)),
        Scenario(duration_s=10.0, leaks=(LeakSpec("NOPE", 10.0, 0.0, rate_kg_per_s=0.1),)),
        Scenario(duration_s=10.0, leaks=(LeakSpec("P", 10.0, 0.0, kind="rupture", orifice_diameter_m=0.5),)),
        Scenario(duration_s=10.0, probes=(Probe("x", "P", 6000.0),)),
        Scenario(duration_s=10.0, schedules={"IN": Schedule.constant(-1.0)}),
        Scenario(duration_s=10.0, schedules={"IN": Schedule.constant(1e9)}),
        Scenario(duration_s=10.0, schedules={"ELSEWHERE": Schedule.constant(1.0)}),
        Scenario(duration_s=10.0, schedules={"OUT": Schedule.constant(500.0)}),  # undeliverable
        Scenario(duration_s=10.0, record_interval_s=20.0),
    ],
)
def test_garbage_scenarios_raise_value_error(scenario: Scenario) -> None:
    with pytest.raises(ValueError):
        Simulator(one_pipe()).run(scenario)


@pytest.mark.parametrize("x", [0.0, 5.0, 4999.0, 5000.0])
def test_leaks_at_and_near_the_pipe_ends_are_accounted(x: float) -> None:
    r = Simulator(one_pipe()).run(
        Scenario(duration_s=300.0, leaks=(LeakSpec("P", x, 100.0, rate_kg_per_s=0.1),), probes=ENDS)
    )
    assert r.cumulative_leak_kg[-1, 0] == pytest.approx(20.0, rel=1e-3)
    residual = r.cumulative_injection_kg[-1].sum() - r.cumulative_leak_kg[-1, 0]
    assert residual - (r.line_pack_kg[-1] - r.line_pack_kg[0]) == pytest.approx(0.0, abs=1e-9)


def test_a_run_continued_in_chunks_equals_one_run() -> None:
    sim = Simulator(one_pipe())
    demand = Schedule([0, 100, 400], [3.0, 3.0, 4.0])
    whole = sim.run(Scenario(duration_s=600.0, schedules={"OUT": demand}, probes=ENDS))
    first = sim.run(Scenario(duration_s=200.0, schedules={"OUT": demand}, probes=ENDS))
    shifted = Schedule(demand.times_s - 200.0, demand.values)
    second = sim.run(Scenario(duration_s=400.0, schedules={"OUT": shifted}, probes=ENDS), initial_state=first)
    assert np.allclose(second.probe_pressure_pa[-1], whole.probe_pressure_pa[-1], rtol=1e-12)
    # end probes carry dρ/dt of the end nodes over from the previous chunk: no jump at the seam
    assert np.allclose(second.probe_flow_kg_per_s[0], first.probe_flow_kg_per_s[-1], rtol=1e-12)
    assert np.allclose(second.probe_flow_kg_per_s[-1], whole.probe_flow_kg_per_s[-1], rtol=1e-12)
    with pytest.raises(ValueError):
        Simulator(one_pipe(n_cells=7)).run(Scenario(duration_s=1.0), initial_state=first)


def test_two_pressure_nodes_start_steady_by_spin_up() -> None:
    net = NetworkSpec(
        pipes=(PipeSpec("P", "IN", "OUT", 5000.0, 0.3, temperature_k=T),),
        nodes=(NodeSpec("IN", "pressure", 5e5), NodeSpec("OUT", "pressure", 4.5e5)),
        gas=GAS,
    )
    r = Simulator(net).run(Scenario(duration_s=60.0, probes=ENDS))
    m = r.probe_flow_kg_per_s[-1, 0]
    assert np.ptp(r.probe_flow_kg_per_s) < 1e-9 * m
    assert analytic_flow(5e5, 4.5e5, 5000.0, 0.3, 0.0, m) == pytest.approx(m, rel=0.005)
