"""Prometheus metrics of one gateway (own registry, so tests and benchmarks can run several in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS_S = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PrometheusGatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.taken = Counter(
            "pipewarden_gateway_readings_taken", "Readings taken from sources.", ["source"], registry=r
        )
        self.errors = Counter(
            "pipewarden_gateway_read_errors",
            "Failed reads by source and kind (unreachable, timeout, exception_N, ...).",
            ["source", "kind"],
            registry=r,
        )
        self.dropped = Counter(
            "pipewarden_gateway_readings_dropped",
            "Readings not kept: oldest_dropped (queue full, policy drop_oldest), queue_full, disk_full.",
            ["reason"],
            registry=r,
        )
        self.acked = Counter("pipewarden_gateway_readings_acked", "Readings acked by telemetry.", ["lane"], registry=r)
        self.batches_failed = Counter(
            "pipewarden_gateway_batches_failed", "Failed sends by kind.", ["failure"], registry=r
        )
        self.dead = Counter(
            "pipewarden_gateway_readings_dead_lettered",
            "Readings refused for good (kept in the queue file).",
            registry=r,
        )
        self.latency = Histogram(
            "pipewarden_gateway_send_latency_seconds",
            "From writing a batch to its ack.",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.depth = Gauge(
            "pipewarden_gateway_queue_depth_readings", "Readings in the durable queue (not yet acked).", registry=r
        )
        self.oldest = Gauge(
            "pipewarden_gateway_oldest_unsent_age_seconds",
            "Age of the oldest reading not yet acked (0: queue empty).",
            registry=r,
        )
        self.up = Gauge(
            "pipewarden_gateway_telemetry_connected", "1 while the stream to telemetry gets acks.", registry=r
        )
        for reason in ("oldest_dropped", "queue_full", "disk_full"):
            self.dropped.labels(reason)

    def readings_taken(self, source: str, count: int) -> None:
        self.taken.labels(source).inc(count)

    def read_error(self, source: str, kind: str) -> None:
        self.errors.labels(source, kind).inc()

    def readings_dropped(self, reason: str, count: int) -> None:
        self.dropped.labels(reason).inc(count)

    def batch_acked(self, readings: int, latency_s: float, lane: str) -> None:
        self.acked.labels(lane).inc(readings)
        self.latency.observe(latency_s)

    def batch_failed(self, failure: str) -> None:
        self.batches_failed.labels(failure).inc()

    def readings_dead_lettered(self, count: int) -> None:
        self.dead.inc(count)

    def queue_state(self, depth: int, oldest_age_s: float) -> None:
        self.depth.set(depth)
        self.oldest.set(oldest_age_s)

    def connected(self, up: bool) -> None:
        self.up.set(1 if up else 0)
