"""Prometheus metrics of telemetry (one registry per service instance, so tests can run several)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.telemetry.domain import RejectReason

_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PrometheusIngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.accepted = Counter(
            "pipewarden_telemetry_readings_accepted", "Readings published to the readings topic.", registry=r
        )
        self.rejected = Counter(
            "pipewarden_telemetry_readings_rejected",
            "Readings refused at ingest, by reason.",
            ["reason"],
            registry=r,
        )
        self.batches = Counter(
            "pipewarden_telemetry_batches_acked", "Batches acked (not counting duplicates).", registry=r
        )
        self.saturated = Counter(
            "pipewarden_telemetry_readings_saturated",
            "Accepted readings at the end of their meter's range (quality SATURATED): a bound, not a measurement.",
            registry=r,
        )
        self.deduplicated = Counter(
            "pipewarden_telemetry_batches_deduplicated",
            "Retried batches answered from the ack window without publishing.",
            registry=r,
        )
        self.refused = Counter(
            "pipewarden_telemetry_batches_refused", "Batches refused as a whole, by kind.", ["kind"], registry=r
        )
        self.kafka_errors = Counter(
            "pipewarden_telemetry_kafka_errors",
            "Batches whose records Kafka did not acknowledge in time.",
            registry=r,
        )
        self.refused_calls = Counter(
            "pipewarden_telemetry_refused_calls",
            "Calls refused before any batch was read, by reason (missing_token, malformed_token, unknown_token).",
            ["reason"],
            registry=r,
        )
        self.ack_latency = Histogram(
            "pipewarden_telemetry_ack_latency_seconds",
            "From receiving a batch to its ack (includes the Kafka round trip).",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        # Pre-create labels so dashboards see zeros rather than missing series.
        self._rejected_by_reason = {reason: self.rejected.labels(reason.name.lower()) for reason in RejectReason}

    def batch_acked(
        self, accepted: int, rejected_by_reason: Mapping[RejectReason, int], latency_s: float, saturated: int
    ) -> None:
        self.batches.inc()
        if accepted:
            self.accepted.inc(accepted)
        if saturated:
            self.saturated.inc(saturated)
        for reason, count in rejected_by_reason.items():
            self._rejected_by_reason[reason].inc(count)
        self.ack_latency.observe(latency_s)

    def batch_deduplicated(self) -> None:
        self.deduplicated.inc()

    def batch_refused(self, kind: str) -> None:
        self.refused.labels(kind).inc()

    def publish_failed(self) -> None:
        self.kafka_errors.inc()

    def call_refused(self, reason: str) -> None:
        self.refused_calls.labels(reason).inc()
