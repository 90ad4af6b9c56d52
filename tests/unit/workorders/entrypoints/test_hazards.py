"""The hazard closed loop through the service layer and gRPC: record, assign twice, deadline, rectify,
evidence, four sign-offs, struck off; rejections, roles, districts, overdue, sensor health, reports, rebuild."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
from services.eventstore import read_transaction
from services.workorders.adapters.read_models import dump_read_models
from services.workorders.adapters.sensor_health import sensor_health_facts
from services.workorders.adapters.tokens import issue_token
from services.workorders.bootstrap import build_runtime
from services.workorders.config import ConfigError, WorkOrdersConfig
from services.workorders.domain.errors import InvalidInput
from services.workorders.domain.hazard import DEFAULT_LEVEL_ROLES, HazardSource, SignOffPolicy, hazard_id_for
from services.workorders.entrypoints.cli import main
from services.workorders.entrypoints.grpc_api import GrpcServer, WorkOrdersServicer
from services.workorders.entrypoints.runtime import Runtime
from tests.support.tokens import ISSUER
from tests.support.workorders_api import VERIFIER, Api, auth

DISTRICT = "Dongsheng"
OTHER = "Kangbashi"
T0 = 1_750_000_000_000_000
HOUR = 3600 * 1_000_000
DAY = 24 * HOUR


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rt(tmp_path: Path, clock: Clock) -> Iterator[Runtime]:
    runtime = build_runtime(f"sqlite:///{tmp_path}/hazards.sqlite3", clock=clock, snapshot_every=3)
    try:
        yield runtime
    finally:
        runtime.stop()


@pytest.fixture
def hapi(rt: Runtime, clock: Clock) -> Iterator[Api]:
    server = GrpcServer(WorkOrdersServicer(rt.app, VERIFIER, now_us=clock), "127.0.0.1:0").start()
    channel = grpc.insecure_channel(server.address)
    try:
        yield Api(pb_grpc.WorkOrdersServiceStub(channel), channel, server.address)
    finally:
        channel.close()
        server.stop(0.5)


def who(role: str, districts: list[str] | None = None, subject: str = "t", *roles: str) -> list[tuple[str, str]]:
    return auth(issue_token(ISSUER, subject, role, districts or [DISTRICT], sign_off_roles=roles))


CREW = who("crew", None, "crew-7")
DISPATCHER = who("dispatcher", None, "li")
SIGNERS = [who("supervisor", None, f"signer-{i}", role) for i, role in enumerate(DEFAULT_LEVEL_ROLES, 1)]


def _code(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()  # type: ignore[attr-defined]


def _segment(rt: Runtime, district: str = DISTRICT) -> str:
    return next(s.segment_id for s in rt.network.segments.values() if s.district == district)


def hz(api: Api, meta: list[tuple[str, str]], hazard_id: str = "", version: int | None = None, **command: object) -> (
    pb.ExecuteHazardCommandResponse
):
    request = pb.ExecuteHazardCommandRequest(hazard_id=hazard_id, **command)  # type: ignore[arg-type]
    if version is not None:
        request.context.expected_version = version
    return api.stub.ExecuteHazardCommand(request, metadata=meta)  # type: ignore[no-any-return]


def record(api: Api, rt: Runtime, ref: str, *, district: str = DISTRICT, major: bool = True,
           meta: list[tuple[str, str]] | None = None) -> str:
    reply = hz(api, meta or CREW, record=pb.RecordHazardCommand(
        segment_id=_segment(rt, district), location="valve pit V12, corner of Ordos Rd", major=major,
        description="corroded riser, gas odour", inspector="inspector Wang", found_at_unix_us=T0 - HOUR,
        reported_via="inspection round 2025-Q2", interim_measures="area cordoned", source_ref=ref))
    assert reply.hazard.state == "listed" and reply.result.event_types == ["HazardRecorded"]
    return reply.result.stream_id


def to_sign_off(api: Api, rt: Runtime, clock: Clock, ref: str = "insp-1/1", **kw: object) -> str:
    hid = record(api, rt, ref, **kw)  # type: ignore[arg-type]
    meta = who("dispatcher", [rt.app.hazards.get(hid)[0].district], "li")
    reply = hz(api, meta, hid, 1, assign=pb.AssignHazardCommand(
        responsible_unit="Ordos Gas Co. pipeline dept", supervising_department="city housing & construction bureau"))
    assert reply.result.event_types == ["ResponsibleUnitAssigned", "SupervisingDepartmentAssigned"]
    hz(api, meta, hid, 3, set_deadline=pb.SetHazardDeadlineCommand(deadline_unix_us=clock.now + 7 * DAY))
    assert hz(api, meta, hid, 4, start_rectification=pb.StartRectificationCommand()).hazard.state == "rectifying"
    crew = who("crew", [rt.app.hazards.get(hid)[0].district], "crew-7")
    hz(api, crew, hid, add_evidence=pb.AddHazardEvidenceCommand(uri="docs://photos/riser-after.jpg",
                                                                description="new riser"))
    reply = hz(api, meta, hid, rectify=pb.RectifyHazardCommand(summary="riser replaced"))
    assert reply.hazard.state == "awaiting_sign_off"
    assert reply.hazard.next_sign_off_role == rt.app.sign_off.level_roles[0]
    return hid


# -- the loop -----------------------------------------------------------------------------------------


def test_full_loop_four_signatures_struck_off_and_reported(rt: Runtime, hapi: Api, clock: Clock) -> None:
    hid = to_sign_off(hapi, rt, clock)
    assert hid == hazard_id_for(HazardSource.INSPECTION, "insp-1/1")
    # A crew cannot sign; nor can a supervisor without the level's sign-off role.
    code, _ = _code(lambda: hz(hapi, CREW, hid, sign_off=pb.SignOffHazardCommand()))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, details = _code(lambda: hz(hapi, SIGNERS[1], hid, sign_off=pb.SignOffHazardCommand()))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "unit_safety_officer" in details
    for level, meta in enumerate(SIGNERS, 1):
        clock.now += HOUR
        reply = hz(hapi, meta, hid, sign_off=pb.SignOffHazardCommand(level=level if level % 2 else 0))
        assert reply.hazard.signatures == level
    assert reply.hazard.state == "struck_off" and reply.result.event_types == ["HazardSignedOff", "HazardStruckOff"]
    assert reply.hazard.rectified_at_unix_us == clock.now
    # Terminal: the next move names the state (a signer's retry is a no-op, see test_retried_sign_off_*).
    stranger = who("supervisor", None, "signer-9", DEFAULT_LEVEL_ROLES[0])
    code, details = _code(lambda: hz(hapi, stranger, hid, sign_off=pb.SignOffHazardCommand()))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "struck_off" in details
    open_id = record(hapi, rt, "insp-1/2", district=OTHER, major=False, meta=who("crew", [OTHER], "c2"))
    rt.runner.run_until_caught_up()
    regulator = who("regulator", ["*"], "auditor")
    listed = hapi.stub.ListHazards(pb.ListHazardsRequest(), metadata=regulator).hazards
    assert {h.hazard_id: h.state for h in listed} == {hid: "struck_off", open_id: "listed"}
    assert [h.hazard_id for h in hapi.stub.ListHazards(pb.ListHazardsRequest(major_only=True),
                                                        metadata=regulator).hazards] == [hid]
    assert [h.hazard_id for h in hapi.stub.ListHazards(pb.ListHazardsRequest(states=["listed"]),
                                                        metadata=regulator).hazards] == [open_id]
    rows = hapi.stub.GetReport(pb.GetReportRequest(name="rectification"), metadata=regulator).table.rows
    assert [list(r.cells[:4]) for r in rows] == [
        [DISTRICT, "1", "1", "100.000"], [OTHER, "1", "0", "0.000"], ["(all)", "2", "1", "50.000"]]
    ledger = hapi.stub.GetReport(pb.GetReportRequest(name="hazards"), metadata=regulator).table
    assert len(ledger.rows) == 2 and "interim_measures" in ledger.columns
    first = next(dict(zip(ledger.columns, r.cells, strict=True)) for r in ledger.rows if r.cells[2] == hid)
    assert first["found_by"] == "inspector Wang" and first["reported_via"] == "inspection round 2025-Q2"
    assert first["interim_measures"] == "area cordoned" and first["signed"] == "4/4" and first["state"] == "struck_off"
    major = hapi.stub.GetReport(pb.GetReportRequest(name="major-hazards"), metadata=regulator).table
    assert [r.cells[2] for r in major.rows] == [hid]
    # A district-bound reader sees only its own district in the reports.
    mine = hapi.stub.GetReport(pb.GetReportRequest(name="rectification"), metadata=DISPATCHER).table.rows
    assert [r.cells[0] for r in mine] == [DISTRICT, "(all)"]


def test_rejection_at_level_three_sends_it_back(rt: Runtime, hapi: Api, clock: Clock) -> None:
    hid = to_sign_off(hapi, rt, clock)
    hz(hapi, SIGNERS[0], hid, sign_off=pb.SignOffHazardCommand())
    hz(hapi, SIGNERS[1], hid, sign_off=pb.SignOffHazardCommand())
    code, _ = _code(lambda: hz(hapi, SIGNERS[2], hid, reject=pb.RejectHazardCommand(level=3)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT  # a rejection needs a reason
    reply = hz(hapi, SIGNERS[2], hid, reject=pb.RejectHazardCommand(level=3, reason="no pressure test record"))
    assert reply.hazard.state == "rectifying" and reply.hazard.signatures == 0 and reply.hazard.rejections == 1
    code, _ = _code(lambda: hz(hapi, SIGNERS[3], hid, sign_off=pb.SignOffHazardCommand()))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    hz(hapi, DISPATCHER, hid, add_evidence=pb.AddHazardEvidenceCommand(uri="docs://pressure-test.pdf"))
    again = hz(hapi, DISPATCHER, hid, rectify=pb.RectifyHazardCommand(summary="pressure test attached"))
    assert again.hazard.next_sign_off_role == DEFAULT_LEVEL_ROLES[0]
    for meta in SIGNERS:
        reply = hz(hapi, meta, hid, sign_off=pb.SignOffHazardCommand())
    assert reply.hazard.state == "struck_off"


def test_one_person_cannot_sign_two_levels_and_retry_is_idempotent(rt: Runtime, hapi: Api, clock: Clock) -> None:
    hid = to_sign_off(hapi, rt, clock)
    both = who("supervisor", None, "boss", *DEFAULT_LEVEL_ROLES[:2])
    request = pb.ExecuteHazardCommandRequest(hazard_id=hid, sign_off=pb.SignOffHazardCommand(level=1))
    request.context.command_id = "sign-1"
    first = hapi.stub.ExecuteHazardCommand(request, metadata=both)
    retry = hapi.stub.ExecuteHazardCommand(request, metadata=both)
    assert first.result.version == retry.result.version and retry.result.event_types == []
    code, details = _code(lambda: hz(hapi, both, hid, sign_off=pb.SignOffHazardCommand(level=2)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "different person" in details


def test_recording_the_same_finding_twice_gives_one_hazard(rt: Runtime, hapi: Api) -> None:
    hid = record(hapi, rt, "insp-9/1")
    again = hz(hapi, CREW, record=pb.RecordHazardCommand(district=DISTRICT, location="x", description="y",
                                                          source_ref="insp-9/1"))
    assert again.result.stream_id == hid and again.result.event_types == [] and again.result.version == 1


# -- refusals -----------------------------------------------------------------------------------------


def test_wrong_district_and_roles_are_refused(rt: Runtime, hapi: Api) -> None:
    hid = record(hapi, rt, "insp-2/1")
    foreign = who("dispatcher", [OTHER], "zhao")
    code, _ = _code(lambda: hz(hapi, foreign, hid, assign=pb.AssignHazardCommand(responsible_unit="u")))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = _code(lambda: hz(hapi, foreign, record=pb.RecordHazardCommand(
        district=DISTRICT, location="l", description="d", source_ref="r")))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = _code(lambda: hapi.stub.ListHazards(pb.ListHazardsRequest(districts=[DISTRICT]), metadata=foreign))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    rt.runner.run_until_caught_up()
    assert hapi.stub.ListHazards(pb.ListHazardsRequest(), metadata=foreign).hazards == []
    # Crews record and attach evidence, but do not assign, set deadlines or submit.
    for command in ({"assign": pb.AssignHazardCommand(responsible_unit="u")},
                    {"set_deadline": pb.SetHazardDeadlineCommand(deadline_unix_us=T0 + DAY)},
                    {"rectify": pb.RectifyHazardCommand(summary="s")}):
        code, _ = _code(lambda c=command: hz(hapi, CREW, hid, **c))  # type: ignore[misc]
        assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = _code(lambda: hz(hapi, DISPATCHER, hid, reclassify=pb.ReclassifyHazardCommand(major=False, reason="r")))
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_regulator_is_read_only(rt: Runtime, hapi: Api) -> None:
    hid = record(hapi, rt, "insp-3/1")
    regulator = who("regulator", ["*"], "auditor", *DEFAULT_LEVEL_ROLES)
    for command in ({"record": pb.RecordHazardCommand(district=DISTRICT, location="l", description="d")},
                    {"sign_off": pb.SignOffHazardCommand()},
                    {"add_evidence": pb.AddHazardEvidenceCommand(uri="u")}):
        code, _ = _code(lambda c=command: hz(hapi, regulator, hid if "record" not in c else "", **c))  # type: ignore[misc]
        assert code == grpc.StatusCode.PERMISSION_DENIED
    rt.runner.run_until_caught_up()
    assert [h.hazard_id for h in hapi.stub.ListHazards(pb.ListHazardsRequest(), metadata=regulator).hazards] == [hid]
    assert hapi.stub.GetReport(pb.GetReportRequest(name="hazards"), metadata=regulator).table.rows


def test_preconditions_and_stale_versions(rt: Runtime, hapi: Api, clock: Clock) -> None:
    hid = record(hapi, rt, "insp-4/1")
    code, details = _code(lambda: hz(hapi, DISPATCHER, hid, start_rectification=pb.StartRectificationCommand()))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "responsible unit" in details
    code, details = _code(lambda: hz(hapi, SIGNERS[0], hid, sign_off=pb.SignOffHazardCommand()))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "'listed'" in details and "start_rectification" in details
    code, _ = _code(lambda: hz(hapi, DISPATCHER, hid, set_deadline=pb.SetHazardDeadlineCommand(
        deadline_unix_us=clock.now - DAY)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    hz(hapi, DISPATCHER, hid, 1, assign=pb.AssignHazardCommand(responsible_unit="u"))
    code, _ = _code(lambda: hz(hapi, DISPATCHER, hid, 1, assign=pb.AssignHazardCommand(supervising_department="d")))
    assert code == grpc.StatusCode.ABORTED
    code, _ = _code(lambda: hz(hapi, DISPATCHER, "hazard-nope", assign=pb.AssignHazardCommand(responsible_unit="u")))
    assert code == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "request_",
    [
        pb.ExecuteHazardCommandRequest(hazard_id="x"),  # no command
        pb.ExecuteHazardCommandRequest(assign=pb.AssignHazardCommand(responsible_unit="u")),  # no id
        pb.ExecuteHazardCommandRequest(hazard_id="bad\x00id", start_rectification=pb.StartRectificationCommand()),
        pb.ExecuteHazardCommandRequest(hazard_id="h" * 500, start_rectification=pb.StartRectificationCommand()),
        pb.ExecuteHazardCommandRequest(record=pb.RecordHazardCommand(location="l", description="d")),  # no district
        pb.ExecuteHazardCommandRequest(record=pb.RecordHazardCommand(district=DISTRICT, description="d")),  # location
        pb.ExecuteHazardCommandRequest(record=pb.RecordHazardCommand(
            district=DISTRICT, location="l", description="d", source="rumour")),
        pb.ExecuteHazardCommandRequest(record=pb.RecordHazardCommand(
            district=DISTRICT, location="l", description="d", source="sensor_health")),
        pb.ExecuteHazardCommandRequest(record=pb.RecordHazardCommand(
            segment_id="NO-SUCH-SEGMENT", location="l", description="d")),
        pb.ExecuteHazardCommandRequest(hazard_id="hazard-other", record=pb.RecordHazardCommand(
            district=DISTRICT, location="l", description="d", source_ref="r")),
        pb.ExecuteHazardCommandRequest(record=pb.RecordHazardCommand(
            district=DISTRICT, location="l", description="d", found_at_unix_us=-5)),
        pb.ExecuteHazardCommandRequest(record=pb.RecordHazardCommand(
            district=DISTRICT, location="l", description="x" * 100_000)),
        pb.ExecuteHazardCommandRequest(hazard_id="hz", assign=pb.AssignHazardCommand()),
    ],
)
def test_garbage_hazard_commands_are_invalid_argument(hapi: Api, request_: pb.ExecuteHazardCommandRequest) -> None:
    supervisor = who("supervisor", ["*"], "boss", *DEFAULT_LEVEL_ROLES)
    code, _ = _code(lambda: hapi.stub.ExecuteHazardCommand(request_, metadata=supervisor))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_garbage_hazard_queries(hapi: Api) -> None:
    for request in (pb.ListHazardsRequest(states=["bogus"]), pb.ListHazardsRequest(page_token="zz"),
                    pb.ListHazardsRequest(page_size=100_000)):
        code, _ = _code(lambda r=request: hapi.stub.ListHazards(r, metadata=DISPATCHER))  # type: ignore[misc]
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = _code(lambda: hapi.stub.ListHazards(pb.ListHazardsRequest(), metadata=[]))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    raw = hapi.channel.unary_unary("/pipewarden.workorders.v1.WorkOrdersService/ExecuteHazardCommand")
    with pytest.raises(grpc.RpcError) as info:
        raw(b"\xff\xff\xff garbage", metadata=DISPATCHER)
    assert info.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)


# -- overdue ------------------------------------------------------------------------------------------


def test_overdue_escalated_and_reported_once(rt: Runtime, hapi: Api, clock: Clock) -> None:
    hid = record(hapi, rt, "insp-5/1")
    done = to_sign_off(hapi, rt, clock, "insp-5/2")  # awaiting sign-off: not overdue until its deadline
    hz(hapi, DISPATCHER, hid, set_deadline=pb.SetHazardDeadlineCommand(deadline_unix_us=clock.now + HOUR))
    rt.runner.run_until_caught_up()
    assert rt.app.tick_hazards() == 0
    clock.now += 2 * HOUR
    assert rt.app.tick_hazards() == 1
    rt.runner.run_until_caught_up()
    assert rt.app.tick_hazards() == 0
    clock.now += HOUR
    rt.runner.run_until_caught_up()
    assert rt.app.tick_hazards() == 0  # still overdue, already escalated for this deadline
    listed = hapi.stub.ListHazards(pb.ListHazardsRequest(overdue_only=True), metadata=DISPATCHER).hazards
    assert [(h.hazard_id, h.overdue) for h in listed] == [(hid, True)]
    report = hapi.stub.GetReport(pb.GetReportRequest(name="overdue-hazards"), metadata=DISPATCHER).table
    assert [r.cells[1] for r in report.rows] == [hid] and report.rows[0].cells[-1] != "-"
    assert float(report.rows[0].cells[list(report.columns).index("days_overdue")]) == pytest.approx(2 / 24, abs=1e-3)
    events = [e.event_type for e in rt.store.read_stream(hid)]
    assert events.count("HazardOverdue") == 1
    # An extended deadline that passes again is escalated again, once.
    hz(hapi, DISPATCHER, hid, set_deadline=pb.SetHazardDeadlineCommand(deadline_unix_us=clock.now + HOUR,
                                                                       reason="contractor delayed"))
    clock.now += 2 * HOUR
    rt.runner.run_until_caught_up()
    assert rt.app.tick_hazards() == 1 and rt.app.tick_hazards() == 0
    assert done not in [h.hazard_id for h in hapi.stub.ListHazards(
        pb.ListHazardsRequest(overdue_only=True), metadata=DISPATCHER).hazards]


# -- sensor health ------------------------------------------------------------------------------------


def sensor_event(rt: Runtime, tag: str = "PT-7", health: int = alarms_pb2.SENSOR_HEALTH_STALE,
                 segment_id: str | None = None, mdlr_kg_per_s: float = 0.42) -> alarms_pb2.SensorHealthEvent:
    return alarms_pb2.SensorHealthEvent(
        event_id=f"{tag}/{T0}", tag_id=tag, segment_id=segment_id or _segment(rt), district=DISTRICT,
        health=health, previous_health=alarms_pb2.SENSOR_HEALTH_OK, detail="no reading for 300 s",
        change_time_unix_us=T0, segment_mdlr_kg_per_s=mdlr_kg_per_s)


@pytest.mark.parametrize(("mdlr_kg_per_s", "wording"), [
    (0.42, "minimum detectable leak now 0.42 kg/s"),
    # leakdetect's "not monitoring" (a dead flow meter suspends the mass balance): no "0 kg/s" sensitivity
    (0.0, "the mass balance is not monitoring the segment"),
])
def test_sensor_health_hazard_states_the_segments_sensitivity(rt: Runtime, mdlr_kg_per_s: float,
                                                              wording: str) -> None:
    message = sensor_event(rt, tag="FT-9", mdlr_kg_per_s=mdlr_kg_per_s)
    rt.app.handle_sensor_health(sensor_health_facts(message), message.event_id)
    hazard, _ = rt.app.hazards.get(hazard_id_for(HazardSource.SENSOR_HEALTH, message.event_id))
    assert wording in hazard.description and "0 kg/s" not in hazard.description


def test_sensor_health_delivered_twice_gives_one_hazard(rt: Runtime) -> None:
    message = sensor_event(rt)
    first = rt.app.handle_sensor_health(sensor_health_facts(message), message.event_id)
    second = rt.app.handle_sensor_health(sensor_health_facts(message), message.event_id)
    assert first is not None and first.event_types == ("HazardRecorded",)
    assert second is not None and second.event_types == ()
    hazard, version = rt.app.hazards.get(hazard_id_for(HazardSource.SENSOR_HEALTH, message.event_id))
    assert version == 1 and hazard.source is HazardSource.SENSOR_HEALTH and "stale" in hazard.description
    assert hazard.reported_via == "leak.sensor-health.v1" and hazard.district == DISTRICT
    ok = sensor_event(rt, health=alarms_pb2.SENSOR_HEALTH_OK)
    assert rt.app.handle_sensor_health(sensor_health_facts(ok), ok.event_id) is None
    with pytest.raises(InvalidInput, match="not in the network model"):
        bad = sensor_event(rt, segment_id="NO-SUCH-SEGMENT")
        rt.app.handle_sensor_health(sensor_health_facts(bad), bad.event_id)


def test_an_outvoted_redundant_meter_is_a_hazard_naming_it(rt: Runtime) -> None:
    message = sensor_event(rt, tag="FT-9B", health=alarms_pb2.SENSOR_HEALTH_OUTVOTED)
    message.detail = "drifted beyond its stated accuracy"
    outcome = rt.app.handle_sensor_health(sensor_health_facts(message), message.event_id)
    assert outcome is not None and outcome.event_types == ("HazardRecorded",)
    hazard, _ = rt.app.hazards.get(hazard_id_for(HazardSource.SENSOR_HEALTH, message.event_id))
    assert "FT-9B" in hazard.description and "outvoted" in hazard.description


def test_every_sensor_health_leakdetect_reports_is_understood() -> None:
    # one list of health codes (the proto); leakdetect's kernels use the same numbers (layout.HEALTH_*)
    from services.leakdetect.domain import layout

    for name, code in alarms_pb2.SensorHealth.items():
        if code == alarms_pb2.SENSOR_HEALTH_UNSPECIFIED:
            continue
        assert getattr(layout, name.replace("SENSOR_", "")) == code, name
        message = alarms_pb2.SensorHealthEvent(
            event_id=f"T-1/{T0}", tag_id="T-1", segment_id="S-1", health=code, change_time_unix_us=T0
        )
        assert sensor_health_facts(message).health == name.removeprefix("SENSOR_HEALTH_").lower()


@pytest.mark.parametrize(
    "change",
    [
        {"event_id": ""},
        {"tag_id": ""},
        {"segment_id": ""},
        {"health": alarms_pb2.SENSOR_HEALTH_UNSPECIFIED},
        {"change_time_unix_us": 0},
        {"change_time_unix_us": -1},
        {"segment_mdlr_kg_per_s": float("nan")},
    ],
)
def test_garbage_sensor_health_is_refused(rt: Runtime, change: dict[str, object]) -> None:
    message = sensor_event(rt)
    for name, value in change.items():
        setattr(message, name, value)
    with pytest.raises(InvalidInput):
        sensor_health_facts(message)


# -- Watch, read models, rebuild, CLI, config ---------------------------------------------------------


def test_hazard_changes_appear_on_watch(rt: Runtime, hapi: Api) -> None:
    hid = record(hapi, rt, "insp-6/1")
    record(hapi, rt, "insp-6/2", district=OTHER, meta=who("crew", [OTHER], "c2"))
    hz(hapi, DISPATCHER, hid, assign=pb.AssignHazardCommand(responsible_unit="unit A"))
    stream = hapi.stub.Watch(pb.WatchRequest(after_position=0), metadata=DISPATCHER)
    first, second = next(stream), next(stream)
    stream.cancel()
    assert (first.event_type, second.event_type) == ("HazardRecorded", "ResponsibleUnitAssigned")
    assert first.district == DISTRICT and second.position == 3
    assert second.hazard.hazard_id == hid and second.hazard.responsible_unit == "unit A"
    assert not second.HasField("work_order")


def test_rebuild_equals_live(rt: Runtime, hapi: Api, clock: Clock) -> None:
    for i in range(3):
        hid = to_sign_off(hapi, rt, clock, f"insp-7/{i}", major=bool(i % 2))
        if i == 0:
            for meta in SIGNERS:
                hz(hapi, meta, hid, sign_off=pb.SignOffHazardCommand())
        if i == 1:
            hz(hapi, SIGNERS[0], hid, reject=pb.RejectHazardCommand(reason="photos unclear"))
    record(hapi, rt, "insp-7/x", district=OTHER, meta=who("crew", [OTHER], "c2"))
    sensor = sensor_event(rt)
    rt.app.handle_sensor_health(sensor_health_facts(sensor), sensor.event_id)
    clock.now += 30 * DAY
    rt.runner.run_until_caught_up()
    assert rt.app.tick_hazards() == 2
    rt.runner.run_until_caught_up()
    names = ("hazards", "major-hazards", "rectification", "overdue-hazards")
    with read_transaction(rt.store.engine) as conn:
        live = dump_read_models(conn)
    live_reports = [rt.app.queries.report(n, now_unix_us=clock.now, districts=None) for n in names]
    assert len(live["wo_rm_hazards"]) == 5 and len(live["wo_rm_hazard_overdue"]) == 2
    rt.runner.rebuild()
    with read_transaction(rt.store.engine) as conn:
        assert dump_read_models(conn) == live
    assert [rt.app.queries.report(n, now_unix_us=clock.now, districts=None) for n in names] == live_reports
    assert not live["wo_rm_skipped_events"]


@pytest.mark.parametrize("name", ["hazards", "major-hazards", "rectification", "overdue-hazards"])
def test_cli_hazard_reports(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/cli.sqlite3"
    runtime = build_runtime(url)
    try:
        message = sensor_event(runtime)
        runtime.app.handle_sensor_health(sensor_health_facts(message), message.event_id)
    finally:
        runtime.stop()
    assert main(["report", name, "--db", url]) == 0
    out = capsys.readouterr().out
    assert out.startswith(name) and "as of global position 1" in out
    if name in ("hazards", "rectification"):
        assert DISTRICT in out
    png = tmp_path / "r.png"
    assert main(["report", "rectification", "--db", url, "--png", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_sign_off_levels_from_config(tmp_path: Path, clock: Clock) -> None:
    config = WorkOrdersConfig.from_env({"PIPEWARDEN_WORKORDERS_SIGN_OFF_LEVELS": "unit_head, district_office"})
    assert config.sign_off_levels == ("unit_head", "district_office")
    assert WorkOrdersConfig.from_env({}).sign_off_levels == DEFAULT_LEVEL_ROLES
    for bad in (",", "a,b,c,d,e", "a,,b"):
        with pytest.raises(ConfigError):
            WorkOrdersConfig.from_env({"PIPEWARDEN_WORKORDERS_SIGN_OFF_LEVELS": bad})
    with pytest.raises(ConfigError):
        WorkOrdersConfig.from_env({"PIPEWARDEN_WORKORDERS_HAZARD_TICK_S": "soon"})
    runtime = build_runtime(f"sqlite:///{tmp_path}/two.sqlite3", clock=clock,
                            sign_off=SignOffPolicy(level_roles=config.sign_off_levels))
    server = GrpcServer(WorkOrdersServicer(runtime.app, VERIFIER, now_us=clock), "127.0.0.1:0").start()
    channel = grpc.insecure_channel(server.address)
    try:
        api = Api(pb_grpc.WorkOrdersServiceStub(channel), channel, server.address)
        hid = to_sign_off(api, runtime, clock, "two/1")
        assert hz(api, who("supervisor", None, "a", "unit_head"), hid,
                  sign_off=pb.SignOffHazardCommand()).hazard.sign_off_levels == 2
        last = hz(api, who("supervisor", None, "b", "district_office"), hid, sign_off=pb.SignOffHazardCommand())
        assert last.hazard.state == "struck_off"
    finally:
        channel.close()
        server.stop(0.5)
        runtime.stop()


def test_retried_sign_off_with_level_0_is_a_no_op(rt: Runtime, hapi: Api, clock: Clock) -> None:
    hid = to_sign_off(hapi, rt, clock)
    request = pb.ExecuteHazardCommandRequest(hazard_id=hid, sign_off=pb.SignOffHazardCommand(level=0))
    request.context.command_id = "sign-next-1"
    first = hapi.stub.ExecuteHazardCommand(request, metadata=SIGNERS[0])
    assert first.result.event_types == ["HazardSignedOff"] and first.hazard.signatures == 1
    # "0 = the next level" must not turn the retry into a signature of level 2 (not the signer's role).
    retry = hapi.stub.ExecuteHazardCommand(request, metadata=SIGNERS[0])
    assert retry.result.event_types == [] and retry.result.version == first.result.version
    assert retry.hazard.signatures == 1 and retry.hazard.next_sign_off_role == DEFAULT_LEVEL_ROLES[1]


def test_retried_sign_off_of_the_last_level_after_strike_off_is_a_no_op(
    rt: Runtime, hapi: Api, clock: Clock
) -> None:
    hid = to_sign_off(hapi, rt, clock)
    for meta in SIGNERS[:3]:
        hz(hapi, meta, hid, sign_off=pb.SignOffHazardCommand())
    request = pb.ExecuteHazardCommandRequest(hazard_id=hid, sign_off=pb.SignOffHazardCommand(level=4))
    request.context.command_id = "sign-last"
    first = hapi.stub.ExecuteHazardCommand(request, metadata=SIGNERS[3])
    assert first.result.event_types == ["HazardSignedOff", "HazardStruckOff"]
    # The reply was lost; the console retries, by number and as "the next level".
    for level in (4, 0):
        request.sign_off.level = level
        retry = hapi.stub.ExecuteHazardCommand(request, metadata=SIGNERS[3])
        assert retry.result.event_types == [] and retry.result.version == first.result.version
        assert retry.hazard.state == "struck_off" and retry.hazard.signatures == 4
