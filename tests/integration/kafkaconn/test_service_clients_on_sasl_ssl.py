"""Every service's own Kafka client, built from its configuration, against a SASL_SSL (SCRAM-SHA-512) broker:
telemetry's producer, workorders' alarm consumer (with its dead-letter producer) and outbox relay publisher,
leakdetect's faust app, and the topics admin (the package's broker, conftest.py)."""

from __future__ import annotations

import asyncio
import importlib
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.eventstore.model import RecordedEvent
from services.eventstore.outbox import KafkaPublisher as OutboxPublisher
from services.eventstore.outbox import OutboxMessage
from services.leakdetect.config import LeakdetectConfig
from services.telemetry.adapters.kafka_publisher import KafkaPublisher as TelemetryPublisher
from services.telemetry.config import TelemetryConfig
from services.telemetry.service_layer.ports import OutRecord
from services.topics.admin import ensure_topics
from services.topics.registry import LEAK_DEAD_LETTER, TELEMETRY_REJECTED, WORKORDERS_EVENTS
from services.workorders.config import WorkOrdersConfig
from services.workorders.entrypoints.alarm_consumer import AlarmConsumer
from tests.fixtures.kafka_tls import SecureKafkaBroker

from .test_sasl_ssl_broker import _consume_kafka_python

pytestmark = pytest.mark.integration




@pytest.fixture(scope="module")
def env(broker: SecureKafkaBroker) -> dict[str, str]:
    """The environment a deployment gives a service: bootstrap plus the PIPEWARDEN_KAFKA_* security settings."""
    return {"PIPEWARDEN_KAFKA_BOOTSTRAP": broker.bootstrap, **broker.security().env()}


def test_topics_admin_is_idempotent_over_sasl_ssl(broker: SecureKafkaBroker) -> None:
    assert not ensure_topics(broker.bootstrap, security=broker.security(), timeout_s=20).changed


def test_telemetry_publishes_with_its_configured_security(broker: SecureKafkaBroker, env: dict[str, str]) -> None:
    config = TelemetryConfig.from_env({**env, "PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS": "gw=tok"})
    assert config.kafka_security.protocol == "SASL_SSL"
    key = uuid.uuid4().hex.encode()

    async def publish() -> None:
        publisher = TelemetryPublisher(config.kafka_bootstrap, publish_timeout_s=20, request_timeout_ms=10_000,
                                       linger_ms=0, max_batch_bytes=64 * 1024, security=config.kafka_security)
        await publisher.start(timeout_s=20)
        try:
            await publisher.publish([OutRecord(TELEMETRY_REJECTED.name, key, b"from telemetry")])
        finally:
            await publisher.stop()

    asyncio.run(publish())
    assert _consume_kafka_python(broker.bootstrap, broker.security(), key) == [b"from telemetry"]


def test_the_workorders_outbox_publisher_and_alarm_consumer(broker: SecureKafkaBroker, env: dict[str, str]) -> None:
    config = WorkOrdersConfig.from_env(env)
    event = RecordedEvent("s-1", 1, 1, "Test", 1, {}, uuid.uuid4(), 0)
    key = uuid.uuid4().hex.encode()
    publisher = OutboxPublisher(config.kafka_bootstrap, timeout_s=20, security=config.kafka_security)
    try:
        publisher.publish([OutboxMessage(WORKORDERS_EVENTS.name, key, b"from the outbox", (), event)])
    finally:
        publisher.close()
    assert _consume_kafka_python(broker.bootstrap, broker.security(), key, WORKORDERS_EVENTS.name) == [
        b"from the outbox"]

    # The alarm consumer reads over SASL_SSL and dead-letters a record it cannot decode (its producer too).
    topic = TELEMETRY_REJECTED.name  # any existing topic: garbage on it is what the consumer dead-letters
    garbage_key = uuid.uuid4().hex.encode()
    publisher = OutboxPublisher(config.kafka_bootstrap, timeout_s=20, security=config.kafka_security)
    try:
        publisher.publish([OutboxMessage(topic, garbage_key, b"\xff not an alarm", (), event)])
    finally:
        publisher.close()
    handled: list[Any] = []
    consumer = AlarmConsumer(config.kafka_bootstrap, lambda facts, cause: handled.append(facts),
                             group_id=f"kafkaconn-{uuid.uuid4().hex}", topic=topic,
                             security=config.kafka_security)
    stop = asyncio.Event()

    async def run() -> None:
        task = asyncio.ensure_future(consumer.run(stop))
        for _ in range(20):  # the consumer runs on this loop: read the dead-letter topic from a thread
            if await asyncio.to_thread(_consume_kafka_python, broker.bootstrap, broker.security(), garbage_key,
                                       LEAK_DEAD_LETTER.name):
                break
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(run())
    assert _consume_kafka_python(broker.bootstrap, broker.security(), garbage_key, LEAK_DEAD_LETTER.name)
    assert handled == []


def test_leakdetect_faust_app_produces_with_its_configured_credentials(
    broker: SecureKafkaBroker, env: dict[str, str]
) -> None:
    import faust

    config = LeakdetectConfig.from_env(env)
    credentials = config.kafka_security.faust_credentials()
    assert credentials.protocol.value == "SASL_SSL"
    key = uuid.uuid4().hex.encode()

    async def produce() -> None:
        app = faust.App(f"kafkaconn-{uuid.uuid4().hex}", broker=f"kafka://{broker.bootstrap}",
                        broker_credentials=credentials, web_enabled=False, producer_acks=-1)
        producer = app.producer
        await producer.start()
        try:
            await producer.send_and_wait(TELEMETRY_REJECTED.name, key, b"from faust", partition=None,
                                         timestamp=None, headers=None)
        finally:
            await producer.stop()

    done = threading.Event()
    errors: list[BaseException] = []

    def in_thread() -> None:  # faust wants an event loop of its own
        try:
            asyncio.run(produce())
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    threading.Thread(target=in_thread, daemon=True).start()
    assert done.wait(60) and not errors, errors
    assert _consume_kafka_python(broker.bootstrap, broker.security(), key) == [b"from faust"]


def test_the_load_testers_kafka_cross_check_runs_on_sasl_ssl(
    broker: SecureKafkaBroker, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kafka's own ProducerPerformance (Java) gets the same settings as a 0600 client.properties file.
    load_tests = str(Path(__file__).resolve().parents[3] / "load-tests")
    monkeypatch.syspath_prepend(load_tests)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    crosscheck: Any = importlib.import_module("loadtest.crosscheck")  # load-tests/ is not a package of the repo

    result = crosscheck.producer_perf(broker.bootstrap, 34, 2000, log=lambda *_: None)
    assert result["records_per_s"] and result["records"] == 2000, result
