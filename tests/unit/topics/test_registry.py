"""The topic registry matches the documented topics and refuses malformed specs."""

import pytest

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2, learning_pb2
from services.contracts.pipewarden.telemetry.v1 import records_pb2
from services.contracts.pipewarden.workorders.v1 import events_pb2
from services.topics import ALL_TOPICS, TopicSpec, topic
from services.topics.codecs import identity_fields

DAY_MS = 86_400_000


@pytest.mark.parametrize(
    ("name", "partitions", "retention_days", "key", "value_type"),
    [
        ("telemetry.readings.v1", 12, 7, "segment_id", "pipewarden.telemetry.v1.SegmentReadings"),
        ("telemetry.rejected.v1", 3, 30, "gateway_id", "pipewarden.telemetry.v1.RejectedReading"),
        ("leak.alarms.v1", 6, 365, "segment_id", "pipewarden.leakdetect.v1.LeakAlarmEvent"),
        ("leak.sensor-health.v1", 6, 30, "segment_id", "pipewarden.leakdetect.v1.SensorHealthEvent"),
        ("leak.dead-letter.v1", 3, 30, None, None),
        ("workorders.events.v1", 6, 365, None, "pipewarden.workorders.v1.EventEnvelope"),
        ("leak.learning-commands.v1", 12, 30, "segment_id", "pipewarden.leakdetect.v1.LearningCommand"),
    ],
)
def test_registered_topics(name, partitions, retention_days, key, value_type) -> None:
    spec = topic(name)
    assert spec.partitions == partitions
    assert spec.retention_ms == retention_days * DAY_MS
    assert spec.cleanup_policy == "delete"
    if key is not None:
        assert spec.key == key
    assert spec.value_type == value_type
    assert spec.configs() == {"retention.ms": str(retention_days * DAY_MS), "cleanup.policy": "delete"}


def test_names_are_unique_and_value_types_exist() -> None:
    names = [s.name for s in ALL_TOPICS]
    assert len(names) == len(set(names))
    known = {
        m.DESCRIPTOR.full_name: m
        for m in (
            records_pb2.SegmentReadings,
            records_pb2.RejectedReading,
            alarms_pb2.LeakAlarmEvent,
            alarms_pb2.SensorHealthEvent,
            events_pb2.EventEnvelope,
            learning_pb2.LearningCommand,
        )
    }
    for spec in ALL_TOPICS:
        if spec.value_type is not None:
            assert spec.value_type in known, spec
            # every typed topic's value has identity fields, so poison records are detectable
            assert identity_fields(known[spec.value_type])


def test_unknown_topic_names_the_registered_ones() -> None:
    with pytest.raises(KeyError, match=r"telemetry\.readings\.v1"):
        topic("no.such.topic")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": ""},
        {"name": "has space"},
        {"name": "x" * 250},
        {"partitions": 0},
        {"retention_ms": 0},
        {"retention_ms": -2},
        {"cleanup_policy": "forever"},
        {"replication_factor": 0},
    ],
)
def test_spec_validation(kwargs) -> None:
    base = {"name": "t.v1", "partitions": 1, "retention_ms": 1000, "key": "k", "value_type": None}
    with pytest.raises(ValueError):
        TopicSpec(**{**base, **kwargs})


def test_spec_is_frozen_and_extra_configs_are_applied() -> None:
    spec = TopicSpec(
        "t.v1", 2, -1, "k", None, cleanup_policy="compact", extra_configs=(("min.compaction.lag.ms", "5"),)
    )
    assert spec.configs() == {"retention.ms": "-1", "cleanup.policy": "compact", "min.compaction.lag.ms": "5"}
    with pytest.raises(AttributeError):
        spec.partitions = 3  # type: ignore[misc]
