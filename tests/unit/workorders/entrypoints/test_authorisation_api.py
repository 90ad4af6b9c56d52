"""The policy table through the real gRPC servicer: a sample of its pairs maps to the API's status codes.

The service-layer test (service_layer/test_authorisation_policy.py) runs all 120 refusals and 63 allowed
pairs on the fakes; this one proves the mapping end to end on a sample (per aggregate: the first pair
refused by role, the first refused out of district, the first carried out), with real tokens, the real
request mapping (``command_of``, checked to round-trip every sampled command) and the real server, over
the fakes' in-memory event store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
from services.workorders.domain import commands as c
from services.workorders.entrypoints.grpc_api import _EXECUTE, GrpcServer, WorkOrdersServicer, command_of
from services.workorders.service_layer.auth import CallerRole
from tests.support.tokens import issue
from tests.support.workorders_api import VERIFIER, auth
from tests.unit.workorders.authorisation_table import ABROAD, HOME, REFUSALS, SCENARIOS, SIGN_OFF_ROLES, Case
from tests.unit.workorders.fakes import Faked, make_app

_RPC = {
    "work_order": "ExecuteWorkOrderCommand",
    "hazard": "ExecuteHazardCommand",
    "replacement": "ExecuteReplacementCommand",
}


def _sample() -> list[tuple[Case, str]]:
    picked: list[tuple[Case, str]] = []
    for aggregate in _RPC:
        cases = [case for case in REFUSALS if case.command.aggregate == aggregate]
        picked.append((next(case for case in cases if case.refusal == "role"), "refused"))
        picked.append((next(case for case in cases if case.refusal == "district"), "refused"))
        picked.append((next(case for case in cases if case.refusal == "district"), "allowed"))
    regulator = next(case for case in REFUSALS if case.role is CallerRole.REGULATOR)
    picked.append((regulator, "refused"))
    return picked


def request_of(command: c.Command) -> Any:
    """The ``Execute*CommandRequest`` carrying ``command`` (the inverse of the servicer's ``command_of``)."""
    request_type = next(rt for rt, route in _EXECUTE.items() if route.aggregate == command.aggregate)
    id_field = _EXECUTE[request_type].id_field
    fields = {f.name: getattr(command, f.name) for f in dataclasses.fields(command) if f.name != id_field}
    sub = type(getattr(request_type(), command.verb))(**fields)
    return request_type(**{id_field: getattr(command, id_field, ""), command.verb: sub})


@dataclasses.dataclass
class Served:
    faked: Faked
    stub: pb_grpc.WorkOrdersServiceStub


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    faked = make_app()
    server = GrpcServer(WorkOrdersServicer(faked.app, VERIFIER), "127.0.0.1:0").start()
    channel = grpc.insecure_channel(server.address)
    try:
        yield Served(faked, pb_grpc.WorkOrdersServiceStub(channel))
    finally:
        channel.close()
        server.stop(0.5)


SAMPLE = _sample()


@pytest.mark.parametrize(("case", "expect"), SAMPLE, ids=[f"{e}:{c.id}" for c, e in SAMPLE])
def test_a_sample_of_the_policy_table_through_the_servicer(served: Served, case: Case, expect: str) -> None:
    command = SCENARIOS[case.command](served.faked)
    request = request_of(command)
    assert command_of(request) == command  # the request carries exactly this command
    district = ABROAD if case.refusal == "district" and expect == "refused" else HOME
    token = issue(case.role.value, [district], subject=f"{case.role.value}-{district}", sign_off_roles=SIGN_OFF_ROLES)
    call = getattr(served.stub, _RPC[command.aggregate])
    stream = getattr(command, _EXECUTE[type(request)].id_field, "")
    before = served.faked.store.stream_version(stream) if stream else 0
    if expect == "refused":
        with pytest.raises(grpc.RpcError) as refused:
            call(request, metadata=auth(token), timeout=10)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, refused.value.details()
        if stream:
            assert served.faked.store.stream_version(stream) == before
    else:
        reply = call(request, metadata=auth(token), timeout=10)
        assert reply.result.event_types and reply.result.version > before


def test_the_sample_covers_each_kind_on_each_aggregate() -> None:
    kinds = {(case.command.aggregate, case.refusal, expect) for case, expect in SAMPLE}
    assert len(kinds) == 3 * 3 and any(case.role is CallerRole.REGULATOR for case, _ in SAMPLE)
