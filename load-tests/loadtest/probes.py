"""Samplers that run beside the load, each in its own thread: leakdetect's consumer lag read from Kafka
(group offsets against end offsets, and the age of the oldest unconsumed record), and the CPU and RSS of
every process of the deployment (pids from supervisord)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from loadtest import transport

log = logging.getLogger(__name__)


class Sampler(threading.Thread):
    def __init__(self, name: str, every_s: float, sample: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.every_s = every_s
        self._sample = sample
        self._stop_event = threading.Event()
        self.failures: list[str] = []

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self._sample()
            except Exception as error:  # a probe that fails is reported, the load goes on
                if len(self.failures) < 5:
                    self.failures.append(f"{type(error).__name__}: {str(error)[:200]}")
            self._stop_event.wait(self.every_s)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=15)


@dataclass
class LagProbe:
    bootstrap: str
    group: str
    topic: str
    started: float = field(default_factory=time.monotonic)
    series: list[dict[str, float]] = field(default_factory=list)
    _admin: Any = None
    _consumer: Any = None

    def _clients(self) -> tuple[Any, Any]:
        from kafka import KafkaConsumer
        from kafka.admin import KafkaAdminClient

        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        if self._admin is None:
            self._admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="loadtest-lag",
                                           request_timeout_ms=5000, **transport.kafka_kwargs())
        if self._consumer is None:
            self._consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                           enable_auto_commit=False, client_id="loadtest-lag",
                                           max_partition_fetch_bytes=256 * 1024, request_timeout_ms=6000,
                                           **transport.kafka_kwargs())
        return self._admin, self._consumer

    def sample(self) -> None:
        from kafka import TopicPartition

        admin, consumer = self._clients()
        offsets = admin.list_group_offsets({self.group: None}).get(self.group, {})
        committed = {tp: meta.offset for tp, meta in offsets.items() if tp.topic == self.topic}
        partitions = consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        ends = consumer.end_offsets(tps)
        lag_records = 0
        behind: dict[Any, int] = {}
        for tp in tps:
            position = committed.get(tp, -1)
            if position < 0:  # nothing committed yet: everything on the partition is unconsumed
                position = consumer.beginning_offsets([tp])[tp]
            lag = max(0, ends[tp] - position)
            lag_records += lag
            if lag:
                behind[tp] = position
        lag_s = 0.0
        if behind:
            # The age of the oldest unconsumed record (its Kafka timestamp: the time telemetry wrote it).
            consumer.assign(list(behind))
            for tp, position in behind.items():
                consumer.seek(tp, position)
            oldest: dict[Any, int] = {}
            deadline = time.monotonic() + 3
            while len(oldest) < len(behind) and time.monotonic() < deadline:
                for tp, records in consumer.poll(timeout_ms=500, max_records=len(behind) * 4).items():
                    if records and tp not in oldest:
                        oldest[tp] = records[0].timestamp
                        consumer.pause(tp)
            consumer.resume(*behind)
            consumer.assign([])
            if oldest:
                lag_s = max(0.0, time.time() - min(oldest.values()) / 1000.0)
        self.series.append({"t_s": round(time.monotonic() - self.started, 2), "lag_records": lag_records,
                            "lag_s": round(lag_s, 3)})

    def close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()

    def max_lag_s(self) -> float | None:
        return max((s["lag_s"] for s in self.series), default=None)


@dataclass
class ProcessProbe:
    """CPU seconds (over the run) and RSS (highest) of each named process and its children."""

    pids_of: Callable[[], dict[str, int]]
    started: float = field(default_factory=time.monotonic)
    cpu_s: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    series: list[dict[str, Any]] = field(default_factory=list)
    _last: dict[tuple[str, int], float] = field(default_factory=dict)
    _pid: dict[str, int] = field(default_factory=dict)

    def sample(self) -> None:
        row: dict[str, Any] = {"t_s": round(time.monotonic() - self.started, 2)}
        for name, pid in self.pids_of().items():
            if not pid:
                continue
            if name in self._pid and self._pid[name] != pid:
                self.restarts[name] = self.restarts.get(name, 0) + 1
            self._pid[name] = pid
            try:
                root = psutil.Process(pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            rss = 0
            for proc in tree:
                try:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        rss += proc.memory_info().rss
                except psutil.Error:
                    continue
                used = times.user + times.system
                key = (name, proc.pid)
                previous = self._last.get(key)
                self._last[key] = used
                if previous is not None:
                    self.cpu_s[name] = self.cpu_s.get(name, 0.0) + max(0.0, used - previous)
                else:
                    self.cpu_s.setdefault(name, 0.0)
            self.rss_mb[name] = max(self.rss_mb.get(name, 0.0), rss / 2**20)
            row[name] = round(rss / 2**20, 1)
        self.series.append(row)

    def table(self) -> list[dict[str, Any]]:
        """Per process: CPU s, highest RSS, and its first and last RSS sample (growth over a long run)."""
        def sampled(name: str) -> list[float | None]:
            return [row[name] for row in self.series if name in row] or [None]

        return [{"name": n, "cpu_s": round(self.cpu_s.get(n, 0.0), 2), "rss_mb": round(self.rss_mb.get(n, 0.0), 1),
                 "rss_first_mb": sampled(n)[0], "rss_last_mb": sampled(n)[-1],
                 "restarts_seen": self.restarts.get(n, 0)} for n in self.rss_mb]


def supervised_pids(deployment: Any) -> Callable[[], dict[str, int]]:
    """pids of the deployment's programs from its supervisord (over its unix socket), plus this process."""
    from deploy.local.deployment import rpc

    def pids() -> dict[str, int]:
        info = rpc(deployment).supervisor.getAllProcessInfo()
        return {**{p["name"]: int(p["pid"]) for p in info}, "loadtest (this client, its leak replay)": os.getpid()}

    return pids


