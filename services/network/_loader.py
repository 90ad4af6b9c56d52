"""Load and validate a network file (YAML). Every problem is reported with the file, the entry and what is wrong."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

from .constants import COMPONENT_MOLAR_MASS_KG_PER_MOL, specific_gravity_of
from .model import (
    END_TOLERANCE_M,
    Accuracy,
    AccuracyBasis,
    EquationOfState,
    ErrorTerms,
    GasProperties,
    Gateway,
    Network,
    Node,
    NodeKind,
    PipeClass,
    Segment,
    Tag,
    TagKind,
)
from .units import conversion_to_si

T = TypeVar("T")
# libyaml's safe loader when PyYAML was built with it (same documents, about ten times faster), else PyYAML's
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEMO_NETWORK_PATH = Path(__file__).with_name("data") / "demo_city.yaml"
# A network file is ~300 bytes per tag (the demo city: 41 kB for 138 tags), so a utility's 100,000 tags fit in
# ~30 MB; the cap keeps a hostile or mistaken file (a log, a disk image, /dev/zero) from being read and parsed for
# minutes, and says so at once.
MAX_NETWORK_FILE_BYTES = 64 * 1024 * 1024


class NetworkFileError(ValueError):
    """A network file that cannot be used; names the file, the entry and the problem."""

    def __init__(self, path: Path | str, entry: str, problem: str) -> None:
        self.path = str(path)
        self.entry = entry
        self.problem = problem
        super().__init__(f"{self.path}: {entry}: {problem}")


class _Entry:
    """Typed field access on one mapping of the file, raising NetworkFileError that names the entry."""

    def __init__(self, path: Path, name: str, raw: object, allowed: set[str]) -> None:
        self.path, self.name = path, name
        if not isinstance(raw, Mapping):
            self.fail(f"expected a mapping, got {type(raw).__name__}")
        self.raw: Mapping[str, Any] = raw
        unknown = sorted(set(raw) - allowed)
        if unknown:
            self.fail(f"unknown field(s) {', '.join(map(str, unknown))}; allowed: {', '.join(sorted(allowed))}")

    def fail(self, problem: str) -> NoReturn:
        raise NetworkFileError(self.path, self.name, problem)

    def _get(self, key: str, default: object) -> object:
        if key in self.raw:
            return self.raw[key]
        if default is _REQUIRED:
            self.fail(f"missing required field {key!r}")
        return default

    def text(self, key: str, default: object = None) -> str:
        value = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{key} must be a non-empty string, got {value!r}")
        return value

    def number(
        self, key: str, *, minimum: float | None = None, positive: bool = False, default: object = None
    ) -> float:
        value = self._get(key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(f"{key} must be a finite number, got {value!r}")
        number = float(value)
        if positive and number <= 0:
            self.fail(f"{key} must be > 0, got {number:g}")
        if minimum is not None and number < minimum:
            self.fail(f"{key} must be >= {minimum:g}, got {number:g}")
        return number

    def optional_number(self, key: str, low: float, high: float, unit: str, what: str) -> float | None:
        """A number in (low, high] if the key is present, else None."""
        if key not in self.raw:
            return None
        number = self.number(key)
        if not low < number <= high:
            self.fail(f"{key} must be in ({low:g}, {high:g}] {unit} ({what}), got {number:g}".replace("  ", " "))
        return number

    def integer(self, key: str, *, minimum: int, maximum: int) -> int:
        value = self._get(key, _REQUIRED)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.fail(f"{key} must be an integer in [{minimum}, {maximum}], got {value!r}")
        return int(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{key} must be true or false, got {value!r}")
        return value

    def choice(self, key: str, enum_type: Callable[[str], T], choices: list[str], default: object = None) -> T:
        value = self._get(key, _REQUIRED if default is None else default)
        if value not in choices:
            self.fail(f"{key} must be one of {', '.join(choices)}, got {value!r}")
        return enum_type(str(value))


_REQUIRED = object()


def _entries(path: Path, document: Mapping[str, Any], key: str, id_field: str) -> list[tuple[str, object]]:
    items = document.get(key)
    if not isinstance(items, list) or not items:
        raise NetworkFileError(path, key, "must be a non-empty list")
    named = []
    for index, item in enumerate(items):
        item_id = item.get(id_field) if isinstance(item, Mapping) else None
        named.append((f"{key}[{index}]" + (f" ({item_id})" if isinstance(item_id, str) else ""), item))
    return named


def _unique(path: Path, name: str, item_id: str, seen: set[str]) -> None:
    if item_id in seen:
        raise NetworkFileError(path, name, f"duplicate id {item_id!r}")
    seen.add(item_id)


def load_network(path: Path | str) -> Network:
    """Read and validate a network file."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            content = file.read(MAX_NETWORK_FILE_BYTES + 1)  # bounded: also for a device or a pipe that never ends
        if len(content) > MAX_NETWORK_FILE_BYTES:
            raise NetworkFileError(
                path, "<file>", f"is larger than {MAX_NETWORK_FILE_BYTES // 2**20} MiB, the most a network file may be"
            )
        document = yaml.load(content.decode("utf-8"), Loader=_SAFE_LOADER)
    except OSError as error:
        raise NetworkFileError(path, "<file>", f"cannot be read: {error.strerror or error}") from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise NetworkFileError(path, "<file>", f"is not valid YAML: {error}") from error
    if not isinstance(document, Mapping):
        raise NetworkFileError(path, "<file>", "must be a YAML mapping with name, gas, nodes, segments, gateways, tags")
    return parse_network(document, path)


