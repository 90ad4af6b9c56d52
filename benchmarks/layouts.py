"""Random single-line layouts for the detection benchmarks: one monitored segment, drawn from a seed.

Each `Layout` is one transmission line, written as a network document that `services.network` loads (and so
the simulator, `services.gasflow.network_adapter.network_spec`, and the detectors' facade use it as they use
any network file). Its monitored segment `L-01` has pressure, flow and temperature at both ends and may have a
mid-line pressure meter; the other segments are there so that the ends are what they are on a real line:

- regulated upstream end: supply `SRC` -> header `HDR` -> regulator `REG` (holds its set-point) -> `L-01`;
- unregulated upstream end: supply `SRC` -> feeder `FEED` -> junction `J-UP` -> `L-01`, so a wave from inside
  the segment passes its upstream meters and travels on;
- downstream: `L-01` -> junction `J-DN` -> tail `TAIL` -> offtake `STN`.

`RANGES` states every drawn parameter's range, once: lengths 2-60 km (issue 19), standard inner diameters,
operating pressures of transmission lines, and the instrument accuracies of the domain brief
(../shared/domain.md, "Realistic instrument errors": flow +-0.5-1 % of reading, pressure +-0.05-0.1 % of
span, temperature +-0.5 K). The nominal flow is sized from the hydraulics (the outlet keeps at least
`PRESSURE_RATIO_AT_NOMINAL` of the inlet pressure at nominal flow) and capped at a gas velocity, so that a 2 km
and a 60 km line are both plausible. Upstream ends alternate (even layout numbers regulated), so every prefix of
the drawn layouts has both kinds; the rest is drawn. Layout `i` of seed `s` depends only on (s, i): the quick
suite's layouts are the first of the full suite's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

SEGMENT_ID = "L-01"
# node ids of the layout's network document
SUPPLY, REGULATOR, JUNCTION_UP, JUNCTION_DOWN, OFFTAKE = "SRC", "REG", "J-UP", "J-DN", "STN"
MIDLINE_PRESSURE_TAG = "L01-PT-MID"  # the detectors use it (a mid-line pressure role)
MIDLINE_FLOW_TAG = "L01-FT-MID"  # beside it, a flow meter: the sub-segment balances (issue 19)

# Each drawn parameter's range (inclusive); the generator draws inside them and tests check every layout.
RANGES: dict[str, tuple[float, float]] = {
    "length_km": (2.0, 60.0),
    "inner_diameter_mm": (200.0, 900.0),
    "roughness_mm": (0.02, 0.05),  # new to lightly used steel
    "elevation_change_m": (-60.0, 60.0),
    "inlet_pressure_pa": (1.6e6, 7.0e6),  # absolute, at the segment's upstream end (set-point or supply)
    "regulator_drop_ratio": (1.15, 1.6),  # supply pressure / regulator set-point
    "upstream_pipe_km": (0.5, 5.0),  # header above the regulator, or feeder from the supply
    "tail_km": (0.5, 3.0),
    "gas_velocity_cap_m_per_s": (6.0, 12.0),  # at the inlet pressure, nominal flow
    "pressure_ratio_at_nominal": (0.8, 0.95),  # outlet / inlet pressure at nominal flow (before the velocity cap)
    "specific_gravity": (0.57, 0.65),
    "temperature_k": (278.15, 293.15),
    "flow_accuracy_pct_of_reading": (0.5, 1.0),
    "pressure_accuracy_pct_of_span": (0.05, 0.1),
    "midline_fraction": (0.25, 0.75),  # mid-line pressure meter, as a fraction of the length
}
INNER_DIAMETERS_MM = (202.7, 254.5, 303.2, 381.0, 495.0, 590.6, 742.9, 889.0)  # DN 200 ... DN 900 steel
PRESSURE_SCAN_PERIODS_S = (0.1, 0.2, 0.5, 1.0)  # 10 Hz ... 1 Hz transmitters (domain brief: 1-100 Hz for NPW)
FLOW_SCAN_PERIOD_S = 1.0
TEMPERATURE_SCAN_PERIOD_S = 10.0
TEMPERATURE_ACCURACY_K = 0.5
PRESSURE_UNITS = ("bar_g", "MPa_g", "kPa_g")
FLOW_UNITS = ("Nm3/h", "t/h", "kg/s")
FLOW_RANGE_OVER_NOMINAL = (1.5, 2.5)  # bidirectional meters, [-r, r] with r this many times the nominal flow
PRESSURE_RANGE_OVER_MOP = 1.4
MOP_OVER_INLET = 1.1
ASSUMED_DARCY_FACTOR_FLOOR = 0.008  # sizing only; the simulator computes its own friction


@dataclass(frozen=True)
class Layout:
    """One drawn line. Lengths in km as the network file states them; pressures Pa absolute; flows kg/s."""

    layout_id: str
    seed: int
    index: int
    regulated: bool
    length_km: float
    inner_diameter_mm: float
    roughness_mm: float
    elevation_change_m: float
    inlet_pressure_pa: float
    supply_pressure_pa: float
    upstream_pipe_km: float
    tail_km: float
    nominal_flow_kg_per_s: float
    specific_gravity: float
    temperature_k: float
    flow_accuracy_pct_of_reading: float
    pressure_accuracy_pct_of_span: float
    pressure_scan_s: float
    pressure_unit: str
    flow_unit: str
    flow_range_over_nominal: float
    midline_fraction: float

    @property
    def length_m(self) -> float:
        return self.length_km * 1000.0

    @property
    def midline_position_m(self) -> float:
        return self.midline_fraction * self.length_m

    @property
    def inlet_node(self) -> str:
        """The node whose pressure schedule sets the segment's upstream pressure (a set-point, or the supply's)."""
        return REGULATOR if self.regulated else SUPPLY

    def summary(self) -> dict[str, Any]:
        return asdict(self)

    def meter_positions_m(self, midline: bool) -> tuple[float, ...]:
        """Where the segment's meters are (ends; and the mid-line pressure meter)."""
        return (0.0, self.midline_position_m, self.length_m) if midline else (0.0, self.length_m)

    def network_document(self, midline: bool = False, midline_flow: bool = False) -> dict[str, Any]:
        """The layout as a network document (`services.network.parse_network`); `midline`: with the mid-line
        pressure meter; `midline_flow`: with a flow meter at the same station (a meter station along the line)."""
        from services.network import TagKind, conversion_to_si

        sg = self.specific_gravity
        mop = MOP_OVER_INLET * self.inlet_pressure_pa
        seg_common = {"inner_diameter_mm": self.inner_diameter_mm, "roughness_mm": self.roughness_mm,
                      "material": "steel", "install_year": 2015, "pipe_class": "transmission"}
        up = REGULATOR if self.regulated else JUNCTION_UP
        up_pipe = "HDR" if self.regulated else "FEED"
        elev_up, elev_dn = 100.0, 100.0 + self.elevation_change_m
        nodes: list[dict[str, Any]] = [
            {"id": SUPPLY, "kind": "supply", "district": "Up", "elevation_m": elev_up,
             "supply_pressure_pa": self.supply_pressure_pa},
            {"id": JUNCTION_DOWN, "kind": "junction", "district": "Down", "elevation_m": elev_dn},
            {"id": OFFTAKE, "kind": "demand", "district": "Down", "elevation_m": elev_dn,
             "nominal_demand_kg_per_s": self.nominal_flow_kg_per_s},
        ]
        if self.regulated:
            nodes.insert(1, {"id": REGULATOR, "kind": "regulator", "district": "Up", "elevation_m": elev_up,
                             "supply_pressure_pa": self.inlet_pressure_pa})
        else:
            nodes.insert(1, {"id": JUNCTION_UP, "kind": "junction", "district": "Up", "elevation_m": elev_up})
        upstream_mop = MOP_OVER_INLET * self.supply_pressure_pa
        segments = [
            {"id": up_pipe, "district": "Up", "from_node": SUPPLY, "to_node": up, "length_km": self.upstream_pipe_km,
             "elevation_up_m": elev_up, "elevation_down_m": elev_up, "pressure_class": "upstream",
             "max_operating_pressure_pa": upstream_mop, "nominal_flow_kg_per_s": self.nominal_flow_kg_per_s,
             **seg_common},
            {"id": SEGMENT_ID, "district": "Down", "from_node": up, "to_node": JUNCTION_DOWN,
             "length_km": self.length_km, "elevation_up_m": elev_up, "elevation_down_m": elev_dn,
             "pressure_class": "line", "max_operating_pressure_pa": mop,
             "nominal_flow_kg_per_s": self.nominal_flow_kg_per_s, "monitored": True, **seg_common},
            {"id": "TAIL", "district": "Down", "from_node": JUNCTION_DOWN, "to_node": OFFTAKE,
             "length_km": self.tail_km, "elevation_up_m": elev_dn, "elevation_down_m": elev_dn,
             "pressure_class": "line", "max_operating_pressure_pa": mop,
             "nominal_flow_kg_per_s": self.nominal_flow_kg_per_s, **seg_common},
        ]
        p_conv = conversion_to_si(TagKind.PRESSURE, self.pressure_unit, sg)
        f_conv = conversion_to_si(TagKind.FLOW, self.flow_unit, sg)
        p_hi = p_conv.from_si(PRESSURE_RANGE_OVER_MOP * mop)
        f_hi = f_conv.from_si(self.flow_range_over_nominal * self.nominal_flow_kg_per_s)
        # ranges in the tag's unit, rounded as a data sheet states them
        p_range = [0.0, float(f"{p_hi:.3g}")]
        f_range = [-float(f"{f_hi:.3g}"), float(f"{f_hi:.3g}")]

        def pressure_tag(tag_id: str, km: float, gateway: str) -> dict[str, Any]:
            return {"id": tag_id, "segment": SEGMENT_ID, "position_km": km, "kind": "pressure",
                    "unit": self.pressure_unit, "range": p_range, "scan_period_s": self.pressure_scan_s,
                    "gateway": gateway, "accuracy": {"pct_of_span": self.pressure_accuracy_pct_of_span}}

        tags: list[dict[str, Any]] = []
        for end, km, gw in (("IN", 0.0, "gw-up"), ("OUT", self.length_km, "gw-down")):
            tags += [
                pressure_tag(f"L01-PT-{end}", km, gw),
                {"id": f"L01-FT-{end}", "segment": SEGMENT_ID, "position_km": km, "kind": "flow",
                 "unit": self.flow_unit, "range": f_range, "scan_period_s": FLOW_SCAN_PERIOD_S, "gateway": gw,
                 "accuracy": {"pct_of_reading": self.flow_accuracy_pct_of_reading}},
                {"id": f"L01-TT-{end}", "segment": SEGMENT_ID, "position_km": km, "kind": "temperature",
                 "unit": "degC", "range": [-40.0, 60.0], "scan_period_s": TEMPERATURE_SCAN_PERIOD_S, "gateway": gw,
                 "accuracy": {"absolute": TEMPERATURE_ACCURACY_K}},
            ]
        if midline:
            tags.append(pressure_tag(MIDLINE_PRESSURE_TAG, round(self.midline_fraction * self.length_km, 3),
                                     "gw-mid"))
        if midline_flow:
            tags.append({"id": MIDLINE_FLOW_TAG, "segment": SEGMENT_ID,
                         "position_km": round(self.midline_fraction * self.length_km, 3), "kind": "flow",
                         "unit": self.flow_unit, "range": f_range, "scan_period_s": FLOW_SCAN_PERIOD_S,
                         "gateway": "gw-mid", "accuracy": {"pct_of_reading": self.flow_accuracy_pct_of_reading}})
        return {
            "name": f"random-layout-{self.layout_id}",
            "gas": {"specific_gravity": sg, "temperature_k": self.temperature_k},
            "nodes": nodes,
            "segments": segments,
            "gateways": [{"id": g, "district": d} for g, d in (("gw-up", "Up"), ("gw-mid", "Down"),
                                                              ("gw-down", "Down"))],
            "tags": tags,
        }

    def network(self, midline: bool = False, midline_flow: bool = False) -> Any:
        """The layout loaded through `services.network` (its checks included)."""
        from services.network import parse_network

        return parse_network(self.network_document(midline, midline_flow), f"<layout {self.layout_id}>")


