"""Records workorders cannot apply are dead-lettered, whatever the reason, and never hold up the rest.

Regression for issue "Fix first" (1): an alarm whose ``event_id`` was over 200 characters, or whose text held
NUL or control characters, made the event store raise ``InvalidEventError``; the consumer retried it forever,
never committed, and no later alarm on any partition became a work order. Real Kafka, real gRPC server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from sqlalchemy.exc import OperationalError

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.topics import LEAK_ALARMS, LEAK_DEAD_LETTER, LEAK_SENSOR_HEALTH, encode
from services.topics.codecs import DLQ_ERROR, DLQ_SOURCE_TOPIC
from services.workorders.bootstrap import build_runtime
from services.workorders.domain.hazard import HazardSource, hazard_id_for
from services.workorders.domain.workorder import work_order_id_for_alarm
from services.workorders.entrypoints.alarm_consumer import AlarmConsumer, AlarmConsumerThread
from services.workorders.entrypoints.sensor_health_consumer import SensorHealthConsumer
from tests.fixtures.kafka import consume_all
from tests.support.workorders_api import alarm, auth, grpc_api, token

pytestmark = pytest.mark.integration


def _wait(predicate: Callable[[], bool], timeout_s: float = 45.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _dead_letters(bootstrap: str, source_topic: str, keys: set[bytes], count: int) -> list[Any]:
    """Dead letters from ``source_topic`` with one of ``keys`` (the topic holds other tests' records too)."""
    found: list[Any] = []

    def arrived() -> bool:
        nonlocal found
        found = [
            r
            for r in consume_all(bootstrap, LEAK_DEAD_LETTER.name, timeout_s=30)
            if r.key in keys and r.header(DLQ_SOURCE_TOPIC) == source_topic.encode()
        ]
        return len(found) >= count

    _wait(arrived)
    return found


def _poison_alarms(run: str, segment_id: str, district: str) -> list[alarms_pb2.LeakAlarmEvent]:
    long_event_id = alarm(f"P1-{run}", segment_id, district)
    long_event_id.event_id = "e" * 300  # valid protobuf, a causation id the event store cannot hold
    nul_in_district = alarm(f"P2-{run}", segment_id, district)
    nul_in_district.district = district + "\x00"
    control_in_alarm_id = alarm(f"P3-{run}\x07", segment_id, district)
    long_alarm_id = alarm("a" * 201, segment_id, district)
    return [long_event_id, nul_in_district, control_in_alarm_id, long_alarm_id]


def test_unstorable_alarms_are_dead_lettered_and_later_alarms_on_every_partition_arrive(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    runtime = build_runtime(f"sqlite:///{tmp_path}/wo.sqlite3")
    runtime.start_projection_loop(0.02)
    consumer = AlarmConsumerThread(
        AlarmConsumer(kafka_bootstrap, runtime.app.handle_alarm, group_id=f"test-poison-{run}", retry_sleep_s=0.2)
    ).start()
    segments = [s for s in runtime.network.segments.values() if s.district == "Dongsheng"][:2]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        with grpc_api(runtime) as api:
            poison = _poison_alarms(run, segments[0].segment_id, segments[0].district)
            for message in poison:  # all on the first segment's partition, before the good alarms
                producer.send(LEAK_ALARMS.name, key=segments[0].segment_id.encode(), value=encode(message))
            good = [alarm(f"G{i}-{run}", s.segment_id, s.district) for i, s in enumerate(segments)]
            for message in good:
                producer.send(LEAK_ALARMS.name, key=message.segment_id.encode(), value=encode(message))
            producer.flush(30)

            meta = auth(token("dispatcher", ["Dongsheng"]))

            def all_good_visible() -> bool:
                reply = api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=meta)
                return {g.alarm_id for g in good} <= {w.alarm_id for w in reply.work_orders}

            assert _wait(all_good_visible), "good alarms after the poison never became work orders"
            dead = _dead_letters(kafka_bootstrap, LEAK_ALARMS.name, {segments[0].segment_id.encode()}, len(poison))
            assert len(dead) == len(poison)
            assert all(r.header(DLQ_ERROR) for r in dead)
            assert {r.value for r in dead} == {encode(m) for m in poison}  # copied unchanged
            # Refused at the entry, with the reason, never retried (the topic holds other tests' records too).
            reasons = b" ".join(r.header(DLQ_ERROR) or b"" for r in dead)
            assert reasons.count(b"refused by workorders: InvalidInput") == len(poison)
            assert consumer.consumer.stats.retries == 0
            assert runtime.store.stream_version(work_order_id_for_alarm(poison[0].alarm_id)) == 0
    finally:
        producer.close()
        consumer.stop()
        runtime.stop()


def test_unstorable_sensor_health_is_dead_lettered_and_the_next_event_becomes_a_hazard(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    runtime = build_runtime(f"sqlite:///{tmp_path}/wo.sqlite3")
    consumer = AlarmConsumerThread(
        SensorHealthConsumer(
            kafka_bootstrap, runtime.app.handle_sensor_health, group_id=f"test-poison-sh-{run}", retry_sleep_s=0.2
        )
    ).start()
    segment = next(s for s in runtime.network.segments.values() if s.district == "Dongsheng")
    change = time.time_ns() // 1000 - 1_000_000

    def event(event_id: str, tag_id: str) -> alarms_pb2.SensorHealthEvent:
        return alarms_pb2.SensorHealthEvent(
            event_id=event_id,
            tag_id=tag_id,
            segment_id=segment.segment_id,
            district=segment.district,
            health=alarms_pb2.SENSOR_HEALTH_FLATLINED,
            previous_health=alarms_pb2.SENSOR_HEALTH_OK,
            detail="constant reading for 600 s",
            change_time_unix_us=change,
            segment_mdlr_kg_per_s=0.3,
        )

    poison = [event("x" * 300, f"FT-{run}"), event(f"FT-{run}/\x00/{change}", f"FT-{run}"), event(f"e-{run}", "T\x1b")]
    good = event(f"FT-{run}/{change}", f"FT-{run}")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        for message in [*poison, good]:
            producer.send(LEAK_SENSOR_HEALTH.name, key=segment.segment_id.encode(), value=encode(message))
        producer.flush(30)
        hazard_id = hazard_id_for(HazardSource.SENSOR_HEALTH, good.event_id)
        assert _wait(lambda: runtime.store.stream_version(hazard_id) == 1), "the good event never became a hazard"
        dead = _dead_letters(kafka_bootstrap, LEAK_SENSOR_HEALTH.name, {segment.segment_id.encode()}, len(poison))
        assert sorted(r.value for r in dead) == sorted(encode(m) for m in poison)
    finally:
        producer.close()
        consumer.stop()
        runtime.stop()


class _FlakyHandler:
    """A handler whose trouble is chosen per alarm: a database outage that passes, a bug, or a stuck lock."""

    def __init__(self, app_handle: Callable[[Any, str], Any], *, outage_for: str, bug_for: str, stuck_for: str):
        self.app_handle = app_handle
        self.outage_left = 3
        self.outage_for, self.bug_for, self.stuck_for = outage_for, bug_for, stuck_for

    def __call__(self, facts: Any, causation_id: str) -> Any:
        if facts.alarm_id == self.outage_for and self.outage_left:
            self.outage_left -= 1
            raise OperationalError("INSERT ...", {}, ConnectionRefusedError("database unreachable"))
        if facts.alarm_id == self.bug_for:
            raise KeyError("a bug in the handler, not the database")
        if facts.alarm_id == self.stuck_for:
            raise OperationalError("SELECT ... FOR UPDATE", {}, TimeoutError("lock timeout"))
        return self.app_handle(facts, causation_id)


def test_only_infrastructure_errors_are_retried_and_one_stuck_partition_holds_up_no_other(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    runtime = build_runtime(f"sqlite:///{tmp_path}/wo.sqlite3")
    segment = next(s for s in runtime.network.segments.values() if s.district == "Dongsheng")
    outage, bug, stuck, after_bug, other = (
        alarm(f"{name}-{run}", segment.segment_id, segment.district)
        for name in ("outage", "bug", "stuck", "after-bug", "other")
    )
    handler = _FlakyHandler(
        runtime.app.handle_alarm, outage_for=outage.alarm_id, bug_for=bug.alarm_id, stuck_for=stuck.alarm_id
    )
    consumer = AlarmConsumerThread(
        AlarmConsumer(kafka_bootstrap, handler, group_id=f"test-retry-{run}", retry_sleep_s=0.05, retry_max_sleep_s=0.2)
    ).start()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        # Partition 0: an outage that passes, then a bug, then a good alarm. Partition 1: a stuck lock
        # (retried for as long as the test runs), then a good alarm that must wait for it. Partition 2: a good
        # alarm that must not wait for partition 1.
        placed = [
            (0, outage),
            (0, bug),
            (0, after_bug),
            (1, stuck),
            (1, alarm(f"behind-stuck-{run}", segment.segment_id, segment.district)),
            (2, other),
        ]
        for partition, message in placed:
            producer.send(
                LEAK_ALARMS.name, key=f"{run}-{partition}".encode(), value=encode(message), partition=partition
            )
        producer.flush(30)

        def stored(message: alarms_pb2.LeakAlarmEvent) -> bool:
            return runtime.store.stream_version(work_order_id_for_alarm(message.alarm_id)) == 1

        assert _wait(lambda: stored(outage) and stored(after_bug) and stored(other))
        assert not stored(stuck) and not stored(placed[4][1])  # still retrying: never dead-lettered
        stats = consumer.consumer.stats
        assert any("KeyError" in error for error in stats.errors)
        assert stats.retries >= 3  # the outage's three failures, and the stuck lock's
        dead = _dead_letters(kafka_bootstrap, LEAK_ALARMS.name, {f"{run}-0".encode()}, 1)
        assert [r.value for r in dead] == [encode(bug)]
        assert b"KeyError" in (dead[0].header(DLQ_ERROR) or b"")
    finally:
        producer.close()
        consumer.stop()
        runtime.stop()
