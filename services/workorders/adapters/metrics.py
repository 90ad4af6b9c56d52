"""Prometheus metrics of the workorders service (served on ``/metrics``): its API, topic consumers, outbox and
projections. Names follow ``pipewarden_<service>_<what>_<unit>``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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

# -- the API -----------------------------------------------------------------------------------------------

_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

COMMANDS = Counter(
    "pipewarden_workorders_commands_total",
    "Commands executed through the API, by aggregate, verb and outcome (ok, or the gRPC status of the refusal).",
    ["aggregate", "command", "outcome"],
)
COMMAND_SECONDS = Histogram(
    "pipewarden_workorders_command_seconds",
    "From a command's arrival to its answer (validation, event-store append, response view).",
    ["aggregate", "command"],
    buckets=_LATENCY_BUCKETS_S,
)
QUERY_SECONDS = Histogram(
    "pipewarden_workorders_query_seconds",
    "From a query's arrival to its answer, by gRPC method.",
    ["method"],
    buckets=_LATENCY_BUCKETS_S,
)
REFUSED_CALLS = Counter(
    "pipewarden_workorders_refused_calls_total",
    "Calls refused before reaching the service layer, by reason (missing_token, malformed_token, expired_token, "
    "bad_signature, invalid_token, invalid_claims, stream_limit).",
    ["reason"],
)
WATCH_STREAMS_OPEN = Gauge("pipewarden_workorders_watch_streams_open", "Watch streams open now (all callers).")

# -- the background loops (sampled every few seconds) ----------------------------------------------------------

OUTBOX_BACKLOG = Gauge(
    "pipewarden_workorders_outbox_backlog_events",
    "Events appended but not yet published to workorders.events.v1 (grows while Kafka is unreachable).",
)
OUTBOX_OLDEST_AGE = Gauge(
    "pipewarden_workorders_outbox_oldest_age_seconds",
    "Age of the oldest unpublished event (0 when none waits): how late Watch readers on Kafka are.",
)
PROJECTION_LAG = Gauge(
    "pipewarden_workorders_projection_lag_events",
    "Events recorded but not yet applied to the read models (the API's lists and Watch lag by this much).",
)
