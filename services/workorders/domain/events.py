"""Domain events: the base class, the event-type registry and deterministic event ids.

Every event is a frozen, keyword-only dataclass with a class-level ``type`` (past-tense name, also the
event store's ``event_type``) and ``schema_version``. ``to_payload()`` gives the JSON object to store;
``event_from_payload(type, schema_version, payload)`` reads it back through the registry. When a payload
changes shape, bump ``schema_version`` here and register an upcaster in the event store for the old one.

    event = WorkOrder().receive_alarm(facts, segment, now_unix_us=t)[0]
    stored = (event.type, event.schema_version, event.to_payload())
    assert event_from_payload(*stored) == event
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from services.workorders.domain.codec import from_json, to_json
from services.workorders.domain.errors import InvalidInput

# Namespace of the deterministic (uuid5) ids derived in this package; never change it.
NAMESPACE = uuid.UUID("6b3e2f1c-7a54-5d0e-9a31-2c4f8e7d9b10")


@dataclass(frozen=True, kw_only=True, slots=True)
class DomainEvent:
    type: ClassVar[str] = "DomainEvent"
    schema_version: ClassVar[int] = 1

    @property
    def aggregate_id(self) -> str:
        raise NotImplementedError

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = to_json(self)
        return payload

    @classmethod
    def from_payload(cls: Any, payload: Mapping[str, Any], schema_version: int | None = None) -> Any:
        if schema_version is not None and schema_version != cls.schema_version:
            raise InvalidInput(
                f"{cls.type} payload is schema v{schema_version} but this code reads v{cls.schema_version}; "
                "upcast it first"
            )
        return from_json(cls, payload, cls.type)


E = TypeVar("E", bound=type[DomainEvent])

EVENT_TYPES: dict[str, type[DomainEvent]] = {}


def register_event(event_type: str, schema_version: int = 1) -> Callable[[E], E]:
    """Class decorator: name the event and add it to ``EVENT_TYPES`` (names are unique)."""

    def decorate(cls: E) -> E:
        if event_type in EVENT_TYPES:
            raise ValueError(f"event type {event_type!r} is already registered")
        cls.type = event_type
        cls.schema_version = schema_version
        EVENT_TYPES[event_type] = cls
        return cls

    return decorate


def event_from_payload(event_type: str, schema_version: int, payload: Mapping[str, Any]) -> DomainEvent:
    """Read a stored event back; unknown types, other schema versions and bad payloads raise ``InvalidInput``."""
    cls = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if cls is None:
        raise InvalidInput(f"unknown event type {event_type!r}")
    event: DomainEvent = cls.from_payload(payload, schema_version)
    return event


def deterministic_id(kind: str, *parts: str) -> str:
    """``"<kind>-<uuid5>"`` from the given parts: the same input always gives the same id."""
    return f"{kind}-{uuid.uuid5(NAMESPACE, kind + chr(0) + chr(0).join(parts))}"


def event_id(stream_id: str, version: int) -> uuid.UUID:
    """Deterministic event id for the event appended as ``version`` of ``stream_id``.

    A retried command rebuilds the same events at the same versions, so the event store sees the same
    ids and the retry cannot duplicate anything.
    """
    return uuid.uuid5(NAMESPACE, f"{stream_id}#{version}")
