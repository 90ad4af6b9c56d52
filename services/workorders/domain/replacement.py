"""Problem-pipeline replacement programme (domain brief, "Problem pipelines").

Segments "running while defective" are flagged as problem pipelines (``ProblemReason``: material such
as grey cast iron, age, leak history, assessed hazard; ``assess_problem_pipeline`` suggests reasons by
``ProblemPipelinePolicy``) and replaced under a programme reported in km by city district and pipe
class (municipal, courtyard, riser) against yearly targets.

Aggregate ``Replacement`` (one per segment replacement)::

    ordered --report_progress--> in_progress --complete--> completed --verify(passed)--> verified
                                                             \\--verify(failed)--> in_progress

* Progress is reported in km, partial reports allowed; each report has an id, so a retried report gives
  no events. The cumulative km never exceeds the segment's length: a report that would is refused with
  ``ReplacementLengthExceeded`` naming the length and the progress so far.
* ``complete`` needs the whole length reported (within ``LENGTH_TOLERANCE_KM``, 1 m).
* ``verify`` is done by someone other than the person who reported completion (a second pair of eyes);
  a pass also records ``SegmentRecordedReplaced``, after which the segment leaves the problem inventory.

Report inputs are pure functions of facts: ``programme_progress`` (km replaced vs target per district
and pipe class for a period) and ``remaining_inventory_by_material``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.workorders.domain._aggregate import Aggregate
from services.workorders.domain.alarm import SegmentContext
from services.workorders.domain.errors import InvalidInput, InvalidTransition, ReplacementLengthExceeded, RuleViolation
from services.workorders.domain.events import DomainEvent, deterministic_id, register_event
from services.workorders.domain.values import PipeClass, check_flag, check_number, check_text, check_time

LENGTH_TOLERANCE_KM = 0.001


class ProblemReason(enum.StrEnum):
    MATERIAL = "material"  # e.g. grey cast iron
    AGE = "age"
    LEAK_HISTORY = "leak_history"
    ASSESSED_HAZARD = "assessed_hazard"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProblemPipelinePolicy:
    """Defaults are the project's, not the brief's (the brief names grey cast iron, old steel and PE)."""

    problem_materials: frozenset[str] = frozenset({"grey_cast_iron"})
    max_age_years: int = 30  # old steel / PE
    max_leaks: int = 3  # leaks recorded on the segment in the look-back the caller chose

    def __post_init__(self) -> None:
        for name in ("max_age_years", "max_leaks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidInput(f"ProblemPipelinePolicy.{name} must be a positive int, got {value!r}")


DEFAULT_PROBLEM_POLICY = ProblemPipelinePolicy()


def assess_problem_pipeline(
    segment: SegmentContext,
    *,
    year: int,
    leak_count: int = 0,
    assessed_hazard: bool = False,
    policy: ProblemPipelinePolicy = DEFAULT_PROBLEM_POLICY,
) -> tuple[ProblemReason, ...]:
    """The reasons a segment is a problem pipeline (empty: it is not one)."""
    if not isinstance(segment, SegmentContext):
        raise InvalidInput(f"segment must be a SegmentContext, not {type(segment).__name__}")
    if isinstance(year, bool) or not isinstance(year, int) or not 1800 <= year <= 2200:
        raise InvalidInput(f"year must be a year between 1800 and 2200, got {year!r}")
    if isinstance(leak_count, bool) or not isinstance(leak_count, int) or leak_count < 0:
        raise InvalidInput(f"leak_count must be a non-negative int, got {leak_count!r}")
    check_flag("assessed_hazard", assessed_hazard)
    reasons: list[ProblemReason] = []
    if segment.material in policy.problem_materials:
        reasons.append(ProblemReason.MATERIAL)
    if segment.install_year is not None and year - segment.install_year >= policy.max_age_years:
        reasons.append(ProblemReason.AGE)
    if leak_count >= policy.max_leaks:
        reasons.append(ProblemReason.LEAK_HISTORY)
    if assessed_hazard:
        reasons.append(ProblemReason.ASSESSED_HAZARD)
    return tuple(reasons)


@dataclass(frozen=True, kw_only=True, slots=True)
class ProblemPipeline:
    """A flagged segment, an input of the programme report (the service layer keeps the list)."""

    segment: SegmentContext
    reasons: tuple[ProblemReason, ...]
    flagged_at_unix_us: int

    def __post_init__(self) -> None:
        if not isinstance(self.segment, SegmentContext):
            raise InvalidInput("segment must be a SegmentContext")
        if not self.reasons or not all(isinstance(r, ProblemReason) for r in self.reasons):
            raise InvalidInput(f"a problem pipeline needs at least one ProblemReason, got {self.reasons!r}")
        check_time("flagged_at_unix_us", self.flagged_at_unix_us)


def replacement_id_for(segment_id: str, programme_year: int) -> str:
    check_text("segment_id", segment_id, max_length=200)
    if isinstance(programme_year, bool) or not isinstance(programme_year, int):
        raise InvalidInput(f"programme_year must be an int, got {programme_year!r}")
    return deterministic_id("replacement", segment_id, str(programme_year))


class ReplacementStatus(enum.StrEnum):
    ORDERED = "ordered"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    VERIFIED = "verified"


R = ReplacementStatus
REPLACEMENT_TRANSITIONS: dict[ReplacementStatus, frozenset[str]] = {
    R.ORDERED: frozenset({"report_progress"}),
    R.IN_PROGRESS: frozenset({"report_progress", "complete"}),
    R.COMPLETED: frozenset({"verify"}),
    R.VERIFIED: frozenset(),
}


# ----------------------------------------------------------------------------------------------- events


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplacementEvent(DomainEvent):
    replacement_id: str
    at_unix_us: int
    actor: str

    @property
    def aggregate_id(self) -> str:
        return self.replacement_id


@register_event("ReplacementOrdered")
@dataclass(frozen=True, kw_only=True, slots=True)
class ReplacementOrdered(ReplacementEvent):
    segment: SegmentContext
    reasons: tuple[ProblemReason, ...]
    programme_year: int
    new_material: str


@register_event("ReplacementProgressReported")
@dataclass(frozen=True, kw_only=True, slots=True)
class ReplacementProgressReported(ReplacementEvent):
    report_id: str
    km: float
    cumulative_km: float


@register_event("ReplacementCompleted")
@dataclass(frozen=True, kw_only=True, slots=True)
class ReplacementCompleted(ReplacementEvent):
    notes: str


@register_event("ReplacementVerified")
@dataclass(frozen=True, kw_only=True, slots=True)
class ReplacementVerified(ReplacementEvent):
    passed: bool
    notes: str


@register_event("SegmentRecordedReplaced")
@dataclass(frozen=True, kw_only=True, slots=True)
class SegmentRecordedReplaced(ReplacementEvent):
    segment_id: str
    district: str
    pipe_class: PipeClass
    old_material: str
    new_material: str
    length_km: float


# -------------------------------------------------------------------------------------------- aggregate


@dataclass(frozen=True, slots=True)
class ProgressPoint:
    at_unix_us: int
    km: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Replacement(Aggregate):
    replacement_id: str = ""
    version: int = 0
    status: ReplacementStatus | None = None
    segment: SegmentContext | None = None
    reasons: tuple[ProblemReason, ...] = ()
    programme_year: int = 0
    new_material: str = ""
    progress: tuple[ProgressPoint, ...] = ()
    report_ids: frozenset[str] = frozenset()
    cumulative_km: float = 0.0
    completed_by: str = ""
    completed_at_unix_us: int | None = None
    verified_at_unix_us: int | None = None
    failed_verifications: int = 0

    def apply(self, event: DomainEvent) -> Replacement:
        if not isinstance(event, ReplacementEvent):
            raise InvalidInput(f"a Replacement cannot apply {type(event).__name__}")
        if self.status is None and not isinstance(event, ReplacementOrdered):
            raise InvalidInput(f"the first event of a replacement must be ReplacementOrdered, not {event.type}")
        if self.status is not None and event.replacement_id != self.replacement_id:
            raise InvalidInput(f"event for replacement {event.replacement_id} applied to {self.replacement_id}")
        r = dataclasses.replace
        v = self.version + 1
        match event:
            case ReplacementOrdered():
                if self.status is not None:
                    raise InvalidInput(f"replacement {self.replacement_id} is already ordered")
                return r(
                    self,
                    version=v,
                    replacement_id=event.replacement_id,
                    status=R.ORDERED,
                    segment=event.segment,
                    reasons=event.reasons,
                    programme_year=event.programme_year,
                    new_material=event.new_material,
                )
            case ReplacementProgressReported():
                return r(
                    self,
                    version=v,
                    status=R.IN_PROGRESS,
                    progress=(*self.progress, ProgressPoint(event.at_unix_us, event.km)),
                    report_ids=self.report_ids | {event.report_id},
                    cumulative_km=event.cumulative_km,
                )
            case ReplacementCompleted():
                return r(
                    self, version=v, status=R.COMPLETED, completed_by=event.actor, completed_at_unix_us=event.at_unix_us
                )
            case ReplacementVerified():
                if event.passed:
                    return r(self, version=v, status=R.VERIFIED, verified_at_unix_us=event.at_unix_us)
                return r(
                    self,
                    version=v,
                    status=R.IN_PROGRESS,
                    completed_by="",
                    completed_at_unix_us=None,
                    failed_verifications=self.failed_verifications + 1,
                )
            case SegmentRecordedReplaced():
                return r(self, version=v)
        raise InvalidInput(f"a Replacement cannot apply {type(event).__name__}")

    @property
    def length_km(self) -> float:
        return self.segment.length_km if self.segment is not None else 0.0

    @property
    def remaining_km(self) -> float:
        return max(0.0, self.length_km - self.cumulative_km)

    # ---------------------------------------------------------------------------------------- commands

    def open(
        self,
        segment: SegmentContext,
        *,
        reasons: tuple[ProblemReason, ...],
        programme_year: int,
        new_material: str = "PE",
        actor: str,
        now_unix_us: int,
    ) -> list[ReplacementEvent]:
        """Open (order) the replacement of a problem segment (idempotent: same segment and year, no events)."""
        if not isinstance(segment, SegmentContext):
            raise InvalidInput(f"segment must be a SegmentContext, not {type(segment).__name__}")
        replacement_id = replacement_id_for(segment.segment_id, programme_year)
        if self.status is not None:
            if replacement_id != self.replacement_id:
                raise InvalidInput(f"replacement {self.replacement_id} already exists; {replacement_id} is another one")
            return []
        if not isinstance(reasons, tuple) or not reasons or not all(isinstance(x, ProblemReason) for x in reasons):
            raise InvalidInput(f"reasons must be a non-empty tuple of ProblemReason, got {reasons!r}")
        if not 1800 <= programme_year <= 2200:
            raise InvalidInput(f"programme_year must be between 1800 and 2200, got {programme_year}")
        check_text("new_material", new_material, max_length=100)
        check_text("actor", actor, max_length=200)
        check_time("now_unix_us", now_unix_us)
        return [
            ReplacementOrdered(
                replacement_id=replacement_id,
                at_unix_us=now_unix_us,
                actor=actor,
                segment=segment,
                reasons=reasons,
                programme_year=programme_year,
                new_material=new_material,
            )
        ]

    def report_progress(self, km: float, *, report_id: str, actor: str, now_unix_us: int) -> list[ReplacementEvent]:
        """Add ``km`` of replaced pipe (> 0); the cumulative total may not exceed the segment's length."""
        if self.status is not None and isinstance(report_id, str) and report_id in self.report_ids:
            return []  # retried report
        self._check("report_progress", actor, now_unix_us)
        check_text("report_id", report_id, max_length=200)
        km = check_number("km", km, strictly_positive=True)
        cumulative = self.cumulative_km + km
        if cumulative > self.length_km + LENGTH_TOLERANCE_KM:
            raise ReplacementLengthExceeded(
                f"segment {self.segment.segment_id if self.segment else '?'} is {self.length_km:g} km long and "
                f"{self.cumulative_km:g} km are already reported replaced; {km:g} km more would make "
                f"{cumulative:g} km (at most {self.remaining_km:g} km remain)"
            )
        cumulative = min(cumulative, self.length_km)
        return [
            ReplacementProgressReported(
                replacement_id=self.replacement_id,
                at_unix_us=now_unix_us,
                actor=actor,
                report_id=report_id,
                km=km,
                cumulative_km=cumulative,
            )
        ]

    def complete(self, *, notes: str = "", actor: str, now_unix_us: int) -> list[ReplacementEvent]:
        self._check("complete", actor, now_unix_us)
        check_text("notes", notes, allow_empty=True)
        if self.remaining_km > LENGTH_TOLERANCE_KM:
            raise RuleViolation(
                f"segment {self.segment.segment_id if self.segment else '?'} is {self.length_km:g} km long but only "
                f"{self.cumulative_km:g} km are reported replaced; report the remaining {self.remaining_km:g} km first"
            )
        return [
            ReplacementCompleted(replacement_id=self.replacement_id, at_unix_us=now_unix_us, actor=actor, notes=notes)
        ]

    def verify(self, *, passed: bool, notes: str = "", actor: str, now_unix_us: int) -> list[ReplacementEvent]:
        self._check("verify", actor, now_unix_us)
        check_flag("passed", passed)
        check_text("notes", notes, allow_empty=passed)  # a failed verification says why
        if actor == self.completed_by:
            raise RuleViolation(f"{actor!r} reported the completion and cannot also verify it")
        events: list[ReplacementEvent] = [
            ReplacementVerified(
                replacement_id=self.replacement_id, at_unix_us=now_unix_us, actor=actor, passed=passed, notes=notes
            )
        ]
        if passed:
            assert self.segment is not None
            events.append(
                SegmentRecordedReplaced(
                    replacement_id=self.replacement_id,
                    at_unix_us=now_unix_us,
                    actor=actor,
                    segment_id=self.segment.segment_id,
                    district=self.segment.district,
                    pipe_class=self.segment.pipe_class,
                    old_material=self.segment.material,
                    new_material=self.new_material,
                    length_km=self.segment.length_km,
                )
            )
        return events

    def fact(self) -> ReplacementFact:
        """This replacement as an input row of the programme report."""
        if self.segment is None:
            raise InvalidInput("an unordered replacement has no facts")
        return ReplacementFact(
            segment=self.segment,
            progress=self.progress,
            verified_at_unix_us=self.verified_at_unix_us,
        )

    def _check(self, command: str, actor: str, now_unix_us: int) -> None:
        if self.status is None:
            raise InvalidTransition("a replacement", command, "not ordered", ["open"])
        allowed = REPLACEMENT_TRANSITIONS[self.status]
        if command not in allowed:
            raise InvalidTransition(f"replacement {self.replacement_id}", command, self.status.value, allowed)
        check_text("actor", actor, max_length=200)
        check_time("now_unix_us", now_unix_us)