def _uniform(rng: np.random.Generator, name: str) -> float:
    lo, hi = RANGES[name]
    return float(rng.uniform(lo, hi))


def _nominal_flow_kg_per_s(length_m: float, diameter_m: float, roughness_m: float, p_in_pa: float,
                           ratio: float, velocity_cap_m_per_s: float, sg: float, temperature_k: float) -> float:
    """The flow at which the outlet keeps `ratio` of the inlet pressure (isothermal steady flow,
    p_in^2 - p_out^2 = f Z R_s T L m^2 / (D A^2), fully rough friction), capped at a gas velocity."""
    from services.gasflow.physics import GasSpec, density, z_factor

    gas = GasSpec(specific_gravity=sg)
    area = math.pi * diameter_m**2 / 4.0
    f = max(ASSUMED_DARCY_FACTOR_FLOOR, 0.25 / math.log10(roughness_m / (3.7 * diameter_m)) ** 2)
    p_mean = p_in_pa * (1.0 + ratio) / 2.0
    z = float(z_factor(p_mean, temperature_k, gas))
    k = f * z * gas.specific_gas_constant * temperature_k / (diameter_m * area**2)
    m_hydraulic = math.sqrt(p_in_pa**2 * (1.0 - ratio**2) / (k * length_m))
    m_velocity = float(density(p_in_pa, temperature_k, gas)) * area * velocity_cap_m_per_s
    return min(m_hydraulic, m_velocity)


