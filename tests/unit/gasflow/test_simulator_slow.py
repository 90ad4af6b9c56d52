"""Long simulator runs: a day with demand profiles, conservation over it, a day of the demo city."""

from __future__ import annotations

import numpy as np
import pytest

from services.gasflow import (
    LeakSpec,
    NetworkSpec,
    NodeSpec,
    PipeSpec,
    Probe,
    Scenario,
    Simulator,
    daily_profile_schedule,
)
from services.gasflow.network_adapter import network_spec
from services.network import load_demo_network

pytestmark = pytest.mark.slow


def test_a_day_with_a_demand_profile_conserves_mass() -> None:
    net = NetworkSpec(
        pipes=(PipeSpec("P", "IN", "OUT", 5000.0, 0.3, n_cells=50),),
        nodes=(NodeSpec("IN", "pressure", 5e5), NodeSpec("OUT", "flow", 3.0)),
    )
    day = 86400.0
    sc = Scenario(
        duration_s=day,
        schedules={"OUT": daily_profile_schedule(3.0, day, noise_fraction=0.03, seed=1)},
        leaks=(LeakSpec("P", 3300.0, 40000.0, kind="gradual", rate_kg_per_s=0.03, ramp_s=3600.0),),
        probes=(Probe("in", "P", 0.0), Probe("out", "P", 5000.0)),
        record_interval_s=10.0,
    )
    r = Simulator(net).run(sc)
    total_in = r.cumulative_injection_kg[-1, r.node("IN")]
    residual = r.cumulative_injection_kg[-1].sum() - r.cumulative_leak_kg[-1].sum()
    residual -= r.line_pack_kg[-1] - r.line_pack_kg[0]
    assert abs(residual) < 1e-9 * total_in
    assert r.cumulative_leak_kg[-1, 0] == pytest.approx(0.03 * (day - 40000.0 - 1800.0), rel=1e-3)
    assert r.probe_pressure_pa[:, 1].min() > 3e5


def test_demo_city_runs_an_hour_with_profiles() -> None:
    model = load_demo_network()
    net = network_spec(model, demand_scale=0.5)
    demands = {n.node_id: n.value for n in net.nodes if n.kind == "flow" and n.regulator_outlet is None}
    sc = Scenario(
        duration_s=3600.0,
        schedules={
            nid: daily_profile_schedule(v, 3600.0, start_hour=6, seed=i, noise_fraction=0.02)
            for i, (nid, v) in enumerate(demands.items())
        },
        record_interval_s=10.0,
    )
    r = Simulator(net).run(sc)
    assert np.all(np.isfinite(r.line_pack_kg))
    residual = r.cumulative_injection_kg[-1].sum() - (r.line_pack_kg[-1] - r.line_pack_kg[0])
    assert abs(residual) < 1e-9 * r.cumulative_injection_kg[-1, r.node("CGS")]
