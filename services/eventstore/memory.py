"""An event store in process memory: ``EventStorePort`` without a database, for service-layer unit tests.

Same contract as ``EventStore`` (it runs the same contract suite): the same input checks, optimistic
concurrency, exact retries returned as stored, ``DuplicateEventError``, gap-free positions from 1 that a
polling reader never sees filled in behind it, snapshots that never go backwards, upcasting on read.
Appends are serialised by one lock, as the SQL store serialises them by its sequence row; payloads and
snapshot states are kept as JSON text, so callers can no more alias stored data than with a database.

Not supported (there are no tables): the outbox (``OutboxRelay`` refuses this store), projections
(``ProjectionRunner`` refuses it; read models run inside SQL transactions), persistence across processes.

    store = InMemoryEventStore(clock=ManualClock())
    store.append("workorder-42", 0, [NewEvent("WorkOrderOpened", {"grade": 1})])
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.eventstore.clock import Clock, SystemClock
from services.eventstore.errors import ConcurrencyError, DuplicateEventError, InvalidEventError
from services.eventstore.model import (
    DEFAULT_READ_LIMIT,
    NewEvent,
    RecordedEvent,
    Snapshot,
    check_json_object,
    check_new_events,
    check_optional_id,
    check_schema_version,
    check_stream_id,
    check_version,
)
from services.eventstore.upcasting import UpcasterRegistry

if TYPE_CHECKING:
    from services.eventstore.ports import EventStorePort
    from services.eventstore.store import EventStore


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class _Row:
    """An event as stored: the payload as written (JSON text, before any upcasting)."""

    stream_id: str
    version: int
    position: int
    event_type: str
    schema_version: int
    payload_json: str
    event_id: uuid.UUID
    recorded_at_unix_us: int
    causation_id: str | None
    correlation_id: str | None
    actor: str | None


@dataclass(frozen=True, slots=True)
class _StoredSnapshot:
    version: int
    schema_version: int
    state_json: str
    recorded_at_unix_us: int


class _Memory:
    """What a database would hold; shared by stores made with ``with_upcasters`` (as an engine is)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[_Row] = []  # log[p - 1] has position p
        self.streams: dict[str, list[_Row]] = {}  # streams[s][v - 1] has version v
        self.by_event_id: dict[uuid.UUID, _Row] = {}
        self.snapshots: dict[str, _StoredSnapshot] = {}