def parse_network(document: Mapping[str, Any], path: Path | str = "<memory>") -> Network:
    """Validate an already-parsed network document."""
    path = Path(path)
    top = _Entry(path, "<file>", document, {"name", "gas", "segment_defaults", "nodes", "segments", "gateways", "tags"})
    name = top.text("name")

    gas = _gas(path, document.get("gas"))
    defaults = _segment_defaults(path, document)

    nodes: dict[str, Node] = {}
    for entry_name, raw in _entries(path, document, "nodes", "id"):
        e = _Entry(
            path,
            entry_name,
            raw,
            {"id", "kind", "district", "elevation_m", "supply_pressure_pa", "nominal_demand_kg_per_s", "x_m", "y_m"},
        )
        node_id = e.text("id")
        _unique(path, entry_name, node_id, set(nodes))
        kind = e.choice("kind", NodeKind, [k.value for k in NodeKind])
        supply = None
        if kind in (NodeKind.SUPPLY, NodeKind.REGULATOR):
            supply = e.number("supply_pressure_pa", positive=True)
        elif "supply_pressure_pa" in e.raw:
            e.fail(f"supply_pressure_pa is only for supply and regulator nodes, not {kind.value}")
        demand = e.number("nominal_demand_kg_per_s", minimum=0.0, default=0.0)
        if demand and kind is not NodeKind.DEMAND:
            e.fail(f"nominal_demand_kg_per_s is only for demand nodes, not {kind.value}")
        x_m = y_m = None
        if "x_m" in e.raw or "y_m" in e.raw:
            if not ("x_m" in e.raw and "y_m" in e.raw):
                e.fail("x_m and y_m (map position) go together: give both or neither")
            x_m, y_m = e.number("x_m"), e.number("y_m")
        nodes[node_id] = Node(
            node_id, kind, e.text("district"), e.number("elevation_m"), supply, demand, x_m=x_m, y_m=y_m
        )

    segments: dict[str, Segment] = {}
    segment_fields = {
        "id", "district", "from_node", "to_node", "length_km", "inner_diameter_mm",
        "elevation_up_m", "elevation_down_m", "material", "install_year", "pressure_class",
        "max_operating_pressure_pa", "pipe_class", "nominal_flow_kg_per_s", "monitored", *HYDRAULIC_FIELDS,
    }  # fmt: skip
    for entry_name, raw in _entries(path, document, "segments", "id"):
        e = _Entry(path, entry_name, raw, segment_fields)
        segment_id = e.text("id")
        _unique(path, entry_name, segment_id, set(segments))
        from_node, to_node = e.text("from_node"), e.text("to_node")
        for end in (from_node, to_node):
            if end not in nodes:
                e.fail(f"node {end!r} is not defined in nodes")
        if from_node == to_node:
            e.fail("from_node and to_node are the same node")
        hydraulics = _hydraulics(e, defaults)
        segments[segment_id] = Segment(
            segment_id=segment_id,
            district=e.text("district"),
            from_node=from_node,
            to_node=to_node,
            length_m=e.number("length_km", positive=True) * 1000.0,
            inner_diameter_m=e.number("inner_diameter_mm", positive=True) / 1000.0,
            roughness_m=hydraulics.roughness_m,
            elevation_up_m=e.number("elevation_up_m"),
            elevation_down_m=e.number("elevation_down_m"),
            material=e.text("material"),
            install_year=e.integer("install_year", minimum=1850, maximum=2100),
            pressure_class=e.text("pressure_class"),
            max_operating_pressure_pa=e.number("max_operating_pressure_pa", positive=True),
            pipe_class=e.choice("pipe_class", PipeClass, [c.value for c in PipeClass]),
            nominal_flow_kg_per_s=e.number("nominal_flow_kg_per_s", positive=True),
            monitored=e.flag("monitored", False),
            equation_of_state=hydraulics.equation_of_state,
            wave_speed_m_per_s=hydraulics.wave_speed_m_per_s,
            darcy_friction_factor=hydraulics.darcy_friction_factor,
        )
        roughness_m = segments[segment_id].roughness_m
        if roughness_m is not None and roughness_m >= segments[segment_id].inner_diameter_m:
            e.fail("roughness_mm must be smaller than inner_diameter_mm")

    gateways: dict[str, Gateway] = {}
    for entry_name, raw in _entries(path, document, "gateways", "id"):
        e = _Entry(path, entry_name, raw, {"id", "district"})
        gateway_id = e.text("id")
        _unique(path, entry_name, gateway_id, set(gateways))
        gateways[gateway_id] = Gateway(gateway_id, e.text("district"))

    tags: dict[str, Tag] = {}
    tag_fields = {
        "id", "segment", "position_km", "kind", "unit", "range", "scan_period_s", "gateway", "accuracy",
        "confined_space", "redundancy_group",
    }  # fmt: skip
    for entry_name, raw in _entries(path, document, "tags", "id"):
        e = _Entry(path, entry_name, raw, tag_fields)
        tag_id = e.text("id")
        _unique(path, entry_name, tag_id, set(tags))
        segment_id = e.text("segment")
        if segment_id not in segments:
            e.fail(f"segment {segment_id!r} is not defined in segments")
        segment = segments[segment_id]
        position_m = e.number("position_km", minimum=0.0) * 1000.0
        if position_m > segment.length_m + END_TOLERANCE_M:
            e.fail(
                f"position_km {position_m / 1000:g} is beyond the end of {segment_id} ({segment.length_m / 1000:g} km)"
            )
        tag_kind = e.choice("kind", TagKind, [k.value for k in TagKind])
        unit = e.text("unit")
        try:
            conversion_to_si(tag_kind, unit, gas.specific_gravity)
        except ValueError as error:
            e.fail(str(error))
        range_min, range_max = _range(e)
        gateway_id = e.text("gateway")
        if gateway_id not in gateways:
            e.fail(f"gateway {gateway_id!r} is not defined in gateways")
        confined = e.flag("confined_space", False)
        if confined and tag_kind is not TagKind.METHANE_LEL:
            e.fail("confined_space applies to methane_lel sensors only")
        tags[tag_id] = Tag(
            tag_id=tag_id,
            segment_id=segment_id,
            position_m=min(position_m, segment.length_m),
            kind=tag_kind,
            unit=unit,
            range_min=range_min,
            range_max=range_max,
            scan_period_s=e.number("scan_period_s", positive=True),
            gateway_id=gateway_id,
            accuracy=_accuracy(path, entry_name, e.raw.get("accuracy"), tag_kind, range_min, range_max),
            confined_space=confined,
            redundancy_group=e.text("redundancy_group") if "redundancy_group" in e.raw else None,
        )

    connected = {s.from_node for s in segments.values()} | {s.to_node for s in segments.values()}
    for node_id in nodes:
        if node_id not in connected:
            raise NetworkFileError(path, f"nodes ({node_id})", "no segment connects to this node")
    network = Network(name, gas, nodes, segments, gateways, tags)
    _check_redundancy_groups(path, network)
    _check_instrumented_ends(path, network)
    return network


