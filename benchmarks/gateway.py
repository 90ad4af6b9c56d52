"""Gateway benchmark (``make bench-gateway``) -> ``reports/gateway.json`` and ``reports/gateway.png``.

1. Modbus: the gateway's Modbus source reads a 5,000-tag RTU simulator (pymodbus's own server, values changing
   over time) in back-to-back scans (decoding and scaling included): ``modbus_tags_per_s``. Baseline from the same
   run: a bare pymodbus client reading the same register blocks as fast as it can (``baseline_pymodbus_reads_per_s``,
   requests/s; times the tags per request gives the raw tag rate, ``modbus.baseline_raw_tags_per_s``).
2. Queue: the durable queue's whole cycle per reading (append in scan-sized transactions, read back as batches,
   numbered, deleted on ack; SQLite WAL, synchronous=FULL): ``queue_us_per_reading``. Baseline: plain SQLite
   inserts of the same rows with the same settings (``baseline_sqlite_inserts_per_s``).
3. Backlog: a queue holding an outage's worth of readings is forwarded to the real telemetry service (its own
   process) on a private Kafka broker, pacing off: ``backlog_forward_readings_per_s``.
4. Outage: a gateway process reads the 5,000 tags at 1 s while telemetry is killed for ``--outage-s`` (30) seconds
   and restarted; the readings topic is read back: ``outage_test`` {readings_taken (from the simulator's request
   log), readings_arrived (distinct), duplicates (same tag and time under different record ids)}.

Goals (issue 21): >= 5,000 tags at 1 s from Modbus TCP; >= 50,000 readings/s backlog forwarding; queue <= 20 us
per reading.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from deploy.demo_gateway import ModbusFieldSimulator, free_port, gateway_config, layout
from services.network import DEMO_NETWORK_PATH, Network, load_network

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "reports" / "gateway.json"
PLOT = ROOT / "reports" / "gateway.png"
GATEWAY = "gw-bench"
TOKEN = "tok-bench-gateway"
GOALS = {"modbus_tags_at_1s": 5000, "backlog_forward_readings_per_s": 50_000, "queue_us_per_reading": 20.0}


def say(text: str) -> None:
    print(f"bench-gateway: {text}", file=sys.stderr, flush=True)


def bench_network(work: Path, tags: int) -> tuple[Path, Network]:
    """The demo city plus a gateway ``gw-bench`` with ``tags`` pressure tags spread over the city's segments."""
    document = yaml.safe_load(DEMO_NETWORK_PATH.read_text())
    district = document["gateways"][0]["district"]
    document["gateways"].append({"id": GATEWAY, "district": district})
    segments = [s["id"] for s in document["segments"]]
    for i in range(tags):
        document["tags"].append(
            {
                "id": f"BENCH-{i:05d}-PT",
                "segment": segments[i % len(segments)],
                "position_km": 0.0,
                "kind": "pressure",
                "unit": "kPa_g",
                "range": [0.0, 600.0],
                "scan_period_s": 1.0,
                "gateway": GATEWAY,
                "accuracy": {"pct_of_span": 0.1},
            }
        )
    path = work / "bench_city.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path, load_network(path)


async def _noop(source: str, readings: Any) -> None:
    pass


