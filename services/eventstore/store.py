"""The event store: append with optimistic concurrency, read streams and the global log, snapshots.

Every append runs in one transaction that (1) bumps the single-row position sequence — which
serialises appends, so global positions are gap-free and commit in order — (2) recognises exact
retries by event id, (3) checks ``expected_version``, (4) inserts the events and (5) their outbox rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from services.eventstore.clock import Clock, SystemClock
from services.eventstore.database import (
    create_engine,
    create_schema,
    events,
    outbox,
    read_transaction,
    sequence,
    snapshots,
    write_transaction,
)
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


class _ExactRetry(Exception):
    def __init__(self, recorded: list[RecordedEvent]) -> None:
        self.events = recorded


class EventStore:
    """Append-only event streams in one SQL database.

    ``outbox_topic``: every appended event also gets an outbox row for this Kafka topic (published by
    ``OutboxRelay``); ``None`` (the default) turns the outbox off. The store knows no topic of its own:
    the service that owns the events names it (workorders: ``services.topics.WORKORDERS_EVENTS.name``).
    ``outbox_excluded_prefixes``: streams whose id starts with one of these get no outbox rows (records the
    service keeps for itself, such as workorders' audit trail, are not published).
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        clock: Clock | None = None,
        upcasters: UpcasterRegistry | None = None,
        outbox_topic: str | None = None,
        outbox_excluded_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.upcasters = upcasters or UpcasterRegistry()
        self.outbox_topic = outbox_topic
        self.outbox_excluded_prefixes = tuple(outbox_excluded_prefixes)

    @classmethod
    def from_url(
        cls,
        url: str | sa.URL,
        *,
        create_tables: bool = True,
        clock: Clock | None = None,
        upcasters: UpcasterRegistry | None = None,
        outbox_topic: str | None = None,
        outbox_excluded_prefixes: tuple[str, ...] = (),
    ) -> EventStore:
        store = cls(
            create_engine(url),
            clock=clock,
            upcasters=upcasters,
            outbox_topic=outbox_topic,
            outbox_excluded_prefixes=outbox_excluded_prefixes,
        )
        if create_tables:
            store.create_schema()
        return store

    def create_schema(self) -> None:
        create_schema(self.engine)

    def close(self) -> None:
        self.engine.dispose()

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
        """Append ``new_events`` to ``stream_id`` if it is at ``expected_version`` (0 = new stream).

        ``expected_version=None`` appends without a concurrency check. Returns the recorded events.
        Raises ``ConcurrencyError`` when the stream moved on, ``InvalidEventError`` for malformed input,
        ``DuplicateEventError`` when an event id is already stored by a different append. Appending the
        exact same events again (a retry after a lost reply) returns the stored events and adds nothing.
        """
        check_stream_id(stream_id)
        if expected_version is not None:
            check_version("expected_version", expected_version)
        checked = check_new_events(new_events)
        metadata = {
            "causation_id": check_optional_id("causation_id", causation_id),
            "correlation_id": check_optional_id("correlation_id", correlation_id),
            "actor": check_optional_id("actor", actor),
        }
        recorded_at = self.clock.now_unix_us()
        try:
            with write_transaction(self.engine) as conn:
                last_position = conn.execute(
                    sa.update(sequence)
                    .where(sequence.c.id == 1)
                    .values(last_position=sequence.c.last_position + len(checked))
                    .returning(sequence.c.last_position)
                ).scalar_one()
                retried = self._stored_retry(conn, stream_id, expected_version, checked)
                if retried is not None:
                    raise _ExactRetry(retried)  # rolls the sequence bump back: nothing new is written
                current = self._stream_version(conn, stream_id)
                if expected_version is not None and current != expected_version:
                    raise ConcurrencyError(stream_id, expected_version, current)
                first_position = last_position - len(checked) + 1
                rows = [
                    {
                        "position": first_position + i,
                        "stream_id": stream_id,
                        "version": current + 1 + i,
                        "event_type": event.event_type,
                        "schema_version": event.schema_version,
                        "payload": event.payload,
                        "event_id": event.event_id,
                        "recorded_at_unix_us": recorded_at,
                        **metadata,
                    }
                    for i, event in enumerate(checked)
                ]
                conn.execute(sa.insert(events), rows)
                if self.outbox_topic is not None and not stream_id.startswith(self.outbox_excluded_prefixes):
                    conn.execute(
                        sa.insert(outbox),
                        [{"position": row["position"], "topic": self.outbox_topic} for row in rows],
                    )
        except _ExactRetry as retry:
            return retry.events
        except sa.exc.IntegrityError as error:
            # Unreachable while appends are serialised by the sequence row; kept as a backstop.
            actual = self.stream_version(stream_id)
            if expected_version is not None and actual != expected_version:
                raise ConcurrencyError(stream_id, expected_version, actual) from error
            raise DuplicateEventError(f"append to {stream_id!r} violates a uniqueness constraint") from error
        return [self._to_recorded(row) for row in rows]

    def _stored_retry(
        self, conn: sa.Connection, stream_id: str, expected_version: int | None, checked: list[NewEvent]
    ) -> list[RecordedEvent] | None:
        ids = [event.event_id for event in checked]
        stored = {
            row.event_id: row for row in conn.execute(sa.select(events).where(events.c.event_id.in_(ids))).mappings()
        }
        if not stored:
            return None
        first = stored.get(ids[0])
        is_retry = (
            len(stored) == len(ids)
            and first is not None
            and (expected_version is None or first["version"] == expected_version + 1)
            and all(
                stored[event_id]["stream_id"] == stream_id and stored[event_id]["version"] == first["version"] + i
                for i, event_id in enumerate(ids)
            )
        )
        if not is_retry:
            clash = ", ".join(
                f"{event_id} (in {row['stream_id']!r} v{row['version']})" for event_id, row in stored.items()
            )
            raise DuplicateEventError(f"event ids already stored by another append: {clash}")
        return [self._to_recorded(stored[event_id]) for event_id in ids]

    # -- reading ---------------------------------------------------------------------------------------

    def read_stream(self, stream_id: str, *, after_version: int = 0, limit: int | None = None) -> list[RecordedEvent]:
        """The stream's events with version > ``after_version``, oldest first (upcast to current schemas)."""
        check_stream_id(stream_id)
        check_version("after_version", after_version)
        query = (
            sa.select(events)
            .where(events.c.stream_id == stream_id, events.c.version > after_version)
            .order_by(events.c.version)
        )
        if limit is not None:
            query = query.limit(check_version("limit", limit, minimum=1))
        with read_transaction(self.engine) as conn:
            return [self._to_recorded(row) for row in conn.execute(query).mappings()]

    def stream_version(self, stream_id: str) -> int:
        """The stream's last version; 0 when it has no events."""
        check_stream_id(stream_id)
        with read_transaction(self.engine) as conn:
            return self._stream_version(conn, stream_id)

    def read_all(self, *, after_position: int = 0, limit: int = DEFAULT_READ_LIMIT) -> list[RecordedEvent]:
        """Events of all streams with position > ``after_position``, in position (= commit) order."""
        with read_transaction(self.engine) as conn:
            return self.read_all_in(conn, after_position=after_position, limit=limit)

    def read_all_in(
        self, conn: sa.Connection, *, after_position: int = 0, limit: int = DEFAULT_READ_LIMIT
    ) -> list[RecordedEvent]:
        """``read_all`` inside the caller's transaction (projections, relays)."""
        check_version("after_position", after_position)
        check_version("limit", limit, minimum=1)
        rows = conn.execute(
            sa.select(events).where(events.c.position > after_position).order_by(events.c.position).limit(limit)
        ).mappings()
        return [self._to_recorded(row) for row in rows]

    def head_position(self) -> int:
        """The highest global position committed so far (0 for an empty store)."""
        with read_transaction(self.engine) as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.position), 0))).scalar_one())

    @staticmethod
    def _stream_version(conn: sa.Connection, stream_id: str) -> int:
        version = conn.execute(
            sa.select(sa.func.max(events.c.version)).where(events.c.stream_id == stream_id)
        ).scalar_one()
        return int(version or 0)

    def _to_recorded(self, row: Any) -> RecordedEvent:
        schema_version, payload = self.upcasters.upcast(row["event_type"], row["schema_version"], dict(row["payload"]))
        return RecordedEvent(
            stream_id=row["stream_id"],
            version=int(row["version"]),
            position=int(row["position"]),
            event_type=row["event_type"],
            schema_version=schema_version,
            payload=payload,
            event_id=row["event_id"],
            recorded_at_unix_us=int(row["recorded_at_unix_us"]),
            causation_id=row["causation_id"],
            correlation_id=row["correlation_id"],
            actor=row["actor"],
        )

    # -- snapshots -------------------------------------------------------------------------------------

    def save_snapshot(
        self, stream_id: str, version: int, state: dict[str, Any], *, schema_version: int = 1
    ) -> Snapshot:
        """Keep ``state`` as the stream's snapshot at ``version`` unless a newer snapshot is stored.

        Returns the snapshot stored afterwards. ``version`` must be an existing version of the stream.
        ``schema_version`` versions the state's shape: loaders discard snapshots of an older shape.
        """
        check_stream_id(stream_id)
        check_version("version", version, minimum=1)
        check_schema_version(schema_version)
        state = check_json_object("state", state)
        recorded_at = self.clock.now_unix_us()
        with write_transaction(self.engine) as conn:
            current = self._stream_version(conn, stream_id)
            if version > current:
                raise InvalidEventError(
                    f"cannot snapshot {stream_id!r} at version {version}: the stream is at version {current}"
                )
            stored = (
                conn.execute(sa.select(snapshots).where(snapshots.c.stream_id == stream_id)).mappings().one_or_none()
            )
            values = {
                "version": version,
                "schema_version": schema_version,
                "state": state,
                "recorded_at_unix_us": recorded_at,
            }
            if stored is None:
                conn.execute(sa.insert(snapshots).values(stream_id=stream_id, **values))
            elif version >= stored["version"]:
                conn.execute(sa.update(snapshots).where(snapshots.c.stream_id == stream_id).values(**values))
            else:
                return self._to_snapshot(stored)
        return Snapshot(stream_id, version, state, schema_version, recorded_at)

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        """The stream's latest snapshot, or None. Continue with ``read_stream(after_version=s.version)``."""
        check_stream_id(stream_id)
        with read_transaction(self.engine) as conn:
            row = conn.execute(sa.select(snapshots).where(snapshots.c.stream_id == stream_id)).mappings().one_or_none()
        return None if row is None else self._to_snapshot(row)

    @staticmethod
    def _to_snapshot(row: Any) -> Snapshot:
        return Snapshot(
            stream_id=row["stream_id"],
            version=int(row["version"]),
            state=dict(row["state"]),
            schema_version=int(row["schema_version"]),
            recorded_at_unix_us=int(row["recorded_at_unix_us"]),
        )
