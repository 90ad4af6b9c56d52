"""Plain, validated inputs and outputs of the transient gas simulator.

A :class:`NetworkSpec` (pipes between nodes, the gas) is fixed; a :class:`Scenario` (duration,
boundary schedules, valve operations, leaks, probes, what to record) varies from run to run, so a
batch of leak scenarios reuses one network. Every quantity is SI: Pa absolute, kg/s, m, K, s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .physics import EQUATIONS_OF_STATE, GasSpec

FloatArray = NDArray[np.float64]

NodeKind = Literal["pressure", "flow", "junction"]
LeakKind = Literal["abrupt", "gradual", "rupture"]


def _finite(name: str, value: float, *, positive: bool = False, nonnegative: bool = False) -> None:
    if not isinstance(value, int | float | np.floating | np.integer) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if nonnegative and value < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True, eq=False)
class Schedule:
    """A piecewise-linear function of time: values at times_s, held constant before/after the ends.

    Two equal consecutive times make a step. Use :meth:`constant`, :meth:`step` and
    :func:`services.gasflow.profiles.daily_profile_schedule` to build common ones.
    """

    times_s: FloatArray
    values: FloatArray

    def __init__(self, times_s: ArrayLike, values: ArrayLike) -> None:
        t = np.array(times_s, dtype=np.float64, ndmin=1)
        v = np.array(values, dtype=np.float64, ndmin=1)
        if t.ndim != 1 or t.shape != v.shape or t.size == 0:
            raise ValueError("schedule times_s and values must be 1-D arrays of the same non-zero length")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
            raise ValueError("schedule times_s and values must be finite")
        if np.any(np.diff(t) < 0.0):
            raise ValueError("schedule times_s must be non-decreasing")
        t.flags.writeable = False
        v.flags.writeable = False
        object.__setattr__(self, "times_s", t)
        object.__setattr__(self, "values", v)

    @classmethod
    def constant(cls, value: float) -> Schedule:
        return cls([0.0], [value])

    @classmethod
    def step(cls, before: float, after: float, at_s: float, ramp_s: float = 0.0) -> Schedule:
        """`before` until at_s, then a linear change to `after` over ramp_s (0: a jump)."""
        _finite("ramp_s", ramp_s, nonnegative=True)
        return cls([0.0, at_s, at_s + ramp_s], [before, before, after])

    def __call__(self, t_s: ArrayLike) -> FloatArray:
        return np.interp(np.asarray(t_s, dtype=np.float64), self.times_s, self.values)

    def scaled(self, factor: float) -> Schedule:
        return Schedule(self.times_s, self.values * factor)


@dataclass(frozen=True)
class PipeSpec:
    """One pipe between two nodes; positions along it are measured from from_node."""

    pipe_id: str
    from_node: str
    to_node: str
    length_m: float
    diameter_m: float  # inner
    roughness_m: float = 4.5e-5  # commercial steel; PE ~1e-5, old cast iron ~2.5e-4
    elevation_change_m: float = 0.0  # z(to_node) - z(from_node)
    temperature_k: float = 288.15
    n_cells: int | None = None  # default: length / Scenario-independent dx_target_m of the simulator
    # A fixed Darcy friction factor instead of Swamee-Jain from roughness (and 64/Re when laminar): the
    # pipe's stated or calibrated factor, as published cases give it. None: from roughness.
    darcy_friction_factor: float | None = None
    # A fixed isothermal wave speed: the gas in this pipe follows p = c² ρ (the ideal-gas law with c² in
    # place of Z R T / M), so pressure waves travel at exactly c. None: from the network's gas and T.
    wave_speed_m_per_s: float | None = None
    # This pipe's gas model, "dak" or "ideal" (see GasSpec.equation_of_state); None: the network gas's.
    equation_of_state: str | None = None

    def __post_init__(self) -> None:
        _finite("length_m", self.length_m, positive=True)
        _finite("diameter_m", self.diameter_m, positive=True)
        _finite("roughness_m", self.roughness_m, nonnegative=True)
        _finite("elevation_change_m", self.elevation_change_m)
        _finite("temperature_k", self.temperature_k, positive=True)
        if self.roughness_m >= self.diameter_m / 2:
            raise ValueError(f"pipe {self.pipe_id}: roughness_m must be well below the diameter")
        if abs(self.elevation_change_m) > self.length_m:
            raise ValueError(f"pipe {self.pipe_id}: |elevation_change_m| exceeds length_m")
        if not 150.0 <= self.temperature_k <= 400.0:
            raise ValueError(f"pipe {self.pipe_id}: temperature_k {self.temperature_k} outside [150, 400] K")
        if self.n_cells is not None and (not isinstance(self.n_cells, int) or self.n_cells < 1):
            raise ValueError(f"pipe {self.pipe_id}: n_cells must be a positive int, got {self.n_cells!r}")
        if self.from_node == self.to_node:
            raise ValueError(f"pipe {self.pipe_id}: from_node and to_node must differ")
        if self.darcy_friction_factor is not None:
            _finite(f"pipe {self.pipe_id} darcy_friction_factor", self.darcy_friction_factor, positive=True)
            if self.darcy_friction_factor >= 0.2:
                raise ValueError(
                    f"pipe {self.pipe_id}: darcy_friction_factor {self.darcy_friction_factor} is not a pipe's (< 0.2)"
                )
        if self.equation_of_state is not None and self.equation_of_state not in EQUATIONS_OF_STATE:
            raise ValueError(
                f"pipe {self.pipe_id}: equation_of_state must be one of {', '.join(EQUATIONS_OF_STATE)}, "
                f"got {self.equation_of_state!r}"
            )
        if self.wave_speed_m_per_s is not None:
            _finite(f"pipe {self.pipe_id} wave_speed_m_per_s", self.wave_speed_m_per_s, positive=True)
            if not 100.0 <= self.wave_speed_m_per_s <= 2000.0:
                raise ValueError(
                    f"pipe {self.pipe_id}: wave_speed_m_per_s {self.wave_speed_m_per_s} outside [100, 2000] m/s"
                )

    @property
    def area_m2(self) -> float:
        return math.pi * self.diameter_m**2 / 4.0


@dataclass(frozen=True)
class NodeSpec:
    """A network node.

    kind "pressure": regulated pressure (Pa absolute) — a city gate, a regulator outlet.
    kind "flow": prescribed offtake in kg/s (positive out of the network, negative = injection).
    kind "junction": nothing prescribed.
    ``value`` is the default constant boundary value; a Scenario may replace it with a Schedule.
    ``regulator_outlet`` (flow nodes only) makes the node a pressure regulator's inlet: it withdraws
    exactly what the named pressure node (the regulator's outlet) supplies, so a network can be
    simulated across pressure levels.
    """

    node_id: str
    kind: NodeKind
    value: float = 0.0
    regulator_outlet: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("pressure", "flow", "junction"):
            raise ValueError(f"node {self.node_id}: kind must be pressure/flow/junction, got {self.kind!r}")
        _finite(f"node {self.node_id} value", self.value)
        if self.kind == "pressure" and self.value <= 0.0:
            raise ValueError(f"node {self.node_id}: pressure must be > 0 Pa absolute, got {self.value}")
        if self.regulator_outlet is not None and self.kind != "flow":
            raise ValueError(f"node {self.node_id}: only a flow node can be a regulator inlet")


@dataclass(frozen=True)
class NetworkSpec:
    pipes: tuple[PipeSpec, ...]
    nodes: tuple[NodeSpec, ...]
    gas: GasSpec = field(default_factory=GasSpec)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pipes", tuple(self.pipes))
        object.__setattr__(self, "nodes", tuple(self.nodes))
        if not self.pipes:
            raise ValueError("a network needs at least one pipe")
        ids = [p.pipe_id for p in self.pipes]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate pipe ids")
        node_ids = [n.node_id for n in self.nodes]
        if len(set(node_ids)) != len(node_ids):
            raise ValueError("duplicate node ids")
        known = set(node_ids)
        for p in self.pipes:
            for end in (p.from_node, p.to_node):
                if end not in known:
                    raise ValueError(f"pipe {p.pipe_id} refers to unknown node {end!r}")
        used = {p.from_node for p in self.pipes} | {p.to_node for p in self.pipes}
        unused = known - used
        if unused:
            raise ValueError(f"nodes without pipes: {sorted(unused)}")
        if not any(n.kind == "pressure" for n in self.nodes):
            raise ValueError("a network needs at least one pressure node (supply or regulator)")
        kinds = {n.node_id: n.kind for n in self.nodes}
        outlets = [n.regulator_outlet for n in self.nodes if n.regulator_outlet is not None]
        for o in outlets:
            if kinds.get(o) != "pressure":
                raise ValueError(f"regulator_outlet {o!r} must name a pressure node")
        if len(set(outlets)) != len(outlets):
            raise ValueError("two regulator inlets feed the same outlet")

    def pipe(self, pipe_id: str) -> PipeSpec:
        for p in self.pipes:
            if p.pipe_id == pipe_id:
                return p
        raise ValueError(f"unknown pipe {pipe_id!r}")

    def node(self, node_id: str) -> NodeSpec:
        for n in self.nodes:
            if n.node_id == node_id:
                return n
        raise ValueError(f"unknown node {node_id!r}")


@dataclass(frozen=True)
class ValveSpec:
    """A valve at one end of a pipe; opening 1 = fully open, 0 = shut (piecewise-linear in time).

    Its pressure drop is K m|m| / (2 ρ A²) with K = loss_coefficient_open / opening², applied on the
    pipe's first ("start") or last ("end") cell face.
    """

    valve_id: str
    pipe_id: str
    at: Literal["start", "end"]
    opening: Schedule
    loss_coefficient_open: float = 0.2  # full-bore ball valve

    def __post_init__(self) -> None:
        if self.at not in ("start", "end"):
            raise ValueError(f"valve {self.valve_id}: at must be 'start' or 'end'")
        if np.any(self.opening.values < 0.0) or np.any(self.opening.values > 1.0):
            raise ValueError(f"valve {self.valve_id}: opening must be within [0, 1]")
        _finite("loss_coefficient_open", self.loss_coefficient_open, positive=True)


@dataclass(frozen=True)
class LeakSpec:
    """A leak: a mass sink at position_m along a pipe.

    Either a fixed rate (rate_kg_per_s) or an orifice (orifice_diameter_m, choked/subsonic compressible
    orifice flow to atmosphere, so it falls with the local pressure). kind:
    "abrupt" - full size at onset_time_s; "gradual" - grows linearly over ramp_s;
    "rupture" - an orifice, full bore unless orifice_diameter_m says otherwise, opening over ramp_s (0).
    The leak stops at end_time_s (repair, isolation) if given.
    """

    pipe_id: str
    position_m: float
    onset_time_s: float
    kind: LeakKind = "abrupt"
    rate_kg_per_s: float | None = None
    orifice_diameter_m: float | None = None
    ramp_s: float = 0.0
    discharge_coefficient: float = 0.61
    end_time_s: float = math.inf

    def __post_init__(self) -> None:
        if self.kind not in ("abrupt", "gradual", "rupture"):
            raise ValueError(f"leak kind must be abrupt/gradual/rupture, got {self.kind!r}")
        _finite("leak position_m", self.position_m, nonnegative=True)
        _finite("leak onset_time_s", self.onset_time_s)  # < 0: the leak began before the run
        _finite("leak ramp_s", self.ramp_s, nonnegative=True)
        _finite("leak discharge_coefficient", self.discharge_coefficient, positive=True)
        if isinstance(self.end_time_s, float) and math.isnan(self.end_time_s):
            raise ValueError("leak end_time_s must not be NaN")
        if self.end_time_s <= self.onset_time_s:
            raise ValueError("leak end_time_s must be after onset_time_s")
        if self.kind == "gradual" and self.ramp_s <= 0.0:
            raise ValueError("a gradual leak needs ramp_s > 0")
        if self.kind == "abrupt" and self.ramp_s != 0.0:
            raise ValueError("an abrupt leak has ramp_s == 0 (use kind='gradual')")
        if self.kind == "rupture" and self.rate_kg_per_s is not None:
            raise ValueError("a rupture is an orifice: give orifice_diameter_m (or nothing: full bore)")
        if self.kind != "rupture" and (self.rate_kg_per_s is None) == (self.orifice_diameter_m is None):
            raise ValueError("give exactly one of rate_kg_per_s and orifice_diameter_m")
        if self.rate_kg_per_s is not None:
            _finite("leak rate_kg_per_s", self.rate_kg_per_s, positive=True)
        if self.orifice_diameter_m is not None:
            _finite("leak orifice_diameter_m", self.orifice_diameter_m, positive=True)


@dataclass(frozen=True)
class Probe:
    """A point where pressure and mass flow are recorded at every record interval."""

    probe_id: str
    pipe_id: str
    position_m: float

    def __post_init__(self) -> None:
        _finite(f"probe {self.probe_id} position_m", self.position_m, nonnegative=True)


@dataclass(frozen=True)
class Scenario:
    """One run. ``schedules`` replaces the constant boundary value of a pressure or flow node."""

    duration_s: float
    schedules: Mapping[str, Schedule] = field(default_factory=dict)
    valves: Sequence[ValveSpec] = ()
    leaks: Sequence[LeakSpec] = ()
    probes: Sequence[Probe] = ()
    record_interval_s: float = 1.0
    field_interval_s: float | None = None  # also record pressure/flow at every cell at this interval
    start_time_unix_s: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z; only used for timestamps

    def __post_init__(self) -> None:
        _finite("duration_s", self.duration_s, positive=True)
        _finite("record_interval_s", self.record_interval_s, positive=True)
        _finite("start_time_unix_s", self.start_time_unix_s, nonnegative=True)
        if self.field_interval_s is not None:
            _finite("field_interval_s", self.field_interval_s, positive=True)
        object.__setattr__(self, "valves", tuple(self.valves))
        object.__setattr__(self, "leaks", tuple(self.leaks))
        object.__setattr__(self, "probes", tuple(self.probes))
        object.__setattr__(self, "schedules", dict(self.schedules))
        ids = [p.probe_id for p in self.probes]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate probe ids")


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Ground truth of one run. Arrays are indexed [record, item]; record k is at time_s[k].

    Instantaneous values are the state at the record time; the ``cumulative_*`` arrays are exact
    time integrals (kg) from t = 0 to the record time, so in - out - leak - Δ line pack closes to
    round-off. ``node_injection_kg_per_s`` is positive into the network (a supply), negative out (a
    demand). Flows at probes are positive in the pipe's from->to direction; a probe at a pipe end reads
    the flow at that end, so in - out of a pipe's end probes is the rate of change of its line pack.
    """

    time_s: FloatArray
    dt_s: float
    start_time_unix_s: float
    probe_ids: tuple[str, ...]
    probe_pipe_ids: tuple[str, ...]
    probe_position_m: FloatArray
    probe_temperature_k: FloatArray
    probe_pressure_pa: FloatArray
    probe_flow_kg_per_s: FloatArray
    boundary_node_ids: tuple[str, ...]
    node_injection_kg_per_s: FloatArray
    cumulative_injection_kg: FloatArray
    leaks: tuple[LeakSpec, ...]
    leak_outflow_kg_per_s: FloatArray
    cumulative_leak_kg: FloatArray
    pipe_ids: tuple[str, ...]
    line_pack_kg: FloatArray  # whole network
    pipe_line_pack_kg: FloatArray  # [record, pipe]
    field_time_s: FloatArray
    point_pipe_index: NDArray[np.int64]  # -1 for network-node points
    point_position_m: FloatArray
    point_node_id: tuple[str, ...]  # "" for interior points
    field_pressure_pa: FloatArray  # [field record, point]
    link_pipe_index: NDArray[np.int64]
    link_position_m: FloatArray
    field_flow_kg_per_s: FloatArray  # [field record, link]
    final_density_kg_per_m3: FloatArray  # state at the end, per point: Simulator.run(initial_state=...)
    final_flow_kg_per_s: FloatArray  # per link
    final_density_rate_kg_per_m3_s: FloatArray  # dρ/dt per point over the last step (probe flows at pipe ends)

    def probe(self, probe_id: str) -> int:
        try:
            return self.probe_ids.index(probe_id)
        except ValueError:
            raise ValueError(f"unknown probe {probe_id!r}") from None

    def node(self, node_id: str) -> int:
        try:
            return self.boundary_node_ids.index(node_id)
        except ValueError:
            raise ValueError(f"{node_id!r} is not a pressure or flow node") from None

    @property
    def time_unix_us(self) -> NDArray[np.int64]:
        return np.round((self.start_time_unix_s + self.time_s) * 1e6).astype(np.int64)
