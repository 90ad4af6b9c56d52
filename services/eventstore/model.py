"""Value types of the event store and the validation of everything a caller hands in.

Validation happens before any SQL runs, so garbage gets the same clear ``InvalidEventError`` on every
backend instead of a driver-specific failure half-way through a transaction.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.eventstore.errors import InvalidEventError

MAX_ID_LENGTH = 200
# Stream ids are used as Kafka keys and in logs: printable ASCII, no spaces, starts with a letter/digit.
# e.g. "workorder-4f1c…", "workorder:WO-2024-000123"
_STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,199}")
# Event types name a fact in the past tense: "WorkOrderOpened", "workorders.CrewAssigned".
_EVENT_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,199}")
_MAX_SCHEMA_VERSION = 10_000
# Versions and positions are stored as signed 64-bit integers.
MAX_VERSION = 2**63 - 1
# How many events ``read_all`` returns when the caller names no limit.
DEFAULT_READ_LIMIT = 1000

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. ``event_id`` should be deterministic for retried commands (idempotence)."""

    event_type: str
    payload: Mapping[str, Any]
    schema_version: int = 1
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored: its place in its stream (``version``, from 1) and in the store (``position``)."""

    stream_id: str
    version: int
    position: int
    event_type: str
    schema_version: int
    payload: JsonObject
    event_id: uuid.UUID
    recorded_at_unix_us: int
    causation_id: str | None = None
    correlation_id: str | None = None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state of a stream's aggregate after ``version`` events (``state`` is a JSON object)."""

    stream_id: str
    version: int
    state: JsonObject
    schema_version: int
    recorded_at_unix_us: int


def check_stream_id(stream_id: object) -> str:
    if not isinstance(stream_id, str):
        raise InvalidEventError(f"stream_id must be a str, not {type(stream_id).__name__}")
    if not _STREAM_ID.fullmatch(stream_id):
        raise InvalidEventError(
            f"invalid stream_id {stream_id[:60]!r}: 1-{MAX_ID_LENGTH} printable ASCII characters "
            "[A-Za-z0-9._:@/+=-], starting with a letter or digit"
        )
    return stream_id


def check_version(name: str, value: object, *, minimum: int = 0) -> int:
    # bool is an int subclass; True as a version is always a bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEventError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum or value > MAX_VERSION:
        raise InvalidEventError(f"{name} must be between {minimum} and {MAX_VERSION}, got {value}")
    return value


def check_event_type(event_type: object) -> str:
    if not isinstance(event_type, str) or not _EVENT_TYPE.fullmatch(event_type):
        raise InvalidEventError(
            f"invalid event_type {event_type!r}: a letter then up to {MAX_ID_LENGTH - 1} of [A-Za-z0-9_.]"
        )
    return event_type


def check_schema_version(schema_version: object) -> int:
    if isinstance(schema_version, bool) or not isinstance(schema_version, int):
        raise InvalidEventError(f"schema_version must be an int, not {type(schema_version).__name__}")
    if not 1 <= schema_version <= _MAX_SCHEMA_VERSION:
        raise InvalidEventError(f"schema_version must be between 1 and {_MAX_SCHEMA_VERSION}, got {schema_version}")
    return schema_version


def check_optional_id(name: str, value: object) -> str | None:
    """Causation/correlation ids and actors: free-form but bounded, printable, one line."""
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise InvalidEventError(f"{name} must be a str, UUID or None, not {type(value).__name__}")
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidEventError(f"{name} must be 1-{MAX_ID_LENGTH} printable characters, got {value[:60]!r}")
    return value


def check_json_object(name: str, value: object) -> JsonObject:
    """A JSON object that reads back exactly as written, on SQLite and on PostgreSQL (jsonb).

    Rejected: non-mappings, non-str keys (json.dumps would silently stringify them), tuples/sets/bytes/
    objects, NaN and infinities, and NUL characters (jsonb cannot store them).
    """
    if not isinstance(value, Mapping):
        raise InvalidEventError(f"{name} must be a JSON object (a dict), not {type(value).__name__}")
    _check_json_value(name, value, depth=0)
    return dict(value)


_MAX_DEPTH = 64


def _check_json_value(path: str, value: object, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidEventError(f"{path}: nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEventError(f"{path}: {value} is not valid JSON (NaN and infinities are not)")
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidEventError(f"{path}: strings must not contain NUL characters")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidEventError(f"{path}: object keys must be str, got {type(key).__name__} {key!r}")
            if "\x00" in key:
                raise InvalidEventError(f"{path}: object keys must not contain NUL characters")
            _check_json_value(f"{path}.{key}", item, depth + 1)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_value(f"{path}[{index}]", item, depth + 1)
        return
    raise InvalidEventError(
        f"{path}: {type(value).__name__} is not JSON-serialisable (use dict, list, str, int, float, bool, None)"
    )


def check_new_events(events: object) -> list[NewEvent]:
    if isinstance(events, NewEvent) or not isinstance(events, list | tuple):
        raise InvalidEventError("events must be a non-empty list of NewEvent")
    if not events:
        raise InvalidEventError("events must not be empty: an append records at least one event")
    checked: list[NewEvent] = []
    seen: set[uuid.UUID] = set()
    for index, event in enumerate(events):
        if not isinstance(event, NewEvent):
            raise InvalidEventError(f"events[{index}] must be a NewEvent, not {type(event).__name__}")
        if not isinstance(event.event_id, uuid.UUID):
            raise InvalidEventError(f"events[{index}].event_id must be a uuid.UUID")
        if event.event_id in seen:
            raise InvalidEventError(f"events[{index}].event_id {event.event_id} appears twice in one append")
        seen.add(event.event_id)
        check_event_type(event.event_type)
        check_schema_version(event.schema_version)
        payload = check_json_object(f"events[{index}].payload", event.payload)
        checked.append(
            NewEvent(event.event_type, payload, schema_version=event.schema_version, event_id=event.event_id)
        )
    return checked


def canonical_json(value: JsonObject) -> str:
    """Deterministic JSON text (sorted keys, no spaces): for envelopes and for comparing read models."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
