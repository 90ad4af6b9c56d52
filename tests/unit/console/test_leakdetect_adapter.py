"""The console's leakdetect client against leakdetect's own query servicer (in-process gRPC servers on
free ports): the worker that serves the segment answers; the others, and an unreachable one, do not stop it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from services.console.adapters.leakdetect_grpc import GrpcLeakQuery
from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.leakdetect.entrypoints.query_grpc import LeakQueryServicer, QueryServer
from services.network import load_demo_network
from tests.fixtures.kafka import free_port
from tests.support.tokens import LEAKDETECT_VERIFIER, issue

NETWORK = load_demo_network()


def _view(segment_id: str) -> SimpleNamespace:
    """A detector view as the servicer reads it (attributes only: a SimpleNamespace stands in)."""
    status = SimpleNamespace(window_s=(60.0, 240.0), imbalance_kg_per_s=(0.01, 0.02), statistic=(1.0, 6.0),
                             threshold=(5.0, 5.0), mdlr_kg_per_s=0.03, clock_us=1_800_000_000_000_000,
                             tag_health={"PT-1": alarms_pb2.SENSOR_HEALTH_OK, "FT-2": alarms_pb2.SENSOR_HEALTH_STALE})
    alarm = alarms_pb2.LeakAlarmEvent(alarm_id="A-9", segment_id=segment_id, district="Dongsheng")
    return SimpleNamespace(segment_id=segment_id, district="Dongsheng", status=status, active_alarm=alarm,
                           history=(), readings=10, late_dropped=0, duplicates=0, partition=0)


@pytest.fixture
def workers() -> Iterator[list[str]]:
    servers = [QueryServer(LeakQueryServicer(NETWORK, dict, LEAKDETECT_VERIFIER), port=0),
               QueryServer(LeakQueryServicer(NETWORK, lambda: {"DS-M02": _view("DS-M02")},  # type: ignore[arg-type,return-value,dict-item]
                                             LEAKDETECT_VERIFIER), port=0)]
    for s in servers:
        s.start()
    try:
        yield [f"127.0.0.1:{s.port}" for s in servers]
    finally:
        for s in servers:
            s.stop(0.2)


def test_the_serving_worker_answers_with_windows_mdlr_sensors_and_alarm(workers: list[str]) -> None:
    async def scenario() -> None:
        # one worker down; the console's own read-only token unless a caller's is given
        query = GrpcLeakQuery([*workers, f"127.0.0.1:{free_port()}"], lambda: issue("regulator", ["*"]))
        try:
            live = await query.segment_status("DS-M02")
            assert live.served and [w.window_s for w in live.windows] == [60.0, 240.0]
            assert live.windows[1].statistic > live.windows[1].threshold
            assert dict(live.sensors) == {"FT-2": "SENSOR_HEALTH_STALE", "PT-1": "SENSOR_HEALTH_OK"}
            assert live.active_alarm_id == "A-9" and live.mdlr_kg_per_s == 0.03
            other = await query.segment_status("TR-01")
            assert not other.served and "no leakdetect worker has seen" in other.note
            assert await query.active_alarm_segments() == {"DS-M02"}
        finally:
            await query.close()

    asyncio.run(scenario())


def test_a_callers_token_limits_what_the_console_sees_to_its_districts(workers: list[str]) -> None:
    async def scenario() -> None:
        query = GrpcLeakQuery(workers)  # no fallback: a call without a token is refused
        try:
            dongsheng, kangbashi = issue("dispatcher", ["Dongsheng"]), issue("dispatcher", ["Kangbashi"])
            assert (await query.segment_status("DS-M02", dongsheng)).served
            assert await query.active_alarm_segments(dongsheng) == {"DS-M02"}
            refused = await query.segment_status("DS-M02", kangbashi)
            assert not refused.served and refused.note.startswith("leakdetect refused") and "Dongsheng" in refused.note
            assert await query.active_alarm_segments(kangbashi) == set()
            anonymous = await query.segment_status("DS-M02")
            assert not anonymous.served and "missing bearer token" in anonymous.note
        finally:
            await query.close()

    asyncio.run(scenario())


def test_all_workers_down_or_none_configured_is_said_plainly() -> None:
    async def scenario() -> None:
        down = GrpcLeakQuery([f"127.0.0.1:{free_port()}"])
        try:
            live = await down.segment_status("DS-M02")
            assert not live.served and live.note.startswith("leakdetect unreachable")
            assert await down.active_alarm_segments() == set()
        finally:
            await down.close()
        none = await GrpcLeakQuery([]).segment_status("DS-M02")
        assert "no leakdetect query API is configured" in none.note

    asyncio.run(scenario())