def _range(e: _Entry) -> tuple[float, float]:
    value = e.raw.get("range")
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        or value[0] >= value[1]
    ):
        e.fail(f"range must be [min, max] with finite min < max, got {value!r}")
    return float(value[0]), float(value[1])


def _accuracy(path: Path, entry_name: str, raw: object, kind: TagKind, range_min: float, range_max: float) -> Accuracy:
    """The short form {basis: value} (a 95 % bound of the total error) or {noise_sd: {...}, bias_bound: {...}}."""
    bases = [b.value for b in AccuracyBasis]
    if isinstance(raw, Mapping) and ({"noise_sd", "bias_bound"} & set(raw)):
        e = _Entry(path, f"{entry_name}.accuracy", raw, {"noise_sd", "bias_bound"})
        noise = _error_terms(path, f"{entry_name}.accuracy.noise_sd", e.raw.get("noise_sd"), e)
        bias = _error_terms(path, f"{entry_name}.accuracy.bias_bound", e.raw.get("bias_bound", {}), e, zero_ok=True)
        span = range_max - range_min
        for what, terms in (("noise_sd", noise), ("bias_bound", bias)):
            total = terms.pct_of_reading / 100.0 * max(abs(range_min), abs(range_max))
            total += terms.pct_of_span / 100.0 * span + terms.absolute
            if total >= 0.5 * span:
                e.fail(f"{what} is {total:g} in the tag's unit at full scale: half the span or more, not a meter's")
        return Accuracy(None, 0.0, noise_sd=noise, bias_bound=bias)
    e = _Entry(path, f"{entry_name}.accuracy", raw, set(bases) | {"noise_sd", "bias_bound"})
    if len(e.raw) != 1:
        e.fail(f"give exactly one of {', '.join(bases)} (or noise_sd with bias_bound)")
    ((basis, _),) = e.raw.items()
    return Accuracy(AccuracyBasis(basis), e.number(basis, positive=True))


