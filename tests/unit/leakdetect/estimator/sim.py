"""Simulated single-pipe traces for the estimator tests: one 30-km line between a regulated supply and a metered
offtake (the simulator's finite-volume model, ideal gas and a fixed Darcy factor so the friction is known), as
10-s tick means of its end pressures and flows, with instrument noise."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

TICK_S = 10.0
LENGTH_M = 30_000.0
DIAMETER_M = 0.3
DARCY = 0.012
TEMPERATURE_K = 288.15
P_SUPPLY_PA = 4.0e6
Q_NOMINAL = 12.0  # kg/s
SIGMA_P_PA = 150.0  # 1 s.d. of one tick's mean pressure
SIGMA_Q_REL = 0.001  # ... of one tick's mean flow, fraction of reading


@dataclass(frozen=True)
class Trace:
    t_s: np.ndarray  # tick ends
    pu: np.ndarray
    pd: np.ndarray
    q_in: np.ndarray
    q_out: np.ndarray
    lp_true: np.ndarray  # tick means of the simulator's line pack
    leak: np.ndarray  # tick means of the true leak rate, kg/s
    rt: float
    vol: float
    k: float  # p_u^2 - p_d^2 = k q|q|


def _ticks(x: np.ndarray, per: int) -> np.ndarray:
    n = x.shape[0] // per
    return x[: n * per].reshape(n, per, *x.shape[1:]).mean(axis=1)


@functools.cache
def trace(case: str, noise_seed: int = 1) -> Trace:
    """case: "operations" (an hour steady, the supply set-point -5 % over 5 min, then demand +15 % over 5 min,
    3 h) or "leak" (steady, a 1 % leak from 1 h, 2 h)."""
    from services.gasflow import LeakSpec, Scenario, Schedule, Simulator
    from services.gasflow.model import NetworkSpec, NodeSpec, PipeSpec, Probe
    from services.gasflow.physics import GasSpec

    gas = GasSpec(equation_of_state="ideal")
    spec = NetworkSpec(
        pipes=(PipeSpec("P", "IN", "OUT", LENGTH_M, DIAMETER_M, temperature_k=TEMPERATURE_K,
                        darcy_friction_factor=DARCY),),
        nodes=(NodeSpec("IN", "pressure", P_SUPPLY_PA), NodeSpec("OUT", "flow", Q_NOMINAL)),
        gas=gas,
    )
    probes = (Probe("UP", "P", 0.0), Probe("DN", "P", LENGTH_M))
    if case == "operations":
        dur = 3 * 3600.0
        sched = {
            "IN": Schedule([0, 3600, 3900, dur], [P_SUPPLY_PA, P_SUPPLY_PA, 0.95 * P_SUPPLY_PA, 0.95 * P_SUPPLY_PA]),
            "OUT": Schedule([0, 6000, 6300, dur], [Q_NOMINAL, Q_NOMINAL, 1.15 * Q_NOMINAL, 1.15 * Q_NOMINAL]),
        }
        leaks: tuple[LeakSpec, ...] = ()
    elif case == "leak":
        dur = 2 * 3600.0
        sched = {}
        leaks = (LeakSpec("P", 0.4 * LENGTH_M, 3600.0, rate_kg_per_s=0.01 * Q_NOMINAL),)
    else:
        raise ValueError(case)
    res = Simulator(spec, dx_target_m=250.0).run(
        Scenario(duration_s=dur, schedules=sched, leaks=leaks, probes=probes, record_interval_s=1.0))
    per = round(TICK_S / 1.0)
    p = _ticks(res.probe_pressure_pa[1:], per)
    q = _ticks(res.probe_flow_kg_per_s[1:], per)
    lp = _ticks(res.pipe_line_pack_kg[1:, 0], per)
    leak = _ticks(res.leak_outflow_kg_per_s[1:, 0], per) if leaks else np.zeros(lp.shape[0])
    rng = np.random.default_rng(noise_seed)
    n = lp.shape[0]
    area = math.pi * DIAMETER_M**2 / 4.0
    rt = gas.specific_gas_constant * TEMPERATURE_K
    return Trace(
        t_s=TICK_S * np.arange(1, n + 1),
        pu=p[:, 0] + SIGMA_P_PA * rng.standard_normal(n),
        pd=p[:, 1] + SIGMA_P_PA * rng.standard_normal(n),
        q_in=q[:, 0] * (1.0 + SIGMA_Q_REL * rng.standard_normal(n)),
        q_out=q[:, 1] * (1.0 + SIGMA_Q_REL * rng.standard_normal(n)),
        lp_true=lp,
        leak=leak,
        rt=rt,
        vol=area * LENGTH_M,
        k=DARCY * rt * LENGTH_M / (DIAMETER_M * area * area),
    )
