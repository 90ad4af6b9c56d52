"""Produce and consume protobuf records on the real broker with aiokafka and kafka-python."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaConsumer, KafkaProducer

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.topics import LEAK_ALARMS, LEAK_DEAD_LETTER, PoisonRecordError, dead_letter_headers, decode, encode
from tests.fixtures.kafka import consume_all

pytestmark = pytest.mark.integration


def alarm(run: str, i: int) -> alarms_pb2.LeakAlarmEvent:
    return alarms_pb2.LeakAlarmEvent(
        event_id=f"{run}-{i}/0",
        alarm_id=f"{run}-{i}",
        segment_id=f"SEG-{i % 4}",
        state=alarms_pb2.ALARM_STATE_RAISED,
        methods=[alarms_pb2.DETECTION_METHOD_MASS_BALANCE],
    )


async def test_aiokafka_idempotent_acks_all_producer_and_consumer_group(kafka_bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [alarm(run, i) for i in range(12)]
        for msg in sent:
            await producer.send_and_wait(
                LEAK_ALARMS.name, key=msg.segment_id.encode(), value=encode(msg), headers=[("run", run.encode())]
            )
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        LEAK_ALARMS.name,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"test-aiokafka-{run}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    received: dict[str, alarms_pb2.LeakAlarmEvent] = {}
    try:
        async with asyncio.timeout(60):
            while len(received) < len(sent):
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    for r in records:
                        if dict(r.headers).get("run") == run.encode():
                            msg = decode(alarms_pb2.LeakAlarmEvent, r.value, topic=tp.topic, partition=tp.partition,
                                         offset=r.offset)
                            assert r.key == msg.segment_id.encode()
                            received[msg.event_id] = msg
        await consumer.commit()
        assert consumer.assignment()  # the group coordinator assigned partitions
    finally:
        await consumer.stop()
    assert sorted(received) == sorted(m.event_id for m in sent)
    assert received[sent[0].event_id] == sent[0]

    # the same records, read back by the shared helper (kafka-python, no group)
    mine = [r for r in consume_all(kafka_bootstrap, LEAK_ALARMS.name) if r.header("run") == run.encode()]
    assert sorted(decode(alarms_pb2.LeakAlarmEvent, r.value).event_id for r in mine) == sorted(received)
    # one segment's records share a partition, in send order
    by_segment: dict[bytes | None, set[int]] = {}
    for r in mine:
        by_segment.setdefault(r.key, set()).add(r.partition)
    assert all(len(p) == 1 for p in by_segment.values())


def test_kafka_python_producer_and_consumer_group(kafka_bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    try:
        for i in range(5):
            producer.send(LEAK_ALARMS.name, key=b"SEG-1", value=encode(alarm(run, i)), headers=[("run", run.encode())])
        producer.flush(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        LEAK_ALARMS.name,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"test-kafka-python-{run}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    got = []
    try:
        for _ in range(20):
            for records in consumer.poll(timeout_ms=1000).values():
                got += [r for r in records if dict(r.headers).get("run") == run.encode()]
            if len(got) >= 5:
                break
        consumer.commit()
    finally:
        consumer.close()
    assert [decode(alarms_pb2.LeakAlarmEvent, r.value).event_id for r in got] == [f"{run}-{i}/0" for i in range(5)]


async def test_poison_record_routed_to_dead_letter_keeps_bytes_and_explains(kafka_bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8].encode()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        meta = await producer.send_and_wait(LEAK_ALARMS.name, key=b"SEG-9", value=b"\xff" + run)
        try:
            decode(alarms_pb2.LeakAlarmEvent, b"\xff" + run, topic=meta.topic, partition=meta.partition,
                   offset=meta.offset)
        except PoisonRecordError as err:
            await producer.send_and_wait(LEAK_DEAD_LETTER.name, key=b"SEG-9", value=b"\xff" + run,
                                         headers=dead_letter_headers(err))
    finally:
        await producer.stop()
    dead = [r for r in consume_all(kafka_bootstrap, LEAK_DEAD_LETTER.name) if r.value == b"\xff" + run]
    assert len(dead) == 1
    assert dead[0].header("pw-dlq-source-topic") == LEAK_ALARMS.name.encode()
    assert dead[0].header("pw-dlq-source-offset") == str(meta.offset).encode()