def scrape_histogram(urls: list[str], name: str, timeout_s: float = 3.0) -> dict[float, float] | None:
    """Cumulative bucket counts (upper bound -> count) of Prometheus histogram ``name``, summed over the
    ``/metrics`` pages at ``urls``; None when none answered."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[float, float] = {}
    answered = False
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                text = response.read().decode()
        except OSError:
            continue
        answered = True
        for family in text_string_to_metric_families(text):
            if family.name != name:
                continue
            for sample in family.samples:
                if sample.name == f"{name}_bucket":
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets if answered else None


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile over cumulative buckets: linear within the bucket holding rank q."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower  # beyond the highest finite bucket: its bound is all one can say
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = bound, count
    return lower


@dataclass
class ServerAckProbe:
    """Telemetry's own ack latency (``pipewarden_telemetry_ack_latency_seconds``: batch received -> ack, the
    Kafka round trip included) over the run, from its workers' /metrics before and after: what the server
    spends, against the client-side figure (which adds the network, the client's queue and its scheduling)."""

    urls: list[str]
    name: str = "pipewarden_telemetry_ack_latency_seconds"
    _before: dict[float, float] | None = None

    def start(self) -> None:
        self._before = scrape_histogram(self.urls, self.name)

    def result(self) -> dict[str, Any]:
        after = scrape_histogram(self.urls, self.name)
        if after is None or self._before is None:
            return {"missing": "telemetry's /metrics did not answer"}
        delta = {b: after[b] - self._before.get(b, 0.0) for b in after}
        count = delta.get(float("inf"), 0.0)

        def ms(q: float) -> float | None:
            value = histogram_quantile(q, delta)
            return None if value is None else round(value * 1000, 2)

        return {"batches": int(count), "p50_ms": ms(0.5), "p95_ms": ms(0.95), "p99_ms": ms(0.99),
                "note": "bucket-resolution estimates (histogram_quantile), all telemetry workers"}