def _error_terms(path: Path, name: str, raw: object, parent: _Entry, zero_ok: bool = False) -> ErrorTerms:
    if raw is None:
        parent.fail("noise_sd is required in the explicit form (a standard deviation per reading)")
    bases = [b.value for b in AccuracyBasis]
    e = _Entry(path, name, raw, set(bases))
    if not e.raw and not zero_ok:
        e.fail(f"give at least one of {', '.join(bases)}")
    values = {b: e.number(b, minimum=0.0) for b in bases if b in e.raw}
    if not zero_ok and not any(values.values()):
        e.fail("a meter has some noise: every part is 0")
    for b, v in values.items():
        if b != AccuracyBasis.ABSOLUTE.value and v >= 50.0:
            e.fail(f"{b} {v:g} % is not a meter's accuracy (must be below 50)")
    return ErrorTerms(**values)


HYDRAULIC_FIELDS = ("equation_of_state", "wave_speed_m_per_s", "darcy_friction_factor", "roughness_mm")
# Plausible limits, wide on purpose: a gas's isothermal wave speed is 250-450 m/s (the simulator takes
# 100-2000 for other fluids' published cases); a Darcy factor of 0.2 is already a blocked pipe.
WAVE_SPEED_LIMITS_M_PER_S = (100.0, 2000.0)
DARCY_FACTOR_MAX = 0.2


