"""The service layer on fakes of its ports: an in-memory event store, a hand-moved clock, fixed segments."""

from __future__ import annotations

import dataclasses

import pytest

from services.workorders.domain import commands
from services.workorders.domain.errors import InvalidInput, InvalidTransition
from services.workorders.domain.sensor_health import SensorHealthFacts
from services.workorders.domain.workorder import WorkOrder, work_order_id_for_alarm
from services.workorders.service_layer.auth import AccessDenied, CallerRole, Principal
from services.workorders.service_layer.repository import NotFound, to_domain
from tests.unit.workorders.domain.factories import alarm
from tests.unit.workorders.fakes import T0, Faked, make_app

DISPATCHER = Principal("ana", CallerRole.DISPATCHER, frozenset({"D1"}))
CREW = Principal("crew-7", CallerRole.CREW, frozenset({"D1"}))
SUPERVISOR = Principal("li", CallerRole.SUPERVISOR, frozenset({"*"}))


def _opened(faked: Faked, alarm_id: str = "A-1", segment_id: str = "S-D1") -> str:
    facts = dataclasses.replace(alarm(alarm_id=alarm_id), segment_id=segment_id)
    return faked.app.handle_alarm(facts, f"{alarm_id}/0").stream_id


def test_an_alarm_opens_one_order_and_a_redelivery_changes_nothing() -> None:
    faked = make_app()
    facts = dataclasses.replace(alarm(alarm_id="A-1"), segment_id="S-D1")
    first = faked.app.handle_alarm(facts, "A-1/0")
    assert first.stream_id == work_order_id_for_alarm("A-1") and first.event_types
    assert faked.app.handle_alarm(facts, "A-1/0").event_types == ()
    assert faked.store.stream_version(first.stream_id) == first.version


def test_an_alarm_on_a_segment_the_network_does_not_know_is_refused() -> None:
    faked = make_app()
    with pytest.raises(InvalidInput, match="not in the network model"):
        _opened(faked, segment_id="NO-SUCH")


def test_the_crew_moves_an_order_to_site_with_the_domain_verbs() -> None:
    faked = make_app()
    order_id = _opened(faked)
    faked.app.execute(DISPATCHER, commands.Dispatch(order_id, crew_id="crew-7"))
    for command in (commands.Acknowledge(order_id), commands.Depart(order_id), commands.Arrive(order_id)):
        faked.clock.advance_s(60)
        faked.app.execute(CREW, command)
    order, version = faked.app.work_orders.get(order_id)
    assert order.status is not None and order.status.value == "on_site"
    assert order.arrived_at_unix_us == T0 + 3 * 60 * 1_000_000 and version == 5


def test_the_note_is_the_default_reason() -> None:
    faked = make_app()
    order_id = _opened(faked)
    outcome = faked.app.execute(DISPATCHER, commands.Cancel(order_id), note="false alarm")
    assert outcome.event_types == ("WorkOrderCancelled",)
    cancelled = faked.store.read_stream(order_id)[-1]
    assert "false alarm" in str(cancelled.payload)


def test_roles_and_districts_are_checked_before_anything_is_stored() -> None:
    faked = make_app()
    order_id = _opened(faked)
    version = faked.store.stream_version(order_id)
    with pytest.raises(AccessDenied, match="may not dispatch a work_order"):
        faked.app.execute(CREW, commands.Dispatch(order_id, crew_id="c"))
    with pytest.raises(AccessDenied, match="read-only"):
        faked.app.execute(Principal("r", CallerRole.REGULATOR, frozenset({"*"})), commands.Acknowledge(order_id))
    elsewhere = Principal("bo", CallerRole.DISPATCHER, frozenset({"D2"}))
    with pytest.raises(AccessDenied, match="does not work in district"):
        faked.app.execute(elsewhere, commands.Dispatch(order_id, crew_id="c"))
    assert faked.store.stream_version(order_id) == version


def test_garbage_in_a_command_is_refused_naming_it() -> None:
    faked = make_app()
    order_id = _opened(faked)
    with pytest.raises(InvalidInput, match="repair kind"):
        faked.app.execute(DISPATCHER, commands.Repair(order_id, kind="duct-tape"))
    with pytest.raises(InvalidInput, match="grade must be 1, 2 or 3"):
        faked.app.execute(SUPERVISOR, commands.Regrade(order_id, grade=7))
    with pytest.raises(NotFound):
        faked.app.execute(DISPATCHER, commands.Dispatch("workorder-none", crew_id="c"))
    with pytest.raises(InvalidTransition):
        faked.app.execute(DISPATCHER, commands.Close(order_id))


