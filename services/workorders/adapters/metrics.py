"""Prometheus metrics of the workorders service's topic consumers (served on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONSUMER_RECORDS_HANDLED = Counter(
    "pipewarden_workorders_consumer_records_handled_total",
    "Records a consumer applied to the event store (redeliveries included: they change nothing).",
    ["topic"],
)
CONSUMER_DEAD_LETTERED = Counter(
    "pipewarden_workorders_consumer_dead_lettered_total",
    "Records copied to the dead-letter topic because they can never be applied.",
    ["topic"],
)
CONSUMER_RETRIES = Counter(
    "pipewarden_workorders_consumer_retries_total",
    "Attempts that failed with a transient infrastructure error (database, lock) and were retried.",
    ["topic"],
)
CONSUMER_PARTITIONS_RETRYING = Gauge(
    "pipewarden_workorders_consumer_partitions_retrying",
    "Partitions whose next record is waiting for the database to answer (alert when it stays above 0).",
    ["topic"],
)
