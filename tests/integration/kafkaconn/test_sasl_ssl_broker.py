"""Kafka over TLS with SASL/SCRAM-SHA-512: the project's broker script configured that way, and the shared client
settings (services.kafkaconn) used by aiokafka and kafka-python clients against it.

One private broker for the module (~20 s to format and start); every refusal is the real broker's.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError as AioKafkaError
from kafka import KafkaConsumer, TopicPartition

from deploy.local.pki import ensure_ca
from services.kafkaconn import KafkaSecurity
from services.topics.admin import TopicAdminError, connect
from services.topics.registry import TELEMETRY_REJECTED
from tests.fixtures.kafka import KAFKA_SH, ROOT
from tests.fixtures.kafka_tls import SecureKafkaBroker

pytestmark = pytest.mark.integration

TOPIC = TELEMETRY_REJECTED.name




async def _produce(bootstrap: str, security: KafkaSecurity, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=10_000,
                                **security.aiokafka_kwargs())
    try:
        await asyncio.wait_for(producer.start(), 20)
        await producer.send_and_wait(TOPIC, value, key=key)
    finally:
        await producer.stop()


async def _consume_aiokafka(bootstrap: str, security: KafkaSecurity, key: bytes) -> list[bytes]:
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=f"kafkaconn-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", **security.aiokafka_kwargs())
    await asyncio.wait_for(consumer.start(), 20)
    found: list[bytes] = []
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while not found and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            found += [r.value for records in batches.values() for r in records if r.key == key]
    finally:
        await consumer.stop()
    return found


def _consume_kafka_python(bootstrap: str, security: KafkaSecurity, key: bytes, topic: str = TOPIC) -> list[bytes]:
    """The values of ``key`` on ``topic``, read from the beginning up to the end offsets of when it was called."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             request_timeout_ms=10_000, **security.kafka_python_kwargs())
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[bytes] = []
        deadline = time.monotonic() + 20
        while any(consumer.position(tp) < end for tp, end in ends.items()) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                found += [r.value for r in records if r.key == key]
        return found
    finally:
        consumer.close()


def test_a_record_goes_through_a_sasl_ssl_broker_with_the_shared_settings(broker: SecureKafkaBroker) -> None:
    security = broker.security()
    key, value = uuid.uuid4().hex.encode(), b"over TLS, authenticated with SCRAM-SHA-512"
    asyncio.run(_produce(broker.bootstrap, security, key, value))
    assert asyncio.run(_consume_aiokafka(broker.bootstrap, security, key)) == [value]
    assert _consume_kafka_python(broker.bootstrap, security, key) == [value]


def test_the_same_settings_come_from_the_environment(broker: SecureKafkaBroker) -> None:
    env = broker.security().env()
    assert "PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE" in env and not any(
        broker.security().password() in v for v in env.values()
    )
    security = KafkaSecurity.from_env(env)
    key = uuid.uuid4().hex.encode()
    asyncio.run(_produce(broker.bootstrap, security, key, b"from env"))
    assert _consume_kafka_python(broker.bootstrap, security, key) == [b"from env"]


def test_a_wrong_password_is_refused(
    broker: SecureKafkaBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n", encoding="utf-8")
    security = broker.security(sasl_password_file=wrong)
    with pytest.raises(AioKafkaError):
        asyncio.run(_produce(broker.bootstrap, security, b"k", b"must not arrive"))
    assert "SaslAuthenticationFailed" in caplog.text
    # kafka-python sees the broker's refusal, or (after a failed authentication the broker delays and drops
    # the connection) a disconnect: either way nothing is answered.
    with pytest.raises(TopicAdminError):
        connect(broker.bootstrap, timeout_s=1.5, security=security).close()


def test_an_unknown_user_is_refused(broker: SecureKafkaBroker, caplog: pytest.LogCaptureFixture) -> None:
    security = broker.security(sasl_username="mallory")
    with pytest.raises(AioKafkaError):
        asyncio.run(_produce(broker.bootstrap, security, b"k", b"must not arrive"))
    assert "SaslAuthenticationFailed" in caplog.text
    with pytest.raises(TopicAdminError):
        connect(broker.bootstrap, timeout_s=1.5, security=security).close()


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
def test_a_client_without_tls_or_without_sasl_gets_nothing(broker: SecureKafkaBroker, protocol: str) -> None:
    security = KafkaSecurity(protocol=protocol, ssl_cafile=broker.ca_cert if protocol == "SSL" else None)
    with pytest.raises(TopicAdminError):
        connect(broker.bootstrap, timeout_s=1.5, security=security).close()
    with pytest.raises((AioKafkaError, OSError, asyncio.TimeoutError)):
        asyncio.run(asyncio.wait_for(_produce(broker.bootstrap, security, b"k", b"must not arrive"), 8))


def test_a_broker_certificate_from_another_ca_is_refused(
    broker: SecureKafkaBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = ensure_ca(tmp_path / "other-ca", name="someone else's CA")
    with pytest.raises(TopicAdminError):
        connect(broker.bootstrap, timeout_s=1.5, security=broker.security(ssl_cafile=other.cert)).close()
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_the_password_is_on_no_command_line_and_in_no_log(broker: SecureKafkaBroker) -> None:
    password = broker.security().password()
    pid = (broker.data_dir / "kafka.pid").read_text().strip()
    assert password not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    for log in broker.data_dir.glob("*.log"):
        assert password not in log.read_text(errors="replace"), log
    assert (broker.data_dir / "server.properties").stat().st_mode & 0o077 == 0
    assert (broker.data_dir / "tls" / "keystore.pem").stat().st_mode & 0o077 == 0
    assert not list((broker.data_dir / "tls").glob("*.args")), "the format tool's argument file is removed"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PIPEWARDEN_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "must be PLAINTEXT, SSL or SASL_SSL"),
        ({"PIPEWARDEN_KAFKA_SECURITY_PROTOCOL": "SSL"}, "needs PIPEWARDEN_KAFKA_SSL_SERVER_CERTFILE"),
        ({"PIPEWARDEN_KAFKA_SECURITY_PROTOCOL": "SSL", "PIPEWARDEN_KAFKA_SSL_SERVER_CERTFILE": "/nonexistent",
          "PIPEWARDEN_KAFKA_SSL_SERVER_KEYFILE": "/nonexistent", "PIPEWARDEN_KAFKA_SSL_CAFILE": "/nonexistent"},
         "no such file"),
    ],
)
def test_kafka_sh_refuses_unusable_security_settings(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = subprocess.run([str(KAFKA_SH), "run"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PIPEWARDEN_KAFKA_DATA_DIR": str(tmp_path), **env})
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
