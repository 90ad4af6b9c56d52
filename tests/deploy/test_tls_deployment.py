"""`make up` with `tls: true`: a deployment of its own (a second one beside conftest.py's shared deployment) whose
gRPC servers speak only TLS and whose broker speaks only SASL_SSL; `make status` probes it over TLS, the smoke
load test runs against it over TLS and its leak ends as a work order on a dispatcher's Watch.

It costs a deployment's start (~40-70 s on two cores), a smoke run (~60 s) and a stop: more than the two minutes
`make test` can spare, so it runs only when PIPEWARDEN_TEST_TLS_DEPLOYMENT=1 (`make test-tls`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.local.config import load
from services.grpctls import ClientTLS, channel
from services.kafkaconn import KafkaSecurity
from services.topics.admin import TopicAdminError, connect
from tests.deploy.support import REPO, Running, cli, write_deployment

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("PIPEWARDEN_TEST_TLS_DEPLOYMENT") != "1",
                       reason="a second deployment (> 2 min): PIPEWARDEN_TEST_TLS_DEPLOYMENT=1 (make test-tls)"),
]


@pytest.fixture(scope="module")
def tls_deployment() -> Iterator[Running]:
    base = Path(tempfile.mkdtemp(prefix="pipewarden-deploy-tls-"))
    base.chmod(0o755)  # PostgreSQL runs as the `postgres` user when we are root: it must reach the data dir
    file = write_deployment(base, "tls")
    doc = yaml.safe_load(file.read_text())
    doc["tls"] = True
    file.write_text(yaml.safe_dump(doc))
    running = Running(file, load(file))
    try:
        up = cli(file, "up")
        assert up.returncode == 0, f"make up (tls) failed:\n{up.stdout}\n{up.stderr}"
        yield running
    finally:
        down = cli(file, "down", timeout=240)
        if down.returncode != 0:
            print(down.stderr, file=sys.stderr)
        shutil.rmtree(base, ignore_errors=True)


def _health(port: int, tls: ClientTLS | None) -> str:
    with channel(f"127.0.0.1:{port}", tls) as ch:
        try:
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError as error:
            return error.code().name  # type: ignore[attr-defined, no-any-return]
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def test_every_server_speaks_tls_only_and_kafka_sasl_ssl_only(tls_deployment: Running) -> None:
    d = tls_deployment.deployment
    status = tls_deployment.status()
    assert status.returncode == 0, status.stdout
    assert "(SASL_SSL)" in status.stdout
    ports = [d.telemetry_port, d.workorders_grpc_port,
             *(d.leakdetect_grpc_port + i for i in range(d.leakdetect_workers))]
    trusted = ClientTLS(str(d.tls_ca_file))
    operator = ClientTLS(str(d.tls_ca_file), *map(str, d.tls_ops_cert))
    for port in ports:
        assert _health(port, operator) == "SERVING", port
        assert _health(port, None) == "UNAVAILABLE", f"port {port} answered plaintext"
    # Telemetry asks every client for a certificate from the deployment's CA (gateways' mutual TLS): trusting the
    # CA is not enough there; the other servers ask for none.
    assert _health(d.telemetry_port, trusted) == "UNAVAILABLE"
    for port in ports[1:]:
        assert _health(port, trusted) == "SERVING", port
    # The system's roots do not include the deployment's own CA: its certificate is not trusted without it.
    for port in ports:
        assert _health(port, ClientTLS()) == "UNAVAILABLE", port
    connect(d.kafka_bootstrap, timeout_s=10, security=KafkaSecurity.from_env(d.kafka_client_env())).close()
    with pytest.raises(TopicAdminError):
        connect(d.kafka_bootstrap, timeout_s=3, security=KafkaSecurity()).close()
    # Keys and the SCRAM password 0600; the password on no command line and in no log.
    for path in (d.tls_dir / "ca-key.pem", d.tls_server_key_file, d.kafka_password_file, d.tls_ops_cert[1],
                 *d.tls_gateway_cert_dir.glob("*-key.pem")):
        assert path.stat().st_mode & 0o077 == 0, path
    password = d.kafka_password_file.read_text().strip()
    for pid in tls_deployment.pids().values():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert password not in cmdline
    for log in d.log_dir.glob("*.log"):
        assert password not in log.read_text(errors="replace"), log
    assert password not in d.supervisord_conf.read_text()


def _publish_as(d: Any, cert_of: str | None, token: str, readings_of: str) -> str:
    """One reading of ``readings_of``'s first tag, over a connection presenting ``cert_of``'s certificate (None:
    none); the status name."""
    from services.contracts.pipewarden.telemetry.v1 import reading_pb2
    from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as api
    from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2_grpc as api_grpc
    from services.network import load_demo_network

    tag = load_demo_network().tags_of_gateway(readings_of)[0]
    now_us = time.time_ns() // 1000
    batch = reading_pb2.ReadingBatch(gateway_id=readings_of, batch_sequence=now_us, readings=[reading_pb2.Reading(
        tag_id=tag.tag_id, source_time_unix_us=now_us, value=(tag.range_min + tag.range_max) / 2,
        quality=reading_pb2.QUALITY_GOOD)])
    files = tuple(map(str, d.tls_gateway_cert(cert_of))) if cert_of else ()
    with channel(f"127.0.0.1:{d.telemetry_port}", ClientTLS(str(d.tls_ca_file), *files)) as ch:
        try:
            api_grpc.TelemetryIngestServiceStub(ch).PublishBatch(
                api.PublishBatchRequest(batch=batch), metadata=[("authorization", f"Bearer {token}")], timeout=10)
        except grpc.RpcError as error:
            return error.code().name  # type: ignore[attr-defined, no-any-return]
    return "OK"


def test_each_gateway_presents_its_own_certificate_and_another_gateways_is_refused(tls_deployment: Running) -> None:
    d = tls_deployment.deployment
    tokens = yaml.safe_load(d.secrets_file.read_text())["gateway_tokens"]
    first, second = sorted(tokens)[:2]
    assert _publish_as(d, first, tokens[first], first) == "OK"
    # A stolen token with the thief's own certificate, or the thief's token for the victim's readings: refused.
    assert _publish_as(d, second, tokens[first], first) == "PERMISSION_DENIED"
    assert _publish_as(d, second, tokens[second], first) == "PERMISSION_DENIED"
    assert _publish_as(d, None, tokens[first], first) == "UNAVAILABLE"  # no certificate: no connection


def test_the_smoke_load_test_runs_over_tls_and_its_leak_ends_as_a_work_order(
    tls_deployment: Running, tmp_path: Path
) -> None:
    # The smoke profile and the SLOs as shipped (load-tests/slo.yaml: ack p99 <= 50 ms, lag <= 10 s, ...), over TLS
    # and SASL_SSL; --leak-wait only bounds the wait for the leak's work order (its SLO is judged on the time measured).
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEWARDEN_")}
    run = subprocess.run(
        ["make", "--no-print-directory", "loadtest", f"DEPLOYMENT={tls_deployment.file}", "PROFILE=smoke",
         f"LOADTEST_ARGS=--reports {reports} --leak-wait 90"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=360, check=False)
    print(run.stdout[-2500:])  # the verdicts and figures (pytest -rP shows them)
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    report = json.loads((reports / "loadtest.json").read_text())
    assert report["passed"] is True and all(s["ok"] for s in report["slos"]), report["slos"]
    assert report["counts"]["kafka_records_missing"] == 0  # read back over SASL_SSL
    assert report["leakdetect_max_lag_s"] is not None  # the lag probe reached the broker over SASL_SSL
    assert report["leak_to_workorder_s"]["n"] == 1  # alarm over SASL_SSL, work order on a Watch over TLS
    (leak,) = report["leaks"]
    assert leak["alarm"]["alarm_id"] == leak["work_order"]["alarm_id"]


def test_rotating_the_kafka_password_keeps_every_service_healthy(tls_deployment: Running) -> None:
    """`make rotate-kafka-password` (after the smoke test: it restarts the services, and a restarted leakdetect
    catching up on a loaded machine delayed the smoke's leak past its wait): the new password on the broker and in
    its 0600 file, the old one refused, the Kafka clients restarted and healthy; then a gateway's batch is acked
    (telemetry acks what Kafka took, on the new password) and workorders' consumer group has its member back."""
    from dataclasses import replace

    from services.kafkaconn.rotation import authenticates

    d = tls_deployment.deployment
    security = KafkaSecurity.from_env(d.kafka_client_env())
    old = replace(security, _password=security.password())
    before = tls_deployment.pids()
    rotated = cli(tls_deployment.file, "rotate-kafka-password", timeout=300)
    assert rotated.returncode == 0, rotated.stderr
    assert security.password() != old.password() and d.kafka_password_file.stat().st_mode & 0o077 == 0
    assert old.password() not in rotated.stdout + rotated.stderr
    assert authenticates(d.kafka_bootstrap, security) and not authenticates(d.kafka_bootstrap, old, timeout_s=5)
    after = tls_deployment.pids()
    clients = [p.name for p in d.programs() if p.kind in ("telemetry", "leakdetect", "workorders")]
    assert all(after[name] != before[name] for name in clients), (before, after)
    assert after["kafka"] == before["kafka"]  # the broker kept running
    status = tls_deployment.wait_healthy(120)
    assert status.returncode == 0, status.stdout
    tokens = yaml.safe_load(d.secrets_file.read_text())["gateway_tokens"]
    gateway = sorted(tokens)[0]
    assert _publish_as(d, gateway, tokens[gateway], gateway) == "OK"
    admin = connect(d.kafka_bootstrap, timeout_s=10, security=security)
    try:
        deadline = time.monotonic() + 90
        while not (admin.describe_groups(["pipewarden-workorders"]).get("pipewarden-workorders") or {}).get("members"):
            assert time.monotonic() < deadline, "workorders' consumer did not rejoin its group on the new password"
            time.sleep(2)
    finally:
        admin.close()
