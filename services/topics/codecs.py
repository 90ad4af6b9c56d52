"""Protobuf record codecs, and the poison-record error consumers route to the dead-letter topic.

`decode` refuses bytes that are not a valid message AND bytes that parse (protobuf parses much garbage,
and an empty value parses to an empty message) but lack the message's identity fields: a record without
its deterministic id cannot be deduplicated, so it must not enter a service.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message

M = TypeVar("M", bound=Message)

# Fields that must be non-empty for a decoded value to be usable, by full protobuf name. Message types
# not listed here need whichever of `record_id` / `event_id` they declare.
IDENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "pipewarden.telemetry.v1.SegmentReadings": ("record_id", "segment_id", "gateway_id"),
    "pipewarden.telemetry.v1.RejectedReading": ("record_id", "gateway_id"),
    "pipewarden.leakdetect.v1.LeakAlarmEvent": ("event_id", "alarm_id", "segment_id"),
    "pipewarden.leakdetect.v1.SensorHealthEvent": ("event_id", "tag_id", "segment_id"),
    "pipewarden.workorders.v1.EventEnvelope": ("event_id", "stream_id", "event_type"),
    "pipewarden.leakdetect.v1.LearningCommand": ("command_id", "segment_id"),
}
_DEFAULT_IDENTITY = ("record_id", "event_id")

# Header names on leak.dead-letter.v1 records.
DLQ_SOURCE_TOPIC = "pw-dlq-source-topic"
DLQ_SOURCE_PARTITION = "pw-dlq-source-partition"
DLQ_SOURCE_OFFSET = "pw-dlq-source-offset"
DLQ_EXPECTED_TYPE = "pw-dlq-expected-type"
DLQ_ERROR = "pw-dlq-error"
# An error message may quote the bad input (a 1.5 MB id); the dead letter keeps the record, the header the gist.
MAX_DLQ_ERROR_CHARS = 2000


class PoisonRecordError(ValueError):
    """A record value that cannot be used: undecodable, or missing its identity fields."""

    def __init__(
        self,
        reason: str,
        *,
        message_type: str,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = reason
        self.message_type = message_type
        self.topic = topic
        self.partition = partition
        self.offset = offset
        where = ""
        if topic is not None:
            where = f" at {topic}"
            if partition is not None:
                where += f"[{partition}]"
            if offset is not None:
                where += f"@{offset}"
        super().__init__(f"poison record{where}: not a valid {message_type}: {reason}")


def encode(message: Message) -> bytes:
    """Record value bytes; deterministic so a retried publish writes byte-identical records."""
    return message.SerializeToString(deterministic=True)


def identity_fields(message_cls: type[Message]) -> tuple[str, ...]:
    """The fields `decode` requires to be set for this message type."""
    descriptor = message_cls.DESCRIPTOR
    if descriptor.full_name in IDENTITY_FIELDS:
        return IDENTITY_FIELDS[descriptor.full_name]
    return tuple(f for f in _DEFAULT_IDENTITY if f in descriptor.fields_by_name)


def decode(
    message_cls: type[M],
    data: bytes | None,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> M:
    """Parse a record value; raises PoisonRecordError (with the record's position when given)."""
    type_name = message_cls.DESCRIPTOR.full_name

    def poison(reason: str) -> PoisonRecordError:
        return PoisonRecordError(
            reason, message_type=type_name, topic=topic, partition=partition, offset=offset
        )

    if data is None:
        raise poison("value is null")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise poison(f"value is {type(data).__name__}, not bytes")
    message = message_cls()
    try:
        message.ParseFromString(bytes(data))
    except DecodeError as exc:
        raise poison(str(exc) or "protobuf decode error") from exc
    missing = [name for name in identity_fields(message_cls) if not getattr(message, name)]
    if missing:
        raise poison(f"missing identity field(s) {', '.join(missing)}")
    return message


def dead_letter_headers(error: PoisonRecordError) -> list[tuple[str, bytes]]:
    """Headers for the dead-letter copy of a poison record (the value bytes are kept unchanged)."""
    headers = [
        (DLQ_EXPECTED_TYPE, error.message_type.encode()),
        (DLQ_ERROR, _bounded(error.reason, MAX_DLQ_ERROR_CHARS).encode("utf-8", "replace")),
    ]
    if error.topic is not None:
        headers.append((DLQ_SOURCE_TOPIC, error.topic.encode()))
    if error.partition is not None:
        headers.append((DLQ_SOURCE_PARTITION, str(error.partition).encode()))
    if error.offset is not None:
        headers.append((DLQ_SOURCE_OFFSET, str(error.offset).encode()))
    return headers


def _bounded(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 40] + f"... [{len(text) - max_chars + 40} more characters]"
