"""``make bench-workorders``: event-store append rate (SQLite, PostgreSQL), read-model catch-up rate and
alarm-on-Kafka -> work-order-visible latency; writes ``reports/workorders.json``.

Starts its own throw-away infrastructure: a private Kafka broker (``deploy/kafka/kafka.sh`` on free
ports, temp data dir) and a private PostgreSQL cluster (``deploy/postgres/postgres.sh`` with
``PIPEWARDEN_PG_DATA_DIR``/``PIPEWARDEN_PG_PORT``), both stopped at the end. Bounded: about 1-2 minutes.

Latency: an alarm is published to ``leak.alarms.v1`` with a kafka-python producer (acks=all); the
service runs in-process as ``serve`` wires it (aiokafka consumer group -> event store -> projection loop
-> gRPC); a dispatcher console holds a gRPC ``Watch`` open; the latency is publish start -> the
``WorkOrderOpened`` message received by the console. Goal: p99 < 1000 ms.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "workorders.json"
PG_SCRIPT = ROOT / "deploy" / "postgres" / "postgres.sh"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log(message: str) -> None:
    print(f"bench-workorders: {message}", file=sys.stderr, flush=True)


class PrivatePostgres:
    def __init__(self) -> None:
        # Not under a 0700 TemporaryDirectory: the server may run as the `postgres` user.
        base = Path(tempfile.mkdtemp(prefix="bench-workorders-pg-"))
        base.chmod(0o755)
        self.base = base
        self.env = {
            **os.environ,
            "PIPEWARDEN_PG_DATA_DIR": str(base / "cluster"),
            "PIPEWARDEN_PG_PORT": str(_free_port()),
            "PIPEWARDEN_PG_OPTIONS": "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
        }

    def up(self) -> str:
        for command, timeout in (("install", 900), ("up", 180)):
            result = subprocess.run(
                [str(PG_SCRIPT), command], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
            )
            if result.returncode != 0:
                raise RuntimeError(f"postgres.sh {command} failed: {result.stderr[-2000:]}")
        return result.stdout.strip().splitlines()[-1]

    def down(self) -> None:
        subprocess.run([str(PG_SCRIPT), "down"], env=self.env, capture_output=True, timeout=120, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def measure_read_model_events_per_s(url: str, orders: int = 600) -> tuple[float, int]:
    """The real work-order read model catching up from position 0 (``ProjectionRunner.rebuild``)."""
    from services.workorders.adapters.alarms import alarm_facts
    from services.workorders.entrypoints.runtime import build_runtime
    from services.workorders.service_layer.auth import CallerRole, Principal
    from tests.unit.workorders.service.helpers import alarm

    runtime = build_runtime(url)
    try:
        segments = list(runtime.network.segments.values())
        dispatcher = Principal("bench", CallerRole.DISPATCHER, frozenset({"*"}))
        run = uuid.uuid4().hex[:8]
        for i in range(orders):
            segment = segments[i % len(segments)]
            outcome = runtime.app.handle_alarm(
                alarm_facts(alarm(f"B-{run}-{i}", segment.segment_id, segment.district)), f"B-{run}-{i}/0"
            )
            order_id = outcome.stream_id
            for command, args in (("dispatch", {"crew_id": "c1"}), ("acknowledge", {}), ("en_route", {})):
                runtime.app.execute(dispatcher, "work_order", order_id, command, args)
        started = time.perf_counter()
        applied = runtime.runner.rebuild()
        elapsed = time.perf_counter() - started
        return applied / elapsed, applied
    finally:
        runtime.stop()


def measure_alarm_to_visible_ms(scratch: Path, alarms: int = 200, interval_s: float = 0.02) -> dict[str, Any]:
    import grpc
    from kafka import KafkaProducer

    from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
    from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
    from services.topics import LEAK_ALARMS, encode
    from services.workorders.entrypoints.alarm_consumer import AlarmConsumer, AlarmConsumerThread
    from services.workorders.entrypoints.grpc_api import GrpcServer, WorkOrdersServicer
    from services.workorders.entrypoints.runtime import build_runtime
    from tests.fixtures.kafka import _start_private_broker
    from tests.unit.workorders.service.helpers import SECRET, alarm, auth, token

    _log("starting a private Kafka broker")
    broker = _start_private_broker(scratch / "kafka")
    runtime = build_runtime(f"sqlite:///{scratch}/latency.sqlite3")
    consumer = None
    server = None
    try:
        runtime.start_projection_loop(0.02)
        consumer = AlarmConsumerThread(
            AlarmConsumer(broker.bootstrap, runtime.app.handle_alarm, group_id=f"bench-{uuid.uuid4().hex[:8]}")
        ).start()
        server = GrpcServer(WorkOrdersServicer(runtime.app, SECRET), "127.0.0.1:0").start()
        channel = grpc.insecure_channel(server.address)
        stub = pb_grpc.WorkOrdersServiceStub(channel)
        seen: dict[str, float] = {}
        stream = stub.Watch(pb.WatchRequest(after_position=0), metadata=auth(token("dispatcher", ["*"])))

        def console() -> None:
            try:
                for change in stream:
                    if change.event_type == "WorkOrderOpened":
                        seen[change.work_order.alarm_id] = time.perf_counter()
            except grpc.RpcError:
                pass

        watcher = threading.Thread(target=console, daemon=True)
        watcher.start()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=0)
        segments = list(runtime.network.segments.values())
        run = uuid.uuid4().hex[:8]

        def publish(alarm_id: str, index: int) -> float:
            segment = segments[index % len(segments)]
            started = time.perf_counter()
            producer.send(
                LEAK_ALARMS.name,
                key=segment.segment_id.encode(),
                value=encode(alarm(alarm_id, segment.segment_id, segment.district)),
            )
            producer.flush()
            return started

        # Warm-up: wait until the consumer group has its partitions and the pipeline answers.
        warm_deadline = time.monotonic() + 90
        warm = f"W-{run}"
        publish(warm, 0)
        while warm not in seen and time.monotonic() < warm_deadline:
            time.sleep(0.05)
        if warm not in seen:
            raise RuntimeError("the warm-up alarm never became visible")
        sent: dict[str, float] = {}
        _log(f"publishing {alarms} alarms, one every {interval_s * 1000:.0f} ms")
        for i in range(alarms):
            alarm_id = f"L-{run}-{i}"
            sent[alarm_id] = publish(alarm_id, i)
            time.sleep(interval_s)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(a in seen for a in sent):
            time.sleep(0.05)
        stream.cancel()
        producer.close()
        channel.close()
        latencies = sorted((seen[a] - t) * 1000.0 for a, t in sent.items() if a in seen)
        missing = sum(1 for a in sent if a not in seen)
        if not latencies:
            raise RuntimeError("no alarm became visible")
        return {
            "p50": round(statistics.median(latencies), 1),
            "p99": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
            "max": round(latencies[-1], 1),
            "samples": len(latencies),
            "not_visible_within_30s": missing,
        }
    finally:
        if server is not None:
            server.stop(0.5)
        if consumer is not None:
            consumer.stop()
        runtime.stop()
        broker.stop()


def main() -> int:
    from benchmarks.workorders_store import measure_append_events_per_s

    started = time.time()
    result: dict[str, Any] = {"append_events_per_s": {}, "notes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-workorders-") as tmp:
        scratch = Path(tmp)
        sqlite_url = f"sqlite:///{scratch}/append.sqlite3"
        _log("append rate on SQLite")
        result["append_events_per_s"]["sqlite"] = round(measure_append_events_per_s(sqlite_url, 5.0), 1)
        postgres = PrivatePostgres()
        try:
            _log("starting a private PostgreSQL")
            pg_url = postgres.up()
            _log("append rate on PostgreSQL")
            result["append_events_per_s"]["postgresql"] = round(measure_append_events_per_s(pg_url, 5.0), 1)
            rate_pg, _ = measure_read_model_events_per_s(pg_url, orders=300)
            result["notes"]["projection_events_per_s_postgresql"] = round(rate_pg, 1)
        except Exception as error:  # report what could be measured, say why the rest is missing
            result["append_events_per_s"].setdefault("postgresql", None)
            result["notes"]["postgresql_error"] = str(error)[-500:]
        finally:
            postgres.down()
        _log("read-model catch-up on SQLite")
        rate, applied = measure_read_model_events_per_s(f"sqlite:///{scratch}/projection.sqlite3")
        result["projection_events_per_s"] = round(rate, 1)
        result["notes"]["projection_events_replayed"] = applied
        try:
            result["alarm_to_visible_ms"] = measure_alarm_to_visible_ms(scratch)
        except Exception as error:
            result["alarm_to_visible_ms"] = {"p50": None, "p99": None}
            result["notes"]["latency_error"] = str(error)[-500:]
    p99 = result["alarm_to_visible_ms"].get("p99")
    result["goal"] = {"alarm_to_visible_p99_ms_max": 1000.0, "met": p99 is not None and p99 < 1000.0}
    result["notes"]["definitions"] = (
        "append: one writer, 1 event per append with outbox row, 100 streams, 5 s; projection: the real work-order "
        "read model rebuilt from position 0 (alarm intake + dispatch/ack/en-route events); latency: Kafka publish "
        "-> WorkOrderOpened received on a gRPC Watch"
    )
    result["elapsed_s"] = round(time.time() - started, 1)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
