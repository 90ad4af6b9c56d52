"""The random layouts of the detection benchmark: deterministic for a seed, valid network files, parameters
inside the stated ranges."""

from __future__ import annotations

import math

import pytest

from benchmarks.layouts import (
    FLOW_UNITS,
    INNER_DIAMETERS_MM,
    MIDLINE_PRESSURE_TAG,
    PRESSURE_SCAN_PERIODS_S,
    PRESSURE_UNITS,
    RANGES,
    SEGMENT_ID,
    draw_layout,
    draw_layouts,
)
from services.gasflow.network_adapter import network_spec
from services.network import NodeKind, TagKind

N = 40  # more than the full suite draws


@pytest.fixture(scope="module")
def layouts() -> list:
    return draw_layouts(2026_19, N)


def test_the_same_seed_draws_the_same_layouts_and_another_seed_others(layouts: list) -> None:
    assert draw_layouts(2026_19, N) == layouts
    assert draw_layouts(2026_19, 5) == layouts[:5]  # the quick suite's layouts are the full suite's first
    assert draw_layout(2026_19, 7) == layouts[7]
    other = draw_layouts(7, N)
    assert all(a.length_km != b.length_km for a, b in zip(other, layouts, strict=True))


def test_every_parameter_is_inside_its_stated_range(layouts: list) -> None:
    for lay in layouts:
        drawn = {
            "length_km": lay.length_km,
            "inner_diameter_mm": lay.inner_diameter_mm,
            "roughness_mm": lay.roughness_mm,
            "elevation_change_m": lay.elevation_change_m,
            "inlet_pressure_pa": lay.inlet_pressure_pa,
            "upstream_pipe_km": lay.upstream_pipe_km,
            "tail_km": lay.tail_km,
            "specific_gravity": lay.specific_gravity,
            "temperature_k": lay.temperature_k,
            "flow_accuracy_pct_of_reading": lay.flow_accuracy_pct_of_reading,
            "pressure_accuracy_pct_of_span": lay.pressure_accuracy_pct_of_span,
            "midline_fraction": lay.midline_fraction,
        }
        for name, value in drawn.items():
            lo, hi = RANGES[name]
            assert lo <= value <= hi, (lay.layout_id, name, value)
        lo, hi = RANGES["regulator_drop_ratio"]
        if lay.regulated:
            assert lo - 1e-3 <= lay.supply_pressure_pa / lay.inlet_pressure_pa <= hi + 1e-3
        else:
            assert lay.supply_pressure_pa == lay.inlet_pressure_pa
        assert lay.inner_diameter_mm in INNER_DIAMETERS_MM
        assert lay.pressure_scan_s in PRESSURE_SCAN_PERIODS_S
        assert lay.pressure_unit in PRESSURE_UNITS and lay.flow_unit in FLOW_UNITS
        assert lay.nominal_flow_kg_per_s > 0 and math.isfinite(lay.nominal_flow_kg_per_s)
    # both kinds of upstream end, and the whole length range covered
    assert {lay.regulated for lay in layouts[:2]} == {True, False}
    lengths = sorted(lay.length_km for lay in layouts)
    assert lengths[0] < 10.0 and lengths[-1] > 45.0


@pytest.mark.parametrize("midline", [False, True])
def test_every_layout_loads_through_the_network_model(layouts: list, midline: bool) -> None:
    for lay in layouts:
        net = lay.network(midline=midline)  # services.network's own checks
        seg = net.segments[SEGMENT_ID]
        assert seg.monitored and math.isclose(seg.length_m, lay.length_m)
        assert [s.segment_id for s in net.monitored_segments] == [SEGMENT_ID]
        up = net.nodes[seg.from_node].kind
        assert up is (NodeKind.REGULATOR if lay.regulated else NodeKind.JUNCTION)
        for kind in (TagKind.PRESSURE, TagKind.FLOW):
            for upstream in (True, False):
                assert net.end_tag(SEGMENT_ID, kind, upstream) is not None
        pressure = [t for t in net.tags_of_segment(SEGMENT_ID) if t.kind is TagKind.PRESSURE]
        assert len(pressure) == (3 if midline else 2)
        if midline:
            mid = net.tags[MIDLINE_PRESSURE_TAG]
            assert 0.0 < mid.position_m < seg.length_m
            assert math.isclose(mid.position_m, lay.midline_position_m, abs_tol=1.0)
        # the meters' ranges hold the operating point: nominal flow, the inlet pressure
        ft = net.end_tag(SEGMENT_ID, TagKind.FLOW, True)
        assert ft is not None and ft.range_min < 0 < ft.range_max
        assert math.isclose(ft.accuracy.value, lay.flow_accuracy_pct_of_reading)


def test_the_simulator_takes_every_layout_with_the_right_boundaries(layouts: list) -> None:
    for lay in layouts[:6]:
        spec = network_spec(lay.network(midline=True))
        kinds = {n.node_id: n.kind for n in spec.nodes}
        assert kinds[lay.inlet_node] == "pressure"
        assert spec.pipe(SEGMENT_ID).length_m == pytest.approx(lay.length_m)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        draw_layouts(1, -1)
