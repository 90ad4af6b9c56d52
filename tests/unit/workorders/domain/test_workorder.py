"""WorkOrder: alarm intake and idempotence, regrade permission, the state table, timings, garbage."""

from __future__ import annotations

import pytest

from services.workorders.domain import (
    AlarmState,
    Grade,
    InvalidInput,
    InvalidTransition,
    PermissionDenied,
    RepairKind,
    Role,
    RuleViolation,
    WorkOrder,
    WorkOrderStatus,
    work_order_id_for_alarm,
)
from services.workorders.domain.workorder import (
    AlarmClearRecorded,
    AlarmUpdateAttached,
    WorkOrderOpened,
    WorkOrderRegraded,
    WorkOrderReopened,
)
from tests.unit.workorders.domain.factories import DAY, MIN, T0, alarm, opened, run, segment

S = WorkOrderStatus


def test_open_from_alarm_derives_the_id_and_grades() -> None:
    events = WorkOrder().receive_alarm(alarm(), segment(), now_unix_us=T0)
    assert [type(e) for e in events] == [WorkOrderOpened]
    order = WorkOrder.replay(events)
    assert order.order_id == work_order_id_for_alarm("alarm-DS-M1-1") == events[0].order_id
    assert order.order_id.startswith("workorder-")
    assert order.status is S.TRIAGED and order.grade is Grade.THREE and order.version == 1
    assert order.received_at_unix_us == T0
    # Same alarm id, same order id, on any machine, after any restart.
    assert work_order_id_for_alarm("alarm-DS-M1-1") == order.order_id
    assert work_order_id_for_alarm("alarm-DS-M1-2") != order.order_id


def test_redelivered_alarm_gives_no_events() -> None:
    order = opened()
    assert order.receive_alarm(alarm(), now_unix_us=T0 + MIN) == []


def test_updates_attach_and_stale_ones_are_ignored() -> None:
    order = opened()
    events = order.receive_alarm(alarm(sequence=1, pct=0.6), now_unix_us=T0 + MIN)
    assert [type(e) for e in events] == [AlarmUpdateAttached]
    order = run(order, events)
    assert order.last_alarm_sequence == 1 and order.alarm_updates == 1
    assert order.receive_alarm(alarm(sequence=1), now_unix_us=T0 + 2 * MIN) == []


def test_a_worsening_update_raises_the_grade_automatically_but_never_lowers_it() -> None:
    order = opened()
    events = order.receive_alarm(alarm(sequence=1, rupture=True), now_unix_us=T0 + MIN)
    assert [type(e) for e in events] == [AlarmUpdateAttached, WorkOrderRegraded]
    regraded = events[1]
    assert isinstance(regraded, WorkOrderRegraded) and regraded.automatic and regraded.role is Role.SYSTEM
    order = run(order, events)
    assert order.grade is Grade.ONE
    calmer = order.receive_alarm(alarm(sequence=2, pct=0.1), now_unix_us=T0 + 2 * MIN)
    assert [type(e) for e in calmer] == [AlarmUpdateAttached]
    assert run(order, calmer).grade is Grade.ONE


def test_a_cleared_alarm_is_recorded_and_never_closes_the_order() -> None:
    order = run(opened(), opened().dispatch("crew-1", actor="d", now_unix_us=T0 + MIN))
    events = order.receive_alarm(
        alarm(sequence=1, state=AlarmState.CLEARED, clear_reason="balance back in band"), now_unix_us=T0 + 2 * MIN
    )
    assert [type(e) for e in events] == [AlarmClearRecorded]
    after = run(order, events)
    assert after.alarm_cleared and after.status is S.DISPATCHED


def test_alarm_of_another_incident_is_refused() -> None:
    with pytest.raises(InvalidInput, match="does not belong"):
        opened().receive_alarm(alarm(alarm_id="other", sequence=1), now_unix_us=T0)


def test_opening_needs_the_segment() -> None:
    with pytest.raises(InvalidInput, match="segment context is required"):
        WorkOrder().receive_alarm(alarm(), now_unix_us=T0)
    with pytest.raises(InvalidInput, match="segment"):
        WorkOrder().receive_alarm(alarm(), segment(segment_id="KB-M1"), now_unix_us=T0)


