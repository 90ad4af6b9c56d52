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
MID_X_FRAC = 0.5  # the mid-line pressure transmitter of the traces and detector runs


@dataclass(frozen=True)
class Trace:
    t_s: np.ndarray  # tick ends
    pu: np.ndarray
    pd: np.ndarray
    q_in: np.ndarray
    q_out: np.ndarray
    lp_true: np.ndarray  # tick means of the simulator's line pack
    leak: np.ndarray  # tick means of the true leak rate, kg/s
    pm: np.ndarray  # a mid-line transmitter's tick means at MID_X_FRAC of the length
    rt: float
    vol: float
    k: float  # p_u^2 - p_d^2 = k q|q|


def _ticks(x: np.ndarray, per: int) -> np.ndarray:
    n = x.shape[0] // per
    return x[: n * per].reshape(n, per, *x.shape[1:]).mean(axis=1)


def _spec():  # type: ignore[no-untyped-def]
    from services.gasflow.model import NetworkSpec, NodeSpec, PipeSpec
    from services.gasflow.physics import GasSpec

    return NetworkSpec(
        pipes=(PipeSpec("P", "IN", "OUT", LENGTH_M, DIAMETER_M, temperature_k=TEMPERATURE_K,
                        darcy_friction_factor=DARCY),),
        nodes=(NodeSpec("IN", "pressure", P_SUPPLY_PA), NodeSpec("OUT", "flow", Q_NOMINAL)),
        gas=GasSpec(equation_of_state="ideal"),
    )


# the detector's day: learning done at ~65 min, then the supply set-point -5 % over 5 min at 2 h and the demand
# +15 % over 5 min at 2 h 45 min; "ramp_leak" adds a 1 % leak 2 min into the demand ramp
OPS_START_S = 7200.0
RAMP_START_S = 9900.0
LEAK_ONSET_S = RAMP_START_S + 120.0
DAY_S = 4 * 3600.0
# "gradual_leak": no operations; a leak at 0.6 of the length grows linearly to GRADUAL_RATE over GRADUAL_RAMP_S
GRADUAL_RATE = 0.1 * Q_NOMINAL
GRADUAL_RAMP_S = 600.0


@functools.cache
def detector_run(case: str):  # type: ignore[no-untyped-def]
    """The simulator's result of a detector test case: "ops", "ramp_leak" or "gradual_leak"."""
    from services.gasflow import LeakSpec, Scenario, Schedule, Simulator
    from services.gasflow.model import Probe

    sched = {
        "IN": Schedule([0, OPS_START_S, OPS_START_S + 300, DAY_S],
                       [P_SUPPLY_PA, P_SUPPLY_PA, 0.95 * P_SUPPLY_PA, 0.95 * P_SUPPLY_PA]),
        "OUT": Schedule([0, RAMP_START_S, RAMP_START_S + 300, DAY_S],
                        [Q_NOMINAL, Q_NOMINAL, 1.15 * Q_NOMINAL, 1.15 * Q_NOMINAL]),
    }
    leaks = (LeakSpec("P", 0.6 * LENGTH_M, LEAK_ONSET_S, rate_kg_per_s=0.01 * Q_NOMINAL),) if case == "ramp_leak" \
        else ()
    if case == "gradual_leak":
        sched = {"IN": Schedule([0, DAY_S], [P_SUPPLY_PA, P_SUPPLY_PA]), "OUT": Schedule([0, DAY_S], [Q_NOMINAL] * 2)}
        leaks = (LeakSpec("P", 0.6 * LENGTH_M, LEAK_ONSET_S, kind="gradual", rate_kg_per_s=GRADUAL_RATE,
                          ramp_s=GRADUAL_RAMP_S),)
    probes = (Probe("UP", "P", 0.0), Probe("DN", "P", LENGTH_M), Probe("MID", "P", MID_X_FRAC * LENGTH_M))
    return Simulator(_spec(), dx_target_m=250.0).run(
        Scenario(duration_s=DAY_S, schedules=sched, leaks=leaks, probes=probes, record_interval_s=1.0))


T0_US = 1_767_225_600_000_000
P_NOISE_PA = 300.0  # one reading, 1 s.d.
Q_NOISE_REL = 0.003


