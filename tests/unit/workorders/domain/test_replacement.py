"""Replacement programme: progress limits, completion and verification, report inputs."""

from __future__ import annotations

import math
from typing import Any

import pytest

from services.workorders.domain import (
    InvalidInput,
    InvalidTransition,
    PipeClass,
    ProblemPipeline,
    ProblemReason,
    Replacement,
    ReplacementLengthExceeded,
    ReplacementStatus,
    RuleViolation,
    YearlyTarget,
    assess_problem_pipeline,
    event_from_payload,
    programme_progress,
    remaining_inventory_by_material,
    year_bounds_unix_us,
)
from services.workorders.domain.replacement import SegmentRecordedReplaced
from tests.unit.workorders.domain.factories import DAY, T0, segment

GCI = segment(
    segment_id="DS-C1", pipe_class=PipeClass.COURTYARD, material="grey_cast_iron", length_km=1.2, install_year=1988
)


class Stream:
    def __init__(self) -> None:
        self.state = Replacement()
        self.events: list[Any] = []

    def do(self, command: str, *args: Any, **kwargs: Any) -> list[Any]:
        new = getattr(self.state, command)(*args, **kwargs)
        self.events.extend(new)
        self.state = Replacement.replay(new, initial=self.state)
        return new


def ordered(seg=GCI) -> Stream:
    s = Stream()
    s.do(
        "open",
        seg,
        reasons=(ProblemReason.MATERIAL, ProblemReason.AGE),
        programme_year=2024,
        actor="plan",
        now_unix_us=T0,
    )
    return s


def test_partial_progress_accumulates() -> None:
    s = ordered()
    s.do("report_progress", 0.5, report_id="r1", actor="crew", now_unix_us=T0 + DAY)
    s.do("report_progress", 0.4, report_id="r2", actor="crew", now_unix_us=T0 + 2 * DAY)
    assert s.state.status is ReplacementStatus.IN_PROGRESS
    assert s.state.cumulative_km == pytest.approx(0.9) and s.state.remaining_km == pytest.approx(0.3)
    assert s.do("report_progress", 0.4, report_id="r2", actor="crew", now_unix_us=T0 + 3 * DAY) == []  # retry


def test_progress_beyond_the_segment_length_is_refused_with_length_and_progress() -> None:
    s = ordered()
    s.do("report_progress", 1.0, report_id="r1", actor="crew", now_unix_us=T0)
    before = s.state
    with pytest.raises(ReplacementLengthExceeded) as info:
        s.state.report_progress(0.5, report_id="r2", actor="crew", now_unix_us=T0)
    message = str(info.value)
    assert "DS-C1 is 1.2 km long" in message and "1 km are already reported" in message and "0.2 km remain" in message
    assert s.state is before and s.state.cumulative_km == 1.0


@pytest.mark.parametrize("km", [-0.1, 0.0, math.nan, math.inf, "0.3", None, True])
def test_garbage_km_is_refused(km: object) -> None:
    with pytest.raises(InvalidInput, match="km"):
        ordered().state.report_progress(km, report_id="r", actor="c", now_unix_us=T0)  # type: ignore[arg-type]


def test_completion_needs_the_whole_length_and_a_second_person_to_verify() -> None:
    s = ordered()
    with pytest.raises(InvalidTransition, match="'ordered'"):
        s.state.complete(actor="crew", now_unix_us=T0)
    s.do("report_progress", 1.0, report_id="r1", actor="crew", now_unix_us=T0)
    with pytest.raises(RuleViolation, match=r"only 1 km are reported replaced; report the remaining 0\.2 km"):
        s.state.complete(actor="crew", now_unix_us=T0)
    s.do("report_progress", 0.2, report_id="r2", actor="crew", now_unix_us=T0)
    s.do("complete", actor="foreman", now_unix_us=T0 + DAY)
    with pytest.raises(RuleViolation, match="cannot also verify"):
        s.state.verify(passed=True, actor="foreman", now_unix_us=T0 + DAY)
    with pytest.raises(InvalidInput, match="notes"):
        s.state.verify(passed=False, actor="inspector", now_unix_us=T0 + DAY)
    s.do("verify", passed=False, notes="joint leaks at pressure test", actor="inspector", now_unix_us=T0 + DAY)
    assert s.state.status is ReplacementStatus.IN_PROGRESS and s.state.failed_verifications == 1
    s.do("complete", actor="foreman", now_unix_us=T0 + 2 * DAY)
    new = s.do("verify", passed=True, actor="inspector", now_unix_us=T0 + 3 * DAY)
    assert isinstance(new[-1], SegmentRecordedReplaced) and new[-1].length_km == 1.2
    assert new[-1].old_material == "grey_cast_iron" and new[-1].new_material == "PE"
    assert s.state.status is ReplacementStatus.VERIFIED
    with pytest.raises(InvalidTransition, match=r"verified.*terminal"):
        s.state.report_progress(0.1, report_id="r9", actor="c", now_unix_us=T0 + 4 * DAY)
    assert Replacement.replay(s.events) == s.state
    assert Replacement.replay(event_from_payload(e.type, e.schema_version, e.to_payload()) for e in s.events) == s.state
    assert Replacement.from_snapshot(s.state.to_snapshot()) == s.state


