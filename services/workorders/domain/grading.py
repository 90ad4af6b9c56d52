"""Initial leak grading from an alarm and its segment: documented, configurable rules.

The grade is the most severe grade any rule below gives (lower number = more severe). Each rule that
fires adds a reason ``"<rule id>: <why>"`` to the decision, so a dispatcher sees why the order is graded
as it is. A qualified person (role ``supervisor``) can regrade afterwards (``WorkOrder.regrade``); the
domain brief says only qualified people grade and regrade, so this automatic grade is a triage proposal
that errs on the severe side.

======  =====  ==============================================================  ==========================
rule    grade  fires when                                                      source
======  =====  ==============================================================  ==========================
G1-RUP    1    rupture: method RUPTURE or rupture details with a pressure drop  brief: existing hazard
G1-LEL    1    methane >= 80 % LEL in a confined space                          brief; Texas 16 TAC §8.207
                                                                               (Maine uses 70 %)
G1-BLD    1    leak on a riser or courtyard pipe, or segment flagged            brief: gas in or under a
               ``near_buildings`` (gas can migrate into a building)             building
G1-RATE   1    leak rate >= 5 % of nominal flow, or >= 0.5 kg/s                 project default
G2-LEL    2    methane >= 40 % LEL (anywhere)                                   brief; 220 CMR 114
G2-CONF   2    methane >= 20 % LEL in a confined space                          brief: utility-tunnel
                                                                               alarm at <= 20 % LEL
G2-RATE   2    leak rate >= 1 % of nominal flow, or >= 0.05 kg/s                project default (1 % is
                                                                               what SPRT balance detects)
G2-MAT    2    segment material in ``brittle_materials`` (grey cast iron)       brief: problem pipelines
G2-DIST   2    segment district in ``sensitive_districts`` (empty by default)   utility's choice
G-HINT  hint   the detector's ``grade_hint`` is more severe than the rules      alarms.proto GradeHint
G3        3    none of the above                                                brief: grade 3
======  =====  ==============================================================  ==========================

"Project default" thresholds are not in the brief; they are ``GradingPolicy`` fields for the utility to
set. A cleared alarm is graded like any other (the order's grade never drops by itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.workorders.domain.alarm import AlarmFacts, DetectionMethod, SegmentContext
from services.workorders.domain.errors import InvalidInput
from services.workorders.domain.values import Grade, PipeClass, check_number


@dataclass(frozen=True, kw_only=True, slots=True)
class GradingPolicy:
    grade1_confined_lel_pct: float = 80.0
    grade1_pct_of_nominal_flow: float = 5.0
    grade1_rate_kg_per_s: float = 0.5
    grade1_pipe_classes: frozenset[PipeClass] = frozenset({PipeClass.RISER, PipeClass.COURTYARD})
    grade2_lel_pct: float = 40.0
    grade2_confined_lel_pct: float = 20.0
    grade2_pct_of_nominal_flow: float = 1.0
    grade2_rate_kg_per_s: float = 0.05
    brittle_materials: frozenset[str] = frozenset({"grey_cast_iron"})
    sensitive_districts: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in (
            "grade1_confined_lel_pct",
            "grade1_pct_of_nominal_flow",
            "grade1_rate_kg_per_s",
            "grade2_lel_pct",
            "grade2_confined_lel_pct",
            "grade2_pct_of_nominal_flow",
            "grade2_rate_kg_per_s",
        ):
            check_number(f"GradingPolicy.{name}", getattr(self, name), strictly_positive=True)
        if self.grade2_confined_lel_pct > self.grade1_confined_lel_pct:
            raise InvalidInput("GradingPolicy: the grade 2 confined-space LEL threshold exceeds the grade 1 one")


DEFAULT_GRADING_POLICY = GradingPolicy()


@dataclass(frozen=True, slots=True)
class GradeDecision:
    grade: Grade
    reasons: tuple[str, ...]


def grade_alarm(
    alarm: AlarmFacts, segment: SegmentContext, policy: GradingPolicy = DEFAULT_GRADING_POLICY
) -> GradeDecision:
    """Apply the rule table above; returns the grade and every reason that fired (most severe first)."""
    if not isinstance(alarm, AlarmFacts):
        raise InvalidInput(f"alarm must be AlarmFacts, not {type(alarm).__name__}")
    if not isinstance(segment, SegmentContext):
        raise InvalidInput(f"segment must be a SegmentContext, not {type(segment).__name__}")
    found: list[tuple[Grade, str]] = []
    p = policy

    if DetectionMethod.RUPTURE in alarm.methods or (alarm.rupture and alarm.rupture.pressure_drop_pa > 0):
        drop = f" (pressure drop {alarm.rupture.pressure_drop_pa:.0f} Pa)" if alarm.rupture else ""
        found.append((Grade.ONE, f"G1-RUP: rupture detected{drop}"))
    methane = alarm.methane
    if methane is not None:
        lel = methane.lel_pct
        if methane.confined_space and lel >= p.grade1_confined_lel_pct:
            found.append((Grade.ONE, f"G1-LEL: {lel:g} % LEL in a confined space (>= {p.grade1_confined_lel_pct:g} %)"))
        if lel >= p.grade2_lel_pct:
            found.append((Grade.TWO, f"G2-LEL: {lel:g} % LEL (>= {p.grade2_lel_pct:g} %)"))
        if methane.confined_space and lel >= p.grade2_confined_lel_pct:
            found.append(
                (Grade.TWO, f"G2-CONF: {lel:g} % LEL in a confined space (>= {p.grade2_confined_lel_pct:g} %)")
            )
    if segment.pipe_class in p.grade1_pipe_classes:
        found.append((Grade.ONE, f"G1-BLD: leak on a {segment.pipe_class.value} pipe, gas can reach buildings"))
    elif segment.near_buildings:
        found.append((Grade.ONE, "G1-BLD: segment runs near buildings, gas can reach them"))
    rate = alarm.leak_rate
    if rate is not None:
        pct, kg = rate.pct_of_nominal_flow, rate.rate_kg_per_s
        if pct >= p.grade1_pct_of_nominal_flow or kg >= p.grade1_rate_kg_per_s:
            found.append(
                (
                    Grade.ONE,
                    f"G1-RATE: leak {kg:g} kg/s = {pct:g} % of nominal flow "
                    f"(>= {p.grade1_pct_of_nominal_flow:g} % or {p.grade1_rate_kg_per_s:g} kg/s)",
                )
            )
        elif pct >= p.grade2_pct_of_nominal_flow or kg >= p.grade2_rate_kg_per_s:
            found.append(
                (
                    Grade.TWO,
                    f"G2-RATE: leak {kg:g} kg/s = {pct:g} % of nominal flow "
                    f"(>= {p.grade2_pct_of_nominal_flow:g} % or {p.grade2_rate_kg_per_s:g} kg/s)",
                )
            )
    if segment.material in p.brittle_materials:
        found.append((Grade.TWO, f"G2-MAT: {segment.material} pipe (brittle, problem-pipeline material)"))
    if segment.district in p.sensitive_districts:
        found.append((Grade.TWO, f"G2-DIST: district {segment.district} is designated sensitive"))

    rule_grade = min((g for g, _ in found), default=Grade.THREE)
    if alarm.grade_hint is not None and alarm.grade_hint.more_severe_than(rule_grade):
        found.append((alarm.grade_hint, f"G-HINT: detector suggests grade {alarm.grade_hint.value}"))
    if not found:
        found.append((Grade.THREE, "G3: no grade 1 or grade 2 rule fired"))
    found.sort(key=lambda item: item[0].value)  # stable: rule order within a grade
    return GradeDecision(grade=found[0][0], reasons=tuple(reason for _, reason in found))
