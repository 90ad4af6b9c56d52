"""Event-store throughput probes the workorders benchmark calls (``make bench-workorders``).

    measure_append_events_per_s(url, seconds)      appends (with outbox rows) per second
    measure_projection_events_per_s(url, events)   events a projection applies per second

Both work on any store URL (SQLite file or PostgreSQL), create the schema when missing, and use
run-specific stream ids / read-model tables, so they can run against a store that already holds data.
Run directly for a quick look: ``python -m benchmarks.workorders_store [URL]`` (default: a temp SQLite).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

from services.eventstore import EventStore, NewEvent, ProjectionRunner, RecordedEvent, write_transaction
from services.topics import WORKORDERS_EVENTS


def measure_append_events_per_s(
    url: str, seconds: float = 5.0, *, events_per_append: int = 1, streams: int = 100
) -> float:
    """Events appended per second by one writer, round-robin over ``streams`` streams, for ``seconds``."""
    store = EventStore.from_url(url, outbox_topic=WORKORDERS_EVENTS.name)
    tag = uuid.uuid4().hex[:12]
    versions = [0] * streams
    appended = 0
    try:
        started = time.perf_counter()
        deadline = started + seconds
        i = 0
        while time.perf_counter() < deadline:
            index = i % streams
            batch = [
                NewEvent("WorkOrderNoted", {"n": i, "k": k, "note": "valve 7 inspected"})
                for k in range(events_per_append)
            ]
            store.append(f"bench-{tag}-{index}", versions[index], batch, actor="benchmark")
            versions[index] += events_per_append
            appended += events_per_append
            i += 1
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    return appended / elapsed


class _CountingProjection:
    """A read model typical of workorders: one row per stream, updated per event."""

    def __init__(self, tag: str) -> None:
        self.name = f"bench-projection-{tag}"
        self._metadata = sa.MetaData()
        self.table = sa.Table(
            f"bench_rm_{tag}",
            self._metadata,
            sa.Column("stream_id", sa.String(200), primary_key=True),
            sa.Column("events", sa.Integer, nullable=False),
            sa.Column("last_position", sa.BigInteger, nullable=False),
        )

    @property
    def tables(self) -> Sequence[sa.Table]:
        return (self.table,)

    def handle(self, conn: sa.Connection, event: RecordedEvent) -> None:
        updated = conn.execute(
            sa.update(self.table)
            .where(self.table.c.stream_id == event.stream_id)
            .values(events=self.table.c.events + 1, last_position=event.position)
        )
        if updated.rowcount == 0:
            conn.execute(
                sa.insert(self.table).values(stream_id=event.stream_id, events=1, last_position=event.position)
            )


def measure_projection_events_per_s(
    url: str, events: int = 5_000, *, streams: int = 100, batch_size: int = 500, events_per_append: int = 50
) -> float:
    """Events per second a fresh projection applies while catching up on a log of at least ``events``.

    Appends ``events`` events first (untimed); the projection then replays the whole log from position 0
    (everything in the store, not only this run's events) and the rate counts every event it applied.
    """
    store = EventStore.from_url(url, outbox_topic=WORKORDERS_EVENTS.name)
    tag = uuid.uuid4().hex[:12]
    projection = _CountingProjection(tag)
    try:
        versions = [0] * streams
        for i in range(0, events, events_per_append):
            index = (i // events_per_append) % streams
            size = min(events_per_append, events - i)
            batch = [NewEvent("WorkOrderNoted", {"n": i + k}) for k in range(size)]
            store.append(f"bench-{tag}-{index}", versions[index], batch)
            versions[index] += size
        runner = ProjectionRunner(store, projection, batch_size=batch_size)
        runner.create_tables()
        started = time.perf_counter()
        applied = runner.run_until_caught_up()
        elapsed = time.perf_counter() - started
    finally:
        with write_transaction(store.engine) as conn:
            projection.table.drop(conn, checkfirst=True)
        store.close()
    return applied / elapsed


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = argv[0] if argv else f"sqlite:///{Path(scratch) / 'bench.sqlite3'}"
        result = {
            "url": sa.make_url(url).render_as_string(hide_password=True),
            "append_events_per_s": round(measure_append_events_per_s(url, 3.0), 1),
            "append_batched_10_events_per_s": round(measure_append_events_per_s(url, 3.0, events_per_append=10), 1),
            "projection_events_per_s": round(measure_projection_events_per_s(url, 5_000), 1),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
