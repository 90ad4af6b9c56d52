"""Alarms on the real Kafka broker become work orders visible over gRPC; poison goes to the dead letters."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.topics import LEAK_ALARMS, LEAK_DEAD_LETTER, encode
from services.topics.codecs import DLQ_ERROR
from services.workorders.bootstrap import build_runtime
from services.workorders.domain.workorder import work_order_id_for_alarm
from services.workorders.entrypoints.alarm_consumer import AlarmConsumer, AlarmConsumerThread
from tests.fixtures.kafka import consume_all
from tests.support.workorders_api import alarm, auth, grpc_api, token

pytestmark = pytest.mark.integration


def test_alarm_on_kafka_becomes_visible_over_grpc_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    runtime = build_runtime(f"sqlite:///{tmp_path}/wo.sqlite3")
    runtime.start_projection_loop(0.02)
    consumer = AlarmConsumerThread(
        AlarmConsumer(kafka_bootstrap, runtime.app.handle_alarm, group_id=f"test-workorders-{run}")
    ).start()
    segment = next(s for s in runtime.network.segments.values() if s.district == "Dongsheng")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        with grpc_api(runtime) as api:
            message = alarm(f"K-{run}", segment.segment_id, segment.district)
            poison_key = f"poison-{run}".encode()
            for _ in range(2):  # delivered twice: one work order
                producer.send(LEAK_ALARMS.name, key=segment.segment_id.encode(), value=encode(message))
            producer.send(LEAK_ALARMS.name, key=poison_key, value=b"\x00\xffnot a protobuf")
            producer.flush(30)
            meta = auth(token("dispatcher", ["Dongsheng"]))
            order_id = work_order_id_for_alarm(message.alarm_id)
            deadline = time.monotonic() + 60
            found: list[pb.WorkOrder] = []
            while time.monotonic() < deadline and not found:
                reply = api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=meta)
                found = [w for w in reply.work_orders if w.alarm_id == message.alarm_id]
                time.sleep(0.1)
            assert found and found[0].work_order_id == order_id and found[0].state == "triaged"
            dead = consume_all(kafka_bootstrap, LEAK_DEAD_LETTER.name, timeout_s=60)
            mine = [r for r in dead if r.key == poison_key]
            assert len(mine) == 1 and mine[0].header(DLQ_ERROR)
            # The consumer keeps going after the poison record: a later alarm still arrives.
            later = alarm(f"K2-{run}", segment.segment_id, segment.district)
            producer.send(LEAK_ALARMS.name, key=segment.segment_id.encode(), value=encode(later))
            producer.flush(30)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if runtime.store.stream_version(work_order_id_for_alarm(later.alarm_id)) == 1:
                    break
                time.sleep(0.1)
            assert runtime.store.stream_version(work_order_id_for_alarm(later.alarm_id)) == 1
            assert runtime.store.stream_version(order_id) == 1  # the duplicate added nothing
    finally:
        producer.close()
        consumer.stop()
        runtime.stop()
