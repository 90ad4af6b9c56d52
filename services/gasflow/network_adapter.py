"""Build simulator inputs from the project's network model (services.network).

- :func:`network_spec` — the whole network (or any connected set of segments) as a NetworkSpec.
  Supply nodes become pressure nodes; a regulator station becomes two nodes, its outlet (pressure node,
  the set pressure) and its inlet ``"<id>~in"`` (a flow node drawing what the outlet supplies), so
  transmission and distribution levels are simulated together. For a subset of segments, the nodes
  where gas enters the subset become pressure nodes at the whole network's steady-state pressure,
  and the nodes where gas leaves it become flow nodes with the steady-state outflow there, so the
  subset starts in the same state it has inside the whole network.
- :func:`segment_network` — one segment between a pressure node (upstream) and a flow node.
- :func:`tag_probes` — a Probe per instrument tag (probe_id = tag_id) for the SCADA layer.

Gas: specific gravity, CO2 and H2S from the model (each segment's gas model, fixed wave speed and fixed
friction factor go onto its pipe); N2 (a few %) is treated as part of the hydrocarbon
gravity (its effect on Z is below the DAK error at these pressures).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .model import NetworkSpec, NodeSpec, PipeSpec, Probe, Scenario
from .physics import GasSpec

if TYPE_CHECKING:
    from services.network import Network

REGULATOR_INLET_SUFFIX = "~in"


def gas_spec(model: Network) -> GasSpec:
    g = model.gas
    return GasSpec(
        specific_gravity=g.specific_gravity,
        co2_mole_fraction=g.co2_mole_fraction,
        h2s_mole_fraction=g.h2s_mole_fraction,
    )


def pipe_spec(model: Network, segment_id: str, to_node: str | None = None) -> PipeSpec:
    """A segment as a pipe, with its hydraulic options (gas model, fixed wave speed, fixed friction factor)."""
    from services.network import EquationOfState

    s = model.segments[segment_id]
    return PipeSpec(
        pipe_id=s.segment_id,
        from_node=s.from_node,
        to_node=s.to_node if to_node is None else to_node,
        length_m=s.length_m,
        diameter_m=s.inner_diameter_m,
        # a fixed friction factor replaces roughness, which the pipe then never reads
        roughness_m=s.roughness_m if s.roughness_m is not None else 0.0,
        elevation_change_m=s.elevation_down_m - s.elevation_up_m,
        temperature_k=model.gas.temperature_k,
        darcy_friction_factor=s.darcy_friction_factor,
        wave_speed_m_per_s=s.wave_speed_m_per_s,
        equation_of_state="ideal" if s.equation_of_state is EquationOfState.IDEAL else "dak",
    )


def _full_network(model: Network, demand_scale: float = 1.0) -> NetworkSpec:
    from services.network import NodeKind

    regulators = {nid for nid, n in model.nodes.items() if n.kind is NodeKind.REGULATOR}
    pipes = []
    for s in model.segments.values():
        to_node = s.to_node + REGULATOR_INLET_SUFFIX if s.to_node in regulators else s.to_node
        pipes.append(pipe_spec(model, s.segment_id, to_node))
    used = {p.from_node for p in pipes} | {p.to_node for p in pipes}
    nodes = []
    for nid, n in model.nodes.items():
        if n.kind in (NodeKind.SUPPLY, NodeKind.REGULATOR):
            if n.supply_pressure_pa is None:
                raise ValueError(f"node {nid}: a {n.kind} node needs supply_pressure_pa")
            if nid in used:
                nodes.append(NodeSpec(nid, "pressure", n.supply_pressure_pa))
            inlet = nid + REGULATOR_INLET_SUFFIX
            if n.kind is NodeKind.REGULATOR and inlet in used:
                nodes.append(NodeSpec(inlet, "flow", 0.0, regulator_outlet=nid if nid in used else None))
        elif n.kind is NodeKind.DEMAND:
            nodes.append(NodeSpec(nid, "flow", n.nominal_demand_kg_per_s * demand_scale))
        else:
            nodes.append(NodeSpec(nid, "junction"))
    return NetworkSpec(pipes=tuple(pipes), nodes=tuple(nodes), gas=gas_spec(model))


def network_spec(model: Network, segment_ids: Iterable[str] | None = None, demand_scale: float = 1.0) -> NetworkSpec:
    """The whole network, or the connected subset of ``segment_ids`` cut out of its steady state.

    demand_scale multiplies every nominal demand (e.g. a night-time 0.5).
    """
    if not (0.0 <= demand_scale < 10.0):
        raise ValueError(f"demand_scale must be in [0, 10), got {demand_scale}")
    full = _full_network(model, demand_scale)
    if segment_ids is None:
        return full
    wanted = list(dict.fromkeys(segment_ids))
    unknown = [s for s in wanted if s not in model.segments]
    if not wanted or unknown:
        raise ValueError(f"unknown or no segment ids: {unknown or wanted}")
    from . import _kernel
    from .simulator import Simulator

    sim = Simulator(full)
    rho, m = sim.steady_state(Scenario(duration_s=1.0))
    g = sim.grid
    pressure = {
        nid: float(_kernel.pressure_from_density(float(rho[i]), g.kcoef[i], g.za[i], g.zb[i]))
        for nid, i in g.node_point.items()
    }
    pipes = [full.pipe(s) for s in wanted]
    inside = set(wanted)
    # net outflow of the subset at each of its nodes through pipes outside it, from the steady state
    outflow: dict[str, float] = {}
    for ip, p in enumerate(full.pipes):
        if p.pipe_id in inside:
            continue
        links = g.pipe_links[ip]
        outflow[p.from_node] = outflow.get(p.from_node, 0.0) + float(m[links[0]])
        outflow[p.to_node] = outflow.get(p.to_node, 0.0) - float(m[links[-1]])
    node_ids = list(dict.fromkeys([n for p in pipes for n in (p.from_node, p.to_node)]))
    nodes = []
    for nid in node_ids:
        base = full.node(nid)
        out = outflow.get(nid, 0.0)
        own = base.value if base.kind == "flow" else 0.0
        if base.kind == "pressure" or (base.kind != "pressure" and own + out < -1e-12):
            # gas enters the subset here: hold the pressure the whole network has at this node
            nodes.append(NodeSpec(nid, "pressure", pressure[nid]))
        elif base.regulator_outlet is not None or abs(out) > 1e-12 or base.kind == "flow":
            nodes.append(NodeSpec(nid, "flow", own + out))
        else:
            nodes.append(NodeSpec(nid, "junction"))
    if not any(n.kind == "pressure" for n in nodes):
        # no inflow point (e.g. a dead end): anchor at the most upstream node
        first = pipes[0].from_node
        nodes = [NodeSpec(n.node_id, "pressure", pressure[n.node_id]) if n.node_id == first else n for n in nodes]
    return NetworkSpec(pipes=tuple(pipes), nodes=tuple(nodes), gas=full.gas)


def segment_network(
    model: Network,
    segment_id: str,
    inlet_pressure_pa: float | None = None,
    outlet_flow_kg_per_s: float | None = None,
    demand_scale: float = 1.0,
) -> NetworkSpec:
    """One segment: upstream node a pressure node, downstream node a flow node.

    Defaults: the pressure the whole network has at the segment's upstream node in steady state and
    the segment's nominal flow. Node ids are the model's node ids (regulator inlets get "~in").
    """
    if segment_id not in model.segments:
        raise ValueError(f"unknown segment {segment_id!r}")
    seg = model.segments[segment_id]
    spec = network_spec(model, [segment_id], demand_scale) if inlet_pressure_pa is None else None
    pipe = spec.pipes[0] if spec is not None else _full_network(model).pipe(segment_id)
    if inlet_pressure_pa is None:
        assert spec is not None
        inlet_pressure_pa = spec.node(pipe.from_node).value
    flow = seg.nominal_flow_kg_per_s * demand_scale if outlet_flow_kg_per_s is None else outlet_flow_kg_per_s
    return NetworkSpec(
        pipes=(pipe,),
        nodes=(NodeSpec(pipe.from_node, "pressure", inlet_pressure_pa), NodeSpec(pipe.to_node, "flow", flow)),
        gas=gas_spec(model),
    )


def tag_probes(model: Network, segment_ids: Iterable[str] | None = None) -> tuple[Probe, ...]:
    """A probe at every tag of the given segments (default: all), probe_id = tag_id."""
    wanted = set(model.segments) if segment_ids is None else set(segment_ids)
    unknown = wanted - set(model.segments)
    if unknown:
        raise ValueError(f"unknown segments: {sorted(unknown)}")
    return tuple(
        Probe(t.tag_id, t.segment_id, t.position_m)
        for t in sorted(model.tags.values(), key=lambda t: t.tag_id)
        if t.segment_id in wanted
    )