def test_order_is_idempotent_and_refuses_garbage() -> None:
    s = ordered()
    assert s.state.open(GCI, reasons=(ProblemReason.MATERIAL,), programme_year=2024, actor="p", now_unix_us=T0) == []
    with pytest.raises(InvalidInput, match="reasons"):
        Replacement().open(GCI, reasons=(), programme_year=2024, actor="p", now_unix_us=T0)
    with pytest.raises(InvalidInput, match="SegmentContext"):
        Replacement().open("DS-C1", reasons=(ProblemReason.AGE,), programme_year=2024, actor="p", now_unix_us=T0)  # type: ignore[arg-type]


def test_assess_problem_pipeline() -> None:
    assert assess_problem_pipeline(GCI, year=2024) == (ProblemReason.MATERIAL, ProblemReason.AGE)
    young_pe = segment(material="PE", install_year=2015)
    assert assess_problem_pipeline(young_pe, year=2024) == ()
    assert assess_problem_pipeline(young_pe, year=2024, leak_count=3, assessed_hazard=True) == (
        ProblemReason.LEAK_HISTORY,
        ProblemReason.ASSESSED_HAZARD,
    )
    with pytest.raises(InvalidInput, match="leak_count"):
        assess_problem_pipeline(young_pe, year=2024, leak_count=-1)


def _verified(seg, at: int) -> Replacement:
    s = ordered(seg)
    s.do("report_progress", seg.length_km, report_id="all", actor="crew", now_unix_us=at)
    s.do("complete", actor="foreman", now_unix_us=at)
    s.do("verify", passed=True, actor="inspector", now_unix_us=at)
    return s.state


def test_programme_progress_by_district_and_pipe_class_against_targets() -> None:
    start_2024, end_2024 = year_bounds_unix_us(2024)
    riser = segment(segment_id="DS-R1", pipe_class=PipeClass.RISER, material="steel", length_km=0.3, install_year=1990)
    kb = segment(segment_id="KB-M2", district="Kangbashi", material="grey_cast_iron", length_km=2.0)
    done_courtyard = _verified(GCI, start_2024 + DAY)
    done_riser_last_year = _verified(riser, start_2024 - DAY)
    partial = ordered(kb)
    partial.do("report_progress", 0.7, report_id="p1", actor="crew", now_unix_us=start_2024 + 10 * DAY)
    targets = [
        YearlyTarget(year=2024, district="Dongsheng", pipe_class=PipeClass.COURTYARD, target_km=2.4),
        YearlyTarget(year=2024, district="Kangbashi", pipe_class=PipeClass.MUNICIPAL, target_km=5.0),
        YearlyTarget(year=2023, district="Dongsheng", pipe_class=PipeClass.RISER, target_km=1.0),
    ]
    facts = [done_courtyard.fact(), done_riser_last_year.fact(), partial.state.fact()]
    rows = {(r.district, r.pipe_class): r for r in programme_progress(targets, facts, year=2024)}
    assert set(rows) == {("Dongsheng", PipeClass.COURTYARD), ("Kangbashi", PipeClass.MUNICIPAL)}
    courtyard = rows[("Dongsheng", PipeClass.COURTYARD)]
    assert (courtyard.target_km, courtyard.replaced_km, courtyard.pct_of_target) == (2.4, 1.2, 50.0)
    kangbashi = rows[("Kangbashi", PipeClass.MUNICIPAL)]
    assert (kangbashi.built_km, kangbashi.replaced_km, kangbashi.pct_of_target) == (0.7, 0.0, 0.0)
    assert end_2024 - start_2024 == 366 * DAY  # leap year

    problems = [
        ProblemPipeline(segment=GCI, reasons=(ProblemReason.MATERIAL,), flagged_at_unix_us=T0),
        ProblemPipeline(segment=kb, reasons=(ProblemReason.MATERIAL,), flagged_at_unix_us=T0),
        ProblemPipeline(segment=riser, reasons=(ProblemReason.AGE,), flagged_at_unix_us=T0),
        ProblemPipeline(
            segment=segment(segment_id="EH-M9", material="steel", length_km=4.0),
            reasons=(ProblemReason.AGE,),
            flagged_at_unix_us=T0,
        ),
    ]
    inventory = remaining_inventory_by_material(problems, facts)
    assert inventory == pytest.approx({"grey_cast_iron": 1.3, "steel": 4.0})


def test_report_inputs_refuse_garbage() -> None:
    with pytest.raises(InvalidInput, match="target_km"):
        YearlyTarget(year=2024, district="D", pipe_class=PipeClass.RISER, target_km=-1.0)
    with pytest.raises(InvalidInput, match="YearlyTarget"):
        programme_progress(["2024"], [], year=2024)  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="ProblemReason"):
        ProblemPipeline(segment=GCI, reasons=(), flagged_at_unix_us=T0)
    assert year_bounds_unix_us(2024, utc_offset_s=8 * 3600)[0] == year_bounds_unix_us(2024)[0] - 8 * 3600 * 1_000_000