def test_snapshots_are_used_and_equal_to_a_full_replay() -> None:
    faked = make_app(snapshot_every=2)
    order_id = _opened(faked)
    for crew in ("c1", "c2", "c3"):
        faked.app.execute(DISPATCHER, commands.Dispatch(order_id, crew_id=crew))
    snapshot = faked.store.load_snapshot(order_id)
    assert snapshot is not None and snapshot.version >= 2
    faked.store.stream_reads.clear()
    loaded, version = faked.app.work_orders.get(order_id)
    # Used: only the events after the snapshot were read (a repository ignoring it reads from version 0).
    assert faked.store.stream_reads == [(order_id, snapshot.version)]
    replayed = WorkOrder.replay(to_domain(e) for e in faked.store.read_stream(order_id))
    assert loaded == replayed and version == 4


def test_a_snapshot_of_an_older_shape_is_ignored_and_the_stream_folded() -> None:
    faked = make_app(snapshot_every=2)
    order_id = _opened(faked)
    for crew in ("c1", "c2", "c3"):
        faked.app.execute(DISPATCHER, commands.Dispatch(order_id, crew_id=crew))
    faked.store.save_snapshot(order_id, 4, {"shape": "of a previous release"})
    faked.store.stream_reads.clear()
    loaded, version = faked.app.work_orders.get(order_id)
    assert faked.store.stream_reads == [(order_id, 0)]
    assert loaded.crew_id == "c3" and version == 4


def test_the_sla_tick_records_each_breach_once() -> None:
    faked = make_app()
    grade_1 = dataclasses.replace(alarm(alarm_id="A-9", lel=90.0, confined=True), segment_id="S-D1")
    assert faked.app.handle_alarm(grade_1, "A-9/0").aggregate.grade == 1
    faked.clock.advance_s(48 * 3600)
    first = faked.app.tick_sla()
    assert first > 0
    assert faked.app.tick_sla() == 0


def test_a_hazard_is_recorded_once_per_finding_and_assigned() -> None:
    faked = make_app()
    record = commands.RecordHazard(
        segment_id="S-D1", location="riser 4", description="corroded riser", source_ref="round-7/3"
    )
    first = faked.app.execute(DISPATCHER, record)
    assert first.event_types == ("HazardRecorded",)
    assert faked.app.execute(DISPATCHER, record).event_types == ()
    with pytest.raises(InvalidInput, match="is in district"):
        faked.app.execute(SUPERVISOR, commands.RecordHazard(segment_id="S-D1", district="D2", source_ref="x"))
    assigned = faked.app.execute(
        DISPATCHER, commands.AssignHazard(first.stream_id, responsible_unit="unit 3", supervising_department="ops")
    )
    assert len(assigned.event_types) == 2


def test_a_meter_fault_records_a_hazard_and_a_recovery_records_nothing() -> None:
    faked = make_app()
    fault = SensorHealthFacts("sh-1", "FT-1", "S-D1", "D1", "flatlined", "ok", "", T0 - 1, 0.0)
    outcome = faked.app.handle_sensor_health(fault, "sh-1")
    assert outcome is not None and outcome.event_types == ("HazardRecorded",)
    hazard, _ = faked.app.hazards.get(outcome.stream_id)
    assert "not monitoring the segment" in hazard.description
    ok = SensorHealthFacts("sh-2", "FT-1", "S-D1", "D1", "ok", "flatlined", "", T0, 0.0)
    assert faked.app.handle_sensor_health(ok, "sh-2") is None


def test_the_replacement_programme_on_known_segments_only() -> None:
    faked = make_app()
    flagged = faked.app.execute(DISPATCHER, commands.FlagProblemPipeline(segment_id="S-D1", reason="material"))
    assert flagged.event_types == ("ProblemPipelineFlagged",)
    with pytest.raises(InvalidInput, match="unknown segment"):
        faked.app.execute(DISPATCHER, commands.FlagProblemPipeline(segment_id="NOPE"))
    opened = faked.app.execute(DISPATCHER, commands.OpenReplacement(segment_id="S-D1", year=2024))
    assert opened.event_types == ("ReplacementOrdered",)
    progress = faked.app.execute(CREW, commands.ReportReplacementProgress(opened.stream_id, km_done=0.5))
    assert progress.version == 2
    with pytest.raises(InvalidInput, match="replacement_id is required"):
        faked.app.execute(DISPATCHER, commands.CompleteReplacement(""))
