"""Prometheus metrics of the leak detection service."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


class PrometheusMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._readings = Counter(
            "pipewarden_leakdetect_readings_processed_total", "Readings accepted into the reorder buffer.",
            registry=registry,
        )
        self._records = Counter(
            "pipewarden_leakdetect_records_total", "Telemetry records consumed.", registry=registry
        )
        self._late = Counter(
            "pipewarden_leakdetect_late_readings_dropped_total",
            "Readings older than the reorder tolerance behind their segment's newest reading.",
            registry=registry,
        )
        self._dupes = Counter(
            "pipewarden_leakdetect_duplicate_records_total", "Records dropped as gateway retries (same record id).",
            registry=registry,
        )
        self._replayed = Counter(
            "pipewarden_leakdetect_replayed_records_total",
            "Records skipped because the recovered state already contains them.",
            registry=registry,
        )
        self._poison = Counter(
            "pipewarden_leakdetect_poison_records_total", "Records sent to the dead-letter topic.", registry=registry
        )
        self._unknown_tags = Counter(
            "pipewarden_leakdetect_unknown_tag_series_total",
            "Tag series skipped because the tag is not one of its segment's in this worker's network model.",
            registry=registry,
        )
        self._alarms = Counter(
            "pipewarden_leakdetect_alarms_total", "Alarm events published, by state and method.",
            ["state", "method"], registry=registry,
        )
        self._health = Counter(
            "pipewarden_leakdetect_sensor_health_events_total", "Sensor health changes published.", registry=registry
        )
        self.lag = Gauge(
            "pipewarden_leakdetect_consumer_lag_records", "Records behind the partition's high watermark.",
            ["partition"], registry=registry,
        )
        self.batch_seconds = Histogram(
            "pipewarden_leakdetect_batch_seconds", "Detector time per batch.", registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.publish_seconds = Histogram(
            "pipewarden_leakdetect_alarm_publish_seconds",
            "From the detectors' decision to the broker's acknowledgement of the alarm.", registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )

    def records(self, n: int) -> None:
        self._records.inc(n)

    def readings(self, n: int) -> None:
        self._readings.inc(n)

    def late_dropped(self, n: int) -> None:
        self._late.inc(n)

    def duplicates(self, n: int) -> None:
        self._dupes.inc(n)

    def replayed(self, n: int) -> None:
        self._replayed.inc(n)

    def poison(self, n: int) -> None:
        self._poison.inc(n)

    def unknown_tag_series(self, n: int) -> None:
        self._unknown_tags.inc(n)

    def alarm(self, state: str, methods: Sequence[str]) -> None:
        for method in methods or ("NONE",):
            self._alarms.labels(state=state, method=method).inc()

    def sensor_health(self, n: int) -> None:
        self._health.inc(n)
