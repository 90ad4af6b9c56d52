"""Property-based test of the WorkOrder state machine: random command sequences (valid or not).

Checks after every step: no illegal state is reachable, a refused command changes nothing, closed and
cancelled are terminal, the event stream (also through JSON payloads) replays to the same state, and a
snapshot reads back equal.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from services.workorders.domain import (
    DEFAULT_SLA_POLICY,
    AlarmState,
    DomainError,
    Grade,
    RepairKind,
    Role,
    WorkOrder,
    WorkOrderStatus,
    due_escalations,
    event_from_payload,
)
from services.workorders.domain.workorder import BEFORE_MADE_SAFE, TERMINAL, WorkOrderReopened
from tests.unit.workorders.domain.factories import DAY, MIN, T0, alarm, segment

S = WorkOrderStatus
ALARM_KINDS = st.sampled_from(["small", "grade2", "rupture", "lel_confined", "clear"])


def make_alarm(kind: str, sequence: int):
    if kind == "rupture":
        return alarm(sequence=sequence, rupture=True)
    if kind == "grade2":
        return alarm(sequence=sequence, pct=2.0)
    if kind == "lel_confined":
        return alarm(sequence=sequence, pct=None, lel=85.0, confined=True)
    if kind == "clear" and sequence > 0:
        return alarm(sequence=sequence, state=AlarmState.CLEARED, clear_reason="back in band")
    return alarm(sequence=sequence)


class WorkOrderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.order = WorkOrder()
        self.events: list = []
        self.now = T0
        self.was_terminal: WorkOrderStatus | None = None
        self.terminal_grade: Grade | None = None
        self.reopenings_seen = 0
        self.refused = 0

    def attempt(self, command: Callable[[WorkOrder], list]) -> None:
        before = self.order
        before_snapshot = before.to_snapshot()
        try:
            new = command(before)
        except DomainError:
            self.refused += 1
            # Refused: nothing changed, not even inside the (immutable) aggregate.
            assert self.order is before
            assert before.to_snapshot() == before_snapshot
            return
        assert before.to_snapshot() == before_snapshot  # commands never mutate
        for event in new:
            self.order = self.order.apply(event)
        self.events.extend(new)

    @initialize(kind=ALARM_KINDS)
    def open_order(self, kind: str) -> None:
        self.attempt(lambda o: o.receive_alarm(make_alarm(kind, 0), segment(), now_unix_us=self.now))
        assert self.order.status is S.TRIAGED

    @rule(minutes=st.integers(min_value=0, max_value=400 * 24 * 60))
    def time_passes(self, minutes: int) -> None:
        self.now += minutes * MIN

    @rule(kind=ALARM_KINDS, sequence=st.integers(min_value=0, max_value=8))
    def alarm_record(self, kind: str, sequence: int) -> None:
        self.attempt(lambda o: o.receive_alarm(make_alarm(kind, sequence), now_unix_us=self.now))

    @rule(crew=st.sampled_from(["crew-1", "crew-2"]))
    def dispatch(self, crew: str) -> None:
        self.attempt(lambda o: o.dispatch(crew, actor="dispatcher", now_unix_us=self.now))

    @rule(move=st.sampled_from(["acknowledge", "depart", "arrive", "resume"]))
    def simple_move(self, move: str) -> None:
        self.attempt(lambda o: getattr(o, move)(actor="crew", now_unix_us=self.now))

    @rule()
    def make_safe(self) -> None:
        self.attempt(lambda o: o.make_safe(measures="cordon", actor="crew", now_unix_us=self.now))

    @rule(kind=st.sampled_from(list(RepairKind)))
    def repair(self, kind: RepairKind) -> None:
        self.attempt(lambda o: o.repair(kind, actor="crew", now_unix_us=self.now))

    @rule(passed=st.booleans())
    def verify(self, passed: bool) -> None:
        self.attempt(lambda o: o.verify(passed=passed, actor="sup", now_unix_us=self.now))

    @rule()
    def close(self) -> None:
        self.attempt(lambda o: o.close(actor="sup", now_unix_us=self.now))

    @rule(days=st.integers(min_value=-1, max_value=500))
    def defer(self, days: int) -> None:
        self.attempt(
            lambda o: o.defer(reevaluate_by_unix_us=self.now + days * DAY, reason="r", actor="s", now_unix_us=self.now)
        )

    @rule(days=st.integers(min_value=-1, max_value=500))
    def reevaluate(self, days: int) -> None:
        self.attempt(
            lambda o: o.reevaluate(
                findings="steady", next_reevaluate_by_unix_us=self.now + days * DAY, actor="s", now_unix_us=self.now
            )
        )

    @rule()
    def hold(self) -> None:
        self.attempt(lambda o: o.hold(reason="road closed", actor="d", now_unix_us=self.now))

    @rule(roll=st.integers(min_value=0, max_value=5))
    def cancel(self, roll: int) -> None:
        # Mostly without a reason (refused), so that runs also get deep into the life cycle.
        reason = "false alarm" if roll == 0 else ""
        self.attempt(lambda o: o.cancel(reason=reason, actor="d", now_unix_us=self.now))

    def _next_step(self, o: WorkOrder, permanent: bool) -> list:
        t = self.now
        match o.status:
            case S.TRIAGED | S.MONITORING:
                return o.dispatch("crew-1", actor="d", now_unix_us=t)
            case S.DISPATCHED:
                return o.acknowledge(actor="crew", now_unix_us=t)
            case S.ACKNOWLEDGED:
                return o.depart(actor="crew", now_unix_us=t)
            case S.EN_ROUTE:
                return o.arrive(actor="crew", now_unix_us=t)
            case S.ON_SITE:
                return o.make_safe(measures="cordon", actor="crew", now_unix_us=t)
            case S.MADE_SAFE:
                kind = RepairKind.PERMANENT if permanent else RepairKind.TEMPORARY
                return o.repair(kind, actor="crew", now_unix_us=t)
            case S.REPAIRED if o.repair_kind is RepairKind.TEMPORARY:
                return o.repair(RepairKind.PERMANENT, actor="crew", now_unix_us=t)
            case S.REPAIRED:
                return o.verify(passed=permanent, actor="sup", now_unix_us=t)
            case S.VERIFIED:
                return o.close(actor="sup", now_unix_us=t)
            case S.ON_HOLD:
                return o.resume(actor="d", now_unix_us=t)
        return o.close(actor="sup", now_unix_us=t)  # terminal: refused

    @rule(permanent=st.booleans())
    def advance(self, permanent: bool) -> None:
        self.attempt(lambda o: self._next_step(o, permanent))

    @rule(permanent=st.booleans())
    def advance_again(self, permanent: bool) -> None:
        self.attempt(lambda o: self._next_step(o, permanent))

    @rule(grade=st.sampled_from(list(Grade)), role=st.sampled_from(list(Role)))
    def regrade(self, grade: Grade, role: Role) -> None:
        self.attempt(lambda o: o.regrade(grade, reason="field check", actor="x", role=role, now_unix_us=self.now))

    @rule(significant=st.booleans())
    def environment(self, significant: bool) -> None:
        self.attempt(
            lambda o: o.set_environmental_significance(significant, reason="river", actor="s", now_unix_us=self.now)
        )

    @rule(back_minutes=st.integers(min_value=1, max_value=60))
    def command_from_the_past(self, back_minutes: int) -> None:
        past = self.order.last_event_at_unix_us - back_minutes * MIN
        self.attempt(lambda o: o.dispatch("crew-3", actor="d", now_unix_us=past))

    @rule()
    def escalate(self) -> None:
        self.attempt(lambda o: list(due_escalations(o, self.now)))
        # Each breach once: asking again at the same time gives nothing new.
        assert due_escalations(self.order, self.now) == []

    @invariant()
    def state_is_legal(self) -> None:
        o = self.order
        assert o.status in set(WorkOrderStatus)
        assert o.grade in set(Grade)
        assert (o.status is S.ON_HOLD) == (o.held_from is not None)
        if S.MONITORING in (o.status, o.held_from):
            assert o.grade in DEFAULT_SLA_POLICY.deferrable_grades
            assert o.reevaluate_by_unix_us is not None
        if o.status is S.ON_HOLD and o.grade is Grade.ONE:
            assert o.held_from not in BEFORE_MADE_SAFE
        if o.status is S.VERIFIED:
            assert o.repair_kind is RepairKind.PERMANENT
        if o.status is S.CANCELLED:
            assert o.close_or_cancel_reason.strip()
        assert o.version == len(self.events)

    @invariant()
    def terminal_states_stay(self) -> None:
        """Closed and cancelled stay so, except that an alarm update grading more severely reopens the
        order (to triaged, at that grade): new evidence of a greater hazard must reach a dispatcher."""
        o = self.order
        if self.was_terminal is not None and o.status is not self.was_terminal:
            assert o.status is S.TRIAGED and o.reopenings == self.reopenings_seen + 1
            assert self.terminal_grade is not None and o.grade is not None
            assert o.grade.more_severe_than(self.terminal_grade)
            assert isinstance(self.events[-1], WorkOrderReopened) and self.events[-1].automatic
            self.was_terminal = None
        if self.was_terminal is None and o.status in TERMINAL:
            self.was_terminal, self.terminal_grade, self.reopenings_seen = o.status, o.grade, o.reopenings

    @invariant()
    def events_replay_to_the_same_state(self) -> None:
        assert WorkOrder.replay(self.events) == self.order
        stored = [event_from_payload(e.type, e.schema_version, e.to_payload()) for e in self.events]
        assert stored == self.events
        assert WorkOrder.from_snapshot(self.order.to_snapshot()) == self.order


WorkOrderMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestWorkOrderStateMachine = WorkOrderMachine.TestCase
