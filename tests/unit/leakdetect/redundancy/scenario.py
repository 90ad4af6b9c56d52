"""Readings of TR-01 (demo city) with redundant meters: each member its own fixed bias and noise, one member
failing mid-run (stuck, drifting beyond its stated accuracy, noisy), an optional leak. SI values, 1 Hz flows,
10 Hz pressures as the tags' scan periods say."""

from __future__ import annotations

import dataclasses

import numpy as np

from services.network import Network, load_demo_network

NET0 = load_demo_network()
SEG = "TR-01"
FT_UP, PT_UP = "TR-01-FT-UP", "TR-01-PT-UP"
T0_S = 1_767_225_600
FLOW_SD_REL = 0.0025  # 1 s.d. of a flow reading's noise
P_SD_PA = 300.0
FLOW_STATED_REL = 0.005  # the demo's flow meters: 0.5 % of reading (95 %)
P_STATED_PA = 0.001 * 2.5e6  # pressure transmitters: 0.1 % of a 2.5 MPa span


def member_ids(primary: str, n: int) -> list[str]:
    return [primary] + [f"{primary}-{'BCD'[k]}" for k in range(n - 1)]


FT_MID = "TR-01-FT-MID"


def network(groups: dict[str, int], midflow_m: float | None = None) -> Network:
    """The demo city with `n` redundant meters in the role of each primary tag (its group: '<primary>-group'),
    and a mid-line flow meter `FT_MID` on TR-01 at `midflow_m`."""
    tags = dict(NET0.tags)
    if midflow_m is not None:
        tags[FT_MID] = dataclasses.replace(NET0.tags[FT_UP], tag_id=FT_MID, position_m=midflow_m)
    for primary, n in groups.items():
        for tid in member_ids(primary, n):
            tags[tid] = dataclasses.replace(NET0.tags[primary], tag_id=tid, redundancy_group=f"{primary}-group")
    return Network(NET0.name, NET0.gas, NET0.nodes, NET0.segments, NET0.gateways, tags)


def readings(seconds: int, groups: dict[str, int], fault: tuple[str, str, float] | None = None,
             leak_frac: float = 0.0, leak_start_s: float = np.inf, seed: int = 3, midflow_m: float | None = None,
             leak_m: float = 2500.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tag, time_us, value_si) sorted by time. `fault`: (tag, 'stuck' | 'drift' | 'noisy', from second); with
    `midflow_m`, the mid-line flow meter reads the flow there (the leak at `leak_m` upstream of it or not)."""
    rng = np.random.default_rng(seed)
    seg = NET0.segments[SEG]
    nominal = seg.nominal_flow_kg_per_s
    sec = np.arange(seconds, dtype=float)
    demand = nominal * (1.0 + 0.05 * np.sin(2 * np.pi * sec / 3600.0))
    q_in = demand + np.where(sec >= leak_start_s, leak_frac * nominal, 0.0)
    ts10 = np.arange(seconds * 10) / 10.0
    p_up = np.full(ts10.size, 0.85 * seg.max_operating_pressure_pa)
    p_dn = p_up - 40_000.0
    series = {"TR-01-FT-DN": (sec, demand * (0.998 + FLOW_SD_REL * rng.standard_normal(sec.size))),
              "TR-01-PT-DN": (ts10, p_dn + P_SD_PA * rng.standard_normal(ts10.size)),
              "TR-01-TT-UP": (sec[::10], 281.0 + 0.05 * rng.standard_normal(sec[::10].size))}
    if midflow_m is not None:
        q_mid = q_in if leak_m > midflow_m else demand
        series[FT_MID] = (sec, q_mid * (1.001 + FLOW_SD_REL * rng.standard_normal(sec.size)))
    for primary, truth, ts in ((FT_UP, q_in, sec), (PT_UP, p_up, ts10)):
        for k, tid in enumerate(member_ids(primary, groups.get(primary, 1))):
            offset = 0.003 * k  # members polled a few ms apart
            if primary == FT_UP:
                bias = rng.uniform(-0.6, 0.6) * FLOW_STATED_REL
                v = truth * (1.0 + bias) * (1.0 + FLOW_SD_REL * rng.standard_normal(ts.size))
                stated = FLOW_STATED_REL * truth
                noise = FLOW_SD_REL * truth
            else:
                v = truth + rng.uniform(-0.6, 0.6) * P_STATED_PA + P_SD_PA * rng.standard_normal(ts.size)
                stated = np.full(ts.size, P_STATED_PA)
                noise = np.full(ts.size, P_SD_PA)
            if fault is not None and fault[0] == tid:
                after = ts >= fault[2]
                if fault[1] == "stuck":
                    v[after] = v[np.argmax(after)]
                elif fault[1] == "drift":  # to 3x its stated accuracy over 10 minutes
                    v = v + 3.0 * stated * np.clip((ts - fault[2]) / 600.0, 0.0, 1.0)
                elif fault[1] == "noisy":
                    v = v + np.where(after, 6.0 * noise * rng.standard_normal(ts.size), 0.0)
            series[tid] = (ts + offset, v)
    tag = np.concatenate([np.full(t.size, tid, dtype=object) for tid, (t, _) in series.items()])
    t_us = np.concatenate([np.round((T0_S + t) * 1e6).astype(np.int64) for t, _ in series.values()])
    val = np.concatenate([v for _, v in series.values()])
    order = np.argsort(t_us, kind="stable")
    return tag[order], t_us[order], val[order]