class InMemoryEventStore:
    """Append-only event streams in a Python process; thread-safe. See the module docstring for limits."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        upcasters: UpcasterRegistry | None = None,
        _memory: _Memory | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.upcasters = upcasters or UpcasterRegistry()
        self._memory = _memory or _Memory()

    def with_upcasters(self, upcasters: UpcasterRegistry) -> InMemoryEventStore:
        """Another store over the same events and snapshots that reads through ``upcasters``.

        (The SQL equivalent is a second ``EventStore`` over the same engine.)
        """
        return InMemoryEventStore(clock=self.clock, upcasters=upcasters, _memory=self._memory)

    def close(self) -> None:
        """Nothing to release; the events stay readable."""

    # -- writing ---------------------------------------------------------------------------------------

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
        """As ``EventStore.append``: checks first, then retry recognition, concurrency check, append."""
        check_stream_id(stream_id)
        if expected_version is not None:
            check_version("expected_version", expected_version)
        checked = check_new_events(new_events)
        causation = check_optional_id("causation_id", causation_id)
        correlation = check_optional_id("correlation_id", correlation_id)
        checked_actor = check_optional_id("actor", actor)
        payloads = [_dump(dict(event.payload)) for event in checked]
        recorded_at = self.clock.now_unix_us()
        memory = self._memory
        with memory.lock:
            retried = self._stored_retry(stream_id, expected_version, checked)
            if retried is not None:
                return [self._to_recorded(row) for row in retried]
            stream = memory.streams.get(stream_id, [])
            current = len(stream)
            if expected_version is not None and current != expected_version:
                raise ConcurrencyError(stream_id, expected_version, current)
            first_position = len(memory.log) + 1
            rows = [
                _Row(
                    stream_id=stream_id,
                    version=current + 1 + i,
                    position=first_position + i,
                    event_type=event.event_type,
                    schema_version=event.schema_version,
                    payload_json=payload,
                    event_id=event.event_id,
                    recorded_at_unix_us=recorded_at,
                    causation_id=causation,
                    correlation_id=correlation,
                    actor=checked_actor,
                )
                for i, (event, payload) in enumerate(zip(checked, payloads, strict=True))
            ]
            # Everything is checked: the writes below cannot fail half-way.
            memory.log.extend(rows)
            memory.streams.setdefault(stream_id, []).extend(rows)
            memory.by_event_id.update((row.event_id, row) for row in rows)
        return [self._to_recorded(row) for row in rows]

    def _stored_retry(self, stream_id: str, expected_version: int | None, checked: list[NewEvent]) -> list[_Row] | None:
        ids = [event.event_id for event in checked]
        stored = {event_id: row for event_id in ids if (row := self._memory.by_event_id.get(event_id)) is not None}
        if not stored:
            return None
        first = stored.get(ids[0])
        is_retry = (
            len(stored) == len(ids)
            and first is not None
            and (expected_version is None or first.version == expected_version + 1)
            and all(
                stored[event_id].stream_id == stream_id and stored[event_id].version == first.version + i
                for i, event_id in enumerate(ids)
            )
        )
        if not is_retry:
            clash = ", ".join(f"{event_id} (in {row.stream_id!r} v{row.version})" for event_id, row in stored.items())
            raise DuplicateEventError(f"event ids already stored by another append: {clash}")
        return [stored[event_id] for event_id in ids]

    # -- reading ---------------------------------------------------------------------------------------

    def read_stream(self, stream_id: str, *, after_version: int = 0, limit: int | None = None) -> list[RecordedEvent]:
        """The stream's events with version > ``after_version``, oldest first (upcast to current schemas)."""
        check_stream_id(stream_id)
        check_version("after_version", after_version)
        if limit is not None:
            check_version("limit", limit, minimum=1)
        with self._memory.lock:
            stream = self._memory.streams.get(stream_id, [])
            end = len(stream) if limit is None else min(len(stream), after_version + limit)
            rows = stream[after_version:end]
        return [self._to_recorded(row) for row in rows]

    def stream_version(self, stream_id: str) -> int:
        """The stream's last version; 0 when it has no events."""
        check_stream_id(stream_id)
        with self._memory.lock:
            return len(self._memory.streams.get(stream_id, []))

    def read_all(self, *, after_position: int = 0, limit: int = DEFAULT_READ_LIMIT) -> list[RecordedEvent]:
        """Events of all streams with position > ``after_position``, in position (= append) order."""
        check_version("after_position", after_position)
        check_version("limit", limit, minimum=1)
        with self._memory.lock:
            rows = self._memory.log[after_position : after_position + limit]
        return [self._to_recorded(row) for row in rows]

    def head_position(self) -> int:
        """The highest global position appended so far (0 for an empty store)."""
        with self._memory.lock:
            return len(self._memory.log)

    def _to_recorded(self, row: _Row) -> RecordedEvent:
        schema_version, payload = self.upcasters.upcast(
            row.event_type, row.schema_version, json.loads(row.payload_json)
        )
        return RecordedEvent(
            stream_id=row.stream_id,
            version=row.version,
            position=row.position,
            event_type=row.event_type,
            schema_version=schema_version,
            payload=payload,
            event_id=row.event_id,
            recorded_at_unix_us=row.recorded_at_unix_us,
            causation_id=row.causation_id,
            correlation_id=row.correlation_id,
            actor=row.actor,
        )

    # -- snapshots -------------------------------------------------------------------------------------

    def save_snapshot(
        self, stream_id: str, version: int, state: dict[str, Any], *, schema_version: int = 1
    ) -> Snapshot:
        """As ``EventStore.save_snapshot``: kept unless a newer snapshot is stored; returns the kept one."""
        check_stream_id(stream_id)
        check_version("version", version, minimum=1)
        check_schema_version(schema_version)
        state = check_json_object("state", state)
        state_json = _dump(state)
        recorded_at = self.clock.now_unix_us()
        memory = self._memory
        with memory.lock:
            current = len(memory.streams.get(stream_id, []))
            if version > current:
                raise InvalidEventError(
                    f"cannot snapshot {stream_id!r} at version {version}: the stream is at version {current}"
                )
            stored = memory.snapshots.get(stream_id)
            if stored is not None and version < stored.version:
                return self._to_snapshot(stream_id, stored)
            kept = _StoredSnapshot(version, schema_version, state_json, recorded_at)
            memory.snapshots[stream_id] = kept
        return self._to_snapshot(stream_id, kept)

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stream's latest snapshot, or None. Continue with ``read_stream(after_version=s.version)``."""
        check_stream_id(stream_id)
        with self._memory.lock:
            stored = self._memory.snapshots.get(stream_id)
        return None if stored is None else self._to_snapshot(stream_id, stored)

    @staticmethod
    def _to_snapshot(stream_id: str, stored: _StoredSnapshot) -> Snapshot:
        return Snapshot(
            stream_id=stream_id,
            version=stored.version,
            state=json.loads(stored.state_json),
            schema_version=stored.schema_version,
            recorded_at_unix_us=stored.recorded_at_unix_us,
        )


if TYPE_CHECKING:
    # mypy proves both stores implement the port (a missing or mistyped method fails `mypy services`).
    def _implements_the_port(sql: EventStore, memory: InMemoryEventStore) -> tuple[EventStorePort, EventStorePort]:
        return sql, memory
