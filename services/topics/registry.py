"""The project's Kafka topics: names, partition counts, retention, keys and value types.

Every producer and consumer names its topics through this registry, and `services.topics.admin` creates
exactly these topics (the broker has auto-creation switched off). Add a topic by adding a `TopicSpec`
constant and listing it in `ALL_TOPICS`.
"""

from __future__ import annotations

from dataclasses import dataclass

_DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic as the project wants it to exist on the broker."""

    name: str
    partitions: int
    retention_ms: int
    # What the record key is (and therefore what is ordered per partition), e.g. "segment_id".
    key: str
    # Full protobuf name of the record value, e.g. "pipewarden.telemetry.v1.SegmentReadings";
    # None when the value is not one protobuf message (dead letters keep the poison bytes).
    value_type: str | None
    cleanup_policy: str = "delete"
    description: str = ""
    # -1: the broker's default.replication.factor (1 on the project's single-node broker).
    replication_factor: int = -1
    # Further topic configs, e.g. (("min.compaction.lag.ms", "60000"),); strings as Kafka wants them.
    extra_configs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 249 or not all(c.isalnum() or c in "._-" for c in self.name):
            raise ValueError(f"invalid Kafka topic name: {self.name!r}")
        if self.partitions < 1:
            raise ValueError(f"{self.name}: partitions must be >= 1, got {self.partitions}")
        if self.retention_ms < -1 or self.retention_ms == 0:
            raise ValueError(f"{self.name}: retention_ms must be > 0 or -1 (forever), got {self.retention_ms}")
        if self.cleanup_policy not in ("delete", "compact", "compact,delete", "delete,compact"):
            raise ValueError(f"{self.name}: unknown cleanup_policy {self.cleanup_policy!r}")
        if self.replication_factor == 0 or self.replication_factor < -1:
            raise ValueError(f"{self.name}: replication_factor must be >= 1 or -1 (broker default)")

    def configs(self) -> dict[str, str]:
        """The topic-level configs `ensure_topics` sets on the broker."""
        return {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
            **dict(self.extra_configs),
        }


TELEMETRY_READINGS = TopicSpec(
    name="telemetry.readings.v1",
    partitions=12,
    retention_ms=7 * _DAY_MS,
    key="segment_id",
    value_type="pipewarden.telemetry.v1.SegmentReadings",
    description="Valid readings of one gateway batch for one segment, in SI units.",
)

TELEMETRY_REJECTED = TopicSpec(
    name="telemetry.rejected.v1",
    partitions=3,
    retention_ms=30 * _DAY_MS,
    key="gateway_id",
    value_type="pipewarden.telemetry.v1.RejectedReading",
    description="Readings refused at ingest, with the reason.",
)

LEAK_ALARMS = TopicSpec(
    name="leak.alarms.v1",
    partitions=6,
    retention_ms=365 * _DAY_MS,
    key="segment_id",
    value_type="pipewarden.leakdetect.v1.LeakAlarmEvent",
    description="Leak alarm lifecycle: raised, updated, cleared.",
)

LEAK_SENSOR_HEALTH = TopicSpec(
    name="leak.sensor-health.v1",
    partitions=6,
    retention_ms=30 * _DAY_MS,
    key="segment_id",
    value_type="pipewarden.leakdetect.v1.SensorHealthEvent",
    description="Sensor health changes (stale, flatlined, stuck, implausible) and the segment's MDLR.",
)

LEAK_DEAD_LETTER = TopicSpec(
    name="leak.dead-letter.v1",
    partitions=3,
    retention_ms=30 * _DAY_MS,
    key="the poison record's original key",
    value_type=None,
    description=(
        "Poison records, value bytes unchanged; headers (services.topics.codecs.dead_letter_headers) name "
        "the source topic, partition, offset, expected type and the decode error."
    ),
)

WORKORDERS_EVENTS = TopicSpec(
    name="workorders.events.v1",
    partitions=6,
    retention_ms=365 * _DAY_MS,
    key="stream_id (one work order's event stream, e.g. \"workorder-<uuid>\")",
    value_type="pipewarden.workorders.v1.EventEnvelope",
    description="Work-order domain events published from the event store's outbox.",
)

LEAK_LEARNING_COMMANDS = TopicSpec(
    name="leak.learning-commands.v1",
    # as many partitions as the readings, keyed alike: a segment's commands land in the partition number its
    # readings do, which the same worker owns (faust co-partitions an agent's topics), so the owning worker
    # applies them in its stream beside the readings; the workers scale out with the readings' partitions
    partitions=TELEMETRY_READINGS.partitions,
    retention_ms=30 * _DAY_MS,
    key="segment_id",
    value_type="pipewarden.leakdetect.v1.LearningCommand",
    description="Users' learning commands for a segment's leak detector (learn now, this period was leak-free).",
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    TELEMETRY_READINGS,
    TELEMETRY_REJECTED,
    LEAK_ALARMS,
    LEAK_SENSOR_HEALTH,
    LEAK_DEAD_LETTER,
    WORKORDERS_EVENTS,
    LEAK_LEARNING_COMMANDS,
)


def topic(name: str) -> TopicSpec:
    """The spec of a registered topic; KeyError names the known topics."""
    for spec in ALL_TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic {name!r}; registered: {', '.join(s.name for s in ALL_TOPICS)}")