def draw_layout(seed: int, index: int) -> Layout:
    """Layout number `index` of seed `seed` (independent of how many are drawn)."""
    rng = np.random.default_rng([seed, index])
    regulated = index % 2 == 0
    length_km = round(_uniform(rng, "length_km"), 2)
    diameter_mm = float(rng.choice(INNER_DIAMETERS_MM))
    roughness_mm = round(_uniform(rng, "roughness_mm"), 4)
    p_in = round(_uniform(rng, "inlet_pressure_pa"), -3)
    supply = round(p_in * _uniform(rng, "regulator_drop_ratio"), -3) if regulated else p_in
    sg = round(_uniform(rng, "specific_gravity"), 3)
    temperature_k = round(_uniform(rng, "temperature_k"), 2)
    nominal = _nominal_flow_kg_per_s(length_km * 1000.0, diameter_mm / 1000.0, roughness_mm / 1000.0, p_in,
                                     _uniform(rng, "pressure_ratio_at_nominal"),
                                     _uniform(rng, "gas_velocity_cap_m_per_s"), sg, temperature_k)
    return Layout(
        layout_id=f"s{seed}-{index:03d}",
        seed=seed,
        index=index,
        regulated=regulated,
        length_km=length_km,
        inner_diameter_mm=diameter_mm,
        roughness_mm=roughness_mm,
        elevation_change_m=round(_uniform(rng, "elevation_change_m"), 1),
        inlet_pressure_pa=p_in,
        supply_pressure_pa=supply,
        upstream_pipe_km=round(_uniform(rng, "upstream_pipe_km"), 2),
        tail_km=round(_uniform(rng, "tail_km"), 2),
        nominal_flow_kg_per_s=round(nominal, 3),
        specific_gravity=sg,
        temperature_k=temperature_k,
        flow_accuracy_pct_of_reading=round(_uniform(rng, "flow_accuracy_pct_of_reading"), 3),
        pressure_accuracy_pct_of_span=round(_uniform(rng, "pressure_accuracy_pct_of_span"), 3),
        pressure_scan_s=float(rng.choice(PRESSURE_SCAN_PERIODS_S)),
        pressure_unit=str(rng.choice(PRESSURE_UNITS)),
        flow_unit=str(rng.choice(FLOW_UNITS)),
        flow_range_over_nominal=round(float(rng.uniform(*FLOW_RANGE_OVER_NOMINAL)), 2),
        midline_fraction=round(_uniform(rng, "midline_fraction"), 3),
    )


def draw_layouts(seed: int, n: int) -> list[Layout]:
    """The first `n` layouts of seed `seed`."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [draw_layout(seed, i) for i in range(n)]