# ---------------------------------------------------------------- 1. Modbus
async def bench_modbus(network: Network, seconds: float) -> dict[str, Any]:
    from pymodbus.client import AsyncModbusTcpClient

    from services.gateway.adapters.metrics import PrometheusGatewayMetrics
    from services.gateway.adapters.modbus_source import ModbusSource
    from services.gateway.config import ModbusDevice, ModbusTag
    from services.gateway.domain import DataType, RegisterTable, WordOrder

    tags = network.tags_of_gateway(GATEWAY)
    sim = ModbusFieldSimulator(layout(tags))
    port = await sim.start()
    try:
        device = ModbusDevice(
            "bench-rtu",
            "127.0.0.1",
            port,
            2.0,
            0,
            tuple(
                ModbusTag(
                    m.tag.tag_id,
                    1,
                    RegisterTable.HOLDING,
                    m.address,
                    DataType(m.data_type),
                    WordOrder(m.word_order),
                    m.scale,
                    m.offset,
                    1.0,
                )
                for m in sim.mapped
            ),
        )
        probe = ModbusSource(device, network, _noop, PrometheusGatewayMetrics())
        blocks = probe.blocks  # the requests the gateway makes
        probe.client.close()
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        await client.connect()
        reads, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            block = blocks[reads % len(blocks)]
            await client.read_holding_registers(block.address, count=block.count, device_id=1)
            reads += 1
        baseline = reads / (time.perf_counter() - started)
        client.close()
        say(f"bare pymodbus: {baseline:,.0f} reads/s of the same register blocks")

        taken = 0

        async def record(source: str, readings: Any) -> None:
            nonlocal taken
            taken += len(readings)

        source = ModbusSource(device, network, record, PrometheusGatewayMetrics())
        scans, started = 0, time.perf_counter()
        scan_s: list[float] = []
        while time.perf_counter() - started < seconds:
            t0 = time.perf_counter()
            await record("x", await source.scan(source.blocks))
            scan_s.append(time.perf_counter() - t0)
            scans += 1
        elapsed = time.perf_counter() - started
        source.client.close()
        per_read = len(tags) / len(blocks)  # tags per request
        tags_per_s = taken / elapsed
        say(
            f"gateway Modbus source: {tags_per_s:,.0f} tags/s ({len(tags)} tags, {len(source.blocks)} requests a scan, "
            f"scan {1000 * sorted(scan_s)[len(scan_s) // 2]:.0f} ms median)"
        )
        return {
            "modbus_tags_per_s": round(tags_per_s),
            "baseline_pymodbus_reads_per_s": round(baseline),
            "modbus": {
                "tags": len(tags),
                "requests_per_scan": len(source.blocks),
                "scans": scans,
                "scan_ms_median": round(1000 * sorted(scan_s)[len(scan_s) // 2], 1),
                "scan_ms_max": round(1000 * max(scan_s), 1),
                "baseline_raw_tags_per_s": round(baseline * per_read),
                "ratio_to_baseline_raw_tags": round(tags_per_s / (baseline * per_read), 3),
            },
        }
    finally:
        await sim.stop()


# ---------------------------------------------------------------- 2. Queue
def bench_queue(work: Path, total: int, scan: int) -> dict[str, Any]:
    from services.gateway.adapters.sqlite_queue import SqliteQueue
    from services.gateway.domain import Reading

    rows = [Reading(f"BENCH-{i % 5000:05d}-PT", 1_700_000_000_000_000 + i, 400.0 + i % 100, 1) for i in range(total)]
    base = sqlite3.connect(work / "baseline.sqlite3", isolation_level=None)
    base.execute("PRAGMA journal_mode=WAL")
    base.execute("PRAGMA synchronous=FULL")
    base.execute("CREATE TABLE r (id INTEGER PRIMARY KEY, tag TEXT, t_us INTEGER, value REAL, quality INTEGER)")
    started = time.perf_counter()
    for i in range(0, total, scan):
        base.execute("BEGIN")
        base.executemany("INSERT INTO r(tag, t_us, value, quality) VALUES (?, ?, ?, ?)", rows[i : i + scan])
        base.execute("COMMIT")
    baseline = total / (time.perf_counter() - started)
    base.close()
    say(f"plain SQLite inserts: {baseline:,.0f} rows/s")

    q = SqliteQueue(work / "queue.sqlite3", max_readings=10**9, drop_oldest=True)
    append_s = forward_s = 0.0
    cursor = 1
    for i in range(0, total, scan):
        t0 = time.perf_counter()
        q.append_sync(rows[i : i + scan])
        t1 = time.perf_counter()
        got = q.rows_sync(cursor, None, 5000)
        batch = q.assign_sync(got[0][0], got[-1][0])
        q.acked_sync(batch)
        cursor = got[-1][0] + 1
        forward_s += time.perf_counter() - t1
        append_s += t1 - t0
    q.close()
    us = 1e6 * (append_s + forward_s) / total
    say(
        f"durable queue: {us:.2f} us per reading "
        f"(append {1e6 * append_s / total:.2f}, batch+ack {1e6 * forward_s / total:.2f})"
    )
    return {
        "queue_us_per_reading": round(us, 2),
        "baseline_sqlite_inserts_per_s": round(baseline),
        "queue": {
            "readings": total,
            "readings_per_transaction": scan,
            "synchronous": "FULL",
            "append_us_per_reading": round(1e6 * append_s / total, 2),
            "batch_and_ack_us_per_reading": round(1e6 * forward_s / total, 2),
            "baseline_insert_us_per_row": round(1e6 / baseline, 2),
            "ratio_to_baseline_insert": round(us / (1e6 / baseline), 2),
        },
    }


# ---------------------------------------------------------------- processes
class Telemetry:
    def __init__(self, bootstrap: str, network_file: Path, log: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "PIPEWARDEN_KAFKA_BOOTSTRAP": bootstrap,
            "PIPEWARDEN_TELEMETRY_LISTEN": f"127.0.0.1:{self.port}",
            "PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS": f"{GATEWAY}={TOKEN}",
            "PIPEWARDEN_NETWORK_FILE": str(network_file),
            "PIPEWARDEN_TELEMETRY_METRICS_PORT": "-1",
            "PIPEWARDEN_TELEMETRY_LOG_LEVEL": "WARNING",
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import socket

        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.telemetry"],
            env=self.env,
            cwd=ROOT,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"telemetry exited ({self.process.returncode}); see {self.log}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise SystemExit("telemetry did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


# ---------------------------------------------------------------- 3. Backlog
async def bench_backlog(work: Path, network: Network, telemetry: Telemetry, total: int, batch: int) -> dict[str, Any]:
    from services.gateway.adapters.metrics import PrometheusGatewayMetrics
    from services.gateway.adapters.sqlite_queue import SqliteQueue
    from services.gateway.adapters.telemetry_link import GrpcTelemetryLink
    from services.gateway.domain import Reading
    from services.gateway.service_layer import Forwarder, ForwarderSettings

    tags = [t.tag_id for t in network.tags_of_gateway(GATEWAY)]
    start_us = (time.time_ns() // 1000) - 3_600_000_000  # an hour-old backlog
    q = SqliteQueue(work / "backlog.sqlite3", max_readings=10**9, drop_oldest=True)
    chunk = 50_000
    for i in range(0, total, chunk):
        q.append_sync(
            [
                Reading(tags[k % len(tags)], start_us + (k // len(tags)) * 1_000_000, 300.0 + k % 97, 1)
                for k in range(i, min(total, i + chunk))
            ]
        )
    say(f"backlog of {total:,} readings queued; forwarding to telemetry")
    link = GrpcTelemetryLink(f"127.0.0.1:{telemetry.port}", GATEWAY, TOKEN)
    forwarder = Forwarder(
        q,
        link,
        PrometheusGatewayMetrics(),
        ForwarderSettings(
            max_readings_per_batch=batch, max_in_flight_batches=16, linger_s=0.01, backfill_readings_per_s=1e9
        ),
    )
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.ensure_future(forwarder.run(stop))
    last = 0.0
    while q.depth() > 0:
        await asyncio.sleep(0.2)
        if time.perf_counter() - last > 2:
            last = time.perf_counter()
            say(f"  backlog: {q.depth():,} left, {forwarder.acked_readings / (last - started):,.0f} readings/s")
        if time.perf_counter() - started > 600:
            break
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    await link.close()
    q.close()
    rate = forwarder.acked_readings / elapsed
    say(f"backlog forwarded: {rate:,.0f} readings/s")
    return {
        "backlog_forward_readings_per_s": round(rate),
        "backlog": {
            "readings": total,
            "acked": forwarder.acked_readings,
            "seconds": round(elapsed, 2),
            "batch": batch,
            "in_flight": 16,
        },
    }


# ---------------------------------------------------------------- 4. Outage
def bench_outage(
    work: Path, network_file: Path, network: Network, telemetry: Telemetry, bootstrap: str, outage_s: float
) -> dict[str, Any]:
    import urllib.request

    from services.contracts.pipewarden.telemetry.v1 import records_pb2
    from tests.fixtures.kafka import consume_all

    mapped = layout(network.tags_of_gateway(GATEWAY))
    loop = asyncio.new_event_loop()
    sim = ModbusFieldSimulator(mapped, record=True)
    import threading

    threading.Thread(target=loop.run_forever, daemon=True).start()
    port = asyncio.run_coroutine_threadsafe(sim.start(), loop).result(30)
    (work / "gw.token").write_text(TOKEN)
    health_port = free_port()
    config = gateway_config(
        GATEWAY,
        mapped,
        modbus_port=port,
        target=f"127.0.0.1:{telemetry.port}",
        token_file=work / "gw.token",
        queue_path=work / "outage.sqlite3",
        health_port=health_port,
    )
    config["network_file"] = str(network_file)
    (work / "gw.yaml").write_text(yaml.safe_dump(config))
    gateway = subprocess.Popen(
        [sys.executable, "-m", "services.gateway", "--config", str(work / "gw.yaml")],
        cwd=ROOT,
        stdout=(work / "gateway.log").open("wb"),
        stderr=subprocess.STDOUT,
    )

    def health() -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/health", timeout=3) as reply:
                return dict(json.load(reply))
        except urllib.error.HTTPError as error:
            return dict(json.load(error))
        except OSError:
            return {}

    timeline: list[tuple[float, int, float]] = []
    t0 = time.time()

    def watch(seconds: float, label: str) -> None:
        end = time.time() + seconds
        while time.time() < end:
            h = health()
            timeline.append((time.time() - t0, int(h.get("queue_depth", 0)), float(h.get("oldest_unsent_age_s", 0.0))))
            say(
                f"  {label}: queue {h.get('queue_depth', '?'):>7}, "
                f"oldest unsent {h.get('oldest_unsent_age_s', '?')} s, "
                f"acked {h.get('acked_readings', '?')}"
            )
            time.sleep(max(0.0, min(2.0, end - time.time())))

    try:
        deadline = time.time() + 120
        while (
            not health().get("acked_readings") and time.time() < deadline
        ):  # loading a 5,000-tag network takes a while
            if gateway.poll() is not None:
                raise SystemExit(f"gateway exited ({gateway.returncode}); see {work / 'gateway.log'}")
            say("  waiting for the gateway to start")
            time.sleep(2)
        since_s = time.time()
        watch(10, "live")
        say(f"killing telemetry for {outage_s:g} s")
        telemetry.kill()
        watch(outage_s, "outage")
        telemetry.start()
        deadline = time.time() + 300
        while time.time() < deadline:
            watch(2, "draining")
            h = health()
            if h.get("queue_depth", 10**9) <= 2 * len(mapped) and h.get("oldest_unsent_age_s", 99) < 2.0:
                break
        watch(3, "live again")
        gateway.terminate()
        gateway.wait(60)
        end_s = time.time()
    finally:
        if gateway.poll() is None:
            gateway.kill()
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)

    served = [s for s in sim.served if since_s <= s[0] <= end_s]
    by_address = {m.address: m for m in mapped}
    taken = sum(sum(1 for a in range(addr, addr + count) if a in by_address) for _, addr, count in served)
    say("reading the readings topic back")
    seen_records: set[str] = set()
    pairs: collections.Counter[tuple[str, int]] = collections.Counter()
    raw_records = 0
    for record in consume_all(bootstrap, "telemetry.readings.v1", timeout_s=120):
        message = records_pb2.SegmentReadings.FromString(record.value or b"")
        if message.gateway_id != GATEWAY:
            continue
        raw_records += 1
        if message.record_id in seen_records:
            continue  # a resend telemetry published again with the same id: consumers dedupe on it
        seen_records.add(message.record_id)
        for series in message.series:
            for t in series.source_time_unix_us:
                if t >= since_s * 1e6:
                    pairs[(series.tag_id, t)] += 1
    arrived = len(pairs)
    duplicates = sum(n - 1 for n in pairs.values() if n > 1)
    say(
        f"outage: {taken:,} readings taken, {arrived:,} arrived, {duplicates} duplicates "
        f"({raw_records - len(seen_records)} records repeated with the same record_id)"
    )
    return {
        "outage_test": {
            "readings_taken": taken,
            "readings_arrived": arrived,
            "duplicates": duplicates,
            "outage_s": outage_s,
            "tags": len(mapped),
            "scan_period_s": 1.0,
            "records_repeated_same_record_id": raw_records - len(seen_records),
            "max_queue_depth": max((d for _, d, _ in timeline), default=0),
        },
        "_timeline": timeline,
    }


def plot(report: dict[str, Any], timeline: list[tuple[float, int, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    names = ["Modbus tags/s\n(goal 5,000)", "backlog readings/s\n(goal 50,000)", "queue us/reading\n(goal <= 20)"]
    values = [
        report["modbus_tags_per_s"] / 5000,
        report["backlog_forward_readings_per_s"] / 50000,
        20.0 / max(report["queue_us_per_reading"], 1e-9),
    ]
    axes[0].bar(names, values, color=["tab:green" if v >= 1 else "tab:red" for v in values])
    axes[0].axhline(1.0, color="black", linestyle="--")
    axes[0].set_ylabel("x goal (higher is better)")
    axes[0].set_title("gateway figures against the goals")
    if timeline:
        t, depth, age = zip(*timeline, strict=True)
        axes[1].plot(t, depth, label="queue depth (readings)")
        ax2 = axes[1].twinx()
        ax2.plot(t, age, color="tab:orange", label="oldest unsent (s)")
        ax2.set_ylabel("oldest unsent age (s)")
        axes[1].set_xlabel("s since start")
        axes[1].set_ylabel("readings queued")
        o = report["outage_test"]
        axes[1].set_title(
            f"telemetry outage {o['outage_s']:g} s: {o['readings_taken']:,} taken, "
            f"{o['readings_arrived']:,} arrived, {o['duplicates']} dup"
        )
    fig.tight_layout()
    fig.savefig(PLOT, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=8.0, help="per Modbus measurement")
    parser.add_argument("--queue-readings", type=int, default=500_000)
    parser.add_argument("--backlog-readings", type=int, default=1_000_000)
    parser.add_argument("--outage-s", type=float, default=30.0)
    parser.add_argument(
        "--backlog-batch",
        type=int,
        default=10_000,
        help="readings per batch when forwarding the backlog "
        "(telemetry processes one gateway's batches one at a time, so bigger batches drain faster; 10,000 is "
        "telemetry's default limit)",
    )
    args = parser.parse_args()
    import logging

    for noisy in ("pymodbus", "asyncua"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from tests.fixtures.kafka import KafkaBroker

    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        work = Path(tmp)
        network_file, network = bench_network(work, args.tags)
        say(f"1/4 Modbus: {args.tags} tags")
        report.update(asyncio.run(bench_modbus(network, args.seconds)))
        say(f"2/4 durable queue: {args.queue_readings:,} readings")
        report.update(bench_queue(work, args.queue_readings, args.tags))
        say("starting a private Kafka broker")
        broker = KafkaBroker(port=free_port(), controller_port=free_port(), data_dir=work / "kafka")
        broker.start()
        telemetry = Telemetry(broker.bootstrap, network_file, work / "telemetry.log")
        try:
            telemetry.start()
            say(f"3/4 backlog forwarding: {args.backlog_readings:,} readings")
            report.update(
                asyncio.run(bench_backlog(work, network, telemetry, args.backlog_readings, args.backlog_batch))
            )
            say(f"4/4 outage: {args.tags} tags at 1 s, telemetry killed for {args.outage_s:g} s")
            outage = bench_outage(work, network_file, network, telemetry, broker.bootstrap, args.outage_s)
        finally:
            telemetry.stop()
            broker.stop()
    timeline = outage.pop("_timeline")
    report.update(outage)
    o = report["outage_test"]
    report["goals"] = {
        **GOALS,
        "modbus_met": report["modbus_tags_per_s"] >= GOALS["modbus_tags_at_1s"],
        "backlog_met": report["backlog_forward_readings_per_s"] >= GOALS["backlog_forward_readings_per_s"],
        "queue_met": report["queue_us_per_reading"] <= GOALS["queue_us_per_reading"],
        "outage_nothing_lost": o["readings_arrived"] >= o["readings_taken"] and o["duplicates"] == 0,
    }
    report["setup"] = {"cpu_count": os.cpu_count(), "tags": args.tags, "python": sys.version.split()[0]}
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, timeline)
    print(json.dumps({k: v for k, v in report.items() if k not in ("modbus", "queue", "backlog", "setup")}, indent=2))
    say(f"wrote {REPORT.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
