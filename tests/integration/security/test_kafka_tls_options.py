"""Kafka security options against the real broker configured that way (deploy/kafka/kafka.sh), opt-in with
`make test-tls` (PIPEWARDEN_TEST_TLS_DEPLOYMENT=1; two private brokers, ~20 s each to format and start):

- SSL client authentication (PIPEWARDEN_KAFKA_SSL_CLIENT_AUTH=required): a client certificate from the broker's
  CA (PIPEWARDEN_KAFKA_SSL_CERTFILE / _SSL_KEYFILE, services.kafkaconn) gets in and its records round-trip;
  no certificate, or one from another CA, is refused; with SASL_SSL both the certificate and the password are
  needed.
- SCRAM password rotation (services.kafkaconn.rotation, `make rotate-kafka-password` on a deployment): the new
  password is on the broker before the file changes (0600); afterwards the new one is let in, the old one not,
  and a connection opened before the rotation keeps working.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from deploy.local.pki import CertPair, ensure_ca, issue, issue_client
from services.kafkaconn import KafkaSecurity
from services.kafkaconn.rotation import authenticates, rotate_password_file
from tests.fixtures.kafka import KAFKA_SH, start_on_free_ports
from tests.fixtures.kafka_tls import USERNAME, SecureKafkaBroker

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("PIPEWARDEN_TEST_TLS_DEPLOYMENT") != "1",
                       reason="private TLS brokers (~20 s each): PIPEWARDEN_TEST_TLS_DEPLOYMENT=1 (make test-tls)"),
]


def _broker(directory: Path, protocol: str, client_auth: str) -> tuple[SecureKafkaBroker, CertPair, CertPair]:
    pki = directory / "pki"
    ca = ensure_ca(pki)
    # The broker's certificate serves and, for its own connections on a mutual-TLS listener, identifies it.
    server = issue(ca, pki, "broker", common_name="localhost", client=True)
    tools = issue_client(ca, pki, "kafka-tools")
    password_file = directory / "kafka-password"
    password_file.write_text(secrets.token_hex(16) + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    env = {
        "PIPEWARDEN_KAFKA_SECURITY_PROTOCOL": protocol,
        "PIPEWARDEN_KAFKA_SSL_CAFILE": str(ca.cert),
        "PIPEWARDEN_KAFKA_SSL_SERVER_CERTFILE": str(server.cert),
        "PIPEWARDEN_KAFKA_SSL_SERVER_KEYFILE": str(server.key),
        "PIPEWARDEN_KAFKA_SSL_CLIENT_AUTH": client_auth,
    }
    if client_auth == "required":
        env |= {"PIPEWARDEN_KAFKA_SSL_CERTFILE": str(tools.cert), "PIPEWARDEN_KAFKA_SSL_KEYFILE": str(tools.key)}
    if protocol == "SASL_SSL":
        env |= {"PIPEWARDEN_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "PIPEWARDEN_KAFKA_SASL_USERNAME": USERNAME,
                "PIPEWARDEN_KAFKA_SASL_PASSWORD_FILE": str(password_file)}
    broker = start_on_free_ports(
        lambda port, controller: SecureKafkaBroker(port=port, controller_port=controller, data_dir=directory / "kafka",
                                                   ca=ca, password_file=password_file, extra_env=env),
        f"a {protocol} broker (client auth {client_auth})")
    return broker, ca, issue_client(ca, pki, "pipewarden-service")


@pytest.fixture(scope="module")
def mtls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SecureKafkaBroker, CertPair, CertPair]]:
    """SASL_SSL with client certificates required: both the certificate and the password are asked for."""
    started = _broker(tmp_path_factory.mktemp("kafka-mtls"), "SASL_SSL", "required")
    try:
        yield started
    finally:
        started[0].stop()


def _settings(broker: SecureKafkaBroker, client: CertPair | None, **overrides: object) -> KafkaSecurity:
    files = {"ssl_certfile": client.cert, "ssl_keyfile": client.key} if client is not None else {}
    return broker.security(**files, **overrides)


def test_a_client_certificate_from_the_ca_with_the_password_gets_in_and_its_records_round_trip(
    mtls_broker: tuple[SecureKafkaBroker, CertPair, CertPair],
) -> None:
    broker, _, client = mtls_broker
    security = KafkaSecurity.from_env(_settings(broker, client).env())  # as a service reads it
    assert security.ssl_certfile == client.cert
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic, payload = "telemetry.rejected.v1", uuid.uuid4().bytes

    async def round_trip() -> bool:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, **security.aiokafka_kwargs())
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, payload)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                                    **security.aiokafka_kwargs())
        await consumer.start()
        try:
            from aiokafka import TopicPartition

            tp = TopicPartition(topic, sent.partition)
            consumer.assign([tp])
            consumer.seek(tp, sent.offset)
            record = await asyncio.wait_for(consumer.getone(), 30)
            return record.value == payload
        finally:
            await consumer.stop()

    assert asyncio.run(round_trip())


def test_no_certificate_one_from_another_ca_or_no_password_is_refused(
    mtls_broker: tuple[SecureKafkaBroker, CertPair, CertPair], tmp_path: Path,
) -> None:
    broker, _, client = mtls_broker
    assert authenticates(broker.bootstrap, _settings(broker, client))
    assert not authenticates(broker.bootstrap, _settings(broker, None), timeout_s=5)
    stranger_ca = ensure_ca(tmp_path / "other", name="someone else's CA")
    stranger = issue_client(stranger_ca, tmp_path / "other", "pipewarden-service")
    assert not authenticates(broker.bootstrap, _settings(broker, stranger), timeout_s=5)
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    assert not authenticates(broker.bootstrap, _settings(broker, client, sasl_password_file=wrong), timeout_s=5)


def test_kafkas_own_java_tools_connect_with_the_client_certificate(
    mtls_broker: tuple[SecureKafkaBroker, CertPair, CertPair], tmp_path: Path,
) -> None:
    """KafkaSecurity.java_client_properties in a 0600 --command-config file, as the load test's cross-check
    writes it: Kafka's TopicCommand lists the topics; the same file without the certificate is refused."""
    broker, _, client = mtls_broker

    def topics(security: KafkaSecurity) -> subprocess.CompletedProcess[str]:
        config = tmp_path / "client.properties"
        config.touch(mode=0o600)
        props = {**security.java_client_properties(), "default.api.timeout.ms": "15000", "request.timeout.ms": "5000"}
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return subprocess.run([str(KAFKA_SH), "run-class", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                               broker.bootstrap, "--command-config", str(config), "--list"],
                              capture_output=True, text=True, timeout=120, check=False)

    listed = topics(_settings(broker, client))
    assert listed.returncode == 0 and "telemetry.readings.v1" in listed.stdout, listed.stderr[-2000:]
    refused = topics(_settings(broker, None))
    assert refused.returncode != 0 or "telemetry.readings.v1" not in refused.stdout


