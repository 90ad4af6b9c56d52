"""The durable queue: SQLite in WAL mode, one file per gateway.

Readings are rows with AUTOINCREMENT ids (never reused, so a batch's id range always means the same rows); a
batch is a row of ``batches`` (sequence, first id, last id) written before the batch is sent, and removed with its
readings in one transaction when telemetry acks it. The next sequence number is stored in the same transactions,
so a restarted gateway resends its unacked batches under their own sequences and never reuses one.

All SQL runs on one thread of its own (SQLite connections are single-threaded and the calls block); the async
methods hand the work to it. ``synchronous=FULL`` by default: a committed append survives a power cut, not only
a ``kill -9`` (which ``NORMAL`` already survives in WAL mode).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from services.gateway.domain import BatchRange, PendingRanges, Reading
from services.gateway.service_layer.ports import Row, StorageFull

log = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tag TEXT NOT NULL,
    t_us INTEGER NOT NULL,
    value REAL NOT NULL,
    quality INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    sequence INTEGER PRIMARY KEY,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sequence INTEGER NOT NULL,
    tag TEXT NOT NULL,
    t_us INTEGER NOT NULL,
    value REAL NOT NULL,
    quality INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def _is_full(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(error).lower()


class SqliteQueue:
    def __init__(
        self,
        path: str | Path,
        *,
        max_readings: int,
        drop_oldest: bool,
        synchronous: str = "FULL",
        max_bytes: int | None = None,
        first_sequence: int | None = None,
        on_dropped: Callable[[str, int], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_readings = max_readings
        self.drop_oldest = drop_oldest
        self.on_dropped = on_dropped or (lambda reason, count: None)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="gateway-queue")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        if synchronous.upper() not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        db.executescript(_SCHEMA)
        if max_bytes is not None:
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            db.execute(f"PRAGMA max_page_count={max(16, max_bytes // page_size)}")
        row = db.execute("SELECT value FROM meta WHERE key='next_sequence'").fetchone()
        if row is None:
            # A fresh file starts at the current time in ms, as fieldsim does: a gateway whose queue file was
            # lost never reuses the sequences of its previous life (unless it sent > 1,000 batches a second).
            start = first_sequence if first_sequence is not None else int(time.time() * 1000)
            db.execute("INSERT INTO meta(key, value) VALUES ('next_sequence', ?)", (start,))
            self._next_sequence = start
        else:
            self._next_sequence = int(row[0])
        self._depth = int(db.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
        last = db.execute("SELECT seq FROM sqlite_sequence WHERE name='readings'").fetchone()
        self._next_row_id = int(last[0]) + 1 if last else 1
        self._pending_list = [
            BatchRange(*r) for r in db.execute("SELECT sequence, first_id, last_id FROM batches ORDER BY sequence")
        ]  # in sequence order: the order of (re)sending
        self._pending = PendingRanges(self._pending_list)
        self._undeleted: list[BatchRange] = []  # acked, but the delete failed (disk full): retried later

    # ---- the single SQL thread
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._db.close()

    # ---- state kept in memory (read from the event loop thread; written on the SQL thread)
    def depth(self) -> int:
        return self._depth

    def next_row_id(self) -> int:
        return self._next_row_id

    def pending(self) -> list[BatchRange]:
        return list(self._pending_list)

    @property
    def next_sequence(self) -> int:
        return self._next_sequence

    # ---- appends
    async def append(self, readings: Sequence[Reading]) -> int:
        return await self._run(self.append_sync, readings)

    def append_sync(self, readings: Sequence[Reading]) -> int:
        """Insert in one transaction; returns the number of readings dropped for the bound (old or new)."""
        dropped = 0
        incoming = list(readings)
        overflow = self._depth + len(incoming) - self.max_readings
        if overflow > 0:
            if self.drop_oldest:
                dropped += self._drop_oldest_unsent(overflow)
                overflow -= dropped
            if overflow > 0:  # only pending batches left (or policy block): the newest readings cannot go in
                lost = min(overflow, len(incoming))
                incoming = incoming[: len(incoming) - lost]
                dropped += lost
                self.on_dropped("queue_full", lost)
        if not incoming:
            return dropped
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO readings(tag, t_us, value, quality) VALUES (?, ?, ?, ?)", incoming)
            db.execute("COMMIT")
        except sqlite3.Error as error:
            db.execute("ROLLBACK") if db.in_transaction else None
            if _is_full(error):
                self.on_dropped("disk_full", len(incoming))
                raise StorageFull(f"{self.path}: {error}; {len(incoming)} reading(s) not stored") from None
            raise
        self._depth += len(incoming)
        last = db.execute("SELECT seq FROM sqlite_sequence WHERE name='readings'").fetchone()
        self._next_row_id = int(last[0]) + 1
        return dropped

    def _drop_oldest_unsent(self, count: int) -> int:
        """Delete up to ``count`` of the oldest readings that are in no batch yet (a batch's content is fixed)."""
        dropped = 0
        cursor = 0
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            while dropped < count:
                start, next_pending = self._pending.free_from(cursor)
                if start >= self._next_row_id:
                    break
                end = next_pending if next_pending is not None else self._next_row_id
                ids = [
                    r[0]
                    for r in db.execute(
                        "SELECT id FROM readings WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                        (start, end, count - dropped),
                    )
                ]
                if ids:
                    db.execute("DELETE FROM readings WHERE id >= ? AND id <= ?", (ids[0], ids[-1]))
                    dropped += len(ids)
                cursor = end
            db.execute("COMMIT")
        except sqlite3.Error:
            db.execute("ROLLBACK")
            raise
        self._depth -= dropped
        if dropped:
            self.on_dropped("oldest_dropped", dropped)
        return dropped

    # ---- reads
    async def rows(self, from_id: int, before_id: int | None, limit: int) -> list[Row]:
        return await self._run(self.rows_sync, from_id, before_id, limit)

    def rows_sync(self, from_id: int, before_id: int | None, limit: int) -> list[Row]:
        end = before_id if before_id is not None else self._next_row_id
        return self._db.execute(
            "SELECT id, tag, t_us, value, quality FROM readings WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (from_id, end, limit),
        ).fetchall()

    async def rows_of(self, batch: BatchRange) -> list[Row]:
        return await self._run(self.rows_sync, batch.first_id, batch.last_id + 1, 1 << 30)

    async def oldest_time_us(self) -> int | None:
        return await self._run(self.oldest_time_us_sync)

    def oldest_time_us_sync(self) -> int | None:
        row = self._db.execute("SELECT t_us FROM readings ORDER BY id LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    # ---- batch bookkeeping
    async def assign(self, first_id: int, last_id: int) -> BatchRange:
        return await self._run(self.assign_sync, first_id, last_id)

    def assign_sync(self, first_id: int, last_id: int) -> BatchRange:
        batch = BatchRange(self._next_sequence, first_id, last_id)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT INTO batches(sequence, first_id, last_id) VALUES (?, ?, ?)", (batch.sequence, first_id, last_id))
            db.execute("UPDATE meta SET value=? WHERE key='next_sequence'", (batch.sequence + 1,))
            db.execute("COMMIT")
        except sqlite3.Error:
            db.execute("ROLLBACK")
            raise
        self._next_sequence += 1
        self._pending.add(batch)
        self._pending_list.append(batch)
        return batch

    async def acked(self, batch: BatchRange) -> None:
        await self._run(self.acked_sync, batch)

    def acked_sync(self, batch: BatchRange) -> None:
        # The batch leaves the send plan at once; its rows leave the file as soon as a delete succeeds (a
        # restart before that resends it under its own sequence: a duplicate that telemetry absorbs).
        self._forget(batch)
        self._undeleted.append(batch)
        todo, self._undeleted = self._undeleted, []
        for index, done in enumerate(todo):
            try:
                self._delete_batch(done)
            except sqlite3.Error as error:
                self._undeleted = todo[index:]
                log.error("acked batch not removed from the queue yet", extra={"sequence": done.sequence, "error": str(error)})
                return

    def _delete_batch(self, batch: BatchRange) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            removed = db.execute("DELETE FROM readings WHERE id >= ? AND id <= ?", (batch.first_id, batch.last_id)).rowcount
            db.execute("DELETE FROM batches WHERE sequence=?", (batch.sequence,))
            db.execute("COMMIT")
        except sqlite3.Error:
            db.execute("ROLLBACK")
            raise
        self._depth -= removed

    def _forget(self, batch: BatchRange) -> None:
        self._pending.remove(batch)
        if batch in self._pending_list:
            self._pending_list.remove(batch)

    async def split(self, batch: BatchRange, halves: Sequence[tuple[int, int]]) -> list[BatchRange]:
        return await self._run(self.split_sync, batch, halves)

    def split_sync(self, batch: BatchRange, halves: Sequence[tuple[int, int]]) -> list[BatchRange]:
        db = self._db
        made = [BatchRange(self._next_sequence + i, first, last) for i, (first, last) in enumerate(halves)]
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM batches WHERE sequence=?", (batch.sequence,))
            db.executemany(
                "INSERT INTO batches(sequence, first_id, last_id) VALUES (?, ?, ?)",
                [(b.sequence, b.first_id, b.last_id) for b in made],
            )
            db.execute("UPDATE meta SET value=? WHERE key='next_sequence'", (self._next_sequence + len(made),))
            db.execute("COMMIT")
        except sqlite3.Error:
            db.execute("ROLLBACK")
            raise
        self._next_sequence += len(made)
        index = self._pending_list.index(batch)
        self._pending.remove(batch)
        self._pending_list[index : index + 1] = made
        for b in made:
            self._pending.add(b)
        return made

    async def dead_letter(self, batch: BatchRange, reason: str) -> int:
        return await self._run(self.dead_letter_sync, batch, reason)

    def dead_letter_sync(self, batch: BatchRange, reason: str) -> int:
        """Move the batch's readings to ``dead_letters`` (kept for an operator, never resent)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            moved = db.execute(
                "INSERT INTO dead_letters(sequence, tag, t_us, value, quality, reason, at_us) "
                "SELECT ?, tag, t_us, value, quality, ?, ? FROM readings WHERE id >= ? AND id <= ?",
                (batch.sequence, reason[:500], time.time_ns() // 1000, batch.first_id, batch.last_id),
            ).rowcount
            db.execute("DELETE FROM readings WHERE id >= ? AND id <= ?", (batch.first_id, batch.last_id))
            db.execute("DELETE FROM batches WHERE sequence=?", (batch.sequence,))
            db.execute("COMMIT")
        except sqlite3.Error:
            db.execute("ROLLBACK")
            raise
        self._depth -= moved
        self._forget(batch)
        return int(moved)

    def dead_letter_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])