def test_only_a_supervisor_may_regrade_with_a_reason() -> None:
    order = opened()
    for role in (Role.DISPATCHER, Role.CREW, Role.INSPECTOR, Role.SYSTEM):
        with pytest.raises(PermissionDenied, match="only a supervisor"):
            order.regrade(Grade.ONE, reason="smell of gas", actor="x", role=role, now_unix_us=T0)
    with pytest.raises(InvalidInput, match="reason"):
        order.regrade(Grade.ONE, reason="", actor="sup", role=Role.SUPERVISOR, now_unix_us=T0)
    with pytest.raises(InvalidInput, match="grade"):
        order.regrade(4, reason="r", actor="sup", role=Role.SUPERVISOR, now_unix_us=T0)  # type: ignore[arg-type]
    events = order.regrade(Grade.ONE, reason="gas in basement", actor="sup", role=Role.SUPERVISOR, now_unix_us=T0)
    regraded = run(order, events)
    assert regraded.grade is Grade.ONE and regraded.grade_reasons == ("gas in basement",)
    assert regraded.regrade(Grade.ONE, reason="again", actor="sup", role=Role.SUPERVISOR, now_unix_us=T0) == []


def _walk_to_closed(order: WorkOrder) -> WorkOrder:
    t = T0
    for step in (
        lambda o, t: o.dispatch("crew-1", actor="disp", now_unix_us=t),
        lambda o, t: o.acknowledge(actor="crew-1", now_unix_us=t),
        lambda o, t: o.depart(actor="crew-1", now_unix_us=t),
        lambda o, t: o.arrive(actor="crew-1", now_unix_us=t),
        lambda o, t: o.make_safe(measures="valve closed, area cordoned", actor="crew-1", now_unix_us=t),
        lambda o, t: o.repair(RepairKind.PERMANENT, notes="sleeve", actor="crew-1", now_unix_us=t),
        lambda o, t: o.verify(passed=True, actor="sup", now_unix_us=t),
        lambda o, t: o.close(actor="sup", now_unix_us=t),
    ):
        t += 10 * MIN
        order = run(order, step(order, t))
    return order


def test_happy_path_records_the_times_utilities_report() -> None:
    order = _walk_to_closed(opened())
    assert order.status is S.CLOSED
    timings = order.timings()
    assert timings.to_dispatch_s == 600 and timings.to_arrive_s == 2400
    assert timings.to_make_safe_s == 3000 and timings.to_repair_s == 3600 and timings.to_permanent_repair_s == 3600


def test_closed_is_terminal_and_the_error_names_state_and_moves() -> None:
    order = _walk_to_closed(opened())
    with pytest.raises(InvalidTransition, match=r"in state 'closed'.*none \(terminal state\)"):
        order.dispatch("crew-2", actor="d", now_unix_us=T0 + DAY)
    with pytest.raises(InvalidTransition, match="closed"):
        order.regrade(Grade.ONE, reason="r", actor="s", role=Role.SUPERVISOR, now_unix_us=T0 + DAY)


def test_invalid_move_lists_the_allowed_ones() -> None:
    with pytest.raises(InvalidTransition) as info:
        opened().arrive(actor="crew", now_unix_us=T0)
    message = str(info.value)
    assert "'triaged'" in message
    for move in ("cancel", "defer", "dispatch", "hold"):
        assert move in message
    assert info.value.allowed == ("cancel", "defer", "dispatch", "hold")


def test_commands_on_an_unopened_order_are_refused() -> None:
    with pytest.raises(InvalidTransition, match="not opened"):
        WorkOrder().dispatch("crew", actor="d", now_unix_us=T0)


def test_grade_1_cannot_be_deferred_grade_2_can_within_6_months() -> None:
    g1 = opened(alarm(rupture=True))
    with pytest.raises(RuleViolation, match="grade 1 leak cannot be deferred"):
        g1.defer(reevaluate_by_unix_us=T0 + DAY, reason="r", actor="s", now_unix_us=T0)
    g2 = opened(alarm(pct=2.0))
    assert g2.grade is Grade.TWO
    with pytest.raises(RuleViolation, match="within 182 days"):
        g2.defer(reevaluate_by_unix_us=T0 + 200 * DAY, reason="r", actor="s", now_unix_us=T0)
    with pytest.raises(RuleViolation, match="future"):
        g2.defer(reevaluate_by_unix_us=T0, reason="r", actor="s", now_unix_us=T0)
    monitored = run(g2, g2.defer(reevaluate_by_unix_us=T0 + 180 * DAY, reason="no hazard", actor="s", now_unix_us=T0))
    assert monitored.status is S.MONITORING and monitored.reevaluate_by_unix_us == T0 + 180 * DAY


def test_regrading_a_monitored_leak_to_grade_1_takes_it_out_of_monitoring() -> None:
    g2 = opened(alarm(pct=2.0))
    monitored = run(g2, g2.defer(reevaluate_by_unix_us=T0 + DAY, reason="r", actor="s", now_unix_us=T0))
    regraded = run(
        monitored, monitored.regrade(Grade.ONE, reason="worse", actor="s", role=Role.SUPERVISOR, now_unix_us=T0 + MIN)
    )
    assert regraded.status is S.TRIAGED and regraded.reevaluate_by_unix_us is None