class _Hydraulics:
    def __init__(
        self,
        equation_of_state: EquationOfState,
        wave_speed_m_per_s: float | None,
        darcy_friction_factor: float | None,
        roughness_m: float | None,
    ) -> None:
        self.equation_of_state = equation_of_state
        self.wave_speed_m_per_s = wave_speed_m_per_s
        self.darcy_friction_factor = darcy_friction_factor
        self.roughness_m = roughness_m


def _hydraulic_fields(e: _Entry) -> dict[str, Any]:
    """The hydraulic options an entry (a segment or segment_defaults) gives, checked; absent ones left out."""
    out: dict[str, Any] = {}
    if "equation_of_state" in e.raw:
        out["equation_of_state"] = e.choice("equation_of_state", EquationOfState, [m.value for m in EquationOfState])
    lo, hi = WAVE_SPEED_LIMITS_M_PER_S
    wave = e.optional_number("wave_speed_m_per_s", lo, hi, "m/s", "a fixed isothermal wave speed")
    if wave is not None:
        out["wave_speed_m_per_s"] = wave
    factor = e.optional_number("darcy_friction_factor", 0.0, DARCY_FACTOR_MAX, "", "a fixed Darcy friction factor")
    if factor is not None:
        out["darcy_friction_factor"] = factor
    if "roughness_mm" in e.raw:
        out["roughness_mm"] = e.number("roughness_mm", minimum=0.0)
    if "darcy_friction_factor" in out and "roughness_mm" in out:
        e.fail("give roughness_mm or darcy_friction_factor (a fixed factor replaces roughness), not both")
    return out


def _segment_defaults(path: Path, document: Mapping[str, Any]) -> dict[str, Any]:
    if "segment_defaults" not in document:
        return {}
    return _hydraulic_fields(_Entry(path, "segment_defaults", document["segment_defaults"], set(HYDRAULIC_FIELDS)))


def _hydraulics(e: _Entry, defaults: Mapping[str, Any]) -> _Hydraulics:
    """A segment's own hydraulic options, else the file's segment_defaults; friction from exactly one source."""
    own = _hydraulic_fields(e)
    merged = {**defaults, **own}
    # friction: the segment's own choice (roughness or a factor) replaces the default's, whichever it was
    if "roughness_mm" in own:
        merged.pop("darcy_friction_factor", None)
    elif "darcy_friction_factor" in own:
        merged.pop("roughness_mm", None)
    if "roughness_mm" not in merged and "darcy_friction_factor" not in merged:
        e.fail("missing required field 'roughness_mm' (or darcy_friction_factor, here or in segment_defaults)")
    roughness = merged.get("roughness_mm")
    return _Hydraulics(
        merged.get("equation_of_state", EquationOfState.REAL_DAK),
        merged.get("wave_speed_m_per_s"),
        merged.get("darcy_friction_factor"),
        None if roughness is None else roughness / 1000.0,
    )


# A gas analysis sums to 1 within rounding; farther off it is a typing error, not rounding.
COMPOSITION_SUM_TOLERANCE = 0.005


