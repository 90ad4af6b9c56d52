"""`make bench-stream`: how many readings/s one leak detection worker keeps up with, and how fast an alarm
reaches leak.alarms.v1 after the detectors decided.

Starts a private broker (deploy/kafka/kafka.sh on free ports, temporary data dir), then:
1. backlog: pre-produces synthetic SegmentReadings for every fully instrumented segment; a bare aiokafka
   consumer that only decodes reads them (baseline), then one worker (`python -m services.leakdetect`,
   subprocess) drains them: readings_per_s from its Prometheus counter;
2. paced: produces at a fixed rate (PIPEWARDEN_BENCH_RATE readings/s, default 100,000) for
   PIPEWARDEN_BENCH_PACED_S seconds with a leak on every segment; records the worker's lag gauge (max over
   time of the sum over partitions) and, from a live consumer of leak.alarms.v1, the delay between the
   decision time the worker puts in each alarm's header and the alarm's arrival.
Writes reports/stream.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402

from services.contracts.pipewarden.telemetry.v1 import records_pb2  # noqa: E402
from services.network import TagKind, load_demo_network  # noqa: E402
from services.topics import LEAK_ALARMS, TELEMETRY_READINGS, encode  # noqa: E402
from tests.support.leakdetect_scenario import LeakScenario  # noqa: E402

DECIDED_HEADER = "pw-decided-at-unix-us"
BACKLOG_S = int(os.environ.get("PIPEWARDEN_BENCH_BACKLOG_S", "1200"))
PACED_S = float(os.environ.get("PIPEWARDEN_BENCH_PACED_S", "20"))
RATE = float(os.environ.get("PIPEWARDEN_BENCH_RATE", "100000"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def instrumented_segments(network) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for seg in network.segments.values():
        ok = all(network.end_tag(seg.segment_id, k, up) is not None
                 for k in (TagKind.FLOW, TagKind.PRESSURE) for up in (True, False))
        if ok:
            out.append(seg.segment_id)
    return out


def build_records(network, segments, start_s: int, stop_s: int, leak_at_s: float | None):  # type: ignore[no-untyped-def]
    """[(key, value, readings)] interleaved by second, as gateways would deliver them."""
    gens = []
    for i, sid in enumerate(segments):
        gw = network.tags[network.end_tag(sid, TagKind.FLOW, True).tag_id].gateway_id
        sc = LeakScenario(segment_id=sid, gateway_id=gw, seconds=stop_s, seed=100 + i,
                          leak_start_s=leak_at_s, leak_position_m=network.segments[sid].length_m * 0.4,
                          leak_kg_per_s=0.05 * network.segments[sid].nominal_flow_kg_per_s)
        gens.append(sc.records(network, start_s, stop_s))
    out = []
    for recs in zip(*gens, strict=True):
        for r in recs:
            n = sum(len(s.values_si) for s in r.series)
            out.append((r.segment_id.encode(), encode(r), n))
    return out


async def produce(bootstrap: str, records, rate_readings_per_s: float | None = None) -> float:  # type: ignore[no-untyped-def]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks=1)
    await producer.start()
    t0 = time.perf_counter()
    sent = 0
    try:
        futs = []
        for key, value, n in records:
            futs.append(await producer.send(TELEMETRY_READINGS.name, value=value, key=key))
            sent += n
            if rate_readings_per_s and len(futs) % 200 == 0:
                ahead = sent / rate_readings_per_s - (time.perf_counter() - t0)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if len(futs) >= 5000:
                await asyncio.gather(*futs)
                futs.clear()
        await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return time.perf_counter() - t0


async def bare_consumer(bootstrap: str, expected_readings: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=32 * 1024 * 1024)
    await consumer.start()
    tps = [TopicPartition(TELEMETRY_READINGS.name, p) for p in range(TELEMETRY_READINGS.partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    got = 0
    t0 = None
    try:
        while got < expected_readings:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if t0 is None and batches:
                t0 = time.perf_counter()
            for recs in batches.values():
                for r in recs:
                    m = records_pb2.SegmentReadings()
                    m.ParseFromString(r.value)
                    for s in m.series:
                        got += len(np.fromiter(s.values_si, np.float64, len(s.values_si)))
        return got / (time.perf_counter() - (t0 or time.perf_counter()))
    finally:
        await consumer.stop()


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    out: dict[str, float] = {"lag": 0.0}
    for line in text.splitlines():
        if line.startswith("pipewarden_leakdetect_readings_processed_total "):
            out["readings"] = float(line.split()[-1])
        m = re.match(r'pipewarden_leakdetect_consumer_lag_records\{partition="\d+"\} (\S+)', line)
        if m:
            out["lag"] += float(m.group(1))
    return out


async def alarm_latencies(bootstrap: str, stop: asyncio.Event, out: list[float]) -> None:
    consumer = AIOKafkaConsumer(LEAK_ALARMS.name, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest", fetch_max_wait_ms=10)
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            now_us = time.time() * 1e6
            for recs in batches.values():
                for r in recs:
                    hdr = dict(r.headers or ()).get(DECIDED_HEADER)
                    if hdr:
                        out.append((now_us - int(hdr)) / 1000.0)
    finally:
        await consumer.stop()


async def main() -> None:
    network = load_demo_network()
    segments = instrumented_segments(network)
    tmp = Path(tempfile.mkdtemp(prefix="pw-bench-stream-"))
    port, cport = free_port(), free_port()
    env = dict(os.environ, PIPEWARDEN_KAFKA_PORT=str(port), PIPEWARDEN_KAFKA_CONTROLLER_PORT=str(cport),
               PIPEWARDEN_KAFKA_DATA_DIR=str(tmp / "kafka"), PIPEWARDEN_KAFKA_WATCH_PID=str(os.getpid()),
               PIPEWARDEN_PYTHON=sys.executable)
    kafka_sh = str(ROOT / "deploy" / "kafka" / "kafka.sh")
    subprocess.run([kafka_sh, "up"], env=env, check=True, cwd=ROOT)
    bootstrap = f"127.0.0.1:{port}"
    worker = None
    try:
        backlog = build_records(network, segments, 0, BACKLOG_S, None)
        backlog_readings = sum(n for _, _, n in backlog)
        print(f"backlog: {len(backlog)} records, {backlog_readings} readings, {len(segments)} segments")
        await produce(bootstrap, backlog)
        bare = await bare_consumer(bootstrap, backlog_readings)
        print(f"bare consumer: {bare:,.0f} readings/s")

        metrics_port = free_port()
        wenv = dict(os.environ, PIPEWARDEN_KAFKA_BOOTSTRAP=bootstrap, PIPEWARDEN_LEAKDETECT_APP_ID="pw-bench-stream",
                    PIPEWARDEN_LEAKDETECT_GRPC_PORT="-1", PIPEWARDEN_LEAKDETECT_METRICS_PORT=str(metrics_port),
                    PIPEWARDEN_LOG_LEVEL="WARNING")
        log = (tmp / "worker.log").open("wb")
        worker = subprocess.Popen([sys.executable, "-m", "services.leakdetect"], cwd=ROOT, env=wenv,
                                  stdout=log, stderr=subprocess.STDOUT)
        samples: list[tuple[float, float]] = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                m = scrape(metrics_port)
            except OSError:
                await asyncio.sleep(0.5)
                continue
            r = m.get("readings", 0.0)
            if r > 0:
                samples.append((time.perf_counter(), r))
            if r >= backlog_readings:
                break
            await asyncio.sleep(0.25)
        if len(samples) < 2:
            raise RuntimeError(f"worker made no progress; log in {tmp / 'worker.log'}")
        # from the first to the last sample that saw progress: excludes start-up and the final idle poll
        (t_a, r_a), (t_b, r_b) = samples[0], samples[-1]
        worker_rate = (r_b - r_a) / (t_b - t_a)
        print(f"worker drain: {worker_rate:,.0f} readings/s")

        leak_at = BACKLOG_S + 15
        paced_seconds = int(max(30, PACED_S * RATE / (len(segments) * 22.0)))
        paced = build_records(network, segments, BACKLOG_S, BACKLOG_S + paced_seconds, leak_at)
        paced_readings = sum(n for _, _, n in paced)
        stop = asyncio.Event()
        latencies: list[float] = []
        lat_task = asyncio.create_task(alarm_latencies(bootstrap, stop, latencies))
        await asyncio.sleep(1.0)
        max_lag = 0.0

        async def watch_lag() -> None:
            nonlocal max_lag
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    max_lag = max(max_lag, scrape(metrics_port)["lag"])
                await asyncio.sleep(0.25)

        lag_task = asyncio.create_task(watch_lag())
        produce_s = await produce(bootstrap, paced, RATE)
        target = backlog_readings + paced_readings
        end = time.monotonic() + 60
        while time.monotonic() < end and scrape(metrics_port).get("readings", 0) < target:
            await asyncio.sleep(0.25)
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.gather(lat_task, lag_task)
        achieved_rate = paced_readings / produce_s
        lat = np.array(latencies) if latencies else np.array([np.nan])
        report = {
            "readings_per_s": round(worker_rate),
            "bare_consumer_readings_per_s": round(bare),
            "worker_to_bare_ratio": round(worker_rate / bare, 3),
            "max_lag_records": int(max_lag),
            "paced_phase": {
                "offered_readings_per_s": round(achieved_rate),
                "seconds": round(produce_s, 1),
                "readings": paced_readings,
                "kept_up": bool(scrape(metrics_port).get("readings", 0) >= target),
            },
            "alarm_publish_latency_ms": {
                "p50": round(float(np.nanpercentile(lat, 50)), 1),
                "p99": round(float(np.nanpercentile(lat, 99)), 1),
                "n": len(latencies),
            },
            "goal": {"readings_per_s": 100_000, "alarm_publish_latency_ms_max": 1000},
            "segments": len(segments),
            "backlog_readings": backlog_readings,
            "machine_cores": os.cpu_count(),
        }
        (ROOT / "reports").mkdir(exist_ok=True)
        (ROOT / "reports" / "stream.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        subprocess.run([kafka_sh, "down"], env=env, check=False, cwd=ROOT)


if __name__ == "__main__":
    asyncio.run(main())
