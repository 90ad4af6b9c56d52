"""The event-store port: what a service layer may ask of an event store, whatever keeps the events.

Implemented by ``EventStore`` (SQLite file or PostgreSQL, with outbox and projections) and by
``InMemoryEventStore`` (service-layer unit tests, no database). Both validate input with the same checks
(``services.eventstore.model``) and pass the same contract suite (``tests/*/eventstore/*contract*``), so a
use case written against ``EventStorePort`` behaves alike on either. Depend on this, not on a concrete store.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from services.eventstore.model import DEFAULT_READ_LIMIT, NewEvent, RecordedEvent, Snapshot


class EventStorePort(Protocol):
    def append(
        self,
        stream_id: str,
        expected_version: int | None,
        new_events: Sequence[NewEvent],
        *,
        causation_id: str | uuid.UUID | None = None,
        correlation_id: str | uuid.UUID | None = None,
        actor: str | None = None,
    ) -> list[RecordedEvent]:
        """Append ``new_events`` to ``stream_id`` if it is at ``expected_version`` (0 = new stream, None = any).

        Raises ``ConcurrencyError`` (the stream moved on), ``InvalidEventError`` (malformed input; nothing is
        stored), ``DuplicateEventError`` (an event id stored by a different append). An exact retry of a
        stored append (same stream, ids and versions) returns the stored events and adds nothing.
        """
        ...

    def read_stream(self, stream_id: str, *, after_version: int = 0, limit: int | None = None) -> list[RecordedEvent]:
        """The stream's events with version > ``after_version``, oldest first, upcast to current schemas."""
        ...

    def stream_version(self, stream_id: str) -> int:
        """The stream's last version; 0 when it has no events."""
        ...

    def read_all(self, *, after_position: int = 0, limit: int = DEFAULT_READ_LIMIT) -> list[RecordedEvent]:
        """Events of all streams with position > ``after_position`` in position order (gap-free, from 1)."""
        ...

    def head_position(self) -> int:
        """The highest global position stored so far (0 for an empty store)."""
        ...

    def save_snapshot(
        self, stream_id: str, version: int, state: dict[str, Any], *, schema_version: int = 1
    ) -> Snapshot:
        """Keep ``state`` as the stream's snapshot at ``version`` unless a newer one is stored; returns the kept one."""
        ...

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stream's latest snapshot, or None."""
        ...

    def close(self) -> None:
        """Release connections (a no-op for stores that hold none)."""
        ...