def detector_config(mid: bool = False):  # type: ignore[no-untyped-def]
    """The line as the detector is told about it (ideal gas, its friction prior from the pipe); mid: with a
    mid-line pressure transmitter at MID_X_FRAC."""
    from services.gasflow.physics import GasSpec
    from services.leakdetect.domain import layout as L
    from services.leakdetect.domain.config import DetectorConfig

    area = math.pi * DIAMETER_M**2 / 4.0
    r = GasSpec(equation_of_state="ideal").specific_gas_constant
    cfg = DetectorConfig.empty(1)
    cfg.set_segment(0, length_m=LENGTH_M, inner_diameter_m=DIAMETER_M, nominal_flow_kg_per_s=Q_NOMINAL,
                    wave_speed_m_per_s=math.sqrt(r * TEMPERATURE_K), r_specific=r, temperature_k=TEMPERATURE_K,
                    loc_k0=DARCY * r * TEMPERATURE_K * LENGTH_M / (DIAMETER_M * area * area), loc_k0_rel_sd=0.05)
    for role in (L.ROLE_FLOW_IN, L.ROLE_FLOW_OUT):
        cfg.set_instrument(0, role, sigma_rel=Q_NOISE_REL, range_min=-5 * Q_NOMINAL, range_max=5 * Q_NOMINAL)
    for role in (L.ROLE_PRESSURE_UP, L.ROLE_PRESSURE_DOWN) + ((L.ROLE_PRESSURE_MID0,) if mid else ()):
        cfg.set_instrument(0, role, sigma_abs=P_NOISE_PA, range_min=0.0, range_max=1e7)
    if mid:
        cfg.seg_cfg[0, L.GC_PMID_X0] = MID_X_FRAC
    return cfg


def detector_readings(case: str, seed: int = 5, silent_down: tuple[float, float] | None = None, mid: bool = False
                      ) -> tuple[np.ndarray, ...]:
    """1-Hz readings (segment, role, time_us, value, quality) of a case, with noise and fixed biases; the
    downstream transmitter silent (no readings) through `silent_down` (s); mid: and the mid-line transmitter's."""
    from services.leakdetect.domain import layout as L
    from services.network.quality import QUALITY_GOOD

    res = detector_run(case)
    rng = np.random.default_rng(seed)
    t_s = res.time_s
    n = t_s.size
    cols = [
        (L.ROLE_FLOW_IN, res.probe_flow_kg_per_s[:, 0] * (1.002 + Q_NOISE_REL * rng.standard_normal(n))),
        (L.ROLE_FLOW_OUT, res.probe_flow_kg_per_s[:, 1] * (0.999 + Q_NOISE_REL * rng.standard_normal(n))),
        (L.ROLE_PRESSURE_UP, res.probe_pressure_pa[:, 0] + 500.0 + P_NOISE_PA * rng.standard_normal(n)),
        (L.ROLE_PRESSURE_DOWN, res.probe_pressure_pa[:, 1] - 300.0 + P_NOISE_PA * rng.standard_normal(n)),
    ]
    if mid:  # drawn after the others: the end meters' readings stay those of the same seed without it
        cols.append((L.ROLE_PRESSURE_MID0, res.probe_pressure_pa[:, 2] + 200.0 + P_NOISE_PA * rng.standard_normal(n)))
    parts = []
    for role, v in cols:
        keep = np.ones(n, dtype=bool)
        if role == L.ROLE_PRESSURE_DOWN and silent_down is not None:
            keep = (t_s < silent_down[0]) | (t_s >= silent_down[1])
        parts.append((np.full(keep.sum(), role), T0_US + np.round(t_s[keep] * 1e6).astype(np.int64), v[keep]))
    roles = np.concatenate([p[0] for p in parts])
    time_us = np.concatenate([p[1] for p in parts])
    value = np.concatenate([p[2] for p in parts])
    order = np.argsort(time_us, kind="stable")
    return (np.zeros(order.size, dtype=np.int64), roles[order].astype(np.int64), time_us[order], value[order],
            np.full(order.size, QUALITY_GOOD, dtype=np.int64))


@functools.cache
def trace(case: str, noise_seed: int = 1) -> Trace:
    """case: "operations" (an hour steady, the supply set-point -5 % over 5 min, then demand +15 % over 5 min,
    3 h) or "leak" (steady, a 1 % leak from 1 h, 2 h)."""
    from services.gasflow import LeakSpec, Scenario, Schedule, Simulator
    from services.gasflow.model import Probe
    from services.gasflow.physics import GasSpec

    gas = GasSpec(equation_of_state="ideal")
    spec = _spec()
    probes = (Probe("UP", "P", 0.0), Probe("DN", "P", LENGTH_M), Probe("MID", "P", MID_X_FRAC * LENGTH_M))
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
    pu = p[:, 0] + SIGMA_P_PA * rng.standard_normal(n)
    pd = p[:, 1] + SIGMA_P_PA * rng.standard_normal(n)
    q_in = q[:, 0] * (1.0 + SIGMA_Q_REL * rng.standard_normal(n))
    q_out = q[:, 1] * (1.0 + SIGMA_Q_REL * rng.standard_normal(n))
    return Trace(
        t_s=TICK_S * np.arange(1, n + 1),
        pu=pu,
        pd=pd,
        q_in=q_in,
        q_out=q_out,
        lp_true=lp,
        leak=leak,
        pm=p[:, 2] + SIGMA_P_PA * rng.standard_normal(n),  # drawn last: the end meters' draws are as before
        rt=rt,
        vol=area * LENGTH_M,
        k=DARCY * rt * LENGTH_M / (DIAMETER_M * area * area),
    )
