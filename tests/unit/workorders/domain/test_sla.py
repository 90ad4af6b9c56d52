"""SLA escalation with a controlled clock: each deadline breached once, at the right time."""

from __future__ import annotations

import pytest

from services.workorders.domain import (
    BreachKind,
    Grade,
    InvalidInput,
    ResponseTarget,
    Role,
    Severity,
    SlaPolicy,
    WorkOrder,
    due_escalations,
)
from tests.unit.workorders.domain.factories import DAY, HOUR, MIN, T0, alarm, opened, run


def escalate(order: WorkOrder, now: int, policy: SlaPolicy | None = None) -> tuple[WorkOrder, list]:
    events = due_escalations(order, now) if policy is None else due_escalations(order, now, policy)
    return run(order, events), events


def kinds(events: list) -> list[BreachKind]:
    return [e.kind for e in events]


def test_grade_1_on_site_target_then_limit_each_once() -> None:
    order = opened(alarm(rupture=True))
    assert order.grade is Grade.ONE
    order, events = escalate(order, T0 + 30 * MIN)  # exactly on the deadline: not yet breached
    assert events == []
    order, events = escalate(order, T0 + 30 * MIN + 1)
    assert kinds(events) == [BreachKind.ON_SITE_TARGET] and events[0].severity is Severity.WARNING
    assert events[0].deadline_unix_us == T0 + 30 * MIN
    order, events = escalate(order, T0 + 90 * MIN)
    assert events == []  # already escalated
    order, events = escalate(order, T0 + 2 * HOUR + 1)
    assert kinds(events) == [BreachKind.ON_SITE_LIMIT] and events[0].severity is Severity.CRITICAL
    order, events = escalate(order, T0 + 5 * HOUR)
    assert events == []


def test_grade_2_uses_code_2_times() -> None:
    order = opened(alarm(pct=2.0))
    assert order.grade is Grade.TWO
    assert due_escalations(order, T0 + 60 * MIN) == []
    assert kinds(due_escalations(order, T0 + 61 * MIN)) == [BreachKind.ON_SITE_TARGET]
    assert kinds(due_escalations(order, T0 + 4 * HOUR + 1)) == [BreachKind.ON_SITE_TARGET, BreachKind.ON_SITE_LIMIT]


def test_arrival_in_time_stops_the_response_timer() -> None:
    order = opened(alarm(rupture=True))
    for step in ("dispatch", "acknowledge", "depart", "arrive"):
        kwargs = {"crew_id": "c"} if step == "dispatch" else {}
        order = run(order, getattr(order, step)(**kwargs, actor="c", now_unix_us=T0 + 20 * MIN))
    assert due_escalations(order, T0 + 10 * DAY) == []


def test_a_late_arrival_no_timer_saw_is_still_escalated_once() -> None:
    order = opened(alarm(rupture=True))
    for step in ("dispatch", "acknowledge", "depart", "arrive"):
        kwargs = {"crew_id": "c"} if step == "dispatch" else {}
        order = run(order, getattr(order, step)(**kwargs, actor="c", now_unix_us=T0 + 45 * MIN))
    order, events = escalate(order, T0 + 50 * MIN)
    assert kinds(events) == [BreachKind.ON_SITE_TARGET]
    assert due_escalations(order, T0 + 10 * HOUR) == []  # arrived before the 2 h limit


def test_grade_3_has_no_response_timer_unless_configured() -> None:
    order = opened()
    assert order.grade is Grade.THREE
    assert due_escalations(order, T0 + 30 * DAY) == []
    strict = SlaPolicy(
        grade3_response=ResponseTarget(code=3, target_s=3600, threshold_s=3600, max_share_over=0.1, limit_s=86400)
    )
    assert kinds(due_escalations(order, T0 + 2 * HOUR, strict)) == [BreachKind.ON_SITE_TARGET]


def test_regrade_to_1_starts_the_grade_1_clock_from_time_received() -> None:
    order = opened(alarm(pct=2.0))
    order, events = escalate(order, T0 + 40 * MIN)
    assert events == []
    order = run(
        order,
        order.regrade(Grade.ONE, reason="gas in cellar", actor="s", role=Role.SUPERVISOR, now_unix_us=T0 + 41 * MIN),
    )
    order, events = escalate(order, T0 + 41 * MIN)
    assert [e.breach_key for e in events] == ["on_site_target:g1"]


def test_hold_does_not_stop_the_clock() -> None:
    order = opened(alarm(pct=2.0))
    order = run(order, order.hold(reason="waiting for permit", actor="d", now_unix_us=T0 + MIN))
    assert kinds(due_escalations(order, T0 + 2 * HOUR)) == [BreachKind.ON_SITE_TARGET]


