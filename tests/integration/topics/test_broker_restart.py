"""The kafka_broker fixture stops and restarts the broker on the same port, keeping acknowledged data."""

import socket
import uuid

import pytest
from kafka import KafkaProducer

from services.topics import TELEMETRY_REJECTED
from tests.fixtures.kafka import consume_all

pytestmark = pytest.mark.integration


def listening(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def test_stop_then_start_keeps_acknowledged_records(kafka_broker) -> None:
    if kafka_broker.external:
        pytest.skip("external broker")
    value = uuid.uuid4().hex.encode()
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all", enable_idempotence=True)
    producer.send(TELEMETRY_REJECTED.name, key=b"gw-1", value=value).get(timeout=30)
    producer.close()

    kafka_broker.stop()
    try:
        assert not listening(kafka_broker.bootstrap)
        assert not kafka_broker.is_running()
    finally:
        kafka_broker.start()
    assert kafka_broker.is_running()
    records = consume_all(kafka_broker.bootstrap, TELEMETRY_REJECTED.name)
    assert [r.value for r in records].count(value) == 1
