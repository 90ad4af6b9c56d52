"""Idle CPU of a real workorders process on PostgreSQL, and how soon it sees another process's appends:
the code of another revision (the base, before the LISTEN/NOTIFY wake-up) against this checkout, in one run.

    .venv/bin/python -m benchmarks.workorders_idle [--base REV] [--idle-s 60] [--probes 15] [--rounds 1]

Starts its own throw-away PostgreSQL (deploy/postgres/postgres.sh) and Kafka broker (deploy/kafka/kafka.sh),
both on free ports. For each variant in turn (base, head, base, head... for --rounds) it runs
``python -m services.workorders serve`` as the deployment does (alarm and sensor-health consumers, outbox relay,
projection, SLA and hazard tickers, Watch feed, metrics on), on a fresh database of its own; the base from
``git archive <base> services`` (uncommitted edits never count as the base), the head from this checkout.

- **Idle CPU**: after a warm-up, the CPU seconds (user + system, psutil) over ``--idle-s`` of the workorders
  process and of the PostgreSQL backends serving it (found by its connections' ``application_name``): what an
  idle service costs the machine, its database work included.
- **Wake latency**: ``--probes`` events appended by this (another) process, 1.5 s apart, so that a polling loop
  has backed off: append commit -> the projection's checkpoint past it, and -> its outbox row published to
  Kafka. The leak -> work order path (alarm consumer -> in-process append) is checked by ``make loadtest``.
- **Busy CPU**: a steady stream of ``--busy-rate`` appends a second for ``--busy-s`` (a soak's sensor-health
  hazards came at ~50 a second): the CPU the service and its backends spend on it, since waking per append
  must not cost more than polling did.

Writes reports/workorders_idle.json (each run's figures, medians per variant, head/base ratios) and a PNG.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "workorders_idle.json"
PLOT = ROOT / "reports" / "workorders_idle.png"
# The last revision whose workorders polled on fixed intervals (projection 50 ms, outbox 200 ms, Watch 500 ms).
DEFAULT_BASE = "7c21a1e001f846cf6ef0dd4211583bb8d0a384db"
PROBE_SPACING_S = 1.5
PROBE_TIMEOUT_S = 10.0


def log(message: str) -> None:
    print(f"bench-workorders-idle: {message}", file=sys.stderr, flush=True)


def extract_services(rev: str, into: Path) -> Path:
    """The ``services`` package of revision ``rev`` (committed content only) under ``into``."""
    data = subprocess.run(["git", "archive", "--format=tar", rev, "services"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def with_app_name(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


def backend_pids(admin: sa.Engine, app_name: str) -> list[int]:
    with admin.connect() as conn:
        rows = conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"), {"n": app_name})
        return [int(r[0]) for r in rows]


def cpu_s(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


class Variant:
    def __init__(self, name: str, tree: Path, pg_url: str, admin: sa.Engine, kafka: str, work: Path) -> None:
        self.name, self.tree, self.admin, self.kafka, self.work = name, tree, admin, kafka, work
        self.database = f"idle_{name}_{uuid.uuid4().hex[:8]}"
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.database}"'))
        base_url = sa.make_url(pg_url).set(database=self.database).render_as_string(hide_password=False)
        self.app_name = f"wo_idle_{name}_{uuid.uuid4().hex[:6]}"
        self.url = with_app_name(base_url, self.app_name)
        self.probe_url = base_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from tests.fixtures.kafka import free_port

        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEWARDEN_")}
        env.update(PYTHONPATH=str(self.tree), PIPEWARDEN_KAFKA_BOOTSTRAP=self.kafka,
                   PIPEWARDEN_WORKORDERS_METRICS_PORT="0", PIPEWARDEN_LOG_LEVEL="WARNING",
                   PIPEWARDEN_WORKORDERS_CONSUMER_GROUP=f"pipewarden-workorders-{self.app_name}")
        self.log_path = self.work / f"{self.app_name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.workorders", "serve", "--dev", "--db", self.url,
             "--address", f"127.0.0.1:{free_port()}"],
            cwd=self.tree, env=env, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while b"workorders serving on" not in self.log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: workorders did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)

    def idle_cpu(self, warmup_s: float, idle_s: float) -> dict[str, float]:
        assert self.proc is not None
        time.sleep(warmup_s)  # consumers joined their groups, tables created, loops backed off
        service = psutil.Process(self.proc.pid)
        backends = backend_pids(self.admin, self.app_name)
        before_service = service.cpu_times()
        before_backends = cpu_s(backends)
        log(f"{self.name}: measuring {idle_s:.0f} s idle (pid {self.proc.pid}, {len(backends)} database backends)")
        time.sleep(idle_s)
        after_service = service.cpu_times()
        # Backends that appeared meanwhile count from 0 (a pool may open a connection late).
        backends_now = backend_pids(self.admin, self.app_name)
        after_backends = cpu_s(backends_now)
        service_s = (after_service.user + after_service.system) - (before_service.user + before_service.system)
        database_s = sum(after_backends[p] - before_backends.get(p, 0.0) for p in after_backends)
        return {"service_cpu_s": round(service_s, 3), "database_cpu_s": round(database_s, 3),
                "total_cpu_s": round(service_s + database_s, 3),
                "cpu_pct_of_one_core": round(100 * (service_s + database_s) / idle_s, 2),
                "database_backends": len(backends_now)}

    def wake_latency(self, probes: int) -> dict[str, Any]:
        """Append from this process (as ``workorders ctl`` or another replica would) and time the service."""
        from services.eventstore import EventStore, NewEvent
        from services.topics import WORKORDERS_EVENTS

        # As the service appends: with its outbox (the relay publishes the probes to Kafka).
        store = EventStore.from_url(self.probe_url, create_tables=False, outbox_topic=WORKORDERS_EVENTS.name)
        projected, published = [], []
        try:
            for i in range(probes):
                time.sleep(PROBE_SPACING_S)
                (event,) = store.append(f"bench-idle-probe-{uuid.uuid4().hex[:8]}", 0,
                                        [NewEvent("BenchmarkProbe", {"i": i})])
                committed = time.time()  # append returned: committed
                done_projection = done_outbox = None
                deadline = time.monotonic() + PROBE_TIMEOUT_S
                while (done_projection is None or done_outbox is None) and time.monotonic() < deadline:
                    with store.engine.connect() as conn:
                        checkpoint = conn.execute(sa.text(
                            "SELECT max(position) FROM eventstore_checkpoints")).scalar_one_or_none()
                        sent = conn.execute(sa.text(
                            "SELECT published_at_unix_us FROM eventstore_outbox WHERE position = :p"),
                            {"p": event.position}).scalar_one_or_none()
                    now = time.time()
                    if done_projection is None and checkpoint is not None and checkpoint >= event.position:
                        done_projection = now - committed
                    if done_outbox is None and sent is not None:
                        done_outbox = max(0.0, sent / 1e6 - committed)
                    time.sleep(0.002)
                projected.append(done_projection)
                published.append(done_outbox)
        finally:
            store.close()

        def summary(values: list[float | None]) -> dict[str, Any]:
            seen = sorted(v for v in values if v is not None)
            return {"n": len(values), "missed": len(values) - len(seen),
                    "p50_ms": round(1000 * statistics.median(seen), 1) if seen else None,
                    "max_ms": round(1000 * seen[-1], 1) if seen else None}

        return {"projection": summary(projected), "outbox_published": summary(published),
                "note": "upper bounds: the checkpoint is read every ~2 ms (plus the query's own time)"}

    def busy_cpu(self, rate: float, seconds: float) -> dict[str, float]:
        """CPU of the service and its backends while this process appends ``rate`` events a second."""
        from services.eventstore import EventStore, NewEvent
        from services.topics import WORKORDERS_EVENTS

        assert self.proc is not None
        store = EventStore.from_url(self.probe_url, create_tables=False, outbox_topic=WORKORDERS_EVENTS.name)
        service = psutil.Process(self.proc.pid)
        try:
            before_service, before_backends = service.cpu_times(), cpu_s(backend_pids(self.admin, self.app_name))
            started = time.monotonic()
            n = 0
            while (elapsed := time.monotonic() - started) < seconds:
                if n < elapsed * rate:
                    store.append(f"bench-busy-{uuid.uuid4().hex[:8]}", 0, [NewEvent("BenchmarkBusy", {"n": n})])
                    n += 1
                else:
                    time.sleep(0.002)
            time.sleep(1.0)  # the last appends' work
            after_service, after_backends = service.cpu_times(), cpu_s(backend_pids(self.admin, self.app_name))
        finally:
            store.close()
        service_s = (after_service.user + after_service.system) - (before_service.user + before_service.system)
        database_s = sum(after_backends[p] - before_backends.get(p, 0.0) for p in after_backends)
        return {"appends": n, "service_cpu_s": round(service_s, 3), "database_cpu_s": round(database_s, 3),
                "total_cpu_s": round(service_s + database_s, 3),
                "cpu_ms_per_append": round(1000 * (service_s + database_s) / max(1, n), 3)}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def plot(report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4))
    labels = [f"{r['variant']} #{r['round']}" for r in runs]
    ax1.bar(labels, [r["idle"]["service_cpu_s"] for r in runs], label="workorders process")
    ax1.bar(labels, [r["idle"]["database_cpu_s"] for r in runs],
            bottom=[r["idle"]["service_cpu_s"] for r in runs], label="its PostgreSQL backends")
    ax1.set_ylabel(f"CPU s over {report['idle_s']:.0f} s idle")
    ax1.set_title("idle CPU")
    ax1.legend()
    width = 0.35
    xs = range(len(runs))
    ax2.bar([x - width / 2 for x in xs], [r["wake"]["projection"]["p50_ms"] or 0 for r in runs], width,
            label="projection p50")
    ax2.bar([x + width / 2 for x in xs], [r["wake"]["outbox_published"]["p50_ms"] or 0 for r in runs], width,
            label="outbox published p50")
    ax2.set_xticks(list(xs), labels)
    ax2.set_ylabel("ms after another process's append")
    ax2.set_title("wake latency")
    ax2.legend()
    ax3.bar(labels, [r["busy"]["cpu_ms_per_append"] for r in runs])
    ax3.set_ylabel("CPU ms per append (service + backends)")
    ax3.set_title(f"busy: {report['busy_rate_per_s']:.0f} appends/s by another process")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workorders_idle", description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help="revision to compare with (default: before the wake-up)")
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--warmup-s", type=float, default=15.0)
    parser.add_argument("--probes", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--busy-rate", type=float, default=50.0)
    parser.add_argument("--busy-s", type=float, default=20.0)
    args = parser.parse_args(argv)
    if not (args.idle_s > 0 and args.warmup_s >= 0 and args.probes >= 1 and args.rounds >= 1):
        parser.error("--idle-s > 0, --warmup-s >= 0, --probes >= 1, --rounds >= 1")

    from benchmarks.workorders import PrivatePostgres
    from tests.fixtures.kafka import KafkaBroker, start_on_free_ports

    # kill <pid> stops the servers it started too (the finally below), as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    work = Path(tempfile.mkdtemp(prefix="bench-workorders-idle-"))
    work.chmod(0o755)
    postgres = PrivatePostgres()
    broker: KafkaBroker | None = None
    runs: list[dict[str, Any]] = []
    try:
        base_tree = extract_services(args.base, work / "base")
        log(f"base: services of {args.base[:12]} in {base_tree}; head: this checkout")
        log("starting PostgreSQL and Kafka (private, free ports)")
        pg_url = postgres.up()
        broker = start_on_free_ports(lambda port, controller: KafkaBroker(port=port, controller_port=controller,
                                                                          data_dir=work / "kafka"))
        admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        for round_ in range(1, args.rounds + 1):
            for name, tree in (("base", base_tree), ("head", ROOT)):
                variant = Variant(name, tree, pg_url, admin, broker.bootstrap, work)
                log(f"{name} round {round_}: starting workorders on database {variant.database}")
                try:
                    variant.start()
                    idle = variant.idle_cpu(args.warmup_s, args.idle_s)
                    log(f"{name}: idle {idle['service_cpu_s']} s service + {idle['database_cpu_s']} s database CPU")
                    log(f"{name}: {args.probes} appends by another process, {PROBE_SPACING_S} s apart")
                    wake = variant.wake_latency(args.probes)
                    log(f"{name}: projection p50 {wake['projection']['p50_ms']} ms, outbox published p50 "
                        f"{wake['outbox_published']['p50_ms']} ms")
                    log(f"{name}: {args.busy_rate:.0f} appends/s by another process for {args.busy_s:.0f} s")
                    busy = variant.busy_cpu(args.busy_rate, args.busy_s)
                    log(f"{name}: busy {busy['service_cpu_s']} s service + {busy['database_cpu_s']} s database CPU "
                        f"({busy['cpu_ms_per_append']} ms per append)")
                finally:
                    variant.stop()
                runs.append({"variant": name, "round": round_, "idle": idle, "wake": wake, "busy": busy})
        admin.dispose()
    finally:
        if broker is not None:
            broker.stop()
        postgres.down()
        shutil.rmtree(work, ignore_errors=True)

    def median(variant: str, pick: Any) -> float | None:
        values = [v for r in runs if r["variant"] == variant and (v := pick(r)) is not None]
        return round(statistics.median(values), 3) if values else None

    figures: dict[str, Any] = {}
    for key, pick in {
        "idle_total_cpu_s": lambda r: r["idle"]["total_cpu_s"],
        "idle_service_cpu_s": lambda r: r["idle"]["service_cpu_s"],
        "idle_database_cpu_s": lambda r: r["idle"]["database_cpu_s"],
        "projection_wake_p50_ms": lambda r: r["wake"]["projection"]["p50_ms"],
        "outbox_wake_p50_ms": lambda r: r["wake"]["outbox_published"]["p50_ms"],
        "busy_cpu_ms_per_append": lambda r: r["busy"]["cpu_ms_per_append"],
    }.items():
        base, head = median("base", pick), median("head", pick)
        figures[key] = {"base": base, "head": head,
                        "ratio_head_to_base": round(head / base, 4) if base and head is not None else None}
    report = {
        "benchmark": "workorders idle CPU and wake latency (benchmarks/workorders_idle.py)",
        "command": "python -m benchmarks.workorders_idle " + " ".join(argv if argv is not None else sys.argv[1:]),
        "base": args.base, "head": "this checkout", "idle_s": args.idle_s, "warmup_s": args.warmup_s,
        "probes": args.probes, "probe_spacing_s": PROBE_SPACING_S, "busy_rate_per_s": args.busy_rate,
        "busy_s": args.busy_s, "cpu_count": os.cpu_count(),
        "load_average_at_end": list(os.getloadavg()),
        "figures": figures, "runs": runs,
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    plot(report)
    for key, f in figures.items():
        print(f"{key}: base {f['base']}  head {f['head']}  head/base {f['ratio_head_to_base']}")
    print(f"report: {REPORT} and {PLOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
