"""The workorders gRPC server's request size cap (PIPEWARDEN_WORKORDERS_MAX_MESSAGE_BYTES): a larger request is
RESOURCE_EXHAUSTED, and the server goes on answering the others."""

from __future__ import annotations

import grpc
import pytest

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
from services.workorders.config import ConfigError, WorkOrdersConfig
from services.workorders.entrypoints.grpc_api import GrpcServer, WorkOrdersServicer
from services.workorders.entrypoints.runtime import Runtime
from tests.support.workorders_api import VERIFIER, auth, token


def test_the_cap_is_configurable_and_checked() -> None:
    assert WorkOrdersConfig.from_env({}).max_message_bytes == 4 * 1024 * 1024
    assert WorkOrdersConfig.from_env({"PIPEWARDEN_WORKORDERS_MAX_MESSAGE_BYTES": "65536"}).max_message_bytes == 65536
    with pytest.raises(ConfigError, match="PIPEWARDEN_WORKORDERS_MAX_MESSAGE_BYTES"):
        WorkOrdersConfig.from_env({"PIPEWARDEN_WORKORDERS_MAX_MESSAGE_BYTES": "12"})


def test_a_request_over_the_cap_is_resource_exhausted_and_the_server_goes_on(runtime: Runtime) -> None:
    server = GrpcServer(WorkOrdersServicer(runtime.app, VERIFIER), "127.0.0.1:0",
                        max_receive_message_bytes=64 * 1024).start()
    channel = grpc.insecure_channel(server.address, options=[("grpc.max_send_message_length", 8 * 1024 * 1024)])
    try:
        stub = pb_grpc.WorkOrdersServiceStub(channel)
        meta = auth(token("supervisor", ["*"]))
        huge = pb.ListWorkOrdersRequest(districts=["x" * 1000] * 100)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListWorkOrders(huge, metadata=meta, timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
        assert "65536" in refused.value.details()  # type: ignore[attr-defined]
        stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=meta, timeout=10)  # still serving
    finally:
        channel.close()
        server.stop(0.5)
