"""Sensor-health events on the real Kafka broker become hazards (once), visible over gRPC; poison is
dead-lettered and the consumer keeps going."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.topics import LEAK_DEAD_LETTER, LEAK_SENSOR_HEALTH, encode
from services.topics.codecs import DLQ_ERROR
from services.workorders.bootstrap import build_runtime
from services.workorders.domain.hazard import HazardSource, hazard_id_for
from services.workorders.entrypoints.alarm_consumer import AlarmConsumerThread
from services.workorders.entrypoints.sensor_health_consumer import SensorHealthConsumer
from tests.fixtures.kafka import consume_all
from tests.support.workorders_api import auth, grpc_api, token

pytestmark = pytest.mark.integration


def _event(run: str, tag: str, segment_id: str, district: str) -> alarms_pb2.SensorHealthEvent:
    change = time.time_ns() // 1000 - 1_000_000
    return alarms_pb2.SensorHealthEvent(
        event_id=f"{tag}-{run}/{change}",
        tag_id=f"{tag}-{run}",
        segment_id=segment_id,
        district=district,
        health=alarms_pb2.SENSOR_HEALTH_FLATLINED,
        previous_health=alarms_pb2.SENSOR_HEALTH_OK,
        detail="constant reading for 600 s",
        change_time_unix_us=change,
        segment_mdlr_kg_per_s=0.3,
    )


def _wait(predicate: object, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_sensor_health_twice_gives_one_hazard_poison_dead_lettered(kafka_bootstrap: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    runtime = build_runtime(f"sqlite:///{tmp_path}/wo.sqlite3")
    runtime.start_projection_loop(0.02)
    consumer = AlarmConsumerThread(
        SensorHealthConsumer(kafka_bootstrap, runtime.app.handle_sensor_health, group_id=f"test-hazards-{run}")
    ).start()
    segment = next(s for s in runtime.network.segments.values() if s.district == "Dongsheng")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    key = segment.segment_id.encode()
    try:
        with grpc_api(runtime) as api:
            message = _event(run, "FT-1", segment.segment_id, segment.district)
            hazard_id = hazard_id_for(HazardSource.SENSOR_HEALTH, message.event_id)
            poison_keys = [f"poison-{run}".encode(), f"unknown-segment-{run}".encode()]
            for _ in range(2):  # delivered twice: one hazard
                producer.send(LEAK_SENSOR_HEALTH.name, key=key, value=encode(message))
            producer.send(LEAK_SENSOR_HEALTH.name, key=poison_keys[0], value=b"\x00\xffnot a protobuf")
            unknown = _event(run, "FT-X", "NO-SUCH-SEGMENT", "Dongsheng")
            producer.send(LEAK_SENSOR_HEALTH.name, key=poison_keys[1], value=encode(unknown))
            producer.flush(30)
            meta = auth(token("dispatcher", ["Dongsheng"]))
            found: list[pb.Hazard] = []

            def listed() -> bool:
                reply = api.stub.ListHazards(pb.ListHazardsRequest(), metadata=meta)
                found[:] = [h for h in reply.hazards if h.hazard_id == hazard_id]
                return bool(found)

            assert _wait(listed)
            assert found[0].source == "sensor_health" and found[0].state == "listed"
            assert found[0].reported_via == "leak.sensor-health.v1" and found[0].district == "Dongsheng"
            mine: list = []

            def both_dead_lettered() -> bool:
                # the poison records sit on other partitions than the good event: they may still be on their way
                dead = consume_all(kafka_bootstrap, LEAK_DEAD_LETTER.name, timeout_s=60)
                mine[:] = [r for r in dead if r.key in poison_keys]
                return len(mine) >= 2

            assert _wait(both_dead_lettered)
            assert len(mine) == 2 and all(r.header(DLQ_ERROR) for r in mine)
            assert {r.header("pw-dlq-consumer") for r in mine} == {b"workorders"}
            # Still consuming after the poison: a later event arrives; the duplicate added nothing.
            later = _event(run, "FT-2", segment.segment_id, segment.district)
            producer.send(LEAK_SENSOR_HEALTH.name, key=key, value=encode(later))
            producer.flush(30)
            later_id = hazard_id_for(HazardSource.SENSOR_HEALTH, later.event_id)
            assert _wait(lambda: runtime.store.stream_version(later_id) == 1)
            assert runtime.store.stream_version(hazard_id) == 1
    finally:
        producer.close()
        consumer.stop()
        runtime.stop()
