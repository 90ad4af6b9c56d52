"""Ingest benchmark (``make bench-ingest``): many streaming gateways against telemetry and a private Kafka.

What it does, in about two minutes:
  1. starts a private broker through deploy/kafka/kafka.sh (own ports and data dir, stopped at the end);
  2. writes a synthetic network (many gateways, several segments each) and starts telemetry
     (``python -m services.telemetry``, PIPEWARDEN_BENCH_TELEMETRY_WORKERS processes sharing the port);
  3. runs a load-generator process: each gateway keeps one PublishStream open and sends pre-encoded
     batches (the generator must not be the bottleneck on a 2-core box), with
       - a "max" phase: closed loop, a small window of unacked batches per stream -> highest rate
         sustained and its ack latency,
       - a "fixed" phase: open loop at PIPEWARDEN_BENCH_FIXED_RATE readings/s -> ack latency there;
  4. measures Kafka's own ProducerPerformance on the same broker with records the size of one reading;
  5. writes reports/ingest.json.

Ack latency is measured at the client: from writing a batch on the stream to reading its ack.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import yaml  # noqa: E402

from services.contracts.pipewarden.telemetry.v1 import (  # noqa: E402
    reading_pb2,
    records_pb2,
    telemetry_ingest_service_pb2,
)
from services.telemetry.config import TelemetryConfig  # noqa: E402

KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
REPORT = ROOT / "reports" / "ingest.json"
METHOD = "/pipewarden.telemetry.v1.TelemetryIngestService/PublishStream"


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


GATEWAYS = env_int("PIPEWARDEN_BENCH_GATEWAYS", 32)
SEGMENTS_PER_GATEWAY = env_int("PIPEWARDEN_BENCH_SEGMENTS_PER_GATEWAY", 4)
TAGS_PER_SEGMENT = env_int("PIPEWARDEN_BENCH_TAGS_PER_SEGMENT", 8)
READINGS_PER_BATCH = env_int("PIPEWARDEN_BENCH_READINGS_PER_BATCH", 512)
WORKERS = env_int("PIPEWARDEN_BENCH_TELEMETRY_WORKERS", 1)
WARMUP_S = env_float("PIPEWARDEN_BENCH_WARMUP_S", 5)
MAX_PHASE_S = env_float("PIPEWARDEN_BENCH_MAX_S", 30)
FIXED_PHASE_S = env_float("PIPEWARDEN_BENCH_FIXED_S", 25)
FIXED_RATE = env_float("PIPEWARDEN_BENCH_FIXED_RATE", 50_000)
WINDOW = env_int("PIPEWARDEN_BENCH_WINDOW", 2)
PERF_RECORDS = env_int("PIPEWARDEN_BENCH_PERF_RECORDS", 3_000_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway_id(g: int) -> str:
    return f"bench-gw-{g:03d}"


def token(g: int) -> str:
    return f"bench-token-{g:03d}"


def tag_id(g: int, s: int, t: int) -> str:
    return f"B{g:03d}-S{s}-PT{t}"


def write_network(path: Path) -> None:
    nodes = [
        {"id": "SRC", "kind": "supply", "district": "bench", "elevation_m": 0.0, "supply_pressure_pa": 501325.0}
    ]
    segments, tags, gateways = [], [], []
    for g in range(GATEWAYS):
        gateways.append({"id": gateway_id(g), "district": "bench"})
        previous = "SRC"
        for s in range(SEGMENTS_PER_GATEWAY):
            node = f"N{g:03d}-{s}"
            nodes.append({"id": node, "kind": "junction", "district": "bench", "elevation_m": 0.0})
            segment = f"BS{g:03d}-{s}"
            segments.append(
                {
                    "id": segment, "district": "bench", "from_node": previous, "to_node": node, "length_km": 1.0,
                    "inner_diameter_mm": 200.0, "roughness_mm": 0.05, "elevation_up_m": 0.0, "elevation_down_m": 0.0,
                    "material": "PE", "install_year": 2020, "pressure_class": "medium_A",
                    "max_operating_pressure_pa": 501325.0, "pipe_class": "municipal", "nominal_flow_kg_per_s": 1.0,
                }
            )  # fmt: skip
            for t in range(TAGS_PER_SEGMENT):
                tags.append(
                    {
                        "id": tag_id(g, s, t), "segment": segment, "position_km": t / max(1, TAGS_PER_SEGMENT - 1),
                        "kind": "pressure", "unit": "kPa_g", "range": [0.0, 600.0], "scan_period_s": 0.01,
                        "gateway": gateway_id(g), "accuracy": {"pct_of_span": 0.1},
                    }
                )  # fmt: skip
            previous = node
    document = {
        "name": "bench",
        "gas": {"specific_gravity": 0.6, "temperature_k": 283.15},
        "nodes": nodes,
        "segments": segments,
        "gateways": gateways,
        "tags": tags,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def encoded_readings(g: int, start_us: int) -> tuple[bytes, int]:
    """The readings of one batch, pre-encoded (field 3 of ReadingBatch, repeated), and their count."""
    batch = reading_pb2.ReadingBatch()
    tags = [tag_id(g, s, t) for s in range(SEGMENTS_PER_GATEWAY) for t in range(TAGS_PER_SEGMENT)]
    samples = max(1, READINGS_PER_BATCH // len(tags))
    for k in range(samples):
        for i, tag in enumerate(tags):
            batch.readings.add(
                tag_id=tag,
                source_time_unix_us=start_us - 10_000 * (samples - k),
                value=300.0 + (i % 7) + k * 0.01,
                quality=reading_pb2.QUALITY_GOOD,
            )
    return batch.SerializeToString(), len(batch.readings)


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def stream_request(gateway: bytes, sequence: int, readings_blob: bytes) -> bytes:
    batch = b"\x0a" + varint(len(gateway)) + gateway + b"\x10" + varint(sequence) + readings_blob
    return b"\x0a" + varint(len(batch)) + batch  # PublishStreamRequest.batch


# ---------------------------------------------------------------------------------------------- load client


async def run_phase(target: str, mode: str, duration_s: float, rate: float, base_seq: int) -> dict[str, Any]:
    """One phase: every gateway streams; returns counts and ack latencies (ms) measured in the phase."""
    start_us = time.time_ns() // 1000
    channels = [grpc.aio.insecure_channel(target) for _ in range(4)]
    latencies: list[float] = []
    totals = {"batches": 0, "readings_acked": 0, "readings_accepted": 0, "errors": 0, "late": 0}
    error_samples: list[str] = []
    stop_at = time.monotonic() + duration_s

    async def gateway_stream(g: int) -> None:
        blob, count = encoded_readings(g, start_us)
        gw = gateway_id(g).encode()
        call = channels[g % len(channels)].stream_stream(
            METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )(metadata=(("authorization", f"Bearer {token(g)}"),))
        sent: list[float] = []
        head = 0
        window = asyncio.Semaphore(WINDOW if mode == "max" else 10_000)
        done_writing = asyncio.Event()

        async def reader() -> None:
            nonlocal head
            async for raw in call:
                now = time.monotonic()
                ack = telemetry_ingest_service_pb2.PublishStreamResponse.FromString(raw).ack
                latencies.append((now - sent[head]) * 1000)
                head += 1
                totals["batches"] += 1
                totals["readings_acked"] += count
                totals["readings_accepted"] += ack.accepted_count
                window.release()
                if done_writing.is_set() and head == len(sent):
                    return

        read_task = asyncio.ensure_future(reader())
        seq = base_seq
        interval = count / (rate / GATEWAYS) if mode == "fixed" else 0.0
        next_at = time.monotonic() + (interval * g / GATEWAYS if interval else 0.0)
        try:
            while time.monotonic() < stop_at and not read_task.done():
                if mode == "fixed":
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif delay < -interval:
                        totals["late"] += 1  # the generator fell behind its schedule
                    next_at += interval
                await window.acquire()
                sent.append(time.monotonic())
                await call.write(stream_request(gw, seq, blob))
                seq += 1
            done_writing.set()
            await call.done_writing()
            await asyncio.wait_for(read_task, 30)
        except Exception as error:  # counted and reported, not raised: a benchmark reports errors
            totals["errors"] += 1
            if len(error_samples) < 5:
                error_samples.append(f"{type(error).__name__}: {str(error)[:300]}")
            read_task.cancel()

    started = time.monotonic()
    await asyncio.gather(*(gateway_stream(g) for g in range(GATEWAYS)))
    elapsed = time.monotonic() - started
    for channel in channels:
        await channel.close()
    latencies.sort()

    def pct(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2) if latencies else None

    return {
        "mode": mode,
        "offered_readings_per_s": rate if mode == "fixed" else None,
        "duration_s": round(elapsed, 2),
        "readings_per_s": round(totals["readings_accepted"] / elapsed, 1),
        "batches": totals["batches"],
        "readings_accepted": totals["readings_accepted"],
        "ack_latency_ms": {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0)},
        "errors": totals["errors"],
        "error_samples": error_samples,
        "late_sends": totals["late"],
    }


def client_main(target: str) -> None:
    async def all_phases() -> dict[str, Any]:
        base = int(time.time() * 1000) * 1000
        warm = await run_phase(target, "max", WARMUP_S, 0, base)
        top = await run_phase(target, "max", MAX_PHASE_S, 0, base + 10_000_000)
        fixed = await run_phase(target, "fixed", FIXED_PHASE_S, FIXED_RATE, base + 20_000_000)
        return {"warmup": warm, "max": top, "fixed": fixed}

    print(json.dumps(asyncio.run(all_phases())))


# ---------------------------------------------------------------------------------------------- orchestration


def kafka_env(port: int, controller: int, data_dir: Path) -> dict[str, str]:
    return dict(
        os.environ,
        PIPEWARDEN_KAFKA_PORT=str(port),
        PIPEWARDEN_KAFKA_CONTROLLER_PORT=str(controller),
        PIPEWARDEN_KAFKA_DATA_DIR=str(data_dir),
        PIPEWARDEN_KAFKA_HEAP=os.environ.get("PIPEWARDEN_BENCH_KAFKA_HEAP", "1G"),
        PIPEWARDEN_KAFKA_WATCH_PID=str(os.getpid()),
        PIPEWARDEN_PYTHON=sys.executable,
    )


def producer_perf(env: dict[str, str], bootstrap: str, record_size: int) -> dict[str, Any]:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-ingest")
    try:
        admin.create_topics([NewTopic("bench.producer-perf", num_partitions=12, replication_factor=1)])
    finally:
        admin.close()
    command = [
        str(KAFKA_SH), "run-class", "org.apache.kafka.tools.ProducerPerformance",
        "--topic", "bench.producer-perf", "--num-records", str(PERF_RECORDS), "--record-size", str(record_size),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
        "enable.idempotence=true", "linger.ms=5", "batch.size=262144",
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    lines = [line for line in result.stdout.splitlines() if "records sent" in line]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"ProducerPerformance failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    match = re.search(r"([\d.]+) records/sec", lines[-1])
    assert match is not None
    return {"records_per_s": float(match.group(1)), "summary": lines[-1].strip(), "record_size_bytes": record_size}


def readings_topic_records(bootstrap: str) -> int:
    """Records on telemetry.readings.v1: every acked batch must be there (one record per segment)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic("telemetry.readings.v1") or set()
        ends = consumer.end_offsets([TopicPartition("telemetry.readings.v1", p) for p in partitions])
        return int(sum(ends.values()))
    finally:
        consumer.close()


