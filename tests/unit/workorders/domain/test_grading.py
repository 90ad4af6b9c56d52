"""Grading rules: each documented rule fires, the most severe wins, reasons name the rule."""

from __future__ import annotations

import math

import pytest

from services.workorders.domain import (
    AlarmFacts,
    AlarmState,
    Grade,
    GradingPolicy,
    InvalidInput,
    LeakRate,
    MethaneDetails,
    PipeClass,
    grade_alarm,
)
from tests.unit.workorders.domain.factories import alarm, segment


def rules(decision) -> list[str]:
    return [r.split(":")[0] for r in decision.reasons]


def test_small_leak_on_steel_main_is_grade_3() -> None:
    d = grade_alarm(alarm(pct=0.5, rate_kg_per_s=0.01), segment())
    assert d.grade is Grade.THREE
    assert rules(d) == ["G3"]


def test_rupture_is_grade_1() -> None:
    d = grade_alarm(alarm(rupture=True), segment())
    assert d.grade is Grade.ONE
    assert "G1-RUP" in rules(d)


@pytest.mark.parametrize(
    ("lel", "confined", "grade", "rule"),
    [
        (80.0, True, Grade.ONE, "G1-LEL"),
        (79.9, True, Grade.TWO, "G2-LEL"),
        (85.0, False, Grade.TWO, "G2-LEL"),  # 80 % but not confined: not a grade 1 by itself
        (40.0, False, Grade.TWO, "G2-LEL"),
        (39.9, False, Grade.THREE, "G3"),
        (20.0, True, Grade.TWO, "G2-CONF"),  # utility-tunnel alarm threshold
        (19.9, True, Grade.THREE, "G3"),
    ],
)
def test_methane_thresholds(lel: float, confined: bool, grade: Grade, rule: str) -> None:
    d = grade_alarm(alarm(pct=None, lel=lel, confined=confined), segment())
    assert d.grade is grade
    assert rules(d)[0] == rule


@pytest.mark.parametrize("pipe_class", [PipeClass.RISER, PipeClass.COURTYARD])
def test_gas_near_buildings_is_grade_1(pipe_class: PipeClass) -> None:
    d = grade_alarm(alarm(), segment(pipe_class=pipe_class))
    assert d.grade is Grade.ONE
    assert rules(d)[0] == "G1-BLD"


def test_segment_near_buildings_is_grade_1() -> None:
    assert grade_alarm(alarm(), segment(near_buildings=True)).grade is Grade.ONE


@pytest.mark.parametrize(
    ("pct", "kg", "grade"),
    [
        (5.0, 0.01, Grade.ONE),
        (4.99, 0.01, Grade.TWO),
        (0.1, 0.5, Grade.ONE),
        (1.0, 0.01, Grade.TWO),
        (0.99, 0.049, Grade.THREE),
    ],
)
def test_leak_rate_thresholds(pct: float, kg: float, grade: Grade) -> None:
    assert grade_alarm(alarm(pct=pct, rate_kg_per_s=kg), segment()).grade is grade


def test_grey_cast_iron_is_at_least_grade_2() -> None:
    d = grade_alarm(alarm(), segment(material="grey_cast_iron"))
    assert d.grade is Grade.TWO
    assert rules(d) == ["G2-MAT"]


def test_sensitive_district_is_configurable() -> None:
    policy = GradingPolicy(sensitive_districts=frozenset({"Dongsheng"}))
    assert grade_alarm(alarm(), segment(), policy).grade is Grade.TWO
    assert grade_alarm(alarm(), segment()).grade is Grade.THREE


def test_thresholds_are_configurable_maine_70_pct() -> None:
    maine = GradingPolicy(grade1_confined_lel_pct=70.0)
    assert grade_alarm(alarm(pct=None, lel=72.0, confined=True), segment(), maine).grade is Grade.ONE


def test_detector_hint_only_raises_the_grade() -> None:
    assert grade_alarm(alarm(hint=Grade.TWO), segment()).grade is Grade.TWO
    d = grade_alarm(alarm(hint=Grade.THREE, rupture=True), segment())
    assert d.grade is Grade.ONE and "G-HINT" not in rules(d)


def test_all_fired_rules_are_reported_most_severe_first() -> None:
    d = grade_alarm(alarm(rupture=True, lel=90.0, confined=True, pct=6.0), segment(material="grey_cast_iron"))
    assert rules(d)[:3] == ["G1-RUP", "G1-LEL", "G1-RATE"]
    assert {"G2-LEL", "G2-CONF", "G2-MAT"} <= set(rules(d))


@pytest.mark.parametrize(
    "bad",
    [
        {"rate_kg_per_s": math.nan, "pct_of_nominal_flow": 1.0},
        {"rate_kg_per_s": 0.1, "pct_of_nominal_flow": math.inf},
        {"rate_kg_per_s": -0.1, "pct_of_nominal_flow": 1.0},
        {"rate_kg_per_s": "0.1", "pct_of_nominal_flow": 1.0},
    ],
)
def test_garbage_leak_rates_are_refused(bad: dict) -> None:
    with pytest.raises(InvalidInput, match="leak_rate"):
        LeakRate(**bad)


@pytest.mark.parametrize("lel", [math.nan, -1.0, 100.5])
def test_garbage_lel_is_refused(lel: float) -> None:
    with pytest.raises(InvalidInput, match="lel_pct"):
        MethaneDetails(tag_id="t", lel_pct=lel)


def test_garbage_alarms_are_refused() -> None:
    good = alarm()
    with pytest.raises(InvalidInput, match="alarm_id"):
        AlarmFacts(**{**_fields(good), "alarm_id": " "})
    with pytest.raises(InvalidInput, match="alarm_sequence"):
        AlarmFacts(**{**_fields(good), "alarm_sequence": -1})
    with pytest.raises(InvalidInput, match="state"):
        AlarmFacts(**{**_fields(good), "state": "exploded"})
    with pytest.raises(InvalidInput, match="alarm_sequence 0"):
        AlarmFacts(**{**_fields(good), "state": AlarmState.RAISED, "alarm_sequence": 3})
    with pytest.raises(InvalidInput, match=r"segment\.length_km"):
        segment(length_km=-1.0)
    with pytest.raises(InvalidInput, match="pipe_class"):
        segment(pipe_class="sewer")
    with pytest.raises(InvalidInput, match="grade 2 confined"):
        GradingPolicy(grade2_confined_lel_pct=90.0)
    with pytest.raises(InvalidInput):
        grade_alarm("not an alarm", segment())  # type: ignore[arg-type]


def _fields(a: AlarmFacts) -> dict:
    return {name: getattr(a, name) for name in a.__dataclass_fields__}
