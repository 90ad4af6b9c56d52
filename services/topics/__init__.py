"""Kafka topic registry and protobuf codecs shared by every service."""

from typing import TYPE_CHECKING, Any

from services.topics.codecs import PoisonRecordError, dead_letter_headers, decode, encode
from services.topics.registry import (
    ALL_TOPICS,
    LEAK_ALARMS,
    LEAK_DEAD_LETTER,
    LEAK_LEARNING_COMMANDS,
    LEAK_SENSOR_HEALTH,
    TELEMETRY_READINGS,
    TELEMETRY_REJECTED,
    WORKORDERS_EVENTS,
    TopicSpec,
    topic,
)

if TYPE_CHECKING:
    from services.topics.admin import EnsureReport, TopicAdminError, ensure_topics

# admin is imported on first use: `python -m services.topics.admin` must not find it imported already,
# and consumers that only decode records do not need the admin client.
_ADMIN_NAMES = ("EnsureReport", "TopicAdminError", "ensure_topics")


def __getattr__(name: str) -> Any:
    if name in _ADMIN_NAMES:
        from services.topics import admin

        return getattr(admin, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALL_TOPICS",
    "LEAK_ALARMS",
    "LEAK_DEAD_LETTER",
    "LEAK_LEARNING_COMMANDS",
    "LEAK_SENSOR_HEALTH",
    "TELEMETRY_READINGS",
    "TELEMETRY_REJECTED",
    "WORKORDERS_EVENTS",
    "EnsureReport",
    "PoisonRecordError",
    "TopicAdminError",
    "TopicSpec",
    "dead_letter_headers",
    "decode",
    "encode",
    "ensure_topics",
    "topic",
]
