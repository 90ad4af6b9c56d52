"""The leak query API on a real port: bytes that are not the request message get INVALID_ARGUMENT."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as qpb
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2_grpc as qgrpc
from services.leakdetect.entrypoints.query_grpc import LeakQueryServicer, QueryServer
from services.network import load_demo_network
from tests.support.tokens import LEAKDETECT_VERIFIER, issue

pytestmark = pytest.mark.integration

NETWORK = load_demo_network()
AUTH = (("authorization", "Bearer " + issue("regulator", ["*"], ttl_s=3600)),)


@pytest.fixture
def query_channel() -> Iterator[grpc.Channel]:
    server = QueryServer(LeakQueryServicer(NETWORK, dict, LEAKDETECT_VERIFIER), port=0)
    assert server.port
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield channel
    finally:
        server.stop(grace_s=0.5)


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("GetSegmentStatus", "GetSegmentStatusRequest"),
        ("ListActiveAlarms", "ListActiveAlarmsRequest"),
        ("GetAlarmHistory", "GetAlarmHistoryRequest"),
    ],
)
def test_undecodable_bytes_are_invalid_argument(query_channel: grpc.Channel, method: str, message: str) -> None:
    raw = query_channel.unary_unary(
        f"/pipewarden.leakdetect.v1.LeakQueryService/{method}",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    for garbage in (b"\xff\xff\xff\xff garbage", b"\x0a\x05\xff\xff"):
        with pytest.raises(grpc.RpcError) as caught:
            raw(garbage, timeout=10, metadata=AUTH)
        error: grpc.Call = caught.value  # type: ignore[assignment]
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert f"not a valid pipewarden.leakdetect.v1.{message}" in (error.details() or "")
    # Well-formed requests on the same server are answered as before.
    stub = qgrpc.LeakQueryServiceStub(query_channel)
    status = stub.GetSegmentStatus(qpb.GetSegmentStatusRequest(segment_id="TR-01"), timeout=10, metadata=AUTH).status
    assert status.segment_id == "TR-01" and not status.served_here
    assert list(stub.ListActiveAlarms(qpb.ListActiveAlarmsRequest(), timeout=10, metadata=AUTH).alarms) == []
