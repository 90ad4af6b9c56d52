"""Shared builders for the work orders service tests (alarms, tokens, an in-process gRPC server)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
from services.workorders.entrypoints.grpc_api import GrpcServer, WorkOrdersServicer
from services.workorders.entrypoints.runtime import Runtime
from tests.support.tokens import WORKORDERS_VERIFIER, issue

# The servicer verifies callers' tokens against the test key set (tests/support/tokens.py).
VERIFIER = WORKORDERS_VERIFIER


def alarm(
    alarm_id: str,
    segment_id: str,
    district: str,
    *,
    sequence: int = 0,
    lel: float = 0.0,
    at_unix_us: int = 1_700_000_000_000_000,
) -> alarms_pb2.LeakAlarmEvent:
    state = alarms_pb2.ALARM_STATE_RAISED if sequence == 0 else alarms_pb2.ALARM_STATE_UPDATED
    message = alarms_pb2.LeakAlarmEvent(
        event_id=f"{alarm_id}/{sequence}",
        alarm_id=alarm_id,
        alarm_sequence=sequence,
        state=state,
        segment_id=segment_id,
        district=district,
        methods=[alarms_pb2.DETECTION_METHOD_MASS_BALANCE],
        onset_time_unix_us=at_unix_us,
        detection_time_unix_us=at_unix_us,
        event_time_unix_us=at_unix_us,
    )
    if lel:
        message.methane.tag_id = "CH4-1"
        message.methane.lel_pct = lel
        message.methane.confined_space = True
    return message


def token(role: str, districts: list[str], *, subject: str = "tester", ttl_s: float = 600.0) -> str:
    return issue(role, districts, subject=subject, ttl_s=ttl_s)


def auth(tok: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {tok}")]


@dataclass
class Api:
    stub: pb_grpc.WorkOrdersServiceStub
    channel: grpc.Channel
    address: str


@contextmanager
def grpc_api(runtime: Runtime) -> Iterator[Api]:
    server = GrpcServer(WorkOrdersServicer(runtime.app, VERIFIER), "127.0.0.1:0").start()
    channel = grpc.insecure_channel(server.address)
    try:
        yield Api(pb_grpc.WorkOrdersServiceStub(channel), channel, server.address)
    finally:
        channel.close()
        server.stop(0.5)
