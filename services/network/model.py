"""Typed, immutable view of a pipeline network: gas, nodes, segments, gateways and instrument tags.

Every quantity is SI (Pa absolute, m, kg/s, K) except where the name says otherwise; tag ranges stay
in the tag's own unit because that is what a gateway sends and what telemetry validates first.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property


class NodeKind(enum.StrEnum):
    SUPPLY = "supply"  # city gate station: regulated supply pressure
    REGULATOR = "regulator"  # district regulator station: regulated outlet pressure
    JUNCTION = "junction"
    DEMAND = "demand"  # an offtake to consumers


class PipeClass(enum.StrEnum):
    TRANSMISSION = "transmission"
    MUNICIPAL = "municipal"
    COURTYARD = "courtyard"
    RISER = "riser"


class TagKind(enum.StrEnum):
    PRESSURE = "pressure"
    FLOW = "flow"
    TEMPERATURE = "temperature"
    METHANE_LEL = "methane_lel"


class AccuracyBasis(enum.StrEnum):
    """How an instrument's stated accuracy scales: with the reading, with the span, or fixed."""

    PCT_OF_READING = "pct_of_reading"
    PCT_OF_SPAN = "pct_of_span"
    ABSOLUTE = "absolute"  # in the tag's unit


class EquationOfState(enum.StrEnum):
    """The gas model of a segment: real gas (Z from Dranchuk-Abou-Kassem) or ideal gas (Z = 1)."""

    REAL_DAK = "real_dak"
    IDEAL = "ideal"


@dataclass(frozen=True, slots=True)
class GasProperties:
    specific_gravity: float  # relative to air (given, or computed from the composition)
    temperature_k: float  # ground temperature the buried pipes run at
    co2_mole_fraction: float = 0.0
    n2_mole_fraction: float = 0.0
    h2s_mole_fraction: float = 0.0
    # Mole fractions by component (services.network.constants.COMPONENT_MOLAR_MASS_KG_PER_MOL) when the file
    # gives an analysis instead of a specific gravity; None otherwise.
    composition: Mapping[str, float] | None = None


@dataclass(frozen=True, slots=True)
class Node:
    node_id: str
    kind: NodeKind
    district: str
    elevation_m: float
    supply_pressure_pa: float | None = None  # SUPPLY and REGULATOR nodes
    nominal_demand_kg_per_s: float = 0.0  # DEMAND nodes
    # Map position for schematics (metres east / north of the network's own origin); None when the
    # network file gives none. Never used by hydraulics: segment lengths are given on the segments.
    x_m: float | None = None
    y_m: float | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    segment_id: str
    district: str
    from_node: str  # upstream end: positions are measured from here
    to_node: str
    length_m: float
    inner_diameter_m: float
    roughness_m: float | None  # None when the segment states a fixed Darcy friction factor instead
    elevation_up_m: float
    elevation_down_m: float
    material: str
    install_year: int
    pressure_class: str
    max_operating_pressure_pa: float
    pipe_class: PipeClass
    nominal_flow_kg_per_s: float
    monitored: bool
    # Hydraulic options (the file's segment_defaults, or the segment's own): the gas model, a fixed wave speed
    # (None: from the gas at the operating pressure) and a fixed Darcy friction factor (None: from roughness).
    equation_of_state: EquationOfState = EquationOfState.REAL_DAK
    wave_speed_m_per_s: float | None = None
    darcy_friction_factor: float | None = None


@dataclass(frozen=True, slots=True)
class ErrorTerms:
    """One kind of instrument error as the sum of up to three parts, each in its own unit."""

    pct_of_reading: float = 0.0  # percent of the reading
    pct_of_span: float = 0.0  # percent of the span (range_max - range_min)
    absolute: float = 0.0  # in the tag's unit

    def to_si(self, span_si: float, scale: float) -> tuple[float, float]:
        """(relative part as a fraction of the reading, absolute part in SI) for a tag of this SI span and scale."""
        return self.pct_of_reading / 100.0, self.pct_of_span / 100.0 * span_si + self.absolute * abs(scale)


