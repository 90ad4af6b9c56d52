"""The console's view models without a browser: SLA countdowns, filters, forms, evidence, schematic, charts."""

from __future__ import annotations

import pytest

from services.console.domain.actions import FormError, parse_command_form
from services.console.domain.charts import bar_chart
from services.console.domain.orders import (
    FilterError,
    countdowns,
    evidence,
    format_duration,
    parse_detail,
    parse_queue_filter,
)
from services.console.domain.records import Change, timeline_entry
from services.console.domain.schematic import LeakMark, NodePoint, SegmentLine, draw
from tests.unit.console.fakes import NOW_US, order

MIN_US = 60_000_000
DISTRICTS = ("Dongsheng", "Kangbashi")


def test_grade1_on_site_countdown_is_ok_then_amber_at_the_target_then_red_past_the_limit() -> None:
    o = order(grade=1, opened_us=NOW_US)
    (on_site,) = countdowns(o, NOW_US + 5 * MIN_US)
    assert on_site.name == "on site" and on_site.level == "ok"
    assert on_site.deadline_unix_us == NOW_US + 120 * MIN_US  # code 1: none over 2 h
    assert on_site.text == "1h 55m"
    assert countdowns(o, NOW_US + 31 * MIN_US)[0].level == "amber"  # past the 30 min target
    late = countdowns(o, NOW_US + 121 * MIN_US)[0]
    assert late.level == "red" and late.text == "1m 00s late"


def test_made_safe_countdown_for_grade1_from_the_console_setting_when_the_policy_has_none() -> None:
    o = order(grade=1, opened_us=NOW_US)
    names = [c.name for c in countdowns(o, NOW_US, make_safe_limit_s=3600)]
    assert names == ["on site", "made safe"]
    assert [c.name for c in countdowns(order(grade=2, opened_us=NOW_US), NOW_US, make_safe_limit_s=3600)] == ["on site"]


def test_a_reached_milestone_stops_its_countdown_and_closed_orders_have_none() -> None:
    from dataclasses import replace

    arrived = replace(order(grade=2, opened_us=NOW_US), arrived_at_unix_us=NOW_US + 10 * MIN_US)
    (c,) = countdowns(arrived, NOW_US + 500 * MIN_US)
    assert c.level == "done" and c.text == "met"
    assert countdowns(order(state="closed"), NOW_US) == ()
    assert countdowns(order(grade=3), NOW_US) == ()  # grade 3 has no response code


def test_amber_comes_before_the_limit_even_when_the_target_is_late_in_it() -> None:
    o = order(grade=2, opened_us=NOW_US)  # code 2: target 60 min, limit 4 h; amber from the 60 min target
    assert countdowns(o, NOW_US + 59 * MIN_US)[0].level == "ok"
    assert countdowns(o, NOW_US + 61 * MIN_US)[0].level == "amber"


def test_queue_filter_parses_repeated_values_and_refuses_garbage_by_name() -> None:
    flt = parse_queue_filter([("district", "Dongsheng"), ("grade", "1"), ("grade", "2"), ("state", "triaged"),
                              ("grade", "")], DISTRICTS)
    assert flt.districts == ("Dongsheng",) and flt.grades == (1, 2) and flt.states == ("triaged",)
    assert flt.matches(order()) and not flt.matches(order(district="Kangbashi"))
    for params, named in (
        ([("grade", "7")], "grade"), ([("grade", "1; DROP")], "grade"), ([("district", "Atlantis")], "district"),
        ([("state", "exploded")], "state"), ([("state", "x\x00")], "state"), ([("district", "D" * 500)], "district"),
    ):
        with pytest.raises(FilterError, match=named):
            parse_queue_filter(params, DISTRICTS)


def _form(**fields: str) -> dict[str, str]:
    return {"verb": "dispatch", "expected_version": "3", "command_id": "c-1", "crew_id": "crew-7", **fields}


def test_action_form_becomes_a_command_with_its_typed_fields() -> None:
    cmd = parse_command_form("wo-1", _form())
    assert (cmd.verb, cmd.expected_version, cmd.command_id, dict(cmd.fields)) == ("dispatch", 3, "c-1",
                                                                                   {"crew_id": "crew-7"})
    regrade = parse_command_form("wo-1", _form(verb="regrade", grade="2", reason="re-measured"))
    assert regrade.fields == {"grade": 2, "reason": "re-measured"}
    defer = parse_command_form("wo-1", _form(verb="defer", reevaluate_by="2027-01-02", reason="grade 3"))
    assert defer.fields["reevaluate_by_unix_us"] == 1_798_848_000_000_000
    verify = parse_command_form("wo-1", _form(verb="verify", failed="1"))
    assert verify.fields == {"failed": True, "notes": ""}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"verb": "explode"}, "verb"),
        ({"verb": ""}, "verb"),
        ({"expected_version": "-1"}, "expected_version"),
        ({"expected_version": "three"}, "expected_version"),
        ({"command_id": ""}, "command_id"),
        ({"crew_id": ""}, "crew_id"),
        ({"crew_id": "crew\x07"}, "crew_id"),
        ({"crew_id": "x" * 5000}, "crew_id"),
        ({"verb": "regrade", "grade": "0", "reason": "r"}, "grade"),
        ({"verb": "defer", "reevaluate_by": "tomorrow", "reason": "r"}, "reevaluate_by"),
        ({"verb": "repair", "kind": "duct tape"}, "kind"),
        ({"work_order_id": "wo-2"}, "work_order_id"),
    ],
)
def test_garbage_action_forms_are_refused_naming_the_field(fields: dict[str, str], named: str) -> None:
    with pytest.raises(FormError, match=named):
        parse_command_form("wo-1", _form(**fields))


