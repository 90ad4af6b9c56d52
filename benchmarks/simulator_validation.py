"""The gas simulator against a published fast transient: Gyrya & Zlotnik (2019), one pipe.

V. Gyrya, A. Zlotnik, "An explicit staggered-grid method for numerical simulation of large-scale natural
gas pipeline networks", Applied Mathematical Modelling 65 (2019) 34-51 (arXiv:1803.00418), single-pipe
fast transient: a 20 km pipe of 0.9144 m bore, Darcy friction factor 0.01, ideal gas at 239.11 K
(specific gravity 0.6: wave speed 338.25 m/s), inlet held at 6.5 MPa, outlet withdrawal 0 until 599 s,
787.63 kg/s from 600 s, 78.76 kg/s from 1800 s (a linear change over the second before each), one hour.
The profile and constants are those of the case's data files in the authors' group's simulator
(GasTranSim.jl, data/model1pipe_fast_transients: bc.json, network.json, params.json); the wave speed
follows from R = 8.314 / (0.6 * 0.02896) J/(kg K) at 239.11 K, as there.

The simulator runs it through public options only (``GasSpec(equation_of_state="ideal")``,
``PipeSpec(darcy_friction_factor=..., wave_speed_m_per_s=...)``, ``Simulator(dx_target_m=...)``) and its
outlet pressure is compared with an independent solution: the method of characteristics on a fine grid
(below), which for a fixed wave speed carries the waves exactly (dt = dx / c) and integrates only the
friction along the characteristics (second order, predictor-corrector).

Run ``python -m benchmarks.simulator_validation`` for the figure, a grid-convergence table and
reports/simulator_validation.png.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from services.gasflow import GasSpec, NetworkSpec, NodeSpec, PipeSpec, Probe, Scenario, Schedule, Simulator

LENGTH_M = 20_000.0
DIAMETER_M = 0.9144
FRICTION = 0.01
TEMPERATURE_K = 239.11
SPECIFIC_GRAVITY = 0.6
# The case's own constants (GasTranSim.jl: R 8.314 J/(mol K), air 0.02896 kg/mol): c = sqrt(R T / M).
WAVE_SPEED_M_PER_S = math.sqrt(8.314 / (SPECIFIC_GRAVITY * 0.02896) * TEMPERATURE_K)  # 338.25 m/s
INLET_PRESSURE_PA = 6.5e6
OUTLET_TIMES_S = (0.0, 599.0, 600.0, 1799.0, 1800.0)
OUTLET_FLOWS_KG_PER_S = (0.0, 0.0, 787.63, 787.63, 78.76)
DURATION_S = 3600.0
# The simulator's grid for the reported figure (its default is 100 m; a published case is worth a finer one).
VALIDATION_DX_M = 25.0
REFERENCE_CELLS = 4000  # 5 m: the reference changes by < 0.01 % from 2000 cells to 4000


def outlet_schedule() -> Schedule:
    return Schedule(OUTLET_TIMES_S, OUTLET_FLOWS_KG_PER_S)


def case_network() -> NetworkSpec:
    """The published pipe as a simulator network, through public options only."""
    return NetworkSpec(
        pipes=(
            PipeSpec(
                "P1",
                "IN",
                "OUT",
                LENGTH_M,
                DIAMETER_M,
                temperature_k=TEMPERATURE_K,
                darcy_friction_factor=FRICTION,
                wave_speed_m_per_s=WAVE_SPEED_M_PER_S,
            ),
        ),
        nodes=(NodeSpec("IN", "pressure", INLET_PRESSURE_PA), NodeSpec("OUT", "flow", 0.0)),
        gas=GasSpec(specific_gravity=SPECIFIC_GRAVITY, equation_of_state="ideal"),
    )


def simulator_outlet_pressure(dx_m: float = VALIDATION_DX_M, duration_s: float = DURATION_S) -> np.ndarray:
    """The simulator's outlet pressure (Pa) at every whole second 0..duration_s."""
    sim = Simulator(case_network(), dx_target_m=dx_m)
    result = sim.run(
        Scenario(
            duration_s=duration_s,
            schedules={"OUT": outlet_schedule()},
            probes=(Probe("out", "P1", LENGTH_M),),
            record_interval_s=1.0,
        )
    )
    return np.asarray(result.probe_pressure_pa[:, 0])


