"""The leak work order aggregate: one order per leak incident, from alarm to closure.

Event sourcing
    ``WorkOrder`` is immutable. ``WorkOrder.replay(events)`` rebuilds it; ``order.apply(event)`` returns
    the next state. Commands are methods that validate against the current state and return a list of
    NEW events (possibly empty: idempotent no-op); they never change anything and raise on refusal, so a
    refused command leaves the state exactly as it was. ``order.version`` counts applied events: use it
    as the expected version when appending. Events carry everything ``apply`` needs (policy decisions
    are recorded in the event, never recomputed on replay).

Identity and alarms (leak.alarms.v1)
    The order id is derived from the alarm id (``work_order_id_for_alarm``), so a redelivered alarm
    finds the same stream. ``receive_alarm`` opens the order on the first alarm record it sees; later
    records of the same incident (higher ``alarm_sequence``) are attached as ``AlarmUpdateAttached``;
    a record with a sequence already seen is a duplicate and gives no events. A cleared alarm is recorded
    (``AlarmClearRecorded``) and never closes or cancels the order: a person decides that. If an update
    grades more severely than the order's grade, the order is regraded automatically (``automatic=True``,
    role ``system``); grades never drop without a supervisor (domain brief: only qualified people regrade).
    On a closed or cancelled order such an update reopens it (``WorkOrderReopened``, back to ``triaged``
    at the new grade): evidence of a greater hazard must reach a dispatcher. Same-or-lower-grade updates
    on a terminal order are only attached, so routine updates never undo a person's decision.
    The leak's position (``location``) comes with the alarm facts, as the leak rate does: the opening
    record's, then each attached record's that carries one (leakdetect refines it as the leak persists).

Response clock
    Response deadlines run from the alarm's own time (its ``event_time``, else ``detection_time``),
    capped at the time received, so that a consumer lag does not extend them; a reopening restarts the
    clock from the reopening update's time the same way. ``received_at_unix_us`` stays the time the
    service received the first record (New York: log time received).

States (``WorkOrderStatus``) and moves (command -> next state)::

    triaged      dispatch->dispatched, defer->monitoring, hold, cancel
    dispatched   acknowledge->acknowledged, dispatch (reassign crew), hold, cancel
    acknowledged depart->en_route, dispatch (reassign crew), hold, cancel
    en_route     arrive->on_site, hold, cancel
    on_site      make_safe->made_safe, hold, cancel (false alarm found on site)
    made_safe    repair->repaired, defer->monitoring, hold
    repaired     verify->verified (permanent repair only; failed verification -> made_safe),
                 repair (temporary -> permanent), defer->monitoring (after a temporary repair), hold
    verified     close->closed
    monitoring   reevaluate (next date), dispatch->dispatched, hold, cancel
    on_hold      resume->(state it was held from), cancel (if that state allowed cancel)
    closed, cancelled: terminal, except that a more severe alarm update reopens them (->triaged)

Rules beyond the table
    * ``defer`` only for grades in ``SlaPolicy.deferrable_grades`` (2 and 3), with a re-evaluation date
      in the future and no later than the grade's re-evaluation interval (6 months for grade 2).
    * A grade 1 order cannot be put on hold before it is made safe (continuous action until safe).
    * ``regrade`` needs role ``supervisor`` and a reason. Regrading to a non-deferrable grade takes an
      order out of monitoring (to ``triaged``); regrading to grade 1 resumes an order held before made safe.
    * Time never goes backwards within an order: ``now_unix_us`` earlier than the last event is refused.
    * SLA breaches are recorded as ``SlaBreached`` events produced by ``sla.due_escalations``.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from services.workorders.domain._aggregate import Aggregate
from services.workorders.domain.alarm import AlarmFacts, AlarmState, LeakLocation, SegmentContext
from services.workorders.domain.errors import InvalidInput, InvalidTransition, PermissionDenied, RuleViolation
from services.workorders.domain.events import DomainEvent, deterministic_id, register_event
from services.workorders.domain.grading import DEFAULT_GRADING_POLICY, GradingPolicy, grade_alarm
from services.workorders.domain.policy import DEFAULT_SLA_POLICY, SlaPolicy
from services.workorders.domain.values import US_PER_S, Grade, Role, check_flag, check_id, check_text, check_time


def work_order_id_for_alarm(alarm_id: str) -> str:
    """The work order (and event stream) id of an alarm incident: ``"workorder-<uuid5(alarm_id)>"``."""
    check_id("alarm_id", alarm_id)
    return deterministic_id("workorder", alarm_id)


class WorkOrderStatus(enum.StrEnum):
    TRIAGED = "triaged"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    MADE_SAFE = "made_safe"
    REPAIRED = "repaired"
    VERIFIED = "verified"
    CLOSED = "closed"
    MONITORING = "monitoring"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"


class RepairKind(enum.StrEnum):
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


S = WorkOrderStatus
TERMINAL = frozenset({S.CLOSED, S.CANCELLED})
# Before these, a grade 1 leak still needs continuous action.
BEFORE_MADE_SAFE = frozenset({S.TRIAGED, S.DISPATCHED, S.ACKNOWLEDGED, S.EN_ROUTE, S.ON_SITE})

TRANSITIONS: dict[WorkOrderStatus, frozenset[str]] = {
    S.TRIAGED: frozenset({"dispatch", "defer", "hold", "cancel"}),
    S.DISPATCHED: frozenset({"dispatch", "acknowledge", "hold", "cancel"}),
    S.ACKNOWLEDGED: frozenset({"dispatch", "depart", "hold", "cancel"}),
    S.EN_ROUTE: frozenset({"arrive", "hold", "cancel"}),
    S.ON_SITE: frozenset({"make_safe", "hold", "cancel"}),
    S.MADE_SAFE: frozenset({"repair", "defer", "hold"}),
    S.REPAIRED: frozenset({"repair", "verify", "defer", "hold"}),
    S.VERIFIED: frozenset({"close"}),
    S.MONITORING: frozenset({"reevaluate", "dispatch", "hold", "cancel"}),
    S.ON_HOLD: frozenset({"resume", "cancel"}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}


# ----------------------------------------------------------------------------------------------- events


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkOrderEvent(DomainEvent):
    order_id: str
    at_unix_us: int

    @property
    def aggregate_id(self) -> str:
        return self.order_id


@register_event("WorkOrderOpened")
@dataclass(frozen=True, kw_only=True, slots=True)
class WorkOrderOpened(WorkOrderEvent):
    """``at_unix_us`` is the time the utility received the alarm (New York: log time received).

    ``raised_at_unix_us``: when leakdetect raised it (``alarm_time``, capped at ``at_unix_us``); response
    deadlines run from here. ``None`` in events stored before it was recorded: those ran from ``at_unix_us``.
    """

    alarm: AlarmFacts
    segment: SegmentContext
    grade: Grade
    grade_reasons: tuple[str, ...]
    actor: str
    raised_at_unix_us: int | None = None


@register_event("AlarmUpdateAttached")
@dataclass(frozen=True, kw_only=True, slots=True)
class AlarmUpdateAttached(WorkOrderEvent):
    alarm: AlarmFacts
    computed_grade: Grade
    grade_reasons: tuple[str, ...]


@register_event("AlarmClearRecorded")
@dataclass(frozen=True, kw_only=True, slots=True)
class AlarmClearRecorded(WorkOrderEvent):
    alarm: AlarmFacts


@register_event("WorkOrderRegraded")
@dataclass(frozen=True, kw_only=True, slots=True)
class WorkOrderRegraded(WorkOrderEvent):
    from_grade: Grade
    to_grade: Grade
    reason: str
    actor: str
    role: Role
    automatic: bool
    status_after: WorkOrderStatus
    held_from_after: WorkOrderStatus | None
    # The re-evaluation date after the regrade when the order stays (or is held) in monitoring: the new
    # grade's interval may be shorter. None in events stored before it was recorded (date kept as it was).
    reevaluate_by_after_unix_us: int | None = None


@register_event("WorkOrderReopened")
@dataclass(frozen=True, kw_only=True, slots=True)
class WorkOrderReopened(WorkOrderEvent):
    """A closed or cancelled order reopened at a more severe ``grade`` (back to ``triaged``).

    The previous response, repair and closure are history (in the stream); the reopened order needs a new
    dispatch, arrival, repair and closure. ``response_from_unix_us`` starts the new response clock.
    """

    from_status: WorkOrderStatus
    from_grade: Grade
    grade: Grade
    grade_reasons: tuple[str, ...]
    reason: str
    actor: str
    automatic: bool
    response_from_unix_us: int


@register_event("EnvironmentalSignificanceSet")
@dataclass(frozen=True, kw_only=True, slots=True)
class EnvironmentalSignificanceSet(WorkOrderEvent):
    significant: bool
    reason: str
    actor: str


@register_event("CrewDispatched")
@dataclass(frozen=True, kw_only=True, slots=True)
class CrewDispatched(WorkOrderEvent):
    crew_id: str
    actor: str


@register_event("DispatchAcknowledged")
@dataclass(frozen=True, kw_only=True, slots=True)
class DispatchAcknowledged(WorkOrderEvent):
    crew_id: str
    actor: str


@register_event("CrewEnRoute")
@dataclass(frozen=True, kw_only=True, slots=True)
class CrewEnRoute(WorkOrderEvent):
    crew_id: str
    actor: str


@register_event("CrewArrivedOnSite")
@dataclass(frozen=True, kw_only=True, slots=True)
class CrewArrivedOnSite(WorkOrderEvent):
    crew_id: str
    actor: str


@register_event("SiteMadeSafe")
@dataclass(frozen=True, kw_only=True, slots=True)
class SiteMadeSafe(WorkOrderEvent):
    measures: str
    actor: str


@register_event("LeakRepaired")
@dataclass(frozen=True, kw_only=True, slots=True)
class LeakRepaired(WorkOrderEvent):
    kind: RepairKind
    notes: str
    actor: str


@register_event("RepairVerified")
@dataclass(frozen=True, kw_only=True, slots=True)
class RepairVerified(WorkOrderEvent):
    """``passed=False``: the leak is still there; the order goes back to ``made_safe`` for another repair."""

    passed: bool
    notes: str
    actor: str


@register_event("WorkOrderClosed")
@dataclass(frozen=True, kw_only=True, slots=True)
class WorkOrderClosed(WorkOrderEvent):
    notes: str
    actor: str


@register_event("RepairDeferred")
@dataclass(frozen=True, kw_only=True, slots=True)
class RepairDeferred(WorkOrderEvent):
    reevaluate_by_unix_us: int
    reason: str
    actor: str


@register_event("LeakReevaluated")
@dataclass(frozen=True, kw_only=True, slots=True)
class LeakReevaluated(WorkOrderEvent):
    findings: str
    next_reevaluate_by_unix_us: int
    actor: str


@register_event("WorkOrderPutOnHold")
@dataclass(frozen=True, kw_only=True, slots=True)
class WorkOrderPutOnHold(WorkOrderEvent):
    reason: str
    actor: str


@register_event("WorkOrderResumed")
@dataclass(frozen=True, kw_only=True, slots=True)
class WorkOrderResumed(WorkOrderEvent):
    status_after: WorkOrderStatus
    actor: str


@register_event("WorkOrderCancelled")
@dataclass(frozen=True, kw_only=True, slots=True)
class WorkOrderCancelled(WorkOrderEvent):
    reason: str  # e.g. "false alarm: compressor start-up transient"
    actor: str


class BreachKind(enum.StrEnum):
    ON_SITE_TARGET = "on_site_target"  # warning: the (average) response target passed without arrival
    ON_SITE_LIMIT = "on_site_limit"  # critical: the never-exceed response limit passed
    MAKE_SAFE_LIMIT = "make_safe_limit"
    REPAIR_DEADLINE = "repair_deadline"
    REEVALUATION_OVERDUE = "reevaluation_overdue"


class Severity(enum.StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@register_event("SlaBreached")
@dataclass(frozen=True, kw_only=True, slots=True)
class SlaBreached(WorkOrderEvent):
    """One deadline breached; ``breach_key`` identifies it so that it is escalated once."""

    breach_key: str
    kind: BreachKind
    severity: Severity
    grade: Grade
    deadline_unix_us: int


# -------------------------------------------------------------------------------------------- aggregate


@dataclass(frozen=True, slots=True)
class ResponseTimings:
    """Durations from the start of the response clock (``WorkOrder.response_clock_start_unix_us``), for
    the mean-time-to-X read models (None: not reached yet)."""

    to_dispatch_s: float | None
    to_arrive_s: float | None
    to_make_safe_s: float | None
    to_repair_s: float | None  # first repair, temporary or permanent
    to_permanent_repair_s: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkOrder(Aggregate):
    order_id: str = ""
    version: int = 0
    status: WorkOrderStatus | None = None  # None: no such order yet
    alarm_id: str = ""
    segment: SegmentContext | None = None
    alarm: AlarmFacts | None = None  # the latest alarm record seen
    last_alarm_sequence: int = -1
    alarm_updates: int = 0
    alarm_cleared: bool = False
    grade: Grade | None = None
    grade_reasons: tuple[str, ...] = ()
    graded_at_unix_us: int = 0  # when the current grade was given (repair deadlines run from here)
    environmentally_significant: bool = False
    crew_id: str = ""
    held_from: WorkOrderStatus | None = None
    reevaluate_by_unix_us: int | None = None
    repair_kind: RepairKind | None = None
    close_or_cancel_reason: str = ""
    escalations: frozenset[str] = frozenset()
    received_at_unix_us: int | None = None
    dispatched_at_unix_us: int | None = None  # first dispatch
    acknowledged_at_unix_us: int | None = None
    en_route_at_unix_us: int | None = None
    arrived_at_unix_us: int | None = None  # first arrival on site
    made_safe_at_unix_us: int | None = None
    repaired_at_unix_us: int | None = None  # first repair of any kind
    permanent_repair_at_unix_us: int | None = None
    verified_at_unix_us: int | None = None
    closed_at_unix_us: int | None = None
    cancelled_at_unix_us: int | None = None
    last_event_at_unix_us: int = 0
    # Start of the current response clock (the alarm's time, or the reopening's); None in snapshots taken
    # before it was kept: the clock then ran from ``received_at_unix_us``.
    response_from_unix_us: int | None = None
    reopenings: int = 0  # times a closed/cancelled order was reopened; part of the response breach keys
    # Where the leak is: the opening alarm's location, replaced by each later record that carries one
    # (leakdetect refines it every few minutes); a record without one keeps the last known. None in
    # snapshots taken before it was kept: ``leak_location`` then falls back to the latest alarm's.
    location: LeakLocation | None = None

    # ----------------------------------------------------------------------------------------- apply

    def apply(self, event: DomainEvent) -> WorkOrder:
        if not isinstance(event, WorkOrderEvent):
            raise InvalidInput(f"a WorkOrder cannot apply {type(event).__name__}")
        if self.status is not None and event.order_id != self.order_id:
            raise InvalidInput(f"event for order {event.order_id} applied to order {self.order_id}")
        if self.status is None and not isinstance(event, WorkOrderOpened):
            raise InvalidInput(f"the first event of a work order must be WorkOrderOpened, not {event.type}")
        r = dataclasses.replace
        common: dict[str, Any] = {
            "version": self.version + 1,
            "last_event_at_unix_us": max(self.last_event_at_unix_us, event.at_unix_us),
        }
        at = event.at_unix_us
        match event:
            case WorkOrderOpened():
                if self.status is not None:
                    raise InvalidInput(f"work order {self.order_id} is already open")
                return r(
                    self,
                    **common,
                    order_id=event.order_id,
                    status=S.TRIAGED,
                    alarm_id=event.alarm.alarm_id,
                    segment=event.segment,
                    alarm=event.alarm,
                    last_alarm_sequence=event.alarm.alarm_sequence,
                    alarm_cleared=event.alarm.state is AlarmState.CLEARED,
                    grade=event.grade,
                    grade_reasons=event.grade_reasons,
                    graded_at_unix_us=at,
                    received_at_unix_us=at,
                    response_from_unix_us=event.raised_at_unix_us if event.raised_at_unix_us is not None else at,
                    location=event.alarm.location,
                )
            case AlarmUpdateAttached():
                return r(
                    self,
                    **common,
                    alarm=event.alarm,
                    last_alarm_sequence=event.alarm.alarm_sequence,
                    alarm_updates=self.alarm_updates + 1,
                    location=event.alarm.location or self.leak_location,
                )
            case AlarmClearRecorded():
                return r(
                    self,
                    **common,
                    alarm=event.alarm,
                    location=event.alarm.location or self.leak_location,
                    last_alarm_sequence=max(self.last_alarm_sequence, event.alarm.alarm_sequence),
                    alarm_cleared=True,
                )
            case WorkOrderRegraded():
                return r(
                    self,
                    **common,
                    grade=event.to_grade,
                    grade_reasons=(event.reason,),
                    graded_at_unix_us=at,
                    status=event.status_after,
                    held_from=event.held_from_after,
                    reevaluate_by_unix_us=event.reevaluate_by_after_unix_us
                    if event.reevaluate_by_after_unix_us is not None
                    else self.reevaluate_by_unix_us
                    if S.MONITORING in (event.status_after, event.held_from_after)
                    else None,
                )
            case WorkOrderReopened():
                if self.status not in TERMINAL:
                    raise InvalidInput(f"work order {self.order_id} is {self.status}, not closed or cancelled")
                # Everything that says "responded, repaired, closed" belonged to the previous response: the
                # SLA timers and mean-time-to-X read these fields, so they must start again from nothing.
                return r(
                    self,
                    **common,
                    status=S.TRIAGED,
                    grade=event.grade,
                    grade_reasons=event.grade_reasons,
                    graded_at_unix_us=at,
                    crew_id="",
                    held_from=None,
                    reevaluate_by_unix_us=None,
                    repair_kind=None,
                    close_or_cancel_reason="",
                    dispatched_at_unix_us=None,
                    acknowledged_at_unix_us=None,
                    en_route_at_unix_us=None,
                    arrived_at_unix_us=None,
                    made_safe_at_unix_us=None,
                    repaired_at_unix_us=None,
                    permanent_repair_at_unix_us=None,
                    verified_at_unix_us=None,
                    closed_at_unix_us=None,
                    cancelled_at_unix_us=None,
                    response_from_unix_us=event.response_from_unix_us,
                    reopenings=self.reopenings + 1,
                )
            case EnvironmentalSignificanceSet():
                return r(self, **common, environmentally_significant=event.significant)
            case CrewDispatched():
                return r(
                    self,
                    **common,
                    status=S.DISPATCHED,
                    crew_id=event.crew_id,
                    reevaluate_by_unix_us=None,
                    dispatched_at_unix_us=_first(self.dispatched_at_unix_us, at),
                )
            case DispatchAcknowledged():
                return r(
                    self,
                    **common,
                    status=S.ACKNOWLEDGED,
                    acknowledged_at_unix_us=_first(self.acknowledged_at_unix_us, at),
                )
            case CrewEnRoute():
                return r(self, **common, status=S.EN_ROUTE, en_route_at_unix_us=_first(self.en_route_at_unix_us, at))
            case CrewArrivedOnSite():
                return r(self, **common, status=S.ON_SITE, arrived_at_unix_us=_first(self.arrived_at_unix_us, at))
            case SiteMadeSafe():
                return r(self, **common, status=S.MADE_SAFE, made_safe_at_unix_us=_first(self.made_safe_at_unix_us, at))
            case LeakRepaired():
                return r(
                    self,
                    **common,
                    status=S.REPAIRED,
                    repair_kind=event.kind,
                    repaired_at_unix_us=_first(self.repaired_at_unix_us, at),
                    permanent_repair_at_unix_us=at
                    if event.kind is RepairKind.PERMANENT
                    else self.permanent_repair_at_unix_us,
                )
            case RepairVerified():
                if event.passed:
                    return r(self, **common, status=S.VERIFIED, verified_at_unix_us=at)
                return r(self, **common, status=S.MADE_SAFE, repair_kind=None, permanent_repair_at_unix_us=None)
            case WorkOrderClosed():
                return r(self, **common, status=S.CLOSED, closed_at_unix_us=at, close_or_cancel_reason=event.notes)
            case RepairDeferred():
                return r(self, **common, status=S.MONITORING, reevaluate_by_unix_us=event.reevaluate_by_unix_us)
            case LeakReevaluated():
                return r(self, **common, reevaluate_by_unix_us=event.next_reevaluate_by_unix_us)
            case WorkOrderPutOnHold():
                return r(self, **common, status=S.ON_HOLD, held_from=self.status)
            case WorkOrderResumed():
                return r(self, **common, status=event.status_after, held_from=None)
            case WorkOrderCancelled():
                return r(
                    self,
                    **common,
                    status=S.CANCELLED,
                    held_from=None,
                    cancelled_at_unix_us=at,
                    close_or_cancel_reason=event.reason,
                )
            case SlaBreached():
                return r(self, **common, escalations=self.escalations | {event.breach_key})
        raise InvalidInput(f"a WorkOrder cannot apply {type(event).__name__}")

    # ----------------------------------------------------------------------------------------- queries

    @property
    def is_open(self) -> bool:
        return self.status is not None and self.status not in TERMINAL

    @property
    def leak_location(self) -> LeakLocation | None:
        """The latest known position of the leak (None: no record of the incident carried one)."""
        if self.location is not None:
            return self.location
        return self.alarm.location if self.alarm is not None else None

    @property
    def response_clock_start_unix_us(self) -> int | None:
        """When the current response clock started (on-site and make-safe deadlines run from here)."""
        return self.response_from_unix_us if self.response_from_unix_us is not None else self.received_at_unix_us

    def allowed_commands(self) -> frozenset[str]:
        """State moves allowed now (``regrade`` and ``receive_alarm`` are allowed in every open state)."""
        if self.status is None:
            return frozenset({"receive_alarm"})
        return TRANSITIONS[self.status]

    def timings(self) -> ResponseTimings:
        start = self.response_clock_start_unix_us

        def since_received(t: int | None) -> float | None:
            if t is None or start is None:
                return None
            return (t - start) / US_PER_S

        return ResponseTimings(
            to_dispatch_s=since_received(self.dispatched_at_unix_us),
            to_arrive_s=since_received(self.arrived_at_unix_us),
            to_make_safe_s=since_received(self.made_safe_at_unix_us),
            to_repair_s=since_received(self.repaired_at_unix_us),
            to_permanent_repair_s=since_received(self.permanent_repair_at_unix_us),
        )

    # ---------------------------------------------------------------------------------------- commands

    def receive_alarm(
        self,
        alarm: AlarmFacts,
        segment: SegmentContext | None = None,
        *,
        now_unix_us: int,
        actor: str = "leakdetect",
        grading: GradingPolicy = DEFAULT_GRADING_POLICY,
        policy: SlaPolicy = DEFAULT_SLA_POLICY,
    ) -> list[WorkOrderEvent]:
        """Open the order from the incident's first alarm record, or attach a later one (idempotent).

        ``segment`` is required when opening; later records are graded against the stored segment.
        """
        if not isinstance(alarm, AlarmFacts):
            raise InvalidInput(f"alarm must be AlarmFacts, not {type(alarm).__name__}")
        check_time("now_unix_us", now_unix_us)
        check_text("actor", actor, max_length=200)
        if self.status is None:
            if segment is None:
                raise InvalidInput("the segment context is required to open a work order")
            if not isinstance(segment, SegmentContext):
                raise InvalidInput(f"segment must be a SegmentContext, not {type(segment).__name__}")
            if segment.segment_id != alarm.segment_id:
                raise InvalidInput(
                    f"alarm is on segment {alarm.segment_id!r}, segment context is {segment.segment_id!r}"
                )
            decision = grade_alarm(alarm, segment, grading)
            order_id = work_order_id_for_alarm(alarm.alarm_id)
            opened: list[WorkOrderEvent] = [
                WorkOrderOpened(
                    order_id=order_id,
                    at_unix_us=now_unix_us,
                    alarm=alarm,
                    segment=segment,
                    grade=decision.grade,
                    grade_reasons=decision.reasons,
                    actor=actor,
                    raised_at_unix_us=alarm_time(alarm, now_unix_us),
                )
            ]
            if alarm.state is AlarmState.CLEARED:
                opened.append(AlarmClearRecorded(order_id=order_id, at_unix_us=now_unix_us, alarm=alarm))
            return opened
        if alarm.alarm_id != self.alarm_id:
            raise InvalidInput(
                f"alarm {alarm.alarm_id!r} does not belong to work order {self.order_id} ({self.alarm_id!r})"
            )
        if alarm.alarm_sequence <= self.last_alarm_sequence:
            return []  # redelivered or stale record: already attached
        self._check_time(now_unix_us)
        if alarm.state is AlarmState.CLEARED:
            return [AlarmClearRecorded(order_id=self.order_id, at_unix_us=now_unix_us, alarm=alarm)]
        assert self.segment is not None and self.grade is not None
        decision = grade_alarm(alarm, self.segment, grading)
        events: list[WorkOrderEvent] = [
            AlarmUpdateAttached(
                order_id=self.order_id,
                at_unix_us=now_unix_us,
                alarm=alarm,
                computed_grade=decision.grade,
                grade_reasons=decision.reasons,
            )
        ]
        if not decision.grade.more_severe_than(self.grade):
            return events
        reason = f"alarm update #{alarm.alarm_sequence}: {decision.reasons[0]}"
        if not self.is_open:
            assert self.status is not None
            events.append(
                WorkOrderReopened(
                    order_id=self.order_id,
                    at_unix_us=now_unix_us,
                    from_status=self.status,
                    from_grade=self.grade,
                    grade=decision.grade,
                    grade_reasons=decision.reasons,
                    reason=reason,
                    actor=actor,
                    automatic=True,
                    response_from_unix_us=alarm_time(alarm, now_unix_us),
                )
            )
        else:
            status_after, held_from_after = self._status_after_regrade(decision.grade, policy)
            events.append(
                WorkOrderRegraded(
                    order_id=self.order_id,
                    at_unix_us=now_unix_us,
                    from_grade=self.grade,
                    to_grade=decision.grade,
                    reason=reason,
                    actor=actor,
                    role=Role.SYSTEM,
                    automatic=True,
                    status_after=status_after,
                    held_from_after=held_from_after,
                    reevaluate_by_after_unix_us=self._reevaluate_by_after_regrade(
                        decision.grade, status_after, held_from_after, now_unix_us, policy
                    ),
                )
            )
        return events

    def regrade(
        self,
        grade: Grade,
        *,
        reason: str,
        actor: str,
        role: Role,
        now_unix_us: int,
        policy: SlaPolicy = DEFAULT_SLA_POLICY,
    ) -> list[WorkOrderEvent]:
        """A supervisor sets the grade, with a reason. Same grade again: no events (idempotent retry)."""
        self._check_open("regrade")
        if not isinstance(grade, Grade):
            raise InvalidInput(f"grade must be a Grade (1, 2 or 3), got {grade!r}")
        if not isinstance(role, Role):
            raise InvalidInput(f"role must be one of {[r.value for r in Role]}, got {role!r}")
        if role is not Role.SUPERVISOR:
            raise PermissionDenied(f"only a supervisor may regrade a leak; {actor!r} acts as {role.value}")
        check_text("reason", reason)
        check_text("actor", actor, max_length=200)
        self._check_time(now_unix_us)
        assert self.grade is not None
        if grade is self.grade:
            return []
        status_after, held_from_after = self._status_after_regrade(grade, policy)
        return [
            WorkOrderRegraded(
                order_id=self.order_id,
                at_unix_us=now_unix_us,
                from_grade=self.grade,
                to_grade=grade,
                reason=reason,
                actor=actor,
                role=role,
                automatic=False,
                status_after=status_after,
                held_from_after=held_from_after,
                reevaluate_by_after_unix_us=self._reevaluate_by_after_regrade(
                    grade, status_after, held_from_after, now_unix_us, policy
                ),
            )
        ]

    def set_environmental_significance(
        self, significant: bool, *, reason: str, actor: str, now_unix_us: int
    ) -> list[WorkOrderEvent]:
        """Mark a leak environmentally significant (grade 3 ones then get a repair deadline)."""
        self._check_open("set_environmental_significance")
        check_flag("significant", significant)
        check_text("reason", reason)
        check_text("actor", actor, max_length=200)
        self._check_time(now_unix_us)
        if significant == self.environmentally_significant:
            return []
        return [
            EnvironmentalSignificanceSet(
                order_id=self.order_id, at_unix_us=now_unix_us, significant=significant, reason=reason, actor=actor
            )
        ]

    def dispatch(self, crew_id: str, *, actor: str, now_unix_us: int) -> list[WorkOrderEvent]:
        """Send a crew (also re-assigns before arrival, and sends a crew to a monitored leak)."""
        self._check_move("dispatch", now_unix_us, actor)
        check_text("crew_id", crew_id, max_length=200)
        if self.status in (S.DISPATCHED, S.ACKNOWLEDGED) and crew_id == self.crew_id:
            raise RuleViolation(f"crew {crew_id!r} is already assigned to work order {self.order_id}")
        return [CrewDispatched(order_id=self.order_id, at_unix_us=now_unix_us, crew_id=crew_id, actor=actor)]

    def acknowledge(self, *, actor: str, now_unix_us: int) -> list[WorkOrderEvent]:
        self._check_move("acknowledge", now_unix_us, actor)
        return [DispatchAcknowledged(order_id=self.order_id, at_unix_us=now_unix_us, crew_id=self.crew_id, actor=actor)]

    def depart(self, *, actor: str, now_unix_us: int) -> list[WorkOrderEvent]:
        self._check_move("depart", now_unix_us, actor)
        return [CrewEnRoute(order_id=self.order_id, at_unix_us=now_unix_us, crew_id=self.crew_id, actor=actor)]

    def arrive(self, *, actor: str, now_unix_us: int) -> list[WorkOrderEvent]:
        self._check_move("arrive", now_unix_us, actor)
        return [CrewArrivedOnSite(order_id=self.order_id, at_unix_us=now_unix_us, crew_id=self.crew_id, actor=actor)]

    def make_safe(self, *, measures: str, actor: str, now_unix_us: int) -> list[WorkOrderEvent]:
        self._check_move("make_safe", now_unix_us, actor)
        check_text("measures", measures)
        return [SiteMadeSafe(order_id=self.order_id, at_unix_us=now_unix_us, measures=measures, actor=actor)]

    def repair(self, kind: RepairKind, *, notes: str = "", actor: str, now_unix_us: int) -> list[WorkOrderEvent]:
        self._check_move("repair", now_unix_us, actor)
        if not isinstance(kind, RepairKind):
            raise InvalidInput(f"kind must be one of {[k.value for k in RepairKind]}, got {kind!r}")
        check_text("notes", notes, allow_empty=True)
        if self.status is S.REPAIRED and not (
            self.repair_kind is RepairKind.TEMPORARY and kind is RepairKind.PERMANENT
        ):
            raise RuleViolation(
                f"work order {self.order_id} already has a {self.repair_kind} repair; only a permanent repair "
                "can follow a temporary one"
            )
        return [LeakRepaired(order_id=self.order_id, at_unix_us=now_unix_us, kind=kind, notes=notes, actor=actor)]

    def verify(self, *, passed: bool, notes: str = "", actor: str, now_unix_us: int) -> list[WorkOrderEvent]:
        """Check the permanent repair: passed -> verified, failed -> back to made_safe for another repair."""
        self._check_move("verify", now_unix_us, actor)
        check_flag("passed", passed)
        check_text("notes", notes, allow_empty=True)
        if self.repair_kind is not RepairKind.PERMANENT:
            raise RuleViolation(
                f"work order {self.order_id} has only a temporary repair: record the permanent repair "
                "(or defer it) before verification"
            )
        return [RepairVerified(order_id=self.order_id, at_unix_us=now_unix_us, passed=passed, notes=notes, actor=actor)]

    def close(self, *, notes: str = "", actor: str, now_unix_us: int) -> list[WorkOrderEvent]:
        self._check_move("close", now_unix_us, actor)
        check_text("notes", notes, allow_empty=True)
        return [WorkOrderClosed(order_id=self.order_id, at_unix_us=now_unix_us, notes=notes, actor=actor)]

    def defer(
        self,
        *,
        reevaluate_by_unix_us: int,
        reason: str,
        actor: str,
        now_unix_us: int,
        policy: SlaPolicy = DEFAULT_SLA_POLICY,
    ) -> list[WorkOrderEvent]:
        """Defer the repair and monitor the leak (grades 2/3 only) until ``reevaluate_by_unix_us``."""
        self._check_move("defer", now_unix_us, actor)
        check_text("reason", reason)
        assert self.grade is not None
        if self.grade not in policy.deferrable_grades:
            raise RuleViolation(
                f"a grade {self.grade.value} leak cannot be deferred; deferrable grades: "
                f"{sorted(g.value for g in policy.deferrable_grades)}"
            )
        if self.status is S.REPAIRED and self.repair_kind is not RepairKind.TEMPORARY:
            raise RuleViolation("a permanently repaired leak is verified, not deferred")
        self._check_reevaluation_date(reevaluate_by_unix_us, now_unix_us, policy)
        return [
            RepairDeferred(
                order_id=self.order_id,
                at_unix_us=now_unix_us,
                reevaluate_by_unix_us=reevaluate_by_unix_us,
                reason=reason,
                actor=actor,
            )
        ]

    def reevaluate(
        self,
        *,
        findings: str,
        next_reevaluate_by_unix_us: int,
        actor: str,
        now_unix_us: int,
        policy: SlaPolicy = DEFAULT_SLA_POLICY,
    ) -> list[WorkOrderEvent]:
        """Record a re-evaluation of a monitored leak and the next date (regrade separately if it changed)."""
        self._check_move("reevaluate", now_unix_us, actor)
        check_text("findings", findings)
        self._check_reevaluation_date(next_reevaluate_by_unix_us, now_unix_us, policy)
        return [
            LeakReevaluated(
                order_id=self.order_id,
                at_unix_us=now_unix_us,
                findings=findings,
                next_reevaluate_by_unix_us=next_reevaluate_by_unix_us,
                actor=actor,
            )
        ]

    def hold(self, *, reason: str, actor: str, now_unix_us: int) -> list[WorkOrderEvent]:
        self._check_move("hold", now_unix_us, actor)
        check_text("reason", reason)
        if self.grade is Grade.ONE and self.status in BEFORE_MADE_SAFE:
            raise RuleViolation(
                f"a grade 1 leak cannot be put on hold before it is made safe (state {self.status}); "
                "it needs continuous action"
            )
        return [WorkOrderPutOnHold(order_id=self.order_id, at_unix_us=now_unix_us, reason=reason, actor=actor)]

    def resume(self, *, actor: str, now_unix_us: int) -> list[WorkOrderEvent]:
        self._check_move("resume", now_unix_us, actor)
        assert self.held_from is not None
        return [
            WorkOrderResumed(order_id=self.order_id, at_unix_us=now_unix_us, status_after=self.held_from, actor=actor)
        ]

    def cancel(self, *, reason: str, actor: str, now_unix_us: int) -> list[WorkOrderEvent]:
        """Cancel a false alarm (reason required); not once a real leak has been made safe."""
        self._check_move("cancel", now_unix_us, actor)
        check_text("reason", reason)
        if self.status is S.ON_HOLD and self.held_from is not None and "cancel" not in TRANSITIONS[self.held_from]:
            raise RuleViolation(
                f"work order {self.order_id} was held in state {self.held_from.value}, which cannot be cancelled"
            )
        return [WorkOrderCancelled(order_id=self.order_id, at_unix_us=now_unix_us, reason=reason, actor=actor)]

    # ----------------------------------------------------------------------------------------- helpers

    def _check_open(self, command: str) -> None:
        if self.status is None:
            raise InvalidTransition("a work order", command, "not opened", ["receive_alarm"])
        if self.status in TERMINAL:
            raise InvalidTransition(f"work order {self.order_id}", command, self.status.value, ())

    def _check_move(self, command: str, now_unix_us: int, actor: str) -> None:
        if self.status is None:
            raise InvalidTransition("a work order", command, "not opened", ["receive_alarm"])
        allowed = TRANSITIONS[self.status]
        if command not in allowed:
            raise InvalidTransition(f"work order {self.order_id}", command, self.status.value, allowed)
        check_text("actor", actor, max_length=200)
        self._check_time(now_unix_us)

    def _check_time(self, now_unix_us: int) -> None:
        check_time("now_unix_us", now_unix_us)
        if now_unix_us < self.last_event_at_unix_us:
            raise InvalidInput(
                f"now_unix_us {now_unix_us} is before the order's last event ({self.last_event_at_unix_us}); "
                "time cannot go backwards"
            )

    def _check_reevaluation_date(self, when_unix_us: int, now_unix_us: int, policy: SlaPolicy) -> None:
        check_time("reevaluate_by_unix_us", when_unix_us)
        assert self.grade is not None
        interval_s = policy.reevaluation_interval_s(self.grade)
        if when_unix_us <= now_unix_us:
            raise RuleViolation("the re-evaluation date must be in the future")
        if interval_s is not None and when_unix_us > now_unix_us + interval_s * US_PER_S:
            raise RuleViolation(
                f"a grade {self.grade.value} leak must be re-evaluated within {interval_s // 86400} days; "
                f"the date given is {(when_unix_us - now_unix_us) / US_PER_S / 86400:.1f} days away"
            )

    def _status_after_regrade(self, grade: Grade, policy: SlaPolicy) -> tuple[WorkOrderStatus, WorkOrderStatus | None]:
        assert self.status is not None
        status, held_from = self.status, self.held_from
        deferrable = grade in policy.deferrable_grades
        if status is S.MONITORING and not deferrable:
            status = S.TRIAGED
        if status is S.ON_HOLD:
            if held_from is S.MONITORING and not deferrable:
                held_from = S.TRIAGED
            if grade is Grade.ONE and held_from in BEFORE_MADE_SAFE:
                status, held_from = held_from, None
        return status, held_from

    def _reevaluate_by_after_regrade(
        self,
        grade: Grade,
        status_after: WorkOrderStatus,
        held_from_after: WorkOrderStatus | None,
        now_unix_us: int,
        policy: SlaPolicy,
    ) -> int | None:
        """The re-evaluation date of an order still monitored after a regrade: never later than the new
        grade's interval from now (grade 3 -> 2 must not keep grade 3's 15 months), never postponed."""
        if S.MONITORING not in (status_after, held_from_after) or self.reevaluate_by_unix_us is None:
            return None
        interval_s = policy.reevaluation_interval_s(grade)
        if interval_s is None:
            return self.reevaluate_by_unix_us
        return min(self.reevaluate_by_unix_us, now_unix_us + interval_s * US_PER_S)


def alarm_time(alarm: AlarmFacts, now_unix_us: int) -> int:
    """When leakdetect raised (or updated) the alarm, capped at ``now_unix_us``: response deadlines run
    from here, so a consumer lag does not extend them, and a clock running ahead cannot put them in the
    future. Falls back to the detection time, then to ``now_unix_us`` (both unset: 0 in the protobuf)."""
    raised = alarm.event_time_unix_us or alarm.detection_time_unix_us or now_unix_us
    return min(raised, now_unix_us)


def _first(existing: int | None, at: int) -> int:
    return existing if existing is not None else at