# ----------------------------------------------------------------------------------------- report inputs


@dataclass(frozen=True, slots=True)
class ReplacementFact:
    segment: SegmentContext
    progress: tuple[ProgressPoint, ...]
    verified_at_unix_us: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class YearlyTarget:
    year: int
    district: str
    pipe_class: PipeClass
    target_km: float

    def __post_init__(self) -> None:
        if isinstance(self.year, bool) or not isinstance(self.year, int) or not 1800 <= self.year <= 2200:
            raise InvalidInput(f"target year must be between 1800 and 2200, got {self.year!r}")
        check_text("district", self.district, max_length=200)
        if not isinstance(self.pipe_class, PipeClass):
            raise InvalidInput(f"pipe_class must be one of {[c.value for c in PipeClass]}, got {self.pipe_class!r}")
        check_number("target_km", self.target_km, minimum=0.0)


@dataclass(frozen=True, slots=True)
class ProgressRow:
    district: str
    pipe_class: PipeClass
    target_km: float  # 0 when there is no target for this line
    built_km: float  # progress reported within the period (partial work counts)
    replaced_km: float  # segment lengths verified replaced within the period
    pct_of_target: float | None  # replaced_km / target_km * 100; None without a target


def year_bounds_unix_us(year: int, utc_offset_s: int = 0) -> tuple[int, int]:
    """[start, end) of a calendar year in local time (``utc_offset_s``, e.g. 8 h for China)."""
    if isinstance(year, bool) or not isinstance(year, int) or not 1970 <= year <= 2200:
        raise InvalidInput(f"year must be between 1970 and 2200, got {year!r}")
    offset = timedelta(seconds=utc_offset_s)

    def start(y: int) -> int:
        return int((datetime(y, 1, 1, tzinfo=UTC) - offset).timestamp()) * 1_000_000

    return start(year), start(year + 1)


