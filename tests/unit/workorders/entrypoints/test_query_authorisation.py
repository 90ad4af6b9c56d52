"""Every query of the API x every role, in and out of the caller's district (SQLite, in-process gRPC).

The table comes from ``auth.QUERY_PERMISSIONS`` (checked to name every query method of the service, so a
new query cannot go untested) and ``CallerRole``. For each (query, role):
- not allowed: PERMISSION_DENIED;
- allowed: in the caller's district it answers, confined to that district (the data holds both
  districts, and an all-district regulator sees both, so confinement is not an empty answer);
  out of it: asking for the other district is PERMISSION_DENIED (GetWorkOrder: NOT_FOUND, so other
  districts' ids are not revealed; GetReport has no district argument: every report is checked to hold
  nothing of the other district).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
from services.workorders.adapters.alarms import alarm_facts
from services.workorders.adapters.queries import REPORTS
from services.workorders.bootstrap import build_runtime
from services.workorders.domain import commands as c
from services.workorders.domain.workorder import work_order_id_for_alarm
from services.workorders.entrypoints.grpc_api import SERVICE, GrpcServer, WorkOrdersServicer
from services.workorders.entrypoints.runtime import Runtime
from services.workorders.service_layer.auth import QUERY_PERMISSIONS, CallerRole, Principal
from tests.support.workorders_api import VERIFIER, alarm, auth, token

DISTRICT = "Dongsheng"
OTHER = "Kangbashi"
Stub = pb_grpc.WorkOrdersServiceStub


@dataclass
class World:
    runtime: Runtime
    stub: Stub
    orders: dict[str, str]  # district -> a work order id there


def _segment(runtime: Runtime, district: str) -> str:
    return next(s.segment_id for s in runtime.network.segments.values() if s.district == district)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    runtime = build_runtime(f"sqlite:///{tmp_path_factory.mktemp('queries')}/workorders.sqlite3")
    boss = Principal("setup", CallerRole.SUPERVISOR, frozenset({"*"}))
    orders = {}
    for district in (DISTRICT, OTHER):
        segment = _segment(runtime, district)
        alarm_id = f"Q-{district}"
        runtime.app.handle_alarm(alarm_facts(alarm(alarm_id, segment, district)), f"{alarm_id}/0")
        orders[district] = work_order_id_for_alarm(alarm_id)
        runtime.app.execute(boss, c.RecordHazard(district=district, location="x", description="smell", major=True))
        runtime.app.execute(boss, c.FlagProblemPipeline(segment_id=segment, reason="material"))
        runtime.app.execute(
            boss, c.SetReplacementTarget(district=district, pipe_class="municipal", year=2026, target_km=3)
        )
    runtime.runner.run_until_caught_up()
    server = GrpcServer(WorkOrdersServicer(runtime.app, VERIFIER, heartbeat_s=0.2), "127.0.0.1:0").start()
    channel = grpc.insecure_channel(server.address)
    try:
        yield World(runtime, pb_grpc.WorkOrdersServiceStub(channel), orders)
    finally:
        channel.close()
        server.stop(0.5)
        runtime.stop()


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()  # type: ignore[no-any-return]


def _watch(stub: Stub, meta: list[tuple[str, str]], districts: list[str]) -> list[pb.WatchResponse]:
    """What a Watch from 0 delivers until it is idle (its first heartbeat)."""
    stream = stub.Watch(pb.WatchRequest(after_position=0, districts=districts), metadata=meta, timeout=10)
    seen = []
    for item in stream:
        if item.heartbeat:
            break
        seen.append(item)
    stream.cancel()
    return seen


# Each probe: (the world, the caller's metadata, the districts asked for) -> the districts the answer holds.
def _list_work_orders(w: World, meta: list[tuple[str, str]], ask: list[str]) -> set[str]:
    return {
        o.district for o in w.stub.ListWorkOrders(pb.ListWorkOrdersRequest(districts=ask), metadata=meta).work_orders
    }


def _get_work_order(w: World, meta: list[tuple[str, str]], ask: list[str]) -> set[str]:
    order_id = w.orders[ask[0] if ask else DISTRICT]
    return {w.stub.GetWorkOrder(pb.GetWorkOrderRequest(work_order_id=order_id), metadata=meta).work_order.district}


def _list_hazards(w: World, meta: list[tuple[str, str]], ask: list[str]) -> set[str]:
    return {h.district for h in w.stub.ListHazards(pb.ListHazardsRequest(districts=ask), metadata=meta).hazards}


def _get_report(w: World, meta: list[tuple[str, str]], ask: list[str]) -> set[str]:
    seen: set[str] = set()
    for name in REPORTS:
        reply = w.stub.GetReport(pb.GetReportRequest(name=name), metadata=meta)
        cells = {cell for row in reply.table.rows for cell in row.cells}
        seen |= cells & {DISTRICT, OTHER}
    return seen


def _watch_probe(w: World, meta: list[tuple[str, str]], ask: list[str]) -> set[str]:
    return {item.district for item in _watch(w.stub, meta, ask)}


def _list_audit(w: World, meta: list[tuple[str, str]], ask: list[str]) -> set[str]:
    reply = w.stub.ListAuditRecords(pb.ListAuditRecordsRequest(districts=ask), metadata=meta)
    return {r.district for r in reply.records if r.district}


PROBES: dict[str, Callable[[World, list[tuple[str, str]], list[str]], set[str]]] = {
    "ListWorkOrders": _list_work_orders,
    "GetWorkOrder": _get_work_order,
    "ListHazards": _list_hazards,
    "GetReport": _get_report,
    "Watch": _watch_probe,
    "ListAuditRecords": _list_audit,
}
QUERIES = sorted(QUERY_PERMISSIONS)
TABLE = [(query, role) for query in QUERIES for role in CallerRole]


def test_the_query_table_names_every_query_method_of_the_service() -> None:
    methods = {m.name for m in SERVICE.methods if not m.name.startswith("Execute")}
    assert set(QUERY_PERMISSIONS) == methods == set(PROBES)


def _refusals_in_both_districts(world: World) -> None:
    """Refused attempts on orders of both districts, so that the audit trail holds records of each."""
    refused = auth(token("dispatcher", [OTHER], subject="q-refused"))
    for district in (DISTRICT, OTHER):
        request = pb.ExecuteWorkOrderCommandRequest(
            work_order_id=world.orders[district], regrade=pb.RegradeCommand(grade=1, reason="x")
        )
        _code(functools.partial(world.stub.ExecuteWorkOrderCommand, request, metadata=refused))


@pytest.mark.parametrize(("query", "role"), TABLE, ids=[f"{q}:{r.value}" for q, r in TABLE])
def test_every_query_for_every_role_in_and_out_of_district(world: World, query: str, role: CallerRole) -> None:
    probe = PROBES[query]
    meta = auth(token(role.value, [DISTRICT], subject=f"{role.value}-q"))
    if role not in QUERY_PERMISSIONS[query]:
        assert _code(lambda: probe(world, meta, [])) == grpc.StatusCode.PERMISSION_DENIED
        return
    if query == "ListAuditRecords":
        _refusals_in_both_districts(world)
    everywhere = auth(token(role.value, ["*"], subject=f"{role.value}-all"))
    if query == "GetWorkOrder":
        assert probe(world, meta, [DISTRICT]) == {DISTRICT}
        assert probe(world, everywhere, [OTHER]) == {OTHER}
        # Another district's order reads as missing: its id is not revealed.
        assert _code(lambda: probe(world, meta, [OTHER])) == grpc.StatusCode.NOT_FOUND
        return
    assert probe(world, meta, []) == {DISTRICT}
    # An all-district caller of the same role sees both: the data is there, confinement is real.
    assert probe(world, everywhere, []) >= {DISTRICT, OTHER}
    if query == "GetReport":
        return  # no district argument: its confinement is the in-district answer above, for every report
    assert probe(world, meta, [DISTRICT]) == {DISTRICT}
    assert _code(lambda: probe(world, meta, [OTHER])) == grpc.StatusCode.PERMISSION_DENIED