def test_grade_1_cannot_be_held_before_made_safe() -> None:
    g1 = opened(alarm(rupture=True))
    with pytest.raises(RuleViolation, match="continuous action"):
        g1.hold(reason="lunch", actor="d", now_unix_us=T0)


def test_hold_and_resume_return_to_the_previous_state() -> None:
    order = opened()
    order = run(order, order.dispatch("crew-1", actor="d", now_unix_us=T0 + MIN))
    held = run(order, order.hold(reason="road closed", actor="d", now_unix_us=T0 + 2 * MIN))
    assert held.status is S.ON_HOLD and held.held_from is S.DISPATCHED
    resumed = run(held, held.resume(actor="d", now_unix_us=T0 + 3 * MIN))
    assert resumed.status is S.DISPATCHED and resumed.held_from is None


def test_temporary_repair_needs_a_permanent_one_before_verification() -> None:
    order = opened()
    for cmd in ("dispatch", "acknowledge", "depart", "arrive", "make_safe"):
        kwargs = {"crew_id": "c"} if cmd == "dispatch" else {}
        if cmd == "make_safe":
            kwargs["measures"] = "clamp"
        order = run(order, getattr(order, cmd)(**kwargs, actor="c", now_unix_us=T0))
    with pytest.raises(InvalidInput, match="kind"):
        order.repair("glue", actor="c", now_unix_us=T0)  # type: ignore[arg-type]
    order = run(order, order.repair(RepairKind.TEMPORARY, actor="c", now_unix_us=T0))
    with pytest.raises(RuleViolation, match="only a temporary repair"):
        order.verify(passed=True, actor="s", now_unix_us=T0)
    with pytest.raises(RuleViolation, match="only a permanent repair can follow"):
        order.repair(RepairKind.TEMPORARY, actor="c", now_unix_us=T0)
    order = run(order, order.repair(RepairKind.PERMANENT, actor="c", now_unix_us=T0 + DAY))
    failed = run(order, order.verify(passed=False, notes="still bubbling", actor="s", now_unix_us=T0 + DAY))
    assert failed.status is S.MADE_SAFE and failed.repair_kind is None
    assert failed.timings().to_repair_s == 0  # the first repair stays the first


def test_cancel_needs_a_reason_and_is_refused_after_made_safe() -> None:
    order = opened()
    with pytest.raises(InvalidInput, match="reason"):
        order.cancel(reason=" ", actor="d", now_unix_us=T0)
    cancelled = run(order, order.cancel(reason="false alarm: meter swap", actor="d", now_unix_us=T0))
    assert cancelled.status is S.CANCELLED and cancelled.close_or_cancel_reason == "false alarm: meter swap"


def test_time_cannot_go_backwards() -> None:
    order = opened(at=T0)
    with pytest.raises(InvalidInput, match="backwards"):
        order.dispatch("crew-1", actor="d", now_unix_us=T0 - 1)


@pytest.mark.parametrize("now", [-1, 1.5, True, "now", None])
def test_garbage_times_are_refused(now: object) -> None:
    with pytest.raises(InvalidInput, match="now_unix_us"):
        opened().dispatch("crew-1", actor="d", now_unix_us=now)  # type: ignore[arg-type]


def test_garbage_text_is_refused() -> None:
    with pytest.raises(InvalidInput, match="crew_id"):
        opened().dispatch("", actor="d", now_unix_us=T0)
    with pytest.raises(InvalidInput, match="actor"):
        opened().dispatch("crew", actor=None, now_unix_us=T0)  # type: ignore[arg-type]


def test_apply_refuses_foreign_and_out_of_order_events() -> None:
    order = opened()
    other = opened(alarm(alarm_id="other"))
    with pytest.raises(InvalidInput, match="applied to order"):
        order.apply(other.dispatch("c", actor="d", now_unix_us=T0)[0])
    with pytest.raises(InvalidInput, match="first event"):
        WorkOrder().apply(order.dispatch("c", actor="d", now_unix_us=T0)[0])


def test_snapshot_round_trip() -> None:
    order = _walk_to_closed(opened(alarm(lel=50.0)))
    snap = order.to_snapshot()
    assert WorkOrder.from_snapshot(snap) == order
    with pytest.raises(InvalidInput, match="status"):
        WorkOrder.from_snapshot({**snap, "status": "exploded"})


# -- a closed or cancelled order and a more severe alarm update ---------------------------------------


def _cancelled() -> WorkOrder:
    order = opened()  # grade 3
    return run(order, order.cancel(reason="false alarm: compressor start", actor="d", now_unix_us=T0 + 5 * MIN))