def one_reading_size() -> dict[str, int]:
    reading = reading_pb2.Reading(
        tag_id=tag_id(0, 0, 0),
        source_time_unix_us=time.time_ns() // 1000,
        value=301.25,
        quality=reading_pb2.QUALITY_GOOD,
    )
    series = records_pb2.TagSeries(tag_id=tag_id(0, 0, 0))
    samples = max(1, READINGS_PER_BATCH // (SEGMENTS_PER_GATEWAY * TAGS_PER_SEGMENT))
    series.source_time_unix_us.extend(time.time_ns() // 1000 + k for k in range(samples))
    series.values_si.extend(401325.0 + k for k in range(samples))
    series.quality.extend([reading_pb2.QUALITY_GOOD] * samples)
    return {
        "reading_message_bytes": len(reading.SerializeToString()),
        "columnar_bytes_per_reading": round(len(series.SerializeToString()) / samples),
    }


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        client_main(sys.argv[2])
        return 0
    work = Path(tempfile.mkdtemp(prefix="pw-bench-ingest-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None))
    kafka_port, controller_port = free_port(), free_port()
    kenv = kafka_env(kafka_port, controller_port, work / "kafka")
    bootstrap = f"127.0.0.1:{kafka_port}"
    telemetry: subprocess.Popen[bytes] | None = None
    report: dict[str, Any] = {}
    try:
        print(f"bench-ingest: starting a private broker on {bootstrap}", file=sys.stderr)
        subprocess.run([str(KAFKA_SH), "up"], env=kenv, check=True, timeout=300)
        network_file = work / "network.yaml"
        write_network(network_file)
        listen_port = free_port()
        tenv = dict(
            os.environ,
            PIPEWARDEN_NETWORK_FILE=str(network_file),
            PIPEWARDEN_KAFKA_BOOTSTRAP=bootstrap,
            PIPEWARDEN_TELEMETRY_LISTEN=f"127.0.0.1:{listen_port}",
            PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS=",".join(f"{gateway_id(g)}={token(g)}" for g in range(GATEWAYS)),
            PIPEWARDEN_TELEMETRY_METRICS_PORT="0",
            PIPEWARDEN_TELEMETRY_WORKERS=str(WORKERS),
            PIPEWARDEN_TELEMETRY_LOG_LEVEL="WARNING",
        )
        telemetry = subprocess.Popen([sys.executable, "-m", "services.telemetry"], env=tenv, cwd=ROOT)
        target = f"127.0.0.1:{listen_port}"
        wait_serving(target, telemetry)
        print(
            f"bench-ingest: telemetry ({WORKERS} worker(s)) on {target}; driving {GATEWAYS} gateways",
            file=sys.stderr,
        )
        client = subprocess.run(
            [sys.executable, __file__, "--client", target],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if client.returncode != 0:
            raise RuntimeError(f"load client failed:\n{client.stderr[-3000:]}")
        phases = json.loads(client.stdout.strip().splitlines()[-1])
        telemetry.send_signal(signal.SIGTERM)
        telemetry.wait(timeout=60)
        telemetry = None
        acked_batches = sum(p["batches"] for p in phases.values())
        written = readings_topic_records(bootstrap)
        sizes = one_reading_size()
        print("bench-ingest: running Kafka ProducerPerformance on the same broker", file=sys.stderr)
        perf = producer_perf(kenv, bootstrap, sizes["reading_message_bytes"])
        top, fixed = phases["max"], phases["fixed"]
        report = {
            "readings_per_s": top["readings_per_s"],
            "ack_latency_ms": {k: top["ack_latency_ms"][k] for k in ("p50", "p95", "p99")},
            "errors": top["errors"] + fixed["errors"],
            "kafka_producer_perf_readings_per_s": perf["records_per_s"],
            "ratio_to_kafka_perf": round(top["readings_per_s"] / perf["records_per_s"], 4),
            "kafka_check": {
                "batches_acked": acked_batches,
                "segment_records_expected": acked_batches * SEGMENTS_PER_GATEWAY,
                "segment_records_on_topic": written,
            },
            "fixed_load": {
                "offered_readings_per_s": FIXED_RATE,
                "accepted_readings_per_s": fixed["readings_per_s"],
                "ack_latency_ms": fixed["ack_latency_ms"],
                "p99_ack_latency_ms": fixed["ack_latency_ms"]["p99"],
                "late_sends": fixed["late_sends"],
                "errors": fixed["errors"],
            },
            "goals": {
                "readings_per_s_min": 100_000,
                "p99_ms_at_50k_max": 50,
                "readings_per_s_met": top["readings_per_s"] >= 100_000,
                "p99_at_50k_met": fixed["ack_latency_ms"]["p99"] is not None
                and fixed["ack_latency_ms"]["p99"] <= 50,
            },
            "setup": {
                "gateways": GATEWAYS,
                "segments_per_gateway": SEGMENTS_PER_GATEWAY,
                "tags_per_segment": TAGS_PER_SEGMENT,
                "readings_per_batch": top["readings_accepted"] // max(1, top["batches"]),
                "window_per_stream_in_max_phase": WINDOW,
                "telemetry_workers": WORKERS,
                "cpu_count": os.cpu_count(),
                "kafka_producer": f"aiokafka acks=all idempotent linger_ms={TelemetryConfig().kafka_linger_ms}",
                "producer_perf": perf,
                **sizes,
            },
            "phases": phases,
            "notes": (
                "Ack latency is measured by the load client from writing a batch on its stream to reading the ack. "
                "The max phase is closed loop (a window of unacked batches per stream), so its latency includes "
                "queueing at saturation; the fixed phase offers the given rate open loop. Load client, telemetry "
                "and the broker share the same machine. ProducerPerformance sends records the size of one "
                "Reading message with acks=all and idempotence, from one Java producer."
            ),
        }
        REPORT.parent.mkdir(exist_ok=True)
        REPORT.write_text(json.dumps(report, indent=2) + "\n")
        print(
            json.dumps({k: report[k] for k in list(report)[:6]} | {"fixed_load": report["fixed_load"]}, indent=2)
        )
        return 0
    finally:
        if telemetry is not None and telemetry.poll() is None:
            telemetry.send_signal(signal.SIGTERM)
            try:
                telemetry.wait(timeout=30)
            except subprocess.TimeoutExpired:
                telemetry.kill()
        subprocess.run([str(KAFKA_SH), "down"], env=kenv, check=False, timeout=120)
        shutil.rmtree(work, ignore_errors=True)


def wait_serving(target: str, process: subprocess.Popen[bytes], timeout_s: float = 90.0) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    channel = grpc.insecure_channel(target)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"telemetry exited with {process.returncode}")
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("telemetry did not become SERVING")
            time.sleep(0.3)
    finally:
        channel.close()


if __name__ == "__main__":
    sys.exit(main())
