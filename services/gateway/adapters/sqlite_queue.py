"""The durable queue: SQLite in WAL mode, one file per gateway.

Readings are numbered continuously; each append stores them as chunks (a row: number of its first reading, count,
earliest source time, the readings in telemetry's wire format, see wire.py), so the per-reading cost is an
encode and a share of one insert. A batch is a range of reading numbers on chunk boundaries, written to
``batches`` with its sequence before it is sent and removed with its chunks in one transaction when telemetry acks
it. The next sequence and reading numbers are stored in the same transactions: a restarted gateway resends its
unacked batches under their own sequences with the same readings, and never reuses a number.

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

from .wire import decode_readings, encode_readings

log = logging.getLogger(__name__)
T = TypeVar("T")
CHUNK_READINGS = 500  # readings per stored row: small enough to split a refused batch finely, big enough to be cheap

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,          -- number of the chunk's first reading
    count INTEGER NOT NULL,
    min_t_us INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    sequence INTEGER PRIMARY KEY,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sequence INTEGER NOT NULL,
    count INTEGER NOT NULL,
    payload BLOB NOT NULL,
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
        chunk_readings: int = CHUNK_READINGS,
        on_dropped: Callable[[str, int], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_readings = max_readings
        self.drop_oldest = drop_oldest
        self.chunk_readings = chunk_readings
        self.on_dropped = on_dropped or (lambda reason, count: None)
        if synchronous.upper() not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="gateway-queue")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        db.executescript(_SCHEMA)
        if max_bytes is not None:
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            db.execute(f"PRAGMA max_page_count={max(16, max_bytes // page_size)}")
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if "next_sequence" not in meta:
            # A fresh file starts at the current time in ms, as fieldsim does: a gateway whose queue file was
            # lost never reuses the sequences of its previous life (unless it sent > 1,000 batches a second).
            start = first_sequence if first_sequence is not None else int(time.time() * 1000)
            db.execute("INSERT INTO meta(key, value) VALUES ('next_sequence', ?), ('next_reading', 1)", (start,))
            meta = {"next_sequence": start, "next_reading": 1}
        self._next_sequence = int(meta["next_sequence"])
        self._next_row_id = int(meta["next_reading"])
        self._depth = int(db.execute("SELECT COALESCE(SUM(count), 0) FROM chunks").fetchone()[0])
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

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return result

    # ---- state kept in memory (read from the event loop thread; written on the SQL thread)
    def depth(self) -> int:
        return self._depth

    def next_row_id(self) -> int:
        """Number the next appended reading gets (the live lane starts here)."""
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
        """Store in one transaction; returns the number of readings dropped for the bound (old or new)."""
        dropped = 0
        incoming = list(readings)
        overflow = self._depth + len(incoming) - self.max_readings
        if overflow > 0:
            if self.drop_oldest:
                dropped += self._drop_oldest_unsent(overflow)
                overflow = self._depth + len(incoming) - self.max_readings
            if overflow > 0:  # only batches left (or policy block): the newest readings cannot go in
                lost = min(overflow, len(incoming))
                incoming = incoming[: len(incoming) - lost]
                dropped += lost
                self.on_dropped("queue_full", lost)
        if not incoming:
            return dropped
        size = self.chunk_readings
        rows = []
        number = self._next_row_id
        for i in range(0, len(incoming), size):
            chunk = incoming[i : i + size]
            rows.append((number, len(chunk), min(r[1] for r in chunk), encode_readings(chunk)))
            number += len(chunk)

        def work(db: sqlite3.Connection) -> None:
            db.executemany("INSERT INTO chunks(id, count, min_t_us, payload) VALUES (?, ?, ?, ?)", rows)
            db.execute("UPDATE meta SET value=? WHERE key='next_reading'", (number,))

        try:
            self._transaction(work)
        except sqlite3.Error as error:
            if _is_full(error):
                self.on_dropped("disk_full", len(incoming))
                raise StorageFull(f"{self.path}: {error}; {len(incoming)} reading(s) not stored") from None
            raise
        self._depth += len(incoming)
        self._next_row_id = number
        return dropped

    def _drop_oldest_unsent(self, count: int) -> int:
        """Delete whole chunks, oldest first, until ``count`` readings are gone; chunks in a batch stay (a
        batch's content is fixed)."""

        def work(db: sqlite3.Connection) -> int:
            dropped = 0
            cursor = 0
            while dropped < count:
                start, next_pending = self._pending.free_from(cursor)
                if start >= self._next_row_id:
                    break
                end = next_pending if next_pending is not None else self._next_row_id
                victims = []
                for chunk_id, n in db.execute(
                    "SELECT id, count FROM chunks WHERE id >= ? AND id < ? ORDER BY id", (start, end)
                ):
                    victims.append(chunk_id)
                    dropped += n
                    if dropped >= count:
                        break
                if victims:
                    db.execute("DELETE FROM chunks WHERE id >= ? AND id <= ?", (victims[0], victims[-1]))
                cursor = end
            return dropped

        dropped = self._transaction(work)
        self._depth -= dropped
        if dropped:
            self.on_dropped("oldest_dropped", dropped)
        return dropped

    # ---- reads
    async def rows(self, from_id: int, before_id: int | None, limit: int) -> list[Row]:
        return await self._run(self.rows_sync, from_id, before_id, limit)

    def rows_sync(self, from_id: int, before_id: int | None, limit: int) -> list[Row]:
        """Whole chunks from ``from_id`` (below ``before_id``) holding at most ``limit`` readings (at least one
        chunk, whatever its size)."""
        end = before_id if before_id is not None else self._next_row_id
        out: list[Row] = []
        total = 0
        for row in self._db.execute(
            "SELECT id, count, payload FROM chunks WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (from_id, end, max(1, limit // max(1, min(self.chunk_readings, limit))) + 1),
        ):
            if out and total + row[1] > limit:
                break
            out.append(row)
            total += row[1]
        return out

    async def rows_of(self, batch: BatchRange) -> list[Row]:
        return await self._run(self.rows_of_sync, batch)

    def rows_of_sync(self, batch: BatchRange) -> list[Row]:
        return self._db.execute(
            "SELECT id, count, payload FROM chunks WHERE id >= ? AND id <= ? ORDER BY id",
            (batch.first_id, batch.last_id),
        ).fetchall()

    def readings_sync(self) -> list[Reading]:
        """Every queued reading, decoded (for operators and tests)."""
        return [
            r
            for (payload,) in self._db.execute("SELECT payload FROM chunks ORDER BY id")
            for r in decode_readings(payload)
        ]

    async def oldest_time_us(self) -> int | None:
        return await self._run(self.oldest_time_us_sync)

    def oldest_time_us_sync(self) -> int | None:
        row = self._db.execute("SELECT min_t_us FROM chunks ORDER BY id LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    # ---- batch bookkeeping
    async def assign(self, first_id: int, last_id: int) -> BatchRange:
        return await self._run(self.assign_sync, first_id, last_id)

    def assign_sync(self, first_id: int, last_id: int) -> BatchRange:
        batch = BatchRange(self._next_sequence, first_id, last_id)

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO batches(sequence, first_id, last_id) VALUES (?, ?, ?)", (batch.sequence, first_id, last_id)
            )
            db.execute("UPDATE meta SET value=? WHERE key='next_sequence'", (batch.sequence + 1,))

        self._transaction(work)
        self._next_sequence += 1
        self._pending.add(batch)
        self._pending_list.append(batch)
        return batch

    async def acked(self, batch: BatchRange) -> None:
        await self._run(self.acked_sync, batch)

    def acked_sync(self, batch: BatchRange) -> None:
        # The batch leaves the send plan at once; its chunks leave the file as soon as a delete succeeds (a
        # restart before that resends it under its own sequence: a duplicate that telemetry absorbs).
        self._forget(batch)
        self._undeleted.append(batch)
        todo, self._undeleted = self._undeleted, []
        for index, done in enumerate(todo):
            try:
                self._delete_batch(done)
            except sqlite3.Error as error:
                self._undeleted = todo[index:]
                log.error(
                    "acked batch not removed from the queue yet", extra={"sequence": done.sequence, "error": str(error)}
                )
                return

    def _delete_batch(self, batch: BatchRange) -> None:
        def work(db: sqlite3.Connection) -> int:
            removed = db.execute(
                "SELECT COALESCE(SUM(count), 0) FROM chunks WHERE id >= ? AND id <= ?", (batch.first_id, batch.last_id)
            ).fetchone()[0]
            db.execute("DELETE FROM chunks WHERE id >= ? AND id <= ?", (batch.first_id, batch.last_id))
            db.execute("DELETE FROM batches WHERE sequence=?", (batch.sequence,))
            return int(removed)

        self._depth -= self._transaction(work)

    def _forget(self, batch: BatchRange) -> None:
        self._pending.remove(batch)
        if batch in self._pending_list:
            self._pending_list.remove(batch)

    async def split(self, batch: BatchRange) -> list[BatchRange]:
        return await self._run(self.split_sync, batch)

    def split_sync(self, batch: BatchRange) -> list[BatchRange]:
        """Replace the batch by two holding half of its readings each, under new sequences (a batch of one chunk
        has its chunk cut in two first: same reading numbers, so the order stays). Batches of one reading are
        returned unchanged."""
        rows = self.rows_of_sync(batch)
        total = sum(r[1] for r in rows)
        if total < 2:
            return [batch]

        def work(db: sqlite3.Connection) -> list[BatchRange]:
            if len(rows) == 1:
                chunk_id, count, payload = rows[0]
                readings = decode_readings(payload)
                half = count // 2
                db.execute("DELETE FROM chunks WHERE id=?", (chunk_id,))
                db.executemany(
                    "INSERT INTO chunks(id, count, min_t_us, payload) VALUES (?, ?, ?, ?)",
                    [
                        (chunk_id, half, min(r[1] for r in readings[:half]), encode_readings(readings[:half])),
                        (
                            chunk_id + half,
                            count - half,
                            min(r[1] for r in readings[half:]),
                            encode_readings(readings[half:]),
                        ),
                    ],
                )
                boundary = chunk_id + half
            else:
                acc, boundary = 0, rows[-1][0]
                for chunk_id, count, _ in rows[1:]:
                    acc += count
                    if acc >= total // 2:
                        boundary = chunk_id
                        break
                boundary = max(boundary, rows[1][0])
            made = [
                BatchRange(self._next_sequence, batch.first_id, boundary - 1),
                BatchRange(self._next_sequence + 1, boundary, batch.last_id),
            ]
            db.execute("DELETE FROM batches WHERE sequence=?", (batch.sequence,))
            db.executemany(
                "INSERT INTO batches(sequence, first_id, last_id) VALUES (?, ?, ?)",
                [(b.sequence, b.first_id, b.last_id) for b in made],
            )
            db.execute("UPDATE meta SET value=? WHERE key='next_sequence'", (self._next_sequence + 2,))
            return made

        made = self._transaction(work)
        self._next_sequence += 2
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

        def work(db: sqlite3.Connection) -> int:
            moved = db.execute(
                "SELECT COALESCE(SUM(count), 0) FROM chunks WHERE id >= ? AND id <= ?", (batch.first_id, batch.last_id)
            ).fetchone()[0]
            db.execute(
                "INSERT INTO dead_letters(sequence, count, payload, reason, at_us) "
                "SELECT ?, count, payload, ?, ? FROM chunks WHERE id >= ? AND id <= ?",
                (batch.sequence, reason[:500], time.time_ns() // 1000, batch.first_id, batch.last_id),
            )
            db.execute("DELETE FROM chunks WHERE id >= ? AND id <= ?", (batch.first_id, batch.last_id))
            db.execute("DELETE FROM batches WHERE sequence=?", (batch.sequence,))
            return int(moved)

        moved = self._transaction(work)
        self._depth -= moved
        self._forget(batch)
        return moved

    def dead_letter_count(self) -> int:
        return int(self._db.execute("SELECT COALESCE(SUM(count), 0) FROM dead_letters").fetchone()[0])
