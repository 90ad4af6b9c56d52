"""Projections: read models kept up to date from the global event log, exactly once.

A ``Projection`` owns its read-model tables (in the event store's database) and applies events to them
with the connection it is given. ``ProjectionRunner`` reads the events after the projection's checkpoint,
applies them and moves the checkpoint in the SAME transaction, so a read model never misses or double-
applies an event, even across crashes. ``rebuild`` clears the read model and replays from position 0 in
one transaction: readers see the old model until the new one is complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import sqlalchemy as sa

from services.eventstore.database import checkpoints, insert_ignore, read_transaction, write_transaction
from services.eventstore.model import RecordedEvent, check_stream_id
from services.eventstore.store import EventStore


class Projection(Protocol):
    @property
    def name(self) -> str:
        """Unique, stable name: the checkpoint's key. Rename it to force a full replay."""
        ...

    @property
    def tables(self) -> Sequence[sa.Table]:
        """The read-model tables this projection owns (created by the runner, cleared on rebuild)."""
        ...

    def handle(self, conn: sa.Connection, event: RecordedEvent) -> None:
        """Apply one event using ``conn`` only (it is the runner's transaction). Ignore unknown types."""
        ...


class ProjectionRunner:
    def __init__(self, store: EventStore, projection: Projection, *, batch_size: int = 500) -> None:
        if not isinstance(store, EventStore):
            # Read models are written in the same SQL transaction as the checkpoint; other stores have neither.
            raise TypeError(f"ProjectionRunner needs a SQL EventStore, not {type(store).__name__}")
        check_stream_id(projection.name)  # same character rules as stream ids
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.store = store
        self.projection = projection
        self.batch_size = batch_size

    def create_tables(self) -> None:
        with write_transaction(self.store.engine) as conn:
            for table in sa.schema.sort_tables(self.projection.tables):
                table.create(conn, checkfirst=True)

    def checkpoint(self) -> int:
        """Position of the last event applied (0 before the first)."""
        with read_transaction(self.store.engine) as conn:
            position = conn.execute(
                sa.select(checkpoints.c.position).where(checkpoints.c.name == self.projection.name)
            ).scalar_one_or_none()
        return int(position or 0)

    def run_once(self) -> int:
        """Apply the next batch of events; returns how many were applied (0 = caught up)."""
        with write_transaction(self.store.engine) as conn:
            position = self._lock_checkpoint(conn)
            applied, _ = self._apply_batch(conn, position)
        return applied

    def run_until_caught_up(self) -> int:
        total = 0
        while applied := self.run_once():
            total += applied
        return total

    def rebuild(self) -> int:
        """Clear the read model and replay every event, atomically; returns how many were applied."""
        with write_transaction(self.store.engine) as conn:
            self._lock_checkpoint(conn)
            for table in reversed(sa.schema.sort_tables(self.projection.tables)):
                conn.execute(sa.delete(table))
            total, position = 0, 0
            while True:
                applied, position = self._apply_batch(conn, position)
                if applied == 0:
                    break
                total += applied
            # The loop may have applied nothing (empty store): write the reset checkpoint anyway.
            self._save_checkpoint(conn, position)
        return total

    def _lock_checkpoint(self, conn: sa.Connection) -> int:
        insert_ignore(conn, checkpoints, {"name": self.projection.name, "position": 0})
        position = conn.execute(
            sa.select(checkpoints.c.position).where(checkpoints.c.name == self.projection.name).with_for_update()
        ).scalar_one()
        return int(position)

    def _apply_batch(self, conn: sa.Connection, after_position: int) -> tuple[int, int]:
        batch = self.store.read_all_in(conn, after_position=after_position, limit=self.batch_size)
        for event in batch:
            self.projection.handle(conn, event)
        if not batch:
            return 0, after_position
        position = batch[-1].position
        self._save_checkpoint(conn, position)
        return len(batch), position

    def _save_checkpoint(self, conn: sa.Connection, position: int) -> None:
        conn.execute(sa.update(checkpoints).where(checkpoints.c.name == self.projection.name).values(position=position))
