"""The leak query API's authentication and district checks, on a real port: every role reads, only in its
districts; a missing, garbled, foreign-key, unsigned (alg none) or wrong-audience token is UNAUTHENTICATED."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import grpc
import jwt
import pytest
from prometheus_client import REGISTRY

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as qpb
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2_grpc as qgrpc
from services.leakdetect.entrypoints.query_grpc import LeakQueryServicer, QueryServer
from services.network import load_demo_network
from services.tokens import WORKORDERS_AUDIENCE, TokenIssuer
from tests.support.tokens import LEAKDETECT_VERIFIER, SIGNING_KEY, foreign_token, issue, signed

NETWORK = load_demo_network()


def _view(segment_id: str, district: str) -> SimpleNamespace:
    status = SimpleNamespace(window_s=(60.0,), imbalance_kg_per_s=(0.01,), statistic=(1.0,), threshold=(5.0,),
                             mdlr_kg_per_s=0.03, clock_us=1, tag_health={})
    alarm = alarms_pb2.LeakAlarmEvent(alarm_id=f"A-{segment_id}", segment_id=segment_id, district=district)
    return SimpleNamespace(segment_id=segment_id, district=district, status=status, active_alarm=alarm,
                           history=(alarm.SerializeToString(),), readings=1, late_dropped=0, duplicates=0)


VIEWS = {"DS-M02": _view("DS-M02", "Dongsheng"), "TR-03": _view("TR-03", "Kangbashi")}


@pytest.fixture(scope="module")
def stub() -> Iterator[qgrpc.LeakQueryServiceStub]:
    server = QueryServer(LeakQueryServicer(NETWORK, lambda: VIEWS, LEAKDETECT_VERIFIER), port=0)  # type: ignore[arg-type,return-value,dict-item]
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield qgrpc.LeakQueryServiceStub(channel)
    finally:
        server.stop(0.2)


def _auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _code(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error: grpc.Call = caught.value  # type: ignore[assignment]
    return error.code(), error.details() or ""


def _calls(stub: qgrpc.LeakQueryServiceStub) -> list[Callable[[tuple[tuple[str, str], ...]], Any]]:
    return [
        lambda m: stub.GetSegmentStatus(qpb.GetSegmentStatusRequest(segment_id="DS-M02"), metadata=m, timeout=10),
        lambda m: stub.ListActiveAlarms(qpb.ListActiveAlarmsRequest(), metadata=m, timeout=10),
        lambda m: stub.GetAlarmHistory(qpb.GetAlarmHistoryRequest(segment_id="DS-M02"), metadata=m, timeout=10),
    ]


def _unsigned() -> str:
    now = int(__import__("time").time())
    return jwt.encode({"iss": "pipewarden", "aud": ["pipewarden-leakdetect"], "sub": "x", "role": "regulator",
                       "districts": ["*"], "iat": now, "exp": now + 60}, None, algorithm="none",  # type: ignore[arg-type]
                      headers={"kid": SIGNING_KEY.kid})


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (lambda: (), "missing_token"),
        (lambda: (("authorization", "Basic dXNlcjpwYXNz"),), "malformed_token"),
        (lambda: _auth("not-a-jwt"), "invalid_token"),
        (lambda: _auth(issue("regulator", ["*"], ttl_s=-120)), "expired_token"),
        (lambda: _auth(foreign_token("regulator")), "bad_signature"),
        (lambda: _auth(_unsigned()), "invalid_token"),
        (lambda: _auth(TokenIssuer(SIGNING_KEY, audience=[WORKORDERS_AUDIENCE]).issue("x", "regulator", ["*"])),
         "invalid_claims"),
        (lambda: _auth(signed({"sub": "x", "role": "admin", "districts": ["*"]})), "invalid_claims"),
    ],
    ids=["missing", "not-bearer", "garbled", "expired", "foreign-key", "alg-none", "workorders-audience",
         "unknown-role"],
)
def test_every_method_refuses_an_unauthenticated_caller(
    stub: qgrpc.LeakQueryServiceStub, metadata: Callable[[], tuple[tuple[str, str], ...]], reason: str
) -> None:
    # Made when the test runs, not when it is collected (a token made then may have expired since).
    for call in _calls(stub):
        before = REGISTRY.get_sample_value("pipewarden_leakdetect_query_refused_calls_total", {"reason": reason}) or 0
        code, details = _code(lambda: call(metadata()))  # noqa: B023 - called at once
        assert code == grpc.StatusCode.UNAUTHENTICATED, details
        after = REGISTRY.get_sample_value("pipewarden_leakdetect_query_refused_calls_total", {"reason": reason})
        assert after == before + 1


@pytest.mark.parametrize("role", ["dispatcher", "crew", "supervisor", "regulator"])
def test_every_role_reads_in_its_districts_and_nowhere_else(stub: qgrpc.LeakQueryServiceStub, role: str) -> None:
    mine = _auth(issue(role, ["Dongsheng"]))
    assert stub.GetSegmentStatus(qpb.GetSegmentStatusRequest(segment_id="DS-M02"), metadata=mine).status.served_here
    assert len(stub.GetAlarmHistory(qpb.GetAlarmHistoryRequest(segment_id="DS-M02"), metadata=mine).events) == 1
    # Without a district: only the caller's districts' alarms; naming its own district: the same.
    assert [a.segment_id for a in stub.ListActiveAlarms(qpb.ListActiveAlarmsRequest(), metadata=mine).alarms] == [
        "DS-M02"]
    named = stub.ListActiveAlarms(qpb.ListActiveAlarmsRequest(district="Dongsheng"), metadata=mine)
    assert [a.segment_id for a in named.alarms] == ["DS-M02"]
    for call in (
        lambda: stub.GetSegmentStatus(qpb.GetSegmentStatusRequest(segment_id="TR-03"), metadata=mine),
        lambda: stub.GetAlarmHistory(qpb.GetAlarmHistoryRequest(segment_id="TR-03"), metadata=mine),
        lambda: stub.ListActiveAlarms(qpb.ListActiveAlarmsRequest(district="Kangbashi"), metadata=mine),
    ):
        code, details = _code(call)
        assert code == grpc.StatusCode.PERMISSION_DENIED and "Kangbashi" in details


def test_all_districts_sees_everything(stub: qgrpc.LeakQueryServiceStub) -> None:
    every = _auth(issue("regulator", ["*"]))
    alarms = stub.ListActiveAlarms(qpb.ListActiveAlarmsRequest(), metadata=every).alarms
    assert sorted(a.segment_id for a in alarms) == ["DS-M02", "TR-03"]
    assert stub.GetSegmentStatus(qpb.GetSegmentStatusRequest(segment_id="TR-03"), metadata=every).status.served_here


def test_a_request_over_the_size_cap_is_refused_and_the_server_goes_on(stub: qgrpc.LeakQueryServiceStub) -> None:
    from services.leakdetect.entrypoints.query_grpc import MAX_REQUEST_BYTES

    token = issue("regulator", ["*"])
    huge = qpb.GetSegmentStatusRequest(segment_id="x" * (MAX_REQUEST_BYTES + 1))
    code, _ = _code(lambda: stub.GetSegmentStatus(huge, timeout=10, metadata=_auth(token)))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    answer = stub.GetSegmentStatus(qpb.GetSegmentStatusRequest(segment_id="DS-M02"), timeout=10, metadata=_auth(token))
    assert answer.status.segment_id == "DS-M02"