def test_grade_2_repair_deadline_12_months_and_reevaluation_every_6() -> None:
    order = opened(alarm(pct=2.0))
    order = run(order, order.defer(reevaluate_by_unix_us=T0 + 180 * DAY, reason="r", actor="s", now_unix_us=T0))
    # Deferred before anyone went: no on-site escalation while monitored.
    assert due_escalations(order, T0 + 179 * DAY) == []
    order, events = escalate(order, T0 + 181 * DAY)
    assert kinds(events) == [BreachKind.REEVALUATION_OVERDUE]
    assert due_escalations(order, T0 + 182 * DAY) == []
    order = run(
        order,
        order.reevaluate(
            findings="10 % LEL, stable",
            next_reevaluate_by_unix_us=T0 + 360 * DAY,
            actor="s",
            now_unix_us=T0 + 182 * DAY,
        ),
    )
    order, events = escalate(order, T0 + 361 * DAY)
    assert kinds(events) == [BreachKind.REEVALUATION_OVERDUE]
    order, events = escalate(order, T0 + 365 * DAY + 1)
    assert kinds(events) == [BreachKind.REPAIR_DEADLINE]
    assert events[0].deadline_unix_us == T0 + 365 * DAY


def test_grade_3_environmentally_significant_must_be_repaired_in_2_years() -> None:
    order = opened()
    assert due_escalations(order, T0 + 800 * DAY) == []
    order = run(
        order, order.set_environmental_significance(True, reason="near a river", actor="s", now_unix_us=T0 + MIN)
    )
    assert due_escalations(order, T0 + 730 * DAY) == []
    assert kinds(due_escalations(order, T0 + 731 * DAY)) == [BreachKind.REPAIR_DEADLINE]


def test_closed_and_cancelled_orders_never_escalate() -> None:
    order = opened(alarm(rupture=True))
    order = run(order, order.cancel(reason="false alarm", actor="d", now_unix_us=T0 + MIN))
    assert due_escalations(order, T0 + 100 * DAY) == []
    assert due_escalations(WorkOrder(), T0) == []


def test_make_safe_limit_is_optional() -> None:
    order = opened(alarm(rupture=True))
    policy = SlaPolicy(grade1_make_safe_limit_s=4 * 3600)
    assert BreachKind.MAKE_SAFE_LIMIT in kinds(due_escalations(order, T0 + 5 * HOUR, policy))
    assert BreachKind.MAKE_SAFE_LIMIT not in kinds(due_escalations(order, T0 + 5 * HOUR))


def test_garbage_is_refused() -> None:
    with pytest.raises(InvalidInput, match="now_unix_us"):
        due_escalations(opened(), float("nan"))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="WorkOrder"):
        due_escalations("order", T0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="grade 1 leaks cannot be deferred"):
        SlaPolicy(deferrable_grades=frozenset({Grade.ONE}))
    with pytest.raises(InvalidInput, match="target_s <= threshold_s <= limit_s"):
        ResponseTarget(code=1, target_s=3600, threshold_s=60, max_share_over=0.1, limit_s=7200)
    with pytest.raises(InvalidInput, match="grade2_repair_s"):
        SlaPolicy(grade2_repair_s=-5)


def test_monthly_response_compliance_code_1() -> None:
    from services.workorders.domain import DEFAULT_SLA_POLICY, response_compliance

    code1 = DEFAULT_SLA_POLICY.grade1_response
    assert code1 is not None
    good = response_compliance([20 * 60.0] * 97 + [55 * 60.0] * 3, code1)
    assert good.compliant and good.share_over_threshold == pytest.approx(0.03)
    too_many_late = response_compliance([20 * 60.0] * 96 + [55 * 60.0] * 4, code1)
    assert not too_many_late.share_ok and too_many_late.mean_ok
    one_over_limit = response_compliance([10 * 60.0] * 99 + [2 * 3600.0 + 1], code1)
    assert not one_over_limit.none_over_limit and not one_over_limit.compliant
    assert response_compliance([], code1).compliant
    with pytest.raises(InvalidInput, match="arrival time"):
        response_compliance([float("nan")], code1)


def _to_site(order: WorkOrder, at: int) -> WorkOrder:
    for step in ("dispatch", "acknowledge", "depart", "arrive"):
        kwargs = {"crew_id": "c"} if step == "dispatch" else {}
        order = run(order, getattr(order, step)(**kwargs, actor="c", now_unix_us=at))
    return order


def test_response_deadlines_run_from_the_alarm_not_from_a_lagging_consumer() -> None:
    # Raised at T0, consumed an hour later: the grade 1 crew on site 2.5 h after the alarm is past 2 h.
    order = opened(alarm(rupture=True), at=T0 + HOUR)
    assert order.grade is Grade.ONE
    assert order.received_at_unix_us == T0 + HOUR and order.response_clock_start_unix_us == T0
    order = _to_site(order, T0 + 150 * MIN)
    events = due_escalations(order, T0 + 150 * MIN)
    assert kinds(events) == [BreachKind.ON_SITE_TARGET, BreachKind.ON_SITE_LIMIT]
    assert events[1].deadline_unix_us == T0 + 2 * HOUR
    assert order.timings().to_arrive_s == 150 * 60


