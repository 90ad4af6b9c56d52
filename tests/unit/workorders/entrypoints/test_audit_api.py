"""The audit trail through the real gRPC server (SQLite): what is recorded, who may read it, garbage refused."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
from services.eventstore import OutboxRelay, RecordingPublisher, read_transaction
from services.workorders.adapters.alarms import alarm_facts
from services.workorders.adapters.outbox_envelope import encode_event_envelope
from services.workorders.bootstrap import build_runtime
from services.workorders.domain.audit import is_audit_stream
from services.workorders.domain.workorder import work_order_id_for_alarm
from services.workorders.entrypoints.grpc_api import SERVICE_NAME, GrpcServer, WorkOrdersServicer
from services.workorders.entrypoints.runtime import Runtime
from tests.support.workorders_api import VERIFIER, alarm, auth, token

DISTRICT = "Dongsheng"
OTHER = "Kangbashi"
Meta = list[tuple[str, str]]


@dataclass
class Served:
    runtime: Runtime
    stub: pb_grpc.WorkOrdersServiceStub
    channel: grpc.Channel


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    runtime = build_runtime(f"sqlite:///{tmp_path_factory.mktemp('audit')}/workorders.sqlite3")
    server = GrpcServer(WorkOrdersServicer(runtime.app, VERIFIER, heartbeat_s=0.2), "127.0.0.1:0").start()
    channel = grpc.insecure_channel(server.address)
    try:
        yield Served(runtime, pb_grpc.WorkOrdersServiceStub(channel), channel)
    finally:
        channel.close()
        server.stop(0.5)
        runtime.stop()


def _open(runtime: Runtime, alarm_id: str, district: str = DISTRICT) -> str:
    segment = next(s.segment_id for s in runtime.network.segments.values() if s.district == district)
    runtime.app.handle_alarm(alarm_facts(alarm(alarm_id, segment, district)), f"{alarm_id}/0")
    runtime.runner.run_until_caught_up()
    return work_order_id_for_alarm(alarm_id)


def _refused(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def _audit(served: Served, meta: Meta, **request: object) -> list[pb.AuditRecord]:
    records: list[pb.AuditRecord] = []
    token_ = ""
    while True:
        reply = served.stub.ListAuditRecords(
            pb.ListAuditRecordsRequest(page_token=token_, **request),  # type: ignore[arg-type]
            metadata=meta,
        )
        records += reply.records
        token_ = reply.next_page_token
        if not token_:
            return records


def _regulator(subject: str = "reg", districts: tuple[str, ...] = ("*",)) -> Meta:
    return auth(token("regulator", list(districts), subject=subject))


def test_every_kind_of_attempt_is_recorded_with_who_what_where_and_why(served: Served) -> None:
    stub = served.stub
    order_id = _open(served.runtime, "AUD-1")
    ana = auth(token("dispatcher", [DISTRICT], subject="ana"))
    dispatch = pb.ExecuteWorkOrderCommandRequest(work_order_id=order_id, dispatch=pb.DispatchCommand(crew_id="c-1"))
    stub.ExecuteWorkOrderCommand(dispatch, metadata=ana)
    # Refused by role, out of district, unauthenticated, garbage, bytes that are no request at all.
    regrade = pb.ExecuteWorkOrderCommandRequest(work_order_id=order_id, regrade=pb.RegradeCommand(grade=1, reason="r"))
    _refused(lambda: stub.ExecuteWorkOrderCommand(regrade, metadata=auth(token("crew", [DISTRICT], subject="carl"))))
    cancel = pb.ExecuteWorkOrderCommandRequest(work_order_id=order_id, cancel=pb.CancelCommand(reason="no"))
    _refused(lambda: stub.ExecuteWorkOrderCommand(cancel, metadata=auth(token("dispatcher", [OTHER], subject="bo"))))
    _refused(lambda: stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=auth("not-a-token")))
    bad = pb.ExecuteWorkOrderCommandRequest(work_order_id=order_id, hold=pb.HoldCommand(reason="nul\x00"))
    _refused(lambda: stub.ExecuteWorkOrderCommand(bad, metadata=ana))
    raw = served.channel.unary_unary(f"/{SERVICE_NAME}/ExecuteHazardCommand")
    _refused(lambda: raw(b"\xff\xff\xff garbage", metadata=ana))
    stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=ana)  # a dispatcher's read: not audited
    denied = _refused(lambda: stub.ListAuditRecords(pb.ListAuditRecordsRequest(), metadata=ana))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED and "ListAuditRecords" in (denied.details() or "")

    records = _audit(served, _regulator())
    by_subject = {(r.subject, r.action): r for r in records}
    ok = by_subject[("ana", "work_order.dispatch")]
    assert (ok.outcome, ok.role, list(ok.token_districts), ok.target, ok.district) == (
        "ok",
        "dispatcher",
        [DISTRICT],
        order_id,
        DISTRICT,
    )
    assert ok.peer.startswith(("ipv4:127.0.0.1:", "ipv6:")) and ok.reason == ""
    assert time.time() * 1e6 - 60e6 < ok.at_unix_us <= time.time() * 1e6
    role = by_subject[("carl", "work_order.regrade")]
    assert (role.outcome, role.role, role.district) == ("permission_denied", "crew", DISTRICT)
    assert "may not regrade" in role.reason
    district = by_subject[("bo", "work_order.cancel")]
    assert (district.outcome, list(district.token_districts), district.district) == (
        "permission_denied",
        [OTHER],
        DISTRICT,
    )
    anonymous = by_subject[("", "ListWorkOrders")]
    assert (anonymous.outcome, anonymous.role, list(anonymous.token_districts)) == ("unauthenticated", "", [])
    garbage = by_subject[("ana", "work_order.hold")]
    assert garbage.outcome == "invalid_argument" and "hold.reason" in garbage.reason
    undecodable = by_subject[("ana", "ExecuteHazardCommand")]
    assert undecodable.outcome == "invalid_argument"
    assert by_subject[("ana", "ListAuditRecords")].outcome == "permission_denied"
    assert ("ana", "ListWorkOrders") not in by_subject
    # The regulator's own read is audited too (seen by the next read).
    again = _audit(served, _regulator(), subjects=["reg"])
    assert [(r.action, r.outcome) for r in again][:1] == [("ListAuditRecords", "ok")]


def test_the_trail_is_filtered_by_subject_district_outcome_and_time(served: Served) -> None:
    order_id = _open(served.runtime, "AUD-2", OTHER)
    zed = auth(token("crew", [OTHER], subject="zed"))
    regrade = pb.ExecuteWorkOrderCommandRequest(work_order_id=order_id, regrade=pb.RegradeCommand(grade=1, reason="r"))
    _refused(lambda: served.stub.ExecuteWorkOrderCommand(regrade, metadata=zed))
    ack = pb.ExecuteWorkOrderCommandRequest(work_order_id=order_id, acknowledge=pb.AcknowledgeCommand())
    _refused(lambda: served.stub.ExecuteWorkOrderCommand(ack, metadata=zed))  # not dispatched yet
    mine = _audit(served, _regulator(), subjects=["zed"])
    assert [(r.action, r.outcome) for r in mine] == [
        ("work_order.regrade", "permission_denied"),
        ("work_order.acknowledge", "failed_precondition"),
    ]
    assert [r.action for r in _audit(served, _regulator(), subjects=["zed"], outcomes=["failed_precondition"])] == [
        "work_order.acknowledge"
    ]
    assert len(_audit(served, _regulator(), subjects=["zed"], outcomes=["refused"])) == 2
    assert _audit(served, _regulator(), subjects=["zed"], outcomes=["ok"]) == []
    assert {r.district for r in _audit(served, _regulator(), districts=[OTHER]) if r.district} == {OTHER}
    later = int(time.time() * 1e6) + 1_000_000
    assert _audit(served, _regulator(), subjects=["zed"], since_unix_us=later, until_unix_us=later + 10**6) == []


def test_a_regulator_reads_the_trail_of_their_districts_only(served: Served) -> None:
    order_id = _open(served.runtime, "AUD-3", OTHER)
    cancel = pb.ExecuteWorkOrderCommandRequest(work_order_id=order_id, cancel=pb.CancelCommand(reason="no"))
    _refused(lambda: served.stub.ExecuteWorkOrderCommand(cancel, metadata=auth(token("crew", [OTHER], subject="yan"))))
    local = _regulator("reg-d", (DISTRICT,))
    assert all(r.district in ("", DISTRICT) for r in _audit(served, local))
    assert not [r for r in _audit(served, local) if r.subject == "yan"]
    assert [r.subject for r in _audit(served, _regulator("reg-o", (OTHER,)), subjects=["yan"])] == ["yan"]
    # Nor anonymous callers' records: they name no district.
    assert not [r for r in _audit(served, local) if not r.subject]
    foreign = _refused(lambda: _audit(served, local, districts=[OTHER]))
    assert foreign.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("request_", "names"),
    [
        (pb.ListAuditRecordsRequest(since_unix_us=-1), "since_unix_us"),
        (pb.ListAuditRecordsRequest(until_unix_us=-5), "until_unix_us"),
        (pb.ListAuditRecordsRequest(since_unix_us=2_000_000, until_unix_us=1_000_000), "since_unix_us"),
        (pb.ListAuditRecordsRequest(since_unix_us=1, until_unix_us=10**18), "until_unix_us"),
        (pb.ListAuditRecordsRequest(since_unix_us=1, until_unix_us=10**17), "days"),
        (pb.ListAuditRecordsRequest(since_unix_us=2**63 - 2, until_unix_us=2**63 - 1), "since_unix_us"),
        (pb.ListAuditRecordsRequest(outcomes=["maybe"]), "outcome"),
        (pb.ListAuditRecordsRequest(page_size=5000), "page_size"),
        (pb.ListAuditRecordsRequest(page_token="garbage"), "page_token"),
        (pb.ListAuditRecordsRequest(page_token="1:2"), "page_token"),
        (pb.ListAuditRecordsRequest(page_token="9" * 100), "page_token"),
        (pb.ListAuditRecordsRequest(subjects=["a\x00b"]), "subjects"),
        (pb.ListAuditRecordsRequest(subjects=["x" * 500]), "subjects"),
        (pb.ListAuditRecordsRequest(districts=[""]), "districts"),
    ],
    ids=[
        "negative-since",
        "negative-until",
        "since-after-until",
        "far-future",
        "range-too-long",
        "int64-max",
        "unknown-outcome",
        "page-too-big",
        "token-garbage",
        "token-other-range",
        "token-long",
        "control-char",
        "long-subject",
        "empty-district",
    ],
)
def test_garbage_to_the_audit_query_is_invalid_argument(
    served: Served, request_: pb.ListAuditRecordsRequest, names: str
) -> None:
    error = _refused(lambda: served.stub.ListAuditRecords(request_, metadata=_regulator()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert names in (error.details() or "")


def test_undecodable_bytes_to_the_audit_query_are_invalid_argument(served: Served) -> None:
    raw = served.channel.unary_unary(f"/{SERVICE_NAME}/ListAuditRecords")
    error = _refused(lambda: raw(b"\x0a\xff\xff\xff\xff", metadata=_regulator()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_trail_stays_out_of_watch_and_the_read_models(served: Served) -> None:
    _refused(lambda: served.stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=auth("garbage")))
    served.runtime.app.audit.flush()
    store = served.runtime.store
    assert any(is_audit_stream(e.stream_id) for e in store.read_all(limit=100_000))
    served.runtime.runner.run_until_caught_up()
    with read_transaction(store.engine) as conn:
        skipped = conn.execute(sa.text("select count(*) from wo_rm_skipped_events")).scalar_one()
    assert skipped == 0
    everywhere = auth(token("supervisor", ["*"], subject="screen"))
    stream = served.stub.Watch(pb.WatchRequest(after_position=0), metadata=everywhere, timeout=10)
    seen = []
    for item in stream:
        if item.heartbeat:
            break
        seen.append(item.stream_id)
    stream.cancel()
    assert seen and not [s for s in seen if is_audit_stream(s)]
    # Nor is it published on workorders.events.v1: audit streams get no outbox rows.
    publisher = RecordingPublisher()
    OutboxRelay(store, publisher, encode=encode_event_envelope).run_until_empty()
    published = {m.event.stream_id for m in publisher.messages}
    assert published and not [s for s in published if is_audit_stream(s)]


def test_a_flood_of_unauthenticated_calls_is_capped_and_counted(served: Served) -> None:
    audit = served.runtime.app.audit
    audit.flush(final=True)  # start from a fresh window
    cap, audit.per_caller_per_window = audit.per_caller_per_window, 5
    try:
        before = audit.stats.dropped
        for _ in range(40):
            _refused(lambda: served.stub.GetReport(pb.GetReportRequest(name="hazards"), metadata=auth("flood")))
        assert audit.stats.dropped - before == 35
        audit.flush(final=True)  # the window's summary
    finally:
        audit.per_caller_per_window = cap
    records = [r for r in _audit(served, _regulator()) if r.action == "GetReport" and not r.subject]
    kept = [r for r in records if r.outcome == "unauthenticated"]
    summaries = [r for r in records if r.outcome == "dropped"]
    assert len(kept) == 5 and sum(r.dropped for r in summaries) == 35
    assert "35 records of this caller were not kept" in summaries[-1].reason


def test_stopping_the_server_flushes_what_was_recorded(tmp_path: Path) -> None:
    runtime = build_runtime(f"sqlite:///{tmp_path}/stop.sqlite3")
    servicer = WorkOrdersServicer(runtime.app, VERIFIER, audit_flush_s=3600.0)  # no periodic flush
    server = GrpcServer(servicer, "127.0.0.1:0").start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = pb_grpc.WorkOrdersServiceStub(channel)
            _refused(lambda: stub.ListHazards(pb.ListHazardsRequest(), metadata=auth("late")))
        assert runtime.app.audit.pending == 1
    finally:
        server.stop(0.5)
    stored = [e for e in runtime.store.read_all(limit=1000) if is_audit_stream(e.stream_id)]
    runtime.stop()
    assert [e.payload["outcome"] for e in stored] == ["unauthenticated"]
