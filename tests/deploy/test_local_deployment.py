"""The one-host deployment (deploy/local) for real: supervisord, Kafka, PostgreSQL and every service.

The deployment (tests/deploy/conftest.py) is shared with the other modules of tests/deploy. Tests run in
file order; the last one takes it down and up again.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
import yaml
from kafka import KafkaProducer

from deploy.local.config import load
from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.telemetry.v1 import (
    reading_pb2,
    records_pb2,
    telemetry_ingest_service_pb2,
    telemetry_ingest_service_pb2_grpc,
)
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as wo_pb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as wo_grpc
from services.network import load_demo_network
from services.topics import LEAK_ALARMS, TELEMETRY_READINGS, encode
from tests.deploy.support import Running, cli, write_deployment
from tests.fixtures.kafka import consume_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NETWORK = load_demo_network()


def test_up_starts_every_process_healthy(local: Running) -> None:
    result = local.status()
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    names = [p.name for p in local.deployment.programs()]
    assert names == ["kafka", "postgres", "telemetry-0", "telemetry-1", "leakdetect-0", "leakdetect-1", "workorders",
                     "console"]
    for name in names:
        row = next(line for line in lines if line.split()[0] == name)
        assert " RUNNING " in row and " healthy " in row, row
    # Secrets: generated, private, a token for every gateway of the network.
    assert local.deployment.secrets_file.stat().st_mode & 0o777 == 0o600
    values = local.secrets()
    assert set(values["gateway_tokens"]) == set(NETWORK.gateways)
    assert local.deployment.signing_key_file.stat().st_mode & 0o777 == 0o600
    assert (local.deployment.supervisord_conf.stat().st_mode & 0o777) == 0o600
    key_body = "".join(local.deployment.signing_key_file.read_text().splitlines()[1:-1])
    conf = local.deployment.supervisord_conf.read_text()
    assert key_body not in conf.replace("\n", "")
    assert not any(token in conf for token in values["gateway_tokens"].values())


def test_up_twice_is_harmless(local: Running) -> None:
    before = local.pids()
    again = cli(local.file, "up")
    assert again.returncode == 0, again.stderr
    assert "already up" in again.stderr
    assert local.pids() == before


def test_up_refuses_a_taken_port_naming_it_and_its_holder(local: Running, tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    file = write_deployment(tmp_path, "other")
    other = load(file)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", other.workorders_grpc_port))
        holder.listen()
        result = cli(file, "up", timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"port {other.workorders_grpc_port} (workorders gRPC) is taken by pid {os.getpid()} (" in result.stderr
    assert not other.socket_path.exists()  # nothing was started
    # The running deployment's ports are refused too, naming its processes.
    clash = tmp_path / "clash.yaml"
    doc = yaml.safe_load(file.read_text())
    doc["kafka"]["port"] = local.deployment.kafka_port
    clash.write_text(yaml.safe_dump(doc))
    result = cli(clash, "up", timeout=60)
    assert result.returncode == 2
    assert f"port {local.deployment.kafka_port} (kafka) is taken by pid {local.pids()['kafka']} (java" in result.stderr


def test_a_service_killed_with_sigkill_is_restarted(local: Running) -> None:
    for name in ("telemetry-0", "workorders"):
        old = local.pids()[name]
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while local.pids()[name] in (0, old) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert local.pids()[name] not in (0, old), f"{name} was not restarted"
    result = local.wait_healthy(90)
    assert result.returncode == 0, result.stdout


def _batch(gateway: str, sequence: int) -> reading_pb2.ReadingBatch:
    now_us = time.time_ns() // 1000
    return reading_pb2.ReadingBatch(
        gateway_id=gateway,
        batch_sequence=sequence,
        readings=[
            reading_pb2.Reading(tag_id=tag.tag_id, source_time_unix_us=now_us,
                                value=(tag.range_min + tag.range_max) / 2, quality=reading_pb2.QUALITY_GOOD)
            for tag in NETWORK.tags_of_gateway(gateway)
        ],
    )


def _work_orders(local: Running, token: str) -> list[wo_pb.WorkOrder]:
    with grpc.insecure_channel(f"127.0.0.1:{local.deployment.workorders_grpc_port}") as channel:
        reply = wo_grpc.WorkOrdersServiceStub(channel).ListWorkOrders(
            wo_pb.ListWorkOrdersRequest(), metadata=[("authorization", f"Bearer {token}")], timeout=10
        )
    return list(reply.work_orders)


def test_down_and_up_keep_readings_and_work_orders(local: Running) -> None:
    d = local.deployment
    run = f"{time.time_ns()}"
    # A reading batch through telemetry's real API with the gateway's generated token.
    gateway = "gw-ds-01"
    sequence = time.time_ns() // 1000
    tokens = local.secrets()["gateway_tokens"]
    with grpc.insecure_channel(f"127.0.0.1:{d.telemetry_port}") as channel:
        stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
        ack = stub.PublishBatch(
            telemetry_ingest_service_pb2.PublishBatchRequest(batch=_batch(gateway, sequence)),
            metadata=[("authorization", f"Bearer {tokens[gateway]}")],
            timeout=30,
        )
    assert ack.ack.accepted_count > 0 and ack.ack.rejected_count == 0, ack
    # An alarm on leak.alarms.v1 becomes a work order, seen with a token printed by `token`.
    segment = next(s for s in NETWORK.segments.values() if s.district == "Dongsheng")
    at_us = time.time_ns() // 1000
    alarm = alarms_pb2.LeakAlarmEvent(
        event_id=f"deploy-{run}/0", alarm_id=f"deploy-{run}", alarm_sequence=0,
        state=alarms_pb2.ALARM_STATE_RAISED, segment_id=segment.segment_id, district=segment.district,
        methods=[alarms_pb2.DETECTION_METHOD_MASS_BALANCE], onset_time_unix_us=at_us,
        detection_time_unix_us=at_us, event_time_unix_us=at_us,
    )
    producer = KafkaProducer(bootstrap_servers=d.kafka_bootstrap, acks="all")
    try:
        producer.send(LEAK_ALARMS.name, key=segment.segment_id.encode(), value=encode(alarm))
        producer.flush(30)
    finally:
        producer.close()
    minted = cli(local.file, "token", "--role", "dispatcher", "--districts", "Dongsheng", timeout=60)
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    deadline = time.monotonic() + 60
    mine: list[wo_pb.WorkOrder] = []
    while not mine and time.monotonic() < deadline:
        mine = [w for w in _work_orders(local, token) if w.alarm_id == alarm.alarm_id]
        time.sleep(0.2)
    assert mine, "the alarm did not become a work order"

    down = cli(local.file, "down", timeout=240)
    assert down.returncode == 0, down.stderr
    assert not local.deployment.socket_path.exists() or cli(local.file, "status").returncode == 3
    up = cli(local.file, "up")
    assert up.returncode == 0, up.stdout + up.stderr

    after = [w for w in _work_orders(local, token) if w.alarm_id == alarm.alarm_id]
    assert [w.work_order_id for w in after] == [mine[0].work_order_id]
    records = consume_all(d.kafka_bootstrap, TELEMETRY_READINGS.name, timeout_s=60)
    ids = {records_pb2.SegmentReadings.FromString(r.value or b"").record_id for r in records}
    assert any(i.startswith(f"{gateway}/{sequence}/") for i in ids)


def _publish(local: Running, gateway: str, token: str) -> grpc.StatusCode:
    """One batch on a fresh connection (the kernel picks either telemetry worker); its status code."""
    with grpc.insecure_channel(f"127.0.0.1:{local.deployment.telemetry_port}") as channel:
        stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
        try:
            stub.PublishBatch(telemetry_ingest_service_pb2.PublishBatchRequest(
                batch=_batch(gateway, time.time_ns() // 1000)), metadata=[("authorization", f"Bearer {token}")],
                timeout=30)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return,attr-defined]
    return grpc.StatusCode.OK


def _settles(check: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    """``check`` holds four times running (both workers answered), within ``timeout_s``."""
    deadline, streak = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline and streak < 4:
        streak = streak + 1 if check() else 0
    return streak >= 4


def test_a_revoked_gateway_token_is_refused_without_a_restart(local: Running) -> None:
    gateway = "gw-kb-01"
    old = local.secrets()["gateway_tokens"][gateway]
    assert _publish(local, gateway, old) == grpc.StatusCode.OK
    pids = local.pids()
    revoked = cli(local.file, "gateway-token", "--revoke", gateway, timeout=60)
    assert revoked.returncode == 0 and f"revoked {gateway}" in revoked.stderr, revoked.stderr
    assert _settles(lambda: _publish(local, gateway, old) == grpc.StatusCode.UNAUTHENTICATED)
    added = cli(local.file, "gateway-token", "--gateway", gateway, timeout=60)
    assert added.returncode == 0, added.stderr
    new = added.stdout.strip()
    assert new not in local.deployment.gateway_token_hashes_file.read_text()  # only its hash is kept
    assert _settles(lambda: _publish(local, gateway, new) == grpc.StatusCode.OK)
    assert local.pids() == pids  # nobody was restarted
    again = cli(local.file, "up")  # gives the deployment's simulated gateway its secrets-file token back
    assert again.returncode == 0, again.stderr
    assert _settles(lambda: _publish(local, gateway, local.secrets()["gateway_tokens"][gateway]) == grpc.StatusCode.OK)


def test_no_secret_on_any_command_line_or_in_any_log(local: Running) -> None:
    d = local.deployment
    values = local.secrets()
    secrets = [*values["gateway_tokens"].values(), values["console_session_secret"],
               values["supervisor_http_password"], values["console_supervisor_password"],
               "".join(d.signing_key_file.read_text().splitlines()[1:-1])]
    minted = cli(local.file, "token", "--role", "regulator", "--districts", "*", timeout=60)
    secrets.append(minted.stdout.strip())
    pids = [pid for pid in local.pids().values() if pid] + [int(d.pid_file.read_text().strip())]
    for pid in pids:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        assert not [s for s in secrets if s in argv], f"a secret on the command line of pid {pid}: {argv[:80]}"
    for log in d.log_dir.glob("*.log"):
        text = log.read_text(errors="replace")
        assert not [s for s in secrets if s in text], f"a secret in {log.name}"