@njit(cache=True)
def _moc(n_cells, length_m, diameter_m, friction, c, p_in, q_t, q_v, duration_s, area):
    """Method of characteristics for p_t + c² φ_x = 0, φ_t + p_x = -f c² φ|φ| / (2 D p) (φ mass flux).

    Along dx/dt = +c: d(p + cφ) = -c F dt; along dx/dt = -c: d(p - cφ) = +c F dt; F = f c² φ|φ| / (2 D p).
    dt = dx / c, so both characteristics through a node start exactly at its neighbours. Friction: Heun
    (the foot's F, then the mean of the foot's and the predicted head's). Inlet: pressure held; outlet:
    the scheduled flow. Returns the outlet pressure at every whole second.
    """
    dx = length_m / n_cells
    dt = dx / c
    k = friction * c * c / (2.0 * diameter_m)
    n_steps = math.ceil(duration_s / dt)
    p = np.full(n_cells + 1, p_in)
    phi = np.zeros(n_cells + 1)
    p_new = np.empty_like(p)
    phi_new = np.empty_like(phi)
    n_out = int(duration_s) + 1
    out = np.empty(n_out)
    out[0] = p_in
    prev_p_out = p_in
    cursor = 0
    for step in range(1, n_steps + 1):
        t = step * dt
        while cursor < q_t.shape[0] - 2 and t >= q_t[cursor + 1]:
            cursor += 1
        if t >= q_t[-1]:
            q = q_v[-1]
        else:
            w = (t - q_t[cursor]) / (q_t[cursor + 1] - q_t[cursor])
            q = q_v[cursor] + w * (q_v[cursor + 1] - q_v[cursor])
        phi_out = q / area
        for i in range(n_cells + 1):
            if i > 0:
                fa = k * phi[i - 1] * abs(phi[i - 1]) / p[i - 1]
                cp = p[i - 1] + c * phi[i - 1]
            if i < n_cells:
                fb = k * phi[i + 1] * abs(phi[i + 1]) / p[i + 1]
                cm = p[i + 1] - c * phi[i + 1]
            # predictor with the feet's friction
            if i == 0:
                pp = p_in
                ph = (pp - cm - c * dt * fb) / c
            elif i == n_cells:
                ph = phi_out
                pp = cp - c * dt * fa - c * ph
            else:
                pp = 0.5 * (cp - c * dt * fa + cm + c * dt * fb)
                ph = (cp - c * dt * fa - cm - c * dt * fb) / (2.0 * c)
            fp = k * ph * abs(ph) / pp
            # corrector: trapezoid of foot and head
            if i == 0:
                pp = p_in
                ph = (pp - cm - c * dt * 0.5 * (fb + fp)) / c
            elif i == n_cells:
                ph = phi_out
                pp = cp - c * dt * 0.5 * (fa + fp) - c * ph
            else:
                ga = c * dt * 0.5 * (fa + fp)
                gb = c * dt * 0.5 * (fb + fp)
                pp = 0.5 * (cp - ga + cm + gb)
                ph = (cp - ga - cm - gb) / (2.0 * c)
            p_new[i] = pp
            phi_new[i] = ph
        # outlet pressure at the whole seconds inside this step (linear in time)
        t_prev = t - dt
        s = math.floor(t_prev) + 1
        while s <= t and s < n_out:
            w = (s - t_prev) / dt
            out[s] = prev_p_out + w * (p_new[n_cells] - prev_p_out)
            s += 1
        prev_p_out = p_new[n_cells]
        for i in range(n_cells + 1):
            p[i] = p_new[i]
            phi[i] = phi_new[i]
    return out


