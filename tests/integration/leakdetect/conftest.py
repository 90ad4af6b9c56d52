"""Helpers for the leak detection integration tests: workers as subprocesses, producing scenarios."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import DecodeError
from kafka import KafkaProducer

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as qpb
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2_grpc as qgrpc
from services.contracts.pipewarden.telemetry.v1 import records_pb2
from services.topics import LEAK_ALARMS, TELEMETRY_READINGS, encode
from tests.fixtures.kafka import consume_all, free_port
from tests.support import tokens

ROOT = Path(__file__).resolve().parents[3]


class WorkerProcess:
    def __init__(self, bootstrap: str, app_id: str, log_dir: Path, name: str) -> None:
        self.bootstrap = bootstrap
        self.app_id = app_id
        self.grpc_port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.data_dir = log_dir / "faust-data"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            PIPEWARDEN_KAFKA_BOOTSTRAP=self.bootstrap,
            PIPEWARDEN_LEAKDETECT_APP_ID=self.app_id,
            PIPEWARDEN_LEAKDETECT_DATA_DIR=str(self.data_dir),
            PIPEWARDEN_LEAKDETECT_GRPC_PORT=str(self.grpc_port),
            PIPEWARDEN_LEAKDETECT_METRICS_PORT="0",
            PIPEWARDEN_LEAKDETECT_COMMIT_INTERVAL_S="0.5",
            # the query API checks callers' tokens: the tests' key set, and `status` sends a test token
            PIPEWARDEN_LEAKDETECT_JWT_KEYS_FILE=str(tokens.write_keys(self.log_path.parent)[1]),
        )
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.leakdetect"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def status(self, segment_id: str) -> qpb.SegmentStatus:
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            stub = qgrpc.LeakQueryServiceStub(channel)
            auth = (("authorization", f"Bearer {tokens.issue('regulator', ['*'])}"),)
            return stub.GetSegmentStatus(qpb.GetSegmentStatusRequest(segment_id=segment_id), timeout=5,
                                         metadata=auth).status

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def worker_factory(kafka_bootstrap: str, tmp_path: Path) -> Iterator:
    workers: list[WorkerProcess] = []
    app_id = f"pw-ld-test-{uuid.uuid4().hex[:8]}"

    def make(name: str = "w1") -> WorkerProcess:
        w = WorkerProcess(kafka_bootstrap, app_id, tmp_path, name)
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.stop()


def produce(bootstrap: str, records: Iterable[records_pb2.SegmentReadings | tuple[bytes, bytes]]) -> int:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
    n = 0
    for rec in records:
        if isinstance(rec, tuple):
            producer.send(TELEMETRY_READINGS.name, key=rec[0], value=rec[1])
        else:
            producer.send(TELEMETRY_READINGS.name, key=rec.segment_id.encode(), value=encode(rec))
        n += 1
    producer.flush(60)
    producer.close()
    return n


def alarms_for(bootstrap: str, segment_id: str) -> list[alarms_pb2.LeakAlarmEvent]:
    """The alarms of ``segment_id`` on the shared topic (which holds other tests' poison records too)."""
    out = []
    for r in consume_all(bootstrap, LEAK_ALARMS.name, timeout_s=20):
        ev = alarms_pb2.LeakAlarmEvent()
        try:
            ev.ParseFromString(r.value or b"")
        except DecodeError:
            continue
        if ev.segment_id == segment_id:
            out.append(ev)
    return out


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 1.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = predicate()
        except (grpc.RpcError, TimeoutError):
            value = None  # the worker is still starting
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(interval_s)