def test_an_alarm_time_ahead_of_our_clock_is_capped_at_the_time_received() -> None:
    order = opened(alarm(rupture=True), at=T0 - 10 * MIN)  # leakdetect's clock runs 10 min ahead
    assert order.response_clock_start_unix_us == T0 - 10 * MIN
    assert kinds(due_escalations(order, T0 + 20 * MIN + 1)) == [BreachKind.ON_SITE_TARGET]


def test_a_reopened_order_runs_new_response_deadlines_from_the_reopening() -> None:
    order = opened()  # grade 3: no response timer
    order = run(order, order.cancel(reason="false alarm", actor="d", now_unix_us=T0 + 5 * MIN))
    assert due_escalations(order, T0 + DAY) == []
    update = alarm(sequence=1, rupture=True)
    update = type(update)(**{**{f: getattr(update, f) for f in update.__slots__}, "event_time_unix_us": T0 + HOUR})
    order = run(order, order.receive_alarm(update, now_unix_us=T0 + HOUR))
    assert order.grade is Grade.ONE and order.response_clock_start_unix_us == T0 + HOUR
    assert due_escalations(order, T0 + HOUR + 30 * MIN) == []
    order, events = escalate(order, T0 + HOUR + 30 * MIN + 1)
    assert kinds(events) == [BreachKind.ON_SITE_TARGET] and events[0].breach_key == "on_site_target:g1:r1"
    order = _to_site(order, T0 + HOUR + 45 * MIN)
    assert due_escalations(order, T0 + DAY) == []  # arrived within the 2 h limit of the reopening
    assert order.timings().to_arrive_s == 45 * 60


def test_a_reopened_grade_2_order_gets_the_repair_deadline_from_the_reopening() -> None:
    order = opened(alarm(pct=2.0))
    order, _ = escalate(order, T0 + 5 * HOUR)
    assert order.escalations == {"on_site_target:g2", "on_site_limit:g2"}
    order = run(order, order.regrade(Grade.THREE, reason="bar hole 5 % LEL", actor="s", role=Role.SUPERVISOR,
                                     now_unix_us=T0 + 5 * HOUR))
    order = run(order, order.cancel(reason="no leak found", actor="d", now_unix_us=T0 + 6 * HOUR))
    order = run(order, order.receive_alarm(alarm(sequence=1, pct=2.0), now_unix_us=T0 + DAY))
    assert order.grade is Grade.TWO and order.response_clock_start_unix_us == T0  # the update's own time
    order, events = escalate(order, T0 + DAY)
    # The new response is escalated under new keys (the old ones stay recorded once each).
    assert {e.breach_key for e in events} == {"on_site_target:g2:r1", "on_site_limit:g2:r1"}
    assert due_escalations(order, T0 + DAY + 365 * DAY) == []
    assert kinds(due_escalations(order, T0 + DAY + 365 * DAY + 1)) == [BreachKind.REPAIR_DEADLINE]


def test_regrading_a_monitored_leak_shortens_the_reevaluation_date_to_the_new_grade() -> None:
    order = opened()  # grade 3
    order = run(order, order.defer(reevaluate_by_unix_us=T0 + 450 * DAY, reason="small", actor="d", now_unix_us=T0))
    regraded = order.regrade(Grade.TWO, reason="larger", actor="s", role=Role.SUPERVISOR, now_unix_us=T0 + DAY)
    order = run(order, regraded)
    assert order.reevaluate_by_unix_us == T0 + DAY + 182 * DAY
    assert kinds(due_escalations(order, T0 + 184 * DAY)) == [BreachKind.REEVALUATION_OVERDUE]
    # An earlier date is kept: a regrade never postpones a re-evaluation.
    early = opened()
    early = run(early, early.defer(reevaluate_by_unix_us=T0 + 30 * DAY, reason="s", actor="d", now_unix_us=T0))
    early = run(early, early.regrade(Grade.TWO, reason="x", actor="s", role=Role.SUPERVISOR, now_unix_us=T0 + DAY))
    assert early.reevaluate_by_unix_us == T0 + 30 * DAY


def test_an_automatic_regrade_of_a_monitored_leak_also_shortens_the_date() -> None:
    order = opened()
    order = run(order, order.defer(reevaluate_by_unix_us=T0 + 450 * DAY, reason="small", actor="d", now_unix_us=T0))
    order = run(order, order.receive_alarm(alarm(sequence=1, pct=2.0), now_unix_us=T0 + DAY))
    assert order.grade is Grade.TWO and order.status.value == "monitoring"
    assert order.reevaluate_by_unix_us == T0 + DAY + 182 * DAY
