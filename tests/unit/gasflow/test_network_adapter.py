"""Simulator inputs built from the project's network model (the demo city)."""

from __future__ import annotations

import numpy as np
import pytest

from services.gasflow import LeakSpec, Scenario, Simulator
from services.gasflow.network_adapter import network_spec, segment_network, tag_probes
from services.gasflow.scada import instruments_from_tags, scada_readings
from services.network import TagKind, load_demo_network


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_demo_network()


def test_whole_demo_network_starts_steady_and_balances(model) -> None:  # type: ignore[no-untyped-def]
    net = network_spec(model, demand_scale=0.5)
    r = Simulator(net).run(Scenario(duration_s=60.0, probes=tag_probes(model, ["TR-01", "DS-M01"])))
    assert np.ptp(r.probe_pressure_pa, axis=0).max() < 50.0
    demand = sum(n.nominal_demand_kg_per_s for n in model.nodes.values()) * 0.5
    assert r.node_injection_kg_per_s[-1, r.node("CGS")] == pytest.approx(demand, rel=1e-3)
    up = r.probe("DS-M01-PT-UP")
    assert r.probe_pressure_pa[-1, up] == pytest.approx(model.nodes["RS-DS"].supply_pressure_pa, rel=1e-6)


def test_subset_starts_in_the_state_it_has_in_the_whole_network(model) -> None:  # type: ignore[no-untyped-def]
    probes = tag_probes(model, ["DS-M02"])
    whole = Simulator(network_spec(model, demand_scale=0.5)).run(Scenario(duration_s=10.0, probes=probes))
    sub = Simulator(network_spec(model, ["DS-M01", "DS-M02", "DS-M03"], demand_scale=0.5)).run(
        Scenario(duration_s=10.0, probes=probes)
    )
    assert np.allclose(sub.probe_pressure_pa[-1], whole.probe_pressure_pa[-1], rtol=1e-4)
    assert np.allclose(sub.probe_flow_kg_per_s[-1], whole.probe_flow_kg_per_s[-1], rtol=1e-4)


def test_segment_network_and_scada_end_to_end(model) -> None:  # type: ignore[no-untyped-def]
    seg = segment_network(model, "DS-M01", demand_scale=0.5)
    assert [n.kind for n in seg.nodes] == ["pressure", "flow"]
    probes = tag_probes(model, ["DS-M01"])
    r = Simulator(seg).run(
        Scenario(
            duration_s=600.0,
            probes=probes,
            leaks=(LeakSpec("DS-M01", 1000.0, 300.0, rate_kg_per_s=0.05),),
        )
    )
    readings = scada_readings(r, instruments_from_tags(model, [p.probe_id for p in probes]), seed=11)
    t, v, _ = readings.of_tag(model.end_tag("DS-M01", TagKind.FLOW, upstream=True).tag_id)  # type: ignore[union-attr]
    # Upstream meter reads half the segment's nominal flow (demand_scale=0.5) before the leak starts.
    assert v[:200].mean() == pytest.approx(0.5 * model.segments["DS-M01"].nominal_flow_kg_per_s, rel=0.03)
    assert len(t) > 500


def test_garbage_ids_raise(model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        network_spec(model, ["NOPE"])
    with pytest.raises(ValueError):
        network_spec(model, [])
    with pytest.raises(ValueError):
        segment_network(model, "NOPE")
    with pytest.raises(ValueError):
        tag_probes(model, ["NOPE"])
    with pytest.raises(ValueError):
        instruments_from_tags(model, ["NOPE"])
    with pytest.raises(ValueError):
        network_spec(model, demand_scale=float("nan"))
