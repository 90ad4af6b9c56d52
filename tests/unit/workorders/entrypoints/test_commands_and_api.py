"""Service layer and gRPC API of work orders on a SQLite event store (no Kafka)."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.eventstore import read_transaction
from services.workorders.adapters.alarms import alarm_facts
from services.workorders.adapters.read_models import dump_read_models
from services.workorders.domain import commands
from services.workorders.domain.workorder import work_order_id_for_alarm
from services.workorders.entrypoints.runtime import Runtime
from tests.support.tokens import foreign_token, signed
from tests.support.workorders_api import Api, alarm, auth, token

DISTRICT = "Dongsheng"
OTHER = "Kangbashi"


def _segment(runtime: Runtime, district: str = DISTRICT) -> str:
    return next(s.segment_id for s in runtime.network.segments.values() if s.district == district)


def _open(runtime: Runtime, alarm_id: str = "A-1", district: str = DISTRICT, lel: float = 0.0) -> str:
    message = alarm(alarm_id, _segment(runtime, district), district, lel=lel)
    runtime.app.handle_alarm(alarm_facts(message), f"{alarm_id}/0")
    runtime.runner.run_until_caught_up()
    return work_order_id_for_alarm(alarm_id)


def _command(order_id: str, version: int | None = None, **command: object) -> pb.ExecuteWorkOrderCommandRequest:
    request = pb.ExecuteWorkOrderCommandRequest(work_order_id=order_id, **command)  # type: ignore[arg-type]
    if version is not None:
        request.context.expected_version = version
    return request


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()  # type: ignore[operator]
    return info.value.code()  # type: ignore[attr-defined, no-any-return]


# -- alarms -------------------------------------------------------------------------------------------


def test_alarm_delivered_twice_gives_one_work_order(runtime: Runtime) -> None:
    facts = alarm_facts(alarm("A-dup", _segment(runtime), DISTRICT))
    first = runtime.app.handle_alarm(facts, "A-dup/0")
    second = runtime.app.handle_alarm(facts, "A-dup/0")
    assert first.event_types == ("WorkOrderOpened",)
    assert second.event_types == ()
    assert runtime.store.head_position() == 1
    runtime.runner.run_until_caught_up()
    views, _ = runtime.app.queries.list_work_orders(
        __import__("services.workorders.service_layer.views", fromlist=["WorkOrderFilter"]).WorkOrderFilter(),
        now_unix_us=time.time_ns() // 1000,
    )
    assert [v.alarm_id for v in views] == ["A-dup"]


def test_alarm_update_attaches_and_duplicate_update_is_ignored(runtime: Runtime) -> None:
    segment = _segment(runtime)
    runtime.app.handle_alarm(alarm_facts(alarm("A-up", segment, DISTRICT)), "A-up/0")
    update = alarm_facts(alarm("A-up", segment, DISTRICT, sequence=1, lel=90.0))
    assert "AlarmUpdateAttached" in runtime.app.handle_alarm(update, "A-up/1").event_types
    assert runtime.app.handle_alarm(update, "A-up/1").event_types == ()


def test_alarm_on_unknown_segment_is_refused(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="not in the network model"):
        runtime.app.handle_alarm(alarm_facts(alarm("A-x", "NO-SUCH-SEGMENT", DISTRICT)), "A-x/0")


# -- races and versions -------------------------------------------------------------------------------


def test_two_dispatchers_racing_exactly_one_wins(runtime: Runtime, api: Api) -> None:
    order_id = _open(runtime)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def dispatch(crew: str, who: str) -> None:
        meta = auth(token("dispatcher", [DISTRICT], subject=who))
        barrier.wait()
        try:
            results.append(
                api.stub.ExecuteWorkOrderCommand(
                    _command(order_id, 1, dispatch=pb.DispatchCommand(crew_id=crew)), metadata=meta
                )
            )
        except grpc.RpcError as error:
            results.append(error.code())

    threads = [threading.Thread(target=dispatch, args=(f"crew-{i}", f"d{i}")) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [r for r in results if isinstance(r, grpc.StatusCode)]
    wins = [r for r in results if isinstance(r, pb.ExecuteWorkOrderCommandResponse)]
    assert len(wins) == 1 and codes == [grpc.StatusCode.ABORTED]
    assert runtime.store.stream_version(order_id) == 2


def test_racing_without_expected_version_still_one_append_per_version(runtime: Runtime) -> None:
    """Both load version 1; different command ids make different event ids, so the loser is ABORTED."""
    from services.eventstore import ConcurrencyError
    from services.workorders.service_layer.auth import CallerRole, Principal

    order_id = _open(runtime)
    principal = Principal("d", CallerRole.DISPATCHER, frozenset({DISTRICT}))
    repo = runtime.app.work_orders
    order, version = repo.get(order_id)
    runtime.app.execute(principal, commands.Dispatch(order_id, crew_id="c1"))
    from services.workorders.service_layer.repository import CommandMeta

    # A second writer that decided on the stale state must not slip in as a "retry".
    with pytest.raises(ConcurrencyError):
        stale = order.dispatch("c2", actor="d", now_unix_us=time.time_ns() // 1000)
        from services.eventstore import NewEvent
        from services.workorders.service_layer.repository import event_uuid

        runtime.store.append(
            order_id,
            version,
            [NewEvent(e.type, e.to_payload(), event_id=event_uuid(order_id, version + 1, "other")) for e in stale],
        )
    assert CommandMeta.new_command_id() != CommandMeta.new_command_id()


def test_stale_expected_version_is_aborted(runtime: Runtime, api: Api) -> None:
    order_id = _open(runtime)
    meta = auth(token("dispatcher", [DISTRICT]))
    api.stub.ExecuteWorkOrderCommand(_command(order_id, 1, dispatch=pb.DispatchCommand(crew_id="c1")), metadata=meta)
    code = _code(
        lambda: api.stub.ExecuteWorkOrderCommand(
            _command(order_id, 1, acknowledge=pb.AcknowledgeCommand()), metadata=meta
        )
    )
    assert code == grpc.StatusCode.ABORTED


def test_full_lifecycle_over_grpc(runtime: Runtime, api: Api) -> None:
    order_id = _open(runtime)
    dispatcher = auth(token("dispatcher", [DISTRICT]))
    crew = auth(token("crew", [DISTRICT], subject="crew-7"))
    steps = [
        (dispatcher, {"dispatch": pb.DispatchCommand(crew_id="crew-7")}),
        (crew, {"acknowledge": pb.AcknowledgeCommand()}),
        (crew, {"depart": pb.DepartCommand()}),
        (crew, {"arrive": pb.ArriveCommand()}),
        (crew, {"make_safe": pb.MakeSafeCommand(measures="cordoned, valve closed")}),
        (crew, {"repair": pb.RepairCommand(kind="permanent", notes="clamp")}),
        (dispatcher, {"verify": pb.VerifyCommand()}),
        (dispatcher, {"close": pb.CloseCommand(notes="done")}),
    ]
    version = 1
    for meta, command in steps:
        reply = api.stub.ExecuteWorkOrderCommand(_command(order_id, version, **command), metadata=meta)
        version = reply.result.version
    assert reply.work_order.state == "closed"
    got = api.stub.GetWorkOrder(pb.GetWorkOrderRequest(work_order_id=order_id), metadata=dispatcher)
    assert got.work_order.state == "closed" and got.work_order.version == version
    assert got.work_order.arrived_at_unix_us > 0 and got.work_order.crew_id == "crew-7"
    runtime.runner.run_until_caught_up()
    report = api.stub.GetReport(pb.GetReportRequest(name="response-times"), metadata=dispatcher)
    assert report.table.rows and report.table.columns[0] == "district"


# -- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [
        [],
        [("authorization", "Bearer not-a-jwt")],
        [("authorization", "Basic dXNlcjpwYXNz")],
        [("authorization", "Bearer " + token("dispatcher", [DISTRICT], ttl_s=-60))],
        [
            (
                "authorization",
                "Bearer "
                + foreign_token("supervisor", ["*"], "mallory"),
            )
        ],
    ],
    ids=["missing", "garbled", "not-bearer", "expired", "bad-signature"],
)
def test_unauthenticated(api: Api, metadata: list[tuple[str, str]]) -> None:
    code = _code(lambda: api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=metadata))
    assert code == grpc.StatusCode.UNAUTHENTICATED


def test_token_with_unknown_role_is_unauthenticated(api: Api) -> None:
    bad = signed({"sub": "x", "role": "admin"})
    code = _code(lambda: api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=auth(bad)))
    assert code == grpc.StatusCode.UNAUTHENTICATED


def test_permission_denied_by_district_and_role(runtime: Runtime, api: Api) -> None:
    order_id = _open(runtime)
    foreign = auth(token("dispatcher", [OTHER]))
    assert (
        _code(
            lambda: api.stub.ExecuteWorkOrderCommand(
                _command(order_id, 1, dispatch=pb.DispatchCommand(crew_id="c")), metadata=foreign
            )
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        _code(lambda: api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(districts=[DISTRICT]), metadata=foreign))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    # Another district's order is invisible, not merely forbidden.
    assert (
        _code(lambda: api.stub.GetWorkOrder(pb.GetWorkOrderRequest(work_order_id=order_id), metadata=foreign))
        == grpc.StatusCode.NOT_FOUND
    )
    assert api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=foreign).work_orders == []
    regulator = auth(token("regulator", ["*"]))
    assert len(api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=regulator).work_orders) == 1
    assert (
        _code(
            lambda: api.stub.ExecuteWorkOrderCommand(
                _command(order_id, 1, dispatch=pb.DispatchCommand(crew_id="c")), metadata=regulator
            )
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    dispatcher = auth(token("dispatcher", [DISTRICT]))
    assert (
        _code(
            lambda: api.stub.ExecuteWorkOrderCommand(
                _command(order_id, 1, regrade=pb.RegradeCommand(grade=1, reason="smell")), metadata=dispatcher
            )
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    supervisor = auth(token("supervisor", [DISTRICT]))
    reply = api.stub.ExecuteWorkOrderCommand(
        _command(order_id, 1, regrade=pb.RegradeCommand(grade=1, reason="gas in basement")), metadata=supervisor
    )
    assert reply.work_order.grade == 1


def test_invalid_transition_names_state_and_moves(runtime: Runtime, api: Api) -> None:
    order_id = _open(runtime)
    with pytest.raises(grpc.RpcError) as info:
        api.stub.ExecuteWorkOrderCommand(
            _command(order_id, 1, close=pb.CloseCommand()), metadata=auth(token("dispatcher", [DISTRICT]))
        )
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "triaged" in info.value.details() and "dispatch" in info.value.details()


@pytest.mark.parametrize(
    "request_",
    [
        pb.ExecuteWorkOrderCommandRequest(work_order_id="x"),  # no command
        pb.ExecuteWorkOrderCommandRequest(dispatch=pb.DispatchCommand(crew_id="c")),  # no id
        pb.ExecuteWorkOrderCommandRequest(work_order_id="bad\x00id", dispatch=pb.DispatchCommand(crew_id="c")),
        pb.ExecuteWorkOrderCommandRequest(work_order_id="WO", repair=pb.RepairCommand(kind="duct-tape")),
        pb.ExecuteWorkOrderCommandRequest(work_order_id="WO", regrade=pb.RegradeCommand(grade=7, reason="r")),
    ],
)
def test_garbage_commands_are_invalid_argument(runtime: Runtime, api: Api, request_: object) -> None:
    supervisor = auth(token("supervisor", ["*"]))
    code = _code(lambda: api.stub.ExecuteWorkOrderCommand(request_, metadata=supervisor))
    assert code in (grpc.StatusCode.INVALID_ARGUMENT,)


def test_garbage_queries_are_invalid_argument(api: Api) -> None:
    meta = auth(token("dispatcher", [DISTRICT]))
    for request in (
        pb.ListWorkOrdersRequest(page_token="zz"),
        pb.ListWorkOrdersRequest(page_size=100000),
        pb.ListWorkOrdersRequest(grades=[9]),
        pb.ListWorkOrdersRequest(min_age_s=float("nan")),
        pb.ListWorkOrdersRequest(max_age_s=-1),
        pb.ListWorkOrdersRequest(min_age_s=1e300),  # its microseconds overflow a 64-bit integer (found by make fuzz)
        pb.ListWorkOrdersRequest(max_age_s=float("inf")),
    ):
        assert _code(lambda r=request: api.stub.ListWorkOrders(r, metadata=meta)) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: api.stub.GetReport(pb.GetReportRequest(name="nope"), metadata=meta)) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    raw = api.channel.unary_unary("/pipewarden.workorders.v1.WorkOrdersService/ListWorkOrders")
    with pytest.raises(grpc.RpcError) as info:
        raw(b"\xff\xff\xff garbage", metadata=meta)
    assert info.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)


def test_unknown_work_order_is_not_found(api: Api) -> None:
    meta = auth(token("dispatcher", [DISTRICT]))
    assert (
        _code(lambda: api.stub.GetWorkOrder(pb.GetWorkOrderRequest(work_order_id="workorder-none"), metadata=meta))
        == grpc.StatusCode.NOT_FOUND
    )


# -- queries, read models, Watch ----------------------------------------------------------------------


def test_list_filters_by_district_grade_state_and_age(runtime: Runtime, api: Api) -> None:
    _open(runtime, "A-1", DISTRICT)
    _open(runtime, "A-2", OTHER)
    meta = auth(token("supervisor", ["*"]))
    assert len(api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=meta).work_orders) == 2
    only = api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(districts=[OTHER]), metadata=meta).work_orders
    assert [w.district for w in only] == [OTHER]
    assert api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(states=["closed"]), metadata=meta).work_orders == []
    assert len(api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(states=["triaged"]), metadata=meta).work_orders) == 2
    assert api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(min_age_s=3600), metadata=meta).work_orders == []
    assert len(api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(max_age_s=3600), metadata=meta).work_orders) == 2
    page = api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(page_size=1), metadata=meta)
    assert len(page.work_orders) == 1 and page.next_page_token == "1"
    grade = page.work_orders[0].grade
    assert api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(grades=[grade]), metadata=meta).work_orders


def test_projection_rebuild_equals_live_read_model(runtime: Runtime) -> None:
    from services.workorders.service_layer.auth import CallerRole, Principal

    dispatcher = Principal("d", CallerRole.DISPATCHER, frozenset({"*"}))
    for i in range(12):
        order_id = _open(runtime, f"A-{i}", DISTRICT if i % 2 else OTHER, lel=90.0 if i % 2 else 0.0)
        if i % 3 == 0:
            runtime.app.execute(dispatcher, commands.Dispatch(order_id, crew_id=f"c{i}"))
        if i % 4 == 0:
            runtime.app.execute(dispatcher, commands.Cancel(order_id, reason="false alarm"))
    # SLA breaches far in the future, so the breach table has rows too.
    runtime.app.tick_sla(time.time_ns() // 1000 + 10 * 3600 * 1_000_000)
    runtime.runner.run_until_caught_up()
    with read_transaction(runtime.store.engine) as conn:
        live = dump_read_models(conn)
    assert live["wo_rm_work_orders"] and live["wo_rm_sla_breaches"]
    runtime.runner.rebuild()
    with read_transaction(runtime.store.engine) as conn:
        rebuilt = dump_read_models(conn)
    assert rebuilt == live
    assert runtime.runner.checkpoint() == runtime.store.head_position()


def test_sla_ticker_escalates_once_with_injected_clock(runtime: Runtime) -> None:
    # Raised just now: response deadlines run from the alarm's own time (an old one is late at once).
    message = alarm("A-1", _segment(runtime), DISTRICT, lel=90.0, at_unix_us=time.time_ns() // 1000)
    runtime.app.handle_alarm(alarm_facts(message), "A-1/0")
    runtime.runner.run_until_caught_up()
    order_id = work_order_id_for_alarm("A-1")
    order, _ = runtime.app.work_orders.get(order_id)
    received = order.received_at_unix_us or 0
    assert runtime.app.tick_sla(received + 1) == 0
    late = received + 30 * 24 * 3600 * 1_000_000
    first = runtime.app.tick_sla(late)
    assert first >= 1
    runtime.runner.run_until_caught_up()
    assert runtime.app.tick_sla(late) == 0
    order, _ = runtime.app.work_orders.get(order_id)
    assert len(order.escalations) == first


def test_watch_streams_and_resumes_from_a_position(runtime: Runtime, api: Api) -> None:
    meta = auth(token("dispatcher", [DISTRICT]))
    _open(runtime, "W-1", DISTRICT)
    _open(runtime, "W-2", OTHER)  # not visible to this dispatcher
    _open(runtime, "W-3", DISTRICT)
    stream = api.stub.Watch(pb.WatchRequest(after_position=0), metadata=meta)
    first = next(stream)
    second = next(stream)
    stream.cancel()
    assert first.district == DISTRICT and second.district == DISTRICT
    assert (first.position, second.position) == (1, 3)
    assert first.work_order.alarm_id == "W-1" and first.event_type == "WorkOrderOpened"
    # Reconnect from the last position seen: only what came later, including live appends.
    resumed = api.stub.Watch(pb.WatchRequest(after_position=first.position), metadata=meta)
    assert next(resumed).position == 3
    threading.Timer(0.2, lambda: _open(runtime, "W-4", DISTRICT)).start()
    live = next(resumed)
    resumed.cancel()
    assert live.position == 4 and live.work_order.alarm_id == "W-4"


def test_watch_refuses_foreign_district(api: Api) -> None:
    meta = auth(token("dispatcher", [DISTRICT]))
    stream = api.stub.Watch(pb.WatchRequest(districts=[OTHER]), metadata=meta)
    assert _code(lambda: next(stream)) == grpc.StatusCode.PERMISSION_DENIED


def test_a_more_severe_update_reopens_a_cancelled_order_in_the_read_model(runtime: Runtime, api: Api) -> None:
    from services.workorders.service_layer.auth import CallerRole, Principal

    dispatcher = Principal("d", CallerRole.DISPATCHER, frozenset({"*"}))
    order_id = _open(runtime, "R-1")
    runtime.app.execute(dispatcher, commands.Cancel(order_id, reason="false alarm"))
    meta = auth(token("dispatcher", [DISTRICT]))
    runtime.runner.run_until_caught_up()
    listed = api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(states=["cancelled"]), metadata=meta).work_orders
    assert [w.work_order_id for w in listed] == [order_id]
    # The same incident, now 90 % LEL in a confined space: grade 1, a dispatcher must see it again.
    update = alarm_facts(alarm("R-1", _segment(runtime), DISTRICT, sequence=1, lel=90.0))
    outcome = runtime.app.handle_alarm(update, "R-1/1")
    assert outcome.event_types == ("AlarmUpdateAttached", "WorkOrderReopened")
    runtime.runner.run_until_caught_up()
    listed = api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(open_only=True), metadata=meta).work_orders
    assert [(w.work_order_id, w.state, w.grade) for w in listed] == [(order_id, "triaged", 1)]
    with read_transaction(runtime.store.engine) as conn:
        live = dump_read_models(conn)
    row = next(r for r in live["wo_rm_work_orders"] if r["work_order_id"] == order_id)
    assert row["is_open"] and row["cancelled_at_unix_us"] is None and row["state"] == "triaged"
    assert live["wo_rm_skipped_events"] == []
    # Delivered again: nothing new.
    assert runtime.app.handle_alarm(update, "R-1/1").event_types == ()
    runtime.runner.rebuild()
    with read_transaction(runtime.store.engine) as conn:
        assert dump_read_models(conn) == live


def test_list_work_orders_refuses_unknown_states(api: Api) -> None:
    meta = auth(token("dispatcher", [DISTRICT]))
    code = _code(lambda: api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(states=["open"]), metadata=meta))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as info:
        api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(states=["triaged", "Closed"]), metadata=meta)
    assert "unknown work order state(s) ['Closed']" in info.value.details()  # type: ignore[attr-defined]
    assert "triaged" in info.value.details()  # type: ignore[attr-defined]


def test_response_times_report_runs_from_the_alarm_time_like_the_sla(runtime: Runtime, api: Api) -> None:
    from services.workorders.service_layer.auth import CallerRole, Principal

    dispatcher = Principal("d", CallerRole.DISPATCHER, frozenset({"*"}))
    crew = Principal("crew-7", CallerRole.CREW, frozenset({"*"}))
    raised = time.time_ns() // 1000 - 3600 * 1_000_000  # the consumer lagged an hour behind
    message = alarm("RT-1", _segment(runtime), DISTRICT, at_unix_us=raised)
    order_id = runtime.app.handle_alarm(alarm_facts(message), "RT-1/0").stream_id
    runtime.app.execute(dispatcher, commands.Dispatch(order_id, crew_id="crew-7"))
    for command in (commands.Acknowledge, commands.Depart, commands.Arrive):
        runtime.app.execute(crew, command(order_id))
    runtime.runner.run_until_caught_up()
    table, _ = runtime.app.report(dispatcher, "response-times", now_unix_us=time.time_ns() // 1000)
    row = dict(zip(table.columns, table.rows[0], strict=True))
    assert row["arrived"] == 1 and 59.0 < float(row["mean_to_arrive_min"]) < 61.0  # type: ignore[arg-type]
