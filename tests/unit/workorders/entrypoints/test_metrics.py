"""The workorders service's own metrics: commands by kind and outcome, query and command latency, refused
calls by reason, open Watch streams, outbox backlog and projection lag (read from Prometheus' registry,
as a scrape of /metrics would)."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from prometheus_client import REGISTRY

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.workorders.adapters.alarms import alarm_facts
from services.workorders.domain.workorder import work_order_id_for_alarm
from services.workorders.entrypoints.runtime import Runtime
from tests.support.tokens import foreign_token
from tests.support.workorders_api import Api, alarm, auth, token

DISTRICT = "Dongsheng"


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _open(runtime: Runtime, alarm_id: str) -> str:
    segment = next(s.segment_id for s in runtime.network.segments.values() if s.district == DISTRICT)
    runtime.app.handle_alarm(alarm_facts(alarm(alarm_id, segment, DISTRICT)), f"{alarm_id}/0")
    runtime.runner.run_until_caught_up()
    return work_order_id_for_alarm(alarm_id)


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ([], "missing_token"),
        ([("authorization", "Basic dXNlcjpwYXNz")], "malformed_token"),
        ([("authorization", "Bearer not-a-jwt")], "invalid_token"),
        ([("authorization", "Bearer " + token("dispatcher", [DISTRICT], ttl_s=-60))], "expired_token"),
        (auth(foreign_token("supervisor", ["*"], "mallory")), "bad_signature"),
    ],
    ids=["missing", "not-bearer", "garbled", "expired", "bad-signature"],
)
def test_refused_calls_are_counted_by_reason(api: Api, metadata: list[tuple[str, str]], reason: str) -> None:
    before = _value("pipewarden_workorders_refused_calls_total", reason=reason)
    with pytest.raises(grpc.RpcError) as refused:
        api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=metadata)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _value("pipewarden_workorders_refused_calls_total", reason=reason) == before + 1


def test_commands_are_counted_by_aggregate_verb_and_outcome_and_timed(runtime: Runtime, api: Api) -> None:
    order_id = _open(runtime, "M-1")
    dispatcher = auth(token("dispatcher", [DISTRICT]))
    acknowledge = {"aggregate": "work_order", "command": "acknowledge"}
    dispatch = {"aggregate": "work_order", "command": "dispatch"}
    refused_before = _value("pipewarden_workorders_commands_total", **acknowledge, outcome="failed_precondition")
    ok_before = _value("pipewarden_workorders_commands_total", **dispatch, outcome="ok")
    timed_before = _value("pipewarden_workorders_command_seconds_count", **acknowledge)

    with pytest.raises(grpc.RpcError) as early:  # a triaged order is dispatched before it is acknowledged
        api.stub.ExecuteWorkOrderCommand(
            pb.ExecuteWorkOrderCommandRequest(work_order_id=order_id, acknowledge=pb.AcknowledgeCommand()),
            metadata=dispatcher,
        )
    api.stub.ExecuteWorkOrderCommand(
        pb.ExecuteWorkOrderCommandRequest(work_order_id=order_id, dispatch=pb.DispatchCommand(crew_id="crew-7")),
        metadata=dispatcher,
    )

    assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    refused = _value("pipewarden_workorders_commands_total", **acknowledge, outcome="failed_precondition")
    assert refused == refused_before + 1
    assert _value("pipewarden_workorders_commands_total", **dispatch, outcome="ok") == ok_before + 1
    assert _value("pipewarden_workorders_command_seconds_count", **acknowledge) == timed_before + 1


def test_queries_are_timed_per_method(api: Api) -> None:
    before = _value("pipewarden_workorders_query_seconds_count", method="ListWorkOrders")
    api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=auth(token("dispatcher", [DISTRICT])))
    assert _value("pipewarden_workorders_query_seconds_count", method="ListWorkOrders") == before + 1


def _drain(stream: object) -> None:
    try:
        for _ in stream:  # type: ignore[attr-defined]
            pass
    except grpc.RpcError:  # cancelled by the test
        pass


def test_open_watch_streams_are_a_gauge(api: Api) -> None:
    before = _value("pipewarden_workorders_watch_streams_open")
    stream = api.stub.Watch(pb.WatchRequest(), metadata=auth(token("dispatcher", [DISTRICT])))
    threading.Thread(target=lambda: _drain(stream), daemon=True).start()
    deadline = time.monotonic() + 10
    while _value("pipewarden_workorders_watch_streams_open") < before + 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _value("pipewarden_workorders_watch_streams_open") == before + 1
    stream.cancel()
    while _value("pipewarden_workorders_watch_streams_open") > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _value("pipewarden_workorders_watch_streams_open") == before


def test_backlog_sample_reports_outbox_and_projection_lag(runtime: Runtime) -> None:
    segment = next(s.segment_id for s in runtime.network.segments.values() if s.district == DISTRICT)
    runtime.app.handle_alarm(alarm_facts(alarm("M-2", segment, DISTRICT)), "M-2/0")
    recorded = runtime.store.read_all()
    assert recorded, "the alarm opened a work order"
    oldest_us = recorded[0].recorded_at_unix_us

    runtime.sample_backlogs(now_unix_us=oldest_us + 7_000_000)

    assert _value("pipewarden_workorders_outbox_backlog_events") == len(recorded)  # no relay runs here
    assert _value("pipewarden_workorders_outbox_oldest_age_seconds") == pytest.approx(7.0)
    assert _value("pipewarden_workorders_projection_lag_events") == len(recorded)
    runtime.runner.run_until_caught_up()
    runtime.sample_backlogs(now_unix_us=oldest_us + 8_000_000)
    assert _value("pipewarden_workorders_projection_lag_events") == 0