def _gas(path: Path, raw: object) -> GasProperties:
    e = _Entry(
        path,
        "gas",
        raw,
        {"specific_gravity", "composition", "temperature_k", "co2_mole_fraction", "n2_mole_fraction",
         "h2s_mole_fraction"},
    )  # fmt: skip
    temperature_k = e.number("temperature_k", positive=True)
    composition: dict[str, float] | None = None
    if "composition" in e.raw:
        clash = sorted({"specific_gravity", "co2_mole_fraction", "n2_mole_fraction", "h2s_mole_fraction"} & set(e.raw))
        if clash:
            e.fail(f"give composition or {', '.join(clash)}, not both (the composition determines them)")
        c = _Entry(path, "gas.composition", e.raw["composition"], set(COMPONENT_MOLAR_MASS_KG_PER_MOL))
        if not c.raw:
            c.fail("must name at least one component")
        fractions = {name: c.number(name, minimum=0.0) for name in c.raw}
        total = sum(fractions.values())
        if abs(total - 1.0) > COMPOSITION_SUM_TOLERANCE:
            c.fail(f"mole fractions sum to {total:g}, not 1 (within {COMPOSITION_SUM_TOLERANCE:g})")
        composition = {name: x / total for name, x in fractions.items()}
        gas = GasProperties(
            specific_gravity=specific_gravity_of(composition),
            temperature_k=temperature_k,
            co2_mole_fraction=composition.get("carbon_dioxide", 0.0),
            n2_mole_fraction=composition.get("nitrogen", 0.0),
            h2s_mole_fraction=composition.get("hydrogen_sulfide", 0.0),
            composition=composition,
        )
    else:
        gas = GasProperties(
            specific_gravity=e.number("specific_gravity", positive=True),
            temperature_k=temperature_k,
            co2_mole_fraction=e.number("co2_mole_fraction", minimum=0.0, default=0.0),
            n2_mole_fraction=e.number("n2_mole_fraction", minimum=0.0, default=0.0),
            h2s_mole_fraction=e.number("h2s_mole_fraction", minimum=0.0, default=0.0),
        )
    if not 0.55 <= gas.specific_gravity <= 0.9:
        what = "the composition's" if composition is not None else ""
        e.fail(f"{what} specific_gravity {gas.specific_gravity:.4g} is outside natural gas's 0.55..0.9".lstrip())
    for name in ("co2_mole_fraction", "n2_mole_fraction", "h2s_mole_fraction"):
        if getattr(gas, name) >= 0.5:
            e.fail(f"{name} {getattr(gas, name):g} is not a natural gas's (must be below 0.5)")
    return gas


# Redundant meters measure one quantity at one point: one meter run or one tapping, a few metres at most.
REDUNDANT_SPREAD_M = END_TOLERANCE_M
REDUNDANT_KINDS = (TagKind.PRESSURE, TagKind.FLOW, TagKind.TEMPERATURE)


def _check_redundancy_groups(path: Path, network: Network) -> None:
    """A redundancy group: two or more tags of one segment, of one kind (pressure, flow or temperature: a methane
    sensor watches its own manhole), within REDUNDANT_SPREAD_M of each other."""
    for name, tags in network.redundancy_groups.items():
        entry = f"tags (redundancy_group {name!r}: {', '.join(t.tag_id for t in tags)})"
        if len(tags) < 2:
            raise NetworkFileError(path, entry, "a redundancy group needs two or more tags; this one has one")
        first = tags[0]
        for tag in tags[1:]:
            if tag.segment_id != first.segment_id:
                raise NetworkFileError(path, entry, f"its tags are on different segments ({first.segment_id}, "
                                       f"{tag.segment_id}): redundant meters measure one point of one segment")
            if tag.kind is not first.kind:
                raise NetworkFileError(path, entry, f"its tags measure different kinds ({first.kind.value}, "
                                       f"{tag.kind.value}): redundant meters measure one quantity")
        if first.kind not in REDUNDANT_KINDS:
            raise NetworkFileError(path, entry, f"{first.kind.value} sensors cannot be redundant (each watches its "
                                   f"own place); allowed: {', '.join(k.value for k in REDUNDANT_KINDS)}")
        spread = max(t.position_m for t in tags) - min(t.position_m for t in tags)
        if spread > REDUNDANT_SPREAD_M:
            raise NetworkFileError(path, entry, f"its tags are {spread:g} m apart: redundant meters measure one "
                                   f"point (at most {REDUNDANT_SPREAD_M:g} m apart)")


def _check_instrumented_ends(path: Path, network: Network) -> None:
    """A monitored segment needs pressure and flow at both ends: the mass balance and NPW use them."""
    for segment in network.monitored_segments:
        for kind in (TagKind.PRESSURE, TagKind.FLOW):
            for upstream in (True, False):
                if network.end_tag(segment.segment_id, kind, upstream) is None:
                    end = "upstream" if upstream else "downstream"
                    raise NetworkFileError(
                        path,
                        f"segments ({segment.segment_id})",
                        f"is monitored but has no {kind.value} tag at its {end} end",
                    )


def load_demo_network() -> Network:
    """The demo city shipped with Pipewarden."""
    return load_network(DEMO_NETWORK_PATH)