def reference_outlet_pressure(n_cells: int = REFERENCE_CELLS, duration_s: float = DURATION_S) -> np.ndarray:
    """The independent solution's outlet pressure (Pa) at every whole second 0..duration_s."""
    return np.asarray(
        _moc(
            n_cells,
            LENGTH_M,
            DIAMETER_M,
            FRICTION,
            WAVE_SPEED_M_PER_S,
            INLET_PRESSURE_PA,
            np.array((*OUTLET_TIMES_S, OUTLET_TIMES_S[-1] + 1.0)),
            np.array((*OUTLET_FLOWS_KG_PER_S, OUTLET_FLOWS_KG_PER_S[-1])),
            float(duration_s),
            math.pi * DIAMETER_M**2 / 4.0,
        )
    )


def max_rel_error_pct(candidate: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(candidate - reference) / reference) * 100.0)


@dataclass(frozen=True)
class Convergence:
    reference_cells: tuple[int, ...]
    reference_change_pct: tuple[float, ...]  # max change of the reference from the previous grid
    simulator_dx_m: tuple[float, ...]
    simulator_error_pct: tuple[float, ...]  # against the finest reference


def convergence(
    reference_cells: tuple[int, ...] = (500, 1000, 2000, REFERENCE_CELLS),
    simulator_dx_m: tuple[float, ...] = (200.0, 100.0, 50.0, VALIDATION_DX_M),
    progress: Callable[[str], None] | None = None,
) -> tuple[Convergence, np.ndarray, np.ndarray]:
    """Both solutions on refined grids: the table, the finest reference, the simulator's at VALIDATION_DX_M."""
    refs = []
    for n in reference_cells:
        refs.append(reference_outlet_pressure(n))
        if progress:
            progress(f"reference, {n} cells ({LENGTH_M / n:g} m)")
    ref_change = tuple(max_rel_error_pct(a, b) for a, b in itertools.pairwise(refs))
    finest = refs[-1]
    errors = []
    sim_at_validation = finest
    for dx in simulator_dx_m:
        sim = simulator_outlet_pressure(dx)
        errors.append(max_rel_error_pct(sim, finest))
        if dx == VALIDATION_DX_M:
            sim_at_validation = sim
        if progress:
            progress(f"simulator, dx {dx:g} m: max relative error {errors[-1]:.3f} %")
    table = Convergence(tuple(reference_cells), ref_change, tuple(simulator_dx_m), tuple(errors))
    return table, finest, sim_at_validation


def gz2019_max_rel_error_pct() -> float:
    """Max relative error (%) of the simulator's outlet pressure on the published case, 1-s samples over the hour."""
    return max_rel_error_pct(simulator_outlet_pressure(), reference_outlet_pressure())


def _plot(reference: np.ndarray, simulated: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_min = np.arange(reference.size) / 60.0
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    ax1.plot(t_min, reference / 1e6, label=f"method of characteristics, {REFERENCE_CELLS} cells", lw=2)
    ax1.plot(t_min, simulated / 1e6, "--", label=f"simulator, dx {VALIDATION_DX_M:g} m")
    ax1.set_ylabel("outlet pressure (MPa)")
    ax1.set_title("Gyrya & Zlotnik 2019 single-pipe fast transient (ideal gas, f = 0.01)")
    ax1.legend()
    ax2.plot(t_min, (simulated - reference) / reference * 100.0)
    ax2.set_ylabel("relative error (%)")
    ax2.set_xlabel("time (min)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    start = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f} s] {message}", flush=True)

    progress("Gyrya & Zlotnik 2019 fast transient: compiling and running (first run compiles, ~10 s)")
    table, reference, simulated = convergence(progress=progress)
    print("reference grid convergence (max change from the previous grid, %):")
    for n, change in zip(table.reference_cells[1:], table.reference_change_pct, strict=True):
        print(f"  {n:5d} cells: {change:.4f}")
    print("simulator against the finest reference (max relative error, %):")
    for dx, err in zip(table.simulator_dx_m, table.simulator_error_pct, strict=True):
        print(f"  dx {dx:6.1f} m: {err:.3f}")
    figure = max_rel_error_pct(simulated, reference)
    plot = Path("reports") / "simulator_validation.png"
    _plot(reference, simulated, plot)
    print(f"simulator_gz2019_max_rel_error_pct = {figure:.3f}  (plot: {plot})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