def programme_progress(
    targets: Iterable[YearlyTarget],
    facts: Iterable[ReplacementFact],
    *,
    year: int,
    period_unix_us: tuple[int, int] | None = None,
) -> list[ProgressRow]:
    """km built and verified replaced within ``year`` (UTC unless a period is given) vs the year's targets,
    one row per (district, pipe class) that has a target or any progress, sorted."""
    start, end = period_unix_us if period_unix_us is not None else year_bounds_unix_us(year)
    target_km: dict[tuple[str, PipeClass], float] = {}
    for t in targets:
        if not isinstance(t, YearlyTarget):
            raise InvalidInput(f"targets must be YearlyTarget, not {type(t).__name__}")
        if t.year == year:
            key = (t.district, t.pipe_class)
            target_km[key] = target_km.get(key, 0.0) + t.target_km
    built: dict[tuple[str, PipeClass], float] = {}
    replaced: dict[tuple[str, PipeClass], float] = {}
    for f in facts:
        if not isinstance(f, ReplacementFact):
            raise InvalidInput(f"facts must be ReplacementFact, not {type(f).__name__}")
        key = (f.segment.district, f.segment.pipe_class)
        km = sum(p.km for p in f.progress if start <= p.at_unix_us < end)
        if km:
            built[key] = built.get(key, 0.0) + km
        if f.verified_at_unix_us is not None and start <= f.verified_at_unix_us < end:
            replaced[key] = replaced.get(key, 0.0) + f.segment.length_km
    rows = []
    for key in sorted(set(target_km) | set(built) | set(replaced)):
        target = target_km.get(key, 0.0)
        done = replaced.get(key, 0.0)
        rows.append(
            ProgressRow(
                district=key[0],
                pipe_class=key[1],
                target_km=target,
                built_km=built.get(key, 0.0),
                replaced_km=done,
                pct_of_target=done / target * 100.0 if target > 0 else None,
            )
        )
    return rows