@pytest.fixture(scope="module")
def ssl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SecureKafkaBroker, CertPair, CertPair]]:
    """SSL only, client certificates required: the certificate is the client's identity (no SASL)."""
    started = _broker(tmp_path_factory.mktemp("kafka-ssl-mtls"), "SSL", "required")
    try:
        yield started
    finally:
        started[0].stop()


def test_ssl_with_client_authentication_only_needs_the_certificate(
    ssl_broker: tuple[SecureKafkaBroker, CertPair, CertPair],
) -> None:
    broker, ca, client = ssl_broker
    with_cert = KafkaSecurity(protocol="SSL", ssl_cafile=ca.cert, ssl_certfile=client.cert, ssl_keyfile=client.key)
    assert authenticates(broker.bootstrap, with_cert)
    assert not authenticates(broker.bootstrap, KafkaSecurity(protocol="SSL", ssl_cafile=ca.cert), timeout_s=5)


def test_rotating_the_scram_password(mtls_broker: tuple[SecureKafkaBroker, CertPair, CertPair]) -> None:
    broker, _, client = mtls_broker
    security = _settings(broker, client)
    path = security.sasl_password_file
    assert path is not None
    old = replace(security, _password=security.password())
    from kafka.admin import KafkaAdminClient

    opened = KafkaAdminClient(bootstrap_servers=broker.bootstrap, **old.kafka_python_kwargs())
    try:
        opened.list_topics()
        rotate_password_file(broker.bootstrap, security)
        assert security.password() != old.password()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and not path.with_name(path.name + ".new").exists()
        assert authenticates(broker.bootstrap, security)  # the file's new password
        assert not authenticates(broker.bootstrap, old, timeout_s=5)  # the old one, on a new connection
        assert opened.list_topics()  # a connection made before keeps working until it reconnects
    finally:
        opened.close()
    # A rotation interrupted after the broker took its password (the .new file left): the next one finishes it.
    pending = path.with_name(path.name + ".new")
    pending.write_text(path.read_text())
    pending.chmod(0o600)
    before = security.password()
    rotate_password_file(broker.bootstrap, security)
    assert security.password() != before and authenticates(broker.bootstrap, security)
