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
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.local.config import load
from services.grpctls import ClientTLS, channel
from services.kafkaconn import KafkaSecurity
from services.topics.admin import TopicAdminError, connect
from tests.deploy.support import REPO, Running, cli, write_deployment
from tests.deploy.test_loadtest_on_deployment import TEST_SLOS

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
    for port in ports:
        assert _health(port, trusted) == "SERVING", port
        assert _health(port, None) == "UNAVAILABLE", f"port {port} answered plaintext"
    # The system's roots do not include the deployment's own CA: its certificate is not trusted without it.
    for port in ports:
        assert _health(port, ClientTLS()) == "UNAVAILABLE", port
    connect(d.kafka_bootstrap, timeout_s=10, security=KafkaSecurity.from_env(d.kafka_client_env())).close()
    with pytest.raises(TopicAdminError):
        connect(d.kafka_bootstrap, timeout_s=3, security=KafkaSecurity()).close()
    # Keys and the SCRAM password 0600; the password on no command line and in no log.
    for path in (d.tls_dir / "ca-key.pem", d.tls_server_key_file, d.kafka_password_file):
        assert path.stat().st_mode & 0o077 == 0, path
    password = d.kafka_password_file.read_text().strip()
    for pid in tls_deployment.pids().values():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert password not in cmdline
    for log in d.log_dir.glob("*.log"):
        assert password not in log.read_text(errors="replace"), log
    assert password not in d.supervisord_conf.read_text()


def test_the_smoke_load_test_runs_over_tls_and_its_leak_ends_as_a_work_order(
    tls_deployment: Running, tmp_path: Path
) -> None:
    slo_file = tmp_path / "slo.yaml"
    slo_file.write_text(TEST_SLOS)  # correctness SLOs as shipped; latency ones only catch a stall (see there)
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEWARDEN_")}
    run = subprocess.run(
        ["make", "--no-print-directory", "loadtest", f"DEPLOYMENT={tls_deployment.file}", "PROFILE=smoke",
         f"SLO={slo_file}", f"LOADTEST_ARGS=--reports {reports} --rate 3000 --leak-wait 90"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=360, check=False)
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    report = json.loads((reports / "loadtest.json").read_text())
    assert report["passed"] is True and all(s["ok"] for s in report["slos"]), report["slos"]
    assert report["counts"]["kafka_records_missing"] == 0  # read back over SASL_SSL
    assert report["leakdetect_max_lag_s"] is not None  # the lag probe reached the broker over SASL_SSL
    assert report["leak_to_workorder_s"]["n"] == 1  # alarm over SASL_SSL, work order on a Watch over TLS
    (leak,) = report["leaks"]
    assert leak["alarm"]["alarm_id"] == leak["work_order"]["alarm_id"]