@dataclass(frozen=True, slots=True)
class Accuracy:
    """A meter's accuracy, in one of two forms.

    Stated (the short form ``{pct_of_span: 0.1}``): ``basis`` and ``value`` are a 95 % bound (2 s.d.) of the
    total error, noise and fixed bias together, the way data sheets quote it. Explicit: ``noise_sd`` is one
    standard deviation of the random error of each reading and ``bias_bound`` bounds the meter's fixed bias
    (|bias| <= bound, any value within equally likely); then ``basis`` is None.
    """

    basis: AccuracyBasis | None
    value: float  # percent for the *_PCT_* bases, the tag's unit for ABSOLUTE; 0 in the explicit form
    noise_sd: ErrorTerms | None = None
    bias_bound: ErrorTerms | None = None

    @property
    def explicit(self) -> bool:
        return self.basis is None

    def stated_to_si(self, span_si: float, scale: float) -> tuple[float, float]:
        """The stated 95 % bound as (fraction of reading, absolute SI); (0, 0) in the explicit form."""
        if self.basis is None:
            return 0.0, 0.0
        terms = ErrorTerms(**{self.basis.value: self.value})
        return terms.to_si(span_si, scale)


@dataclass(frozen=True, slots=True)
class Tag:
    tag_id: str
    segment_id: str
    position_m: float  # from the segment's upstream end
    kind: TagKind
    unit: str
    range_min: float  # valid physical range, in `unit`
    range_max: float
    scan_period_s: float
    gateway_id: str
    accuracy: Accuracy
    confined_space: bool = False  # methane sensors: manhole, vault or utility tunnel
    # Redundant meters: tags of one segment that measure the same quantity at the same point share a group name;
    # the detector cross-checks them, outvotes a failed one and names it (None: a meter of its own).
    redundancy_group: str | None = None

    @property
    def position_km(self) -> float:
        return self.position_m / 1000.0


@dataclass(frozen=True, slots=True)
class Gateway:
    gateway_id: str
    district: str


@dataclass(frozen=True)
class Network:
    name: str
    gas: GasProperties
    nodes: Mapping[str, Node]
    segments: Mapping[str, Segment]
    gateways: Mapping[str, Gateway]
    tags: Mapping[str, Tag]

    @cached_property
    def districts(self) -> tuple[str, ...]:
        return tuple(sorted({s.district for s in self.segments.values()}))

    @cached_property
    def _tags_by_segment(self) -> Mapping[str, tuple[Tag, ...]]:
        grouped: dict[str, list[Tag]] = {sid: [] for sid in self.segments}
        for tag in self.tags.values():
            grouped[tag.segment_id].append(tag)
        return {sid: tuple(sorted(tags, key=lambda t: (t.position_m, t.tag_id))) for sid, tags in grouped.items()}

    def tags_of_segment(self, segment_id: str) -> tuple[Tag, ...]:
        """The segment's tags ordered by position along it."""
        return self._tags_by_segment[segment_id]

    @cached_property
    def redundancy_groups(self) -> Mapping[str, tuple[Tag, ...]]:
        """Group name -> its redundant tags, ordered by tag id (the first is the group's primary)."""
        grouped: dict[str, list[Tag]] = {}
        for tag in self.tags.values():
            if tag.redundancy_group is not None:
                grouped.setdefault(tag.redundancy_group, []).append(tag)
        return {name: tuple(sorted(tags, key=lambda t: t.tag_id)) for name, tags in sorted(grouped.items())}

    def tags_of_gateway(self, gateway_id: str) -> tuple[Tag, ...]:
        return tuple(t for t in self.tags.values() if t.gateway_id == gateway_id)

    def segments_at_node(self, node_id: str) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments.values() if node_id in (s.from_node, s.to_node))

    def end_tag(self, segment_id: str, kind: TagKind, upstream: bool) -> Tag | None:
        """The tag of this kind at the segment's upstream (position 0) or downstream (full length) end."""
        segment = self.segments[segment_id]
        target_m = 0.0 if upstream else segment.length_m
        for tag in self.tags_of_segment(segment_id):
            if tag.kind is kind and abs(tag.position_m - target_m) <= END_TOLERANCE_M:
                return tag
        return None

    @property
    def monitored_segments(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments.values() if s.monitored)


# An instrument this close to a segment end measures that end (flanges and meter runs take space).
END_TOLERANCE_M = 5.0
