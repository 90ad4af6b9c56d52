"""The workorders gRPC server under many open ``Watch`` streams, per-caller stream limits, and garbage.

Through the real stack: the server on a real port, a real event store (SQLite, and PostgreSQL for the
stream load), an asyncio client so that hundreds of streams cost the test little. Deadlines are generous:
these tests fail when calls hang, not when the machine is slow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
from services.workorders.adapters.alarms import alarm_facts
from services.workorders.bootstrap import build_runtime
from services.workorders.domain.workorder import work_order_id_for_alarm
from services.workorders.entrypoints.grpc_api import GrpcServer, WorkOrdersServicer
from services.workorders.entrypoints.runtime import Runtime
from tests.support.workorders_api import VERIFIER, Api, alarm, auth, grpc_api, token

pytestmark = pytest.mark.integration

DISTRICT = "Dongsheng"
SERVICE = "/pipewarden.workorders.v1.WorkOrdersService/"
# More than the 32 threads the synchronous server had; kept cheap by the asyncio client.
STREAMS = 300
CALLERS = 6  # STREAMS / CALLERS stays under the default per-caller limit (100)
DEFAULT_LIMIT = 100  # PIPEWARDEN_WORKORDERS_MAX_STREAMS_PER_CALLER's documented default
DEADLINE_S = 5.0
SERVED_WITHIN_S = 30.0


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_schema_url")
    else:
        url = f"sqlite:///{tmp_path}/streams.sqlite3"
    rt = build_runtime(url)
    rt.start_projection_loop(0.02)
    try:
        yield rt
    finally:
        rt.stop()


@pytest.fixture
def sqlite_runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = build_runtime(f"sqlite:///{tmp_path}/garbage.sqlite3")
    try:
        yield rt
    finally:
        rt.stop()


def _open_order(runtime: Runtime, alarm_id: str) -> str:
    segment = next(s for s in runtime.network.segments.values() if s.district == DISTRICT)
    runtime.app.handle_alarm(alarm_facts(alarm(alarm_id, segment.segment_id, DISTRICT)), f"{alarm_id}/0")
    runtime.runner.run_until_caught_up()
    return work_order_id_for_alarm(alarm_id)


def _meta(subject: str, role: str = "dispatcher") -> list[tuple[str, str]]:
    return auth(token(role, [DISTRICT], subject=subject))


async def _first(call: Any, timeout_s: float) -> pb.WatchResponse | grpc.StatusCode | None:
    """The first message of a stream, its status code when it ended, or None when nothing came in time."""
    try:
        message = await asyncio.wait_for(call.read(), timeout_s)
    except TimeoutError:
        return None
    except grpc.aio.AioRpcError as error:
        return error.code()
    if message is grpc.aio.EOF:
        return await call.code()  # type: ignore[no-any-return]
    return message  # type: ignore[no-any-return]


async def _next_of_type(call: Any, event_type: str, timeout_s: float) -> bool:
    async def wait() -> bool:
        while True:
            message = await call.read()
            if message is grpc.aio.EOF:
                return False
            if message.event_type == event_type:
                return True

    try:
        return await asyncio.wait_for(wait(), timeout_s)
    except (TimeoutError, grpc.aio.AioRpcError):
        return False


@pytest.mark.timeout(180)
async def test_unary_calls_answer_while_hundreds_of_watch_streams_are_open(runtime: Runtime) -> None:
    order_id = _open_order(runtime, "S-1")
    with grpc_api(runtime) as api:
        async with grpc.aio.insecure_channel(api.address) as channel:
            stub = pb_grpc.WorkOrdersServiceStub(channel)
            calls = [
                stub.Watch(pb.WatchRequest(after_position=0), metadata=_meta(f"screen-{i % CALLERS}"))
                for i in range(STREAMS)
            ]
            try:
                firsts = await asyncio.gather(*(_first(c, SERVED_WITHIN_S) for c in calls))
                served = sum(1 for f in firsts if isinstance(f, pb.WatchResponse))
                answers: list[object] = []
                for _ in range(3):
                    try:
                        reply = await stub.ListWorkOrders(
                            pb.ListWorkOrdersRequest(), metadata=_meta("supervisor-desk"), timeout=DEADLINE_S
                        )
                        answers.append(len(reply.work_orders))
                    except grpc.aio.AioRpcError as error:
                        answers.append(error.code())
                assert served == STREAMS and answers == [1, 1, 1], (
                    f"{served}/{STREAMS} Watch streams served within {SERVED_WITHIN_S:.0f} s; "
                    f"ListWorkOrders with {STREAMS} streams open (deadline {DEADLINE_S:.0f} s): {answers}"
                )
                # A command while the streams are open: it is answered, and every stream sees its event.
                await stub.ExecuteWorkOrderCommand(
                    pb.ExecuteWorkOrderCommandRequest(
                        work_order_id=order_id, dispatch=pb.DispatchCommand(crew_id="c1")
                    ),
                    metadata=_meta("supervisor-desk"),
                    timeout=DEADLINE_S,
                )
                seen = await asyncio.gather(*(_next_of_type(c, "CrewDispatched", SERVED_WITHIN_S) for c in calls))
                assert sum(seen) == STREAMS
            finally:
                for call in calls:
                    call.cancel()


@pytest.mark.timeout(120)
async def test_streams_per_caller_are_limited_and_other_callers_unaffected(sqlite_runtime: Runtime) -> None:
    _open_order(sqlite_runtime, "L-1")
    with grpc_api(sqlite_runtime) as api:
        async with grpc.aio.insecure_channel(api.address) as channel:
            stub = pb_grpc.WorkOrdersServiceStub(channel)
            # after_position=0 and one event stored: every served stream yields at once.
            mine = [
                stub.Watch(pb.WatchRequest(after_position=0), metadata=_meta("console-7"))
                for _ in range(DEFAULT_LIMIT)
            ]
            try:
                firsts = await asyncio.gather(*(_first(c, SERVED_WITHIN_S) for c in mine))
                assert all(isinstance(f, pb.WatchResponse) for f in firsts), firsts
                opened = [
                    stub.Watch(pb.WatchRequest(after_position=0), metadata=_meta("console-7"))
                    for _ in range(2)
                ]
                mine += opened
                results = await asyncio.gather(*(_first(c, DEADLINE_S) for c in opened))
                assert results == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2, results
                details = await opened[0].details()
                assert "console-7" in details and str(DEFAULT_LIMIT) in details and "Watch" in details, details
                # Another caller is not affected, nor are unary calls of the same caller.
                other = stub.Watch(pb.WatchRequest(after_position=0), metadata=_meta("console-8"))
                mine.append(other)
                assert isinstance(await _first(other, SERVED_WITHIN_S), pb.WatchResponse)
                reply = await stub.ListWorkOrders(
                    pb.ListWorkOrdersRequest(), metadata=_meta("console-7"), timeout=DEADLINE_S
                )
                assert len(reply.work_orders) == 1
                # Closing a stream frees its place.
                mine[0].cancel()
                again = stub.Watch(pb.WatchRequest(after_position=0), metadata=_meta("console-7"))
                mine.append(again)
                deadline = asyncio.get_running_loop().time() + SERVED_WITHIN_S
                first = await _first(again, SERVED_WITHIN_S)
                while first == grpc.StatusCode.RESOURCE_EXHAUSTED and asyncio.get_running_loop().time() < deadline:
                    # The server may see the cancellation a moment after the client sent it.
                    await asyncio.sleep(0.1)
                    again = stub.Watch(pb.WatchRequest(after_position=0), metadata=_meta("console-7"))
                    mine.append(again)
                    first = await _first(again, SERVED_WITHIN_S)
                assert isinstance(first, pb.WatchResponse), first
            finally:
                for call in mine:
                    call.cancel()


def test_stopping_the_server_ends_watch_streams_with_unavailable_and_where_to_resume(
    sqlite_runtime: Runtime,
) -> None:
    _open_order(sqlite_runtime, "U-1")
    server = GrpcServer(WorkOrdersServicer(sqlite_runtime.app, VERIFIER), "127.0.0.1:0").start()
    channel = grpc.insecure_channel(server.address)
    try:
        stub = pb_grpc.WorkOrdersServiceStub(channel)
        stream = stub.Watch(pb.WatchRequest(after_position=0), metadata=_meta("li"), timeout=SERVED_WITHIN_S)
        assert next(stream).position == 1
        server.stop(SERVED_WITHIN_S)  # streams do not wait for the grace period: they end at once
        with pytest.raises(grpc.RpcError) as info:
            next(stream)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value
        assert "after_position=1" in info.value.details()
    finally:
        channel.close()
        server.stop(0)


UNARY_METHODS = (
    "ListWorkOrders",
    "GetWorkOrder",
    "ExecuteWorkOrderCommand",
    "ListHazards",
    "ExecuteHazardCommand",
    "ExecuteReplacementCommand",
    "GetReport",
)
GARBAGE = b"\xff\xff\xff\xff garbage, not a protobuf message"


@pytest.fixture
def api(sqlite_runtime: Runtime) -> Iterator[Api]:
    with grpc_api(sqlite_runtime) as served:
        yield served


@pytest.mark.parametrize("method", UNARY_METHODS)
def test_undecodable_unary_request_is_invalid_argument(api: Api, method: str) -> None:
    raw = api.channel.unary_unary(SERVICE + method)  # identity (de)serializers: bytes as they are
    with pytest.raises(grpc.RpcError) as info:
        raw(GARBAGE, metadata=_meta("li"), timeout=DEADLINE_S)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    assert "pipewarden.workorders.v1." in info.value.details()  # names the expected message type


def test_undecodable_watch_request_is_invalid_argument(api: Api) -> None:
    raw = api.channel.unary_stream(SERVICE + "Watch")
    stream = raw(GARBAGE, metadata=_meta("li"), timeout=DEADLINE_S)
    with pytest.raises(grpc.RpcError) as info:
        next(stream)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    assert "pipewarden.workorders.v1.WatchRequest" in info.value.details()


@pytest.mark.parametrize(
    ("command", "field", "value"),
    [
        ("dispatch", "crew_id", "crew\x00one"),
        ("dispatch", "crew_id", "crew\x07one"),
        ("hold", "reason", "waiting\x1b[2Jfor parts"),
        ("cancel", "reason", "false alarm\x00"),
    ],
)
def test_control_characters_in_command_text_are_refused_naming_the_field(
    sqlite_runtime: Runtime, api: Api, command: str, field: str, value: str
) -> None:
    order_id = _open_order(sqlite_runtime, f"T-{command}-{field}-{ord(value[-1])}")
    request = pb.ExecuteWorkOrderCommandRequest(work_order_id=order_id)
    getattr(request, command).SetInParent()
    setattr(getattr(request, command), field, value)
    with pytest.raises(grpc.RpcError) as info:
        api.stub.ExecuteWorkOrderCommand(request, metadata=_meta("boss", "supervisor"), timeout=DEADLINE_S)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{command}.{field}" in info.value.details() and "control" in info.value.details()
    assert sqlite_runtime.store.stream_version(order_id) == 1  # nothing was appended


def test_multi_line_free_text_is_still_accepted(sqlite_runtime: Runtime, api: Api) -> None:
    order_id = _open_order(sqlite_runtime, "T-lines")
    request = pb.ExecuteWorkOrderCommandRequest(
        work_order_id=order_id, hold=pb.HoldCommand(reason="waiting for parts:\n\t- riser\r\n\t- valve")
    )
    reply = api.stub.ExecuteWorkOrderCommand(request, metadata=_meta("boss", "supervisor"), timeout=DEADLINE_S)
    assert reply.work_order.state == "on_hold"