def remaining_inventory_by_material(
    problems: Iterable[ProblemPipeline], facts: Iterable[ReplacementFact]
) -> dict[str, float]:
    """km of flagged problem pipeline not yet replaced, by material (partial progress is subtracted)."""
    remaining: dict[str, float] = {}
    for problem, left_km in remaining_km_by_problem(problems, facts):
        remaining[problem.segment.material] = remaining.get(problem.segment.material, 0.0) + left_km
    return dict(sorted(remaining.items()))


def remaining_km_by_problem(
    problems: Iterable[ProblemPipeline], facts: Iterable[ReplacementFact]
) -> list[tuple[ProblemPipeline, float]]:
    """Each flagged problem pipeline (once per segment) with its km not yet replaced: the segment's length
    less the work reported on it, 0 once a replacement of it is verified."""
    done_km: dict[str, float] = {}
    for f in facts:
        if not isinstance(f, ReplacementFact):
            raise InvalidInput(f"facts must be ReplacementFact, not {type(f).__name__}")
        sid = f.segment.segment_id
        km = f.segment.length_km if f.verified_at_unix_us is not None else sum(p.km for p in f.progress)
        done_km[sid] = max(done_km.get(sid, 0.0), km)
    remaining: list[tuple[ProblemPipeline, float]] = []
    seen: set[str] = set()
    for p in problems:
        if not isinstance(p, ProblemPipeline):
            raise InvalidInput(f"problems must be ProblemPipeline, not {type(p).__name__}")
        sid = p.segment.segment_id
        if sid in seen:
            continue
        seen.add(sid)
        remaining.append((p, max(0.0, p.segment.length_km - done_km.get(sid, 0.0))))
    return remaining