def _closed_after_repair() -> WorkOrder:
    order = opened()
    steps: list[tuple[str, dict]] = [
        ("dispatch", {"crew_id": "crew-1"}),
        ("acknowledge", {}),
        ("depart", {}),
        ("arrive", {}),
        ("make_safe", {"measures": "area cordoned"}),
        ("repair", {"kind": RepairKind.PERMANENT}),
        ("verify", {"passed": True}),
        ("close", {"notes": "clamp fitted"}),
    ]
    for i, (step, kwargs) in enumerate(steps, start=1):
        order = run(order, getattr(order, step)(**kwargs, actor="crew", now_unix_us=T0 + i * MIN))
    assert order.status is S.CLOSED
    return order


def test_a_more_severe_update_reopens_a_cancelled_order_at_the_new_grade() -> None:
    order = _cancelled()
    events = order.receive_alarm(alarm(sequence=1, rupture=True, hint=Grade.ONE), now_unix_us=T0 + 20 * MIN)
    assert [type(e) for e in events] == [AlarmUpdateAttached, WorkOrderReopened]
    reopened = events[1]
    assert isinstance(reopened, WorkOrderReopened)
    assert reopened.automatic and reopened.from_status is S.CANCELLED and reopened.from_grade is Grade.THREE
    assert reopened.grade is Grade.ONE and reopened.reason.startswith("alarm update #1")
    after = run(order, events)
    assert after.status is S.TRIAGED and after.is_open and after.grade is Grade.ONE
    assert after.cancelled_at_unix_us is None and after.close_or_cancel_reason == ""
    assert after.reopenings == 1 and after.graded_at_unix_us == T0 + 20 * MIN
    assert after.received_at_unix_us == T0  # the time received is history, never rewritten
    # It is a live order again: a dispatcher can send a crew.
    assert run(after, after.dispatch("crew-2", actor="d", now_unix_us=T0 + 21 * MIN)).status is S.DISPATCHED


def test_reopening_a_closed_order_clears_the_previous_response_and_repair() -> None:
    order = _closed_after_repair()
    events = order.receive_alarm(alarm(sequence=1, pct=2.0), now_unix_us=T0 + DAY)
    assert [type(e) for e in events] == [AlarmUpdateAttached, WorkOrderReopened]
    after = run(order, events)
    assert after.status is S.TRIAGED and after.grade is Grade.TWO and after.crew_id == ""
    for name in (
        "dispatched_at_unix_us",
        "acknowledged_at_unix_us",
        "en_route_at_unix_us",
        "arrived_at_unix_us",
        "made_safe_at_unix_us",
        "repaired_at_unix_us",
        "permanent_repair_at_unix_us",
        "verified_at_unix_us",
        "closed_at_unix_us",
        "repair_kind",
        "reevaluate_by_unix_us",
    ):
        assert getattr(after, name) is None, name
    assert after.timings().to_arrive_s is None
    # Snapshot round trip keeps the reopening.
    assert WorkOrder.from_snapshot(after.to_snapshot()) == after


def test_same_or_lower_grade_updates_on_a_terminal_order_only_attach() -> None:
    for order in (_cancelled(), _closed_after_repair()):
        events = order.receive_alarm(alarm(sequence=1, pct=0.6), now_unix_us=T0 + DAY)
        assert [type(e) for e in events] == [AlarmUpdateAttached]
        assert run(order, events).status is order.status
        clear = order.receive_alarm(alarm(sequence=1, state=AlarmState.CLEARED), now_unix_us=T0 + DAY)
        assert [type(e) for e in clear] == [AlarmClearRecorded]
    # A grade 2 order cancelled by a dispatcher stays cancelled on a grade 2 update.
    order = opened(alarm(pct=2.0))
    order = run(order, order.cancel(reason="false alarm", actor="d", now_unix_us=T0 + MIN))
    events = order.receive_alarm(alarm(sequence=1, pct=2.5), now_unix_us=T0 + 2 * MIN)
    assert [type(e) for e in events] == [AlarmUpdateAttached] and run(order, events).status is S.CANCELLED


def test_reopened_event_round_trips_and_is_refused_on_an_open_order() -> None:
    from services.workorders.domain import event_from_payload

    order = _cancelled()
    reopened = order.receive_alarm(alarm(sequence=1, rupture=True), now_unix_us=T0 + 20 * MIN)[1]
    assert event_from_payload(reopened.type, reopened.schema_version, reopened.to_payload()) == reopened
    with pytest.raises(InvalidInput, match="not closed or cancelled"):
        opened().apply(reopened)


def test_an_opened_event_stored_without_the_raise_time_still_loads() -> None:
    from services.workorders.domain import event_from_payload

    event = WorkOrder().receive_alarm(alarm(), segment(), now_unix_us=T0 + MIN)[0]
    payload = event.to_payload()
    assert payload["raised_at_unix_us"] == T0
    del payload["raised_at_unix_us"]  # as stored before the field existed
    old = event_from_payload(event.type, event.schema_version, payload)
    assert WorkOrder.replay([old]).response_clock_start_unix_us == T0 + MIN  # as it was: from received