def test_evidence_gives_the_95_percent_interval_clamped_to_the_segment() -> None:
    e = evidence(order().detail)
    assert e.location_m == 1000.0
    assert e.location_low_m == pytest.approx(804.0) and e.location_high_m == pytest.approx(1196.0)
    assert e.leak_rate_kg_per_s == 0.05 and e.methods == ("mass_balance",)
    edge = evidence({"alarm": {"location": {"position_km": 2.1, "uncertainty_km": 0.5}},
                     "segment": {"length_km": 2.14}})
    assert edge.location_high_m == 2140.0
    empty = evidence({"alarm": "garbage", "grade_reasons": 7})
    assert empty.location_m is None and empty.methods == () and empty.grade_reasons == ()
    assert parse_detail("{not json") == {} and parse_detail("[1]") == {}


def test_schematic_scales_positions_marks_leaks_and_names_segments_without_positions() -> None:
    nodes = [NodePoint("A", 0, 0), NodePoint("B", 1000, 0), NodePoint("C", 1000, 1000)]
    segments = [SegmentLine("S1", "D", "A", "B", 1000.0), SegmentLine("S2", "D", "B", "C", 1000.0),
                SegmentLine("S3", "D", "C", "Z", 500.0)]
    d = draw(nodes, segments, alarms={"S1"}, faults={"S1", "S2"}, width=1000, margin=0,
             leaks=[LeakMark("S1", "wo", 250.0, 0.0, 500.0)])
    s1, s2 = d.segments
    assert (s1.x1, s1.y1, s1.x2, s1.y2) == (0, 1000, 1000, 1000)  # north is up
    assert s1.status == "alarm" and s2.status == "fault"  # the worst status shows
    (leak,) = d.leaks
    assert (leak.x, leak.y, leak.lx1, leak.lx2) == (250, 1000, 0, 500)
    assert d.missing_positions == ("S3",)


def test_bar_chart_axis_starts_at_zero_and_ends_at_a_round_value_above_the_largest_bar() -> None:
    chart = bar_chart("t", "km", [("Dongsheng", [5.0, 1.5]), ("Kangbashi", [3.2, 0.0])], ["target_km", "done_km"])
    assert chart.max_value == 5.0 and chart.ticks[0][0] == 0.0
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.value == 5.0 and tallest.label == "Dongsheng"
    assert bar_chart("t", "km", [("x", [0.0])], ["a"]).max_value == 1.0
    assert bar_chart("t", "km", [("x", [1234.0])], ["a"]).max_value == 2000.0


def test_timeline_entry_says_when_who_and_what_in_words() -> None:
    entry = timeline_entry(Change(5, "wo-1", 2, "CrewDispatched", "D", "dispatcher:li", NOW_US,
                                  '{"crew_id": "crew-7", "actor": "x", "order_id": "wo-1"}'))
    assert entry.what == "crew dispatched" and entry.actor == "dispatcher:li"
    assert entry.details == "crew id: crew-7" and entry.at.endswith("UTC")
    assert timeline_entry(Change(6, "wo-1", 3, "X", "D", "a", 0, "{garbage")).details == ""
    assert format_duration(90061) == "1d 1h"


def test_evidence_shows_the_interval_the_alarm_states_and_the_orders_own_position() -> None:
    stated = {"position_km": 1.3, "uncertainty_km": 0.2, "ci_low_km": 0.9, "ci_high_km": 1.7,
              "confidence_level": 0.95, "covers_whole_segment": False, "method": "pressure_gradient"}
    e = evidence({"alarm": {"location": stated}, "segment": {"length_km": 2.14}})
    assert (e.location_m, e.location_low_m, e.location_high_m) == (1300.0, 900.0, 1700.0)
    # The latest record carried no position: the order's own (the last one given) is shown.
    kept = evidence({"alarm": {"methods": ["mass_balance"]}, "location": stated})
    assert kept.location_m == 1300.0 and kept.location_high_m == 1700.0
