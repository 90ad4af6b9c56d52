"""The network model loads the demo city and refuses bad files with the file, entry and problem named."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.network import (
    DEMO_NETWORK_PATH,
    NetworkFileError,
    PipeClass,
    TagKind,
    conversion_to_si,
    load_demo_network,
    load_network,
)


@pytest.fixture(scope="module")
def demo_document() -> dict[str, Any]:
    return yaml.load(DEMO_NETWORK_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def test_demo_city_is_big_enough_and_monitored_ends_are_instrumented() -> None:
    network = load_demo_network()
    assert len(network.segments) >= 20
    assert len(network.districts) >= 3
    assert len(network.tags) >= 100
    assert {s.pipe_class for s in network.segments.values()} == set(PipeClass)
    for segment in network.monitored_segments:
        for kind in (TagKind.PRESSURE, TagKind.FLOW):
            up = network.end_tag(segment.segment_id, kind, upstream=True)
            down = network.end_tag(segment.segment_id, kind, upstream=False)
            assert up is not None and up.position_m == 0.0
            assert down is not None and down.position_m == pytest.approx(segment.length_m)


def test_every_demo_node_has_a_map_position_and_none_is_required(demo_document: dict[str, Any], tmp_path: Path) -> None:
    network = load_demo_network()
    assert all(node.x_m is not None and node.y_m is not None for node in network.nodes.values())
    bare_document = copy.deepcopy(demo_document)
    for node in bare_document["nodes"]:
        node.pop("x_m"), node.pop("y_m")
    bare = load_network(_write(tmp_path, bare_document))
    assert all(node.x_m is None and node.y_m is None for node in bare.nodes.values())


def test_every_tag_belongs_to_a_gateway_of_the_network() -> None:
    network = load_demo_network()
    owned = sum(len(network.tags_of_gateway(g)) for g in network.gateways)
    assert owned == len(network.tags)


@pytest.mark.parametrize(
    ("kind", "unit", "value", "expected_si"),
    [
        (TagKind.PRESSURE, "MPa_g", 1.6, 1_701_325.0),
        (TagKind.PRESSURE, "kPa_g", 400.0, 501_325.0),
        (TagKind.PRESSURE, "bar", 2.0, 200_000.0),
        (TagKind.TEMPERATURE, "degC", 10.0, 283.15),
        (TagKind.FLOW, "kg/h", 3600.0, 1.0),
        # 0.6 * 1.2930 kg/m3 = 0.7758 kg per normal m3
        (TagKind.FLOW, "Nm3/h", 3600.0, 0.7758),
        (TagKind.METHANE_LEL, "pct_lel", 25.0, 25.0),
    ],
)
def test_units_convert_to_si(kind: TagKind, unit: str, value: float, expected_si: float) -> None:
    conversion = conversion_to_si(kind, unit, specific_gravity=0.6)
    assert conversion.to_si(value) == pytest.approx(expected_si)
    assert conversion.from_si(conversion.to_si(value)) == pytest.approx(value)


def test_unknown_unit_is_refused_with_the_supported_ones() -> None:
    with pytest.raises(ValueError, match=r"furlongs.*supported: Pa, kPa"):
        conversion_to_si(TagKind.PRESSURE, "furlongs", 0.6)


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "network.yaml"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump(document, Dumper=dumper) if not isinstance(document, str) else document)
    return path


def _mutated(document: dict[str, Any], mutate: Any) -> dict[str, Any]:
    clone = copy.deepcopy(document)
    mutate(clone)
    return clone


BAD_DOCUMENTS = [
    (
        "negative length",
        lambda d: d["segments"][2].update(length_km=-1.0),
        r"segments\[2\] \(TR-03\): length_km must be > 0",
    ),
    (
        "unknown node",
        lambda d: d["segments"][0].update(to_node="NOWHERE"),
        r"segments\[0\] \(TR-01\): node 'NOWHERE'",
    ),
    ("duplicate segment", lambda d: d["segments"].append(dict(d["segments"][0])), r"duplicate id 'TR-01'"),
    (
        "tag beyond segment end",
        lambda d: d["tags"][0].update(position_km=999.0),
        r"tags\[0\] \(TR-01-PT-UP\): position_km 999",
    ),
    (
        "bad unit",
        lambda d: d["tags"][0].update(unit="psi-ish"),
        r"tags\[0\].*unit 'psi-ish' is not a pressure unit",
    ),
    ("inverted range", lambda d: d["tags"][0].update(range=[5, 1]), r"range must be \[min, max\]"),
    (
        "unknown gateway",
        lambda d: d["tags"][1].update(gateway="gw-ghost"),
        r"gateway 'gw-ghost' is not defined",
    ),
    ("unknown field", lambda d: d["segments"][0].update(colour="red"), r"unknown field\(s\) colour"),
    (
        "NaN diameter",
        lambda d: d["segments"][0].update(inner_diameter_mm=float("nan")),
        r"inner_diameter_mm must be a finite",
    ),
    ("bad pipe class", lambda d: d["segments"][0].update(pipe_class="sewer"), r"pipe_class must be one of"),
    (
        "two accuracies",
        lambda d: d["tags"][0].update(accuracy={"absolute": 1, "pct_of_span": 1}),
        r"give exactly one",
    ),
    ("missing field", lambda d: d["segments"][0].pop("material"), r"missing required field 'material'"),
    (
        "monitored end without flow meter",
        lambda d: d.update(tags=[t for t in d["tags"] if t["id"] != "TR-02-FT-DN"]),
        r"\(TR-02\): is monitored but has no flow tag at its downstream end",
    ),
    (
        "bool as number",
        lambda d: d["gas"].update(specific_gravity=True),
        r"gas: specific_gravity must be a finite number",
    ),
    (
        "map position half given",
        lambda d: d["nodes"][1].pop("y_m"),
        r"nodes\[1\] \(TJ-N\): x_m and y_m \(map position\) go together",
    ),
    ("map position not a number", lambda d: d["nodes"][0].update(x_m="east"), r"x_m must be a finite number"),
    # hydraulic options (issue 18): gas model, fixed wave speed, fixed friction factor
    (
        "wave speed negative",
        lambda d: d["segments"][0].update(wave_speed_m_per_s=-340.0),
        r"segments\[0\] \(TR-01\): wave_speed_m_per_s must be in \(100, 2000\] m/s",
    ),
    (
        "wave speed not a number",
        lambda d: d["segments"][1].update(wave_speed_m_per_s="fast"),
        r"segments\[1\] \(TR-02\): wave_speed_m_per_s must be a finite number",
    ),
    (
        "unknown gas model",
        lambda d: d["segments"][0].update(equation_of_state="van_der_waals"),
        r"segments\[0\] \(TR-01\): equation_of_state must be one of real_dak, ideal",
    ),
    (
        "roughness and friction factor both",
        lambda d: d["segments"][0].update(darcy_friction_factor=0.01),
        r"segments\[0\] \(TR-01\): give roughness_mm or darcy_friction_factor",
    ),
    (
        "friction factor too large",
        lambda d: (d["segments"][0].pop("roughness_mm"), d["segments"][0].update(darcy_friction_factor=0.5)),
        r"segments\[0\] \(TR-01\): darcy_friction_factor must be in \(0, 0.2\]",
    ),
    (
        "friction factor zero in the defaults",
        lambda d: d.update(segment_defaults={"darcy_friction_factor": 0}),
        r"segment_defaults: darcy_friction_factor must be in \(0, 0.2\]",
    ),
    ("defaults not a mapping", lambda d: d.update(segment_defaults=[1, 2]), r"segment_defaults: expected a mapping"),
    (
        "unknown field in the defaults",
        lambda d: d.update(segment_defaults={"colour": "red"}),
        r"segment_defaults: unknown field\(s\) colour",
    ),
    (
        "no friction anywhere",
        lambda d: d["segments"][3].pop("roughness_mm"),
        r"segments\[3\] \(TR-04\): missing required field 'roughness_mm' \(or darcy_friction_factor",
    ),
    # gas composition instead of specific gravity
    (
        "composition and specific gravity",
        lambda d: d["gas"].update(composition={"methane": 1.0}),
        r"gas: give composition or co2_mole_fraction, n2_mole_fraction, specific_gravity, not both",
    ),
    (
        "composition not summing to one",
        lambda d: d.update(gas={"temperature_k": 283.0, "composition": {"methane": 0.8, "ethane": 0.1}}),
        r"gas.composition: mole fractions sum to 0.9, not 1",
    ),
    (
        "unknown component",
        lambda d: d.update(gas={"temperature_k": 283.0, "composition": {"methane": 0.9, "unobtainium": 0.1}}),
        r"gas.composition: unknown field\(s\) unobtainium",
    ),
    (
        "composition of no natural gas",
        lambda d: d.update(gas={"temperature_k": 283.0, "composition": {"propane": 1.0}}),
        r"gas: the composition's specific_gravity 1.52\d* is outside natural gas's",
    ),
    (
        "negative mole fraction",
        lambda d: d.update(gas={"temperature_k": 283.0, "composition": {"methane": 1.1, "ethane": -0.1}}),
        r"gas.composition: ethane must be >= 0",
    ),
    # explicit accuracy: noise s.d. and bias bound, each with its unit
    (
        "bias bound without noise",
        lambda d: d["tags"][0].update(accuracy={"bias_bound": {"pct_of_span": 0.1}}),
        r"tags\[0\] \(TR-01-PT-UP\).accuracy: noise_sd is required",
    ),
    (
        "negative noise",
        lambda d: d["tags"][0].update(accuracy={"noise_sd": {"pct_of_span": -0.1}}),
        r"tags\[0\] \(TR-01-PT-UP\).accuracy.noise_sd: pct_of_span must be >= 0",
    ),
    (
        "zero noise",
        lambda d: d["tags"][0].update(accuracy={"noise_sd": {"pct_of_span": 0, "absolute": 0}}),
        r"accuracy.noise_sd: a meter has some noise",
    ),
    (
        "noise of half the span",
        lambda d: d["tags"][0].update(accuracy={"noise_sd": {"absolute": 2.0}}),
        r"tags\[0\] \(TR-01-PT-UP\).accuracy: noise_sd is 2 in the tag's unit at full scale: half the span",
    ),
    (
        "percent of fifty",
        lambda d: d["tags"][1].update(accuracy={"noise_sd": {"pct_of_reading": 60}}),
        r"accuracy.noise_sd: pct_of_reading 60 % is not a meter's accuracy",
    ),
    (
        "unknown unit of a bias",
        lambda d: d["tags"][1].update(accuracy={"noise_sd": {"pct_of_reading": 0.2}, "bias_bound": {"pct_of_flow": 1}}),
        r"tags\[1\] \(TR-01-FT-UP\).accuracy.bias_bound: unknown field\(s\) pct_of_flow",
    ),
    (
        "short and explicit forms mixed",
        lambda d: d["tags"][1].update(accuracy={"noise_sd": {"pct_of_reading": 0.2}, "pct_of_reading": 0.5}),
        r"tags\[1\] \(TR-01-FT-UP\).accuracy: unknown field\(s\) pct_of_reading",
    ),
]


@pytest.mark.parametrize(("what", "mutate", "message"), BAD_DOCUMENTS, ids=[b[0] for b in BAD_DOCUMENTS])
def test_bad_network_file_names_file_entry_and_problem(
    tmp_path: Path, demo_document: dict[str, Any], what: str, mutate: Any, message: str
) -> None:
    path = _write(tmp_path, _mutated(demo_document, mutate))
    with pytest.raises(NetworkFileError, match=message) as caught:
        load_network(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("segments: [unclosed", "is not valid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("name: x\n", "missing required field 'gas'|gas: expected a mapping"),
        (b"\xff\xfe\x00garbage", "is not valid YAML"),
    ],
)
def test_garbage_files_are_refused(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "garbage.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(NetworkFileError, match=message):
        load_network(path)


def test_a_file_over_the_size_cap_is_refused_before_it_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.network import _loader

    path = tmp_path / "huge.yaml"
    path.write_text(DEMO_NETWORK_PATH.read_text())
    monkeypatch.setattr(_loader, "MAX_NETWORK_FILE_BYTES", path.stat().st_size - 1)
    with pytest.raises(NetworkFileError, match=r"is larger than .* MiB"):
        load_network(path)
    monkeypatch.setattr(_loader, "MAX_NETWORK_FILE_BYTES", path.stat().st_size)
    assert load_network(path).tags  # exactly at the cap is accepted


def test_a_device_that_never_ends_is_refused_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.network import _loader

    monkeypatch.setattr(_loader, "MAX_NETWORK_FILE_BYTES", 1024 * 1024)
    with pytest.raises(NetworkFileError, match="is larger than"):
        load_network("/dev/zero")


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NetworkFileError, match="cannot be read"):
        load_network(tmp_path / "absent.yaml")
