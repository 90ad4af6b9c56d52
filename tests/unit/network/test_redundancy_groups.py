"""Redundant meters in the network file (issue 19): `redundancy_group` names the tags of one role; the loader
refuses groups that cannot be one measurement, naming the group and the problem; files without it are unchanged."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from services.network import NetworkFileError, load_demo_network, parse_network
from services.network.model import TagKind

BASE: dict[str, Any] = {
    "name": "redundant line",
    "gas": {"specific_gravity": 0.6, "temperature_k": 283.0},
    "segment_defaults": {"roughness_mm": 0.02},
    "nodes": [
        {"id": "A", "kind": "supply", "district": "d", "elevation_m": 0.0, "supply_pressure_pa": 2.0e6},
        {"id": "B", "kind": "demand", "district": "d", "elevation_m": 0.0, "nominal_demand_kg_per_s": 5.0},
    ],
    "segments": [
        {"id": "L-01", "district": "d", "from_node": "A", "to_node": "B", "length_km": 10.0, "inner_diameter_mm": 300,
         "elevation_up_m": 0.0, "elevation_down_m": 0.0, "material": "steel", "install_year": 2000,
         "pressure_class": "HP", "max_operating_pressure_pa": 2.5e6, "pipe_class": "transmission",
         "nominal_flow_kg_per_s": 5.0, "monitored": True},
    ],
    "gateways": [{"id": "gw", "district": "d"}],
    "tags": [],
}


def _tag(tag_id: str, kind: str, km: float, group: object = None, **extra: Any) -> dict[str, Any]:
    unit, rng, acc = {"pressure": ("Pa", [0, 3e6], {"pct_of_span": 0.1}),
                      "flow": ("kg/s", [0, 20], {"pct_of_reading": 1.0}),
                      "temperature": ("K", [250, 320], {"absolute": 0.5}),
                      "methane_lel": ("pct_lel", [0, 100], {"absolute": 2.0})}[kind]
    out = {"id": tag_id, "segment": "L-01", "position_km": km, "kind": kind, "unit": unit, "range": rng,
           "scan_period_s": 1.0, "gateway": "gw", "accuracy": acc, **extra}
    if group is not None:
        out["redundancy_group"] = group
    return out


def _doc(*extra_tags: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc["tags"] = [_tag("FT-IN", "flow", 0.0), _tag("FT-OUT", "flow", 10.0), _tag("PT-UP", "pressure", 0.0),
                   _tag("PT-DN", "pressure", 10.0), *extra_tags]
    return doc


def test_a_group_of_tags_is_read_with_its_primary_first() -> None:
    doc = _doc(_tag("PT-UP-C", "pressure", 0.0, "up"), _tag("PT-UP-B", "pressure", 0.001, "up"))
    doc["tags"][2]["redundancy_group"] = "up"
    net = parse_network(doc)
    (name, tags), = net.redundancy_groups.items()
    assert name == "up" and [t.tag_id for t in tags] == ["PT-UP", "PT-UP-B", "PT-UP-C"]
    assert all(t.kind is TagKind.PRESSURE and t.redundancy_group == "up" for t in tags)
    assert net.tags["FT-IN"].redundancy_group is None


def test_files_without_groups_mean_what_they_meant() -> None:
    demo = load_demo_network()
    assert demo.redundancy_groups == {}
    assert all(t.redundancy_group is None for t in demo.tags.values())


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ([_tag("PT-X", "pressure", 0.0, "g")], "needs two or more tags"),
        ([_tag("PT-X", "pressure", 0.0, "g"), _tag("FT-X", "flow", 0.0, "g")], "different kinds"),
        ([_tag("PT-X", "pressure", 0.0, "g"), _tag("PT-Y", "pressure", 2.0, "g")], "2000 m apart"),
        ([_tag("CH-X", "methane_lel", 1.0, "g"), _tag("CH-Y", "methane_lel", 1.0, "g")], "cannot be redundant"),
        ([_tag("PT-X", "pressure", 0.0, "")], "redundancy_group must be a non-empty string"),
        ([_tag("PT-X", "pressure", 0.0, 7)], "redundancy_group must be a non-empty string"),
        ([_tag("PT-X", "pressure", 0.0, ["a"])], "redundancy_group must be a non-empty string"),
        ([_tag("PT-X", "pressure", 0.0, None, redundancy_groups="g")], "unknown field(s) redundancy_groups"),
    ],
)
def test_garbage_groups_are_refused_naming_the_group(extra: list[dict[str, Any]], words: str) -> None:
    with pytest.raises(NetworkFileError) as info:
        parse_network(_doc(*extra), "line.yaml")
    message = str(info.value)
    assert words in message and message.startswith("line.yaml: ")


def test_a_group_across_segments_is_refused() -> None:
    doc = _doc(_tag("PT-X", "pressure", 10.0, "g"))
    doc["nodes"].append({"id": "C", "kind": "demand", "district": "d", "elevation_m": 0.0,
                         "nominal_demand_kg_per_s": 1.0})
    seg2 = copy.deepcopy(doc["segments"][0])
    seg2.update(id="L-02", from_node="B", to_node="C", monitored=False)
    doc["segments"].append(seg2)
    doc["tags"].append(_tag("PT-Y", "pressure", 0.0, "g", segment="L-02"))
    with pytest.raises(NetworkFileError, match=r"redundancy_group 'g': PT-X, PT-Y.*different segments"):
        parse_network(doc)
