"""The SQLite queue: durable across reopening (a restart), batch bookkeeping, bound and policy, disk full."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.gateway.adapters.sqlite_queue import SqliteQueue
from services.gateway.adapters.wire import decode_readings
from services.gateway.domain import BatchRange, Reading
from services.gateway.service_layer.ports import StorageFull


def readings(n: int, start: int = 0) -> list[Reading]:
    return [Reading(f"T{i % 7}", 1_000_000 + i, float(i), 1) for i in range(start, start + n)]


def open_queue(path: Path, **kw: object) -> SqliteQueue:
    options: dict[str, object] = {"max_readings": 1000, "drop_oldest": True, "first_sequence": 100, "chunk_readings": 3}
    options.update(kw)
    return SqliteQueue(path, **options)  # type: ignore[arg-type]


def decoded(rows: list[tuple[int, int, bytes]]) -> list[Reading]:
    return [r for row in rows for r in decode_readings(row[2])]


def test_chunks_batches_and_sequences_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    q = open_queue(path)
    q.append_sync(readings(10))  # chunks of 3: readings 1-3, 4-6, 7-9, 10
    rows = q.rows_sync(1, None, 6)
    assert [(r[0], r[1]) for r in rows] == [(1, 3), (4, 3)]
    assert decoded(rows) == readings(6)
    batch = q.assign_sync(1, 6)
    assert batch == BatchRange(100, 1, 6)
    q.close()  # as after kill -9: nothing but the file remains
    q = open_queue(path, first_sequence=1)
    assert q.depth() == 10 and q.pending() == [batch] and q.next_sequence == 101
    assert decoded(q.rows_of_sync(batch)) == readings(6)
    q.acked_sync(batch)
    q.close()
    q = open_queue(path)
    assert q.depth() == 4 and q.pending() == [] and q.next_sequence == 101 and q.next_row_id() == 11
    assert q.readings_sync() == readings(4, 6)
    q.close()


def test_rows_respect_the_reading_limit_but_return_at_least_one_chunk(tmp_path: Path) -> None:
    q = open_queue(tmp_path / "q.sqlite3", chunk_readings=4)
    q.append_sync(readings(12))
    assert [r[1] for r in q.rows_sync(1, None, 9)] == [4, 4]
    assert [r[1] for r in q.rows_sync(1, None, 2)] == [4]
    assert q.rows_sync(1, 5, 100)[-1][0] == 1  # stops below before_id
    q.close()


def test_drop_oldest_spares_chunks_of_batches(tmp_path: Path) -> None:
    dropped: list[tuple[str, int]] = []
    q = open_queue(tmp_path / "q.sqlite3", max_readings=9, on_dropped=lambda reason, n: dropped.append((reason, n)))
    q.append_sync(readings(9))
    q.assign_sync(1, 3)  # in flight: its content must not change
    assert q.append_sync(readings(3, 9)) == 3
    assert dropped == [("oldest_dropped", 3)]
    assert q.readings_sync() == [*readings(3), *readings(6, 6)]
    q.close()


def test_policy_without_dropping_old_refuses_new_readings_beyond_the_bound(tmp_path: Path) -> None:
    dropped: list[tuple[str, int]] = []
    q = open_queue(
        tmp_path / "q.sqlite3", max_readings=5, drop_oldest=False, on_dropped=lambda r, n: dropped.append((r, n))
    )
    assert q.append_sync(readings(8)) == 3
    assert q.depth() == 5 and dropped == [("queue_full", 3)]
    q.close()


def test_disk_full_refuses_the_append_and_keeps_everything_stored(tmp_path: Path) -> None:
    """A real SQLITE_FULL (the file's page limit): the append fails whole, queued readings and batches stay,
    and after acks free space appends work again."""
    dropped: list[tuple[str, int]] = []
    q = open_queue(
        tmp_path / "q.sqlite3",
        max_readings=10**9,
        max_bytes=65536,
        chunk_readings=100,
        on_dropped=lambda r, n: dropped.append((r, n)),
    )
    stored = 0
    with pytest.raises(StorageFull, match="not stored"):
        for start in range(0, 1_000_000, 200):
            q.append_sync(readings(200, start))
            stored += 200
    assert stored > 0 and q.depth() == stored
    assert dropped == [("disk_full", 200)]
    batch = q.assign_sync(1, stored)
    assert len(decoded(q.rows_of_sync(batch))) == stored
    q.acked_sync(batch)
    assert q.depth() == 0
    q.append_sync(readings(200))
    assert q.depth() == 200
    q.close()


def test_split_keeps_order_even_inside_one_chunk_and_dead_letter(tmp_path: Path) -> None:
    q = open_queue(tmp_path / "q.sqlite3", chunk_readings=4)
    q.append_sync(readings(12))  # chunks 1-4, 5-8, 9-12
    a = q.assign_sync(1, 8)
    b = q.assign_sync(9, 12)
    halves = q.split_sync(a)
    assert [(x.sequence, x.first_id, x.last_id) for x in halves] == [(102, 1, 4), (103, 5, 8)]
    assert q.pending() == [*halves, b]  # the halves go out first, where the batch was
    quarters = q.split_sync(halves[0])  # one chunk: cut in two, same reading numbers
    assert [(x.first_id, x.last_id) for x in quarters] == [(1, 2), (3, 4)]
    assert decoded(q.rows_of_sync(quarters[1])) == readings(2, 2)
    assert q.readings_sync() == readings(12)  # nothing lost or reordered
    single = q.split_sync(q.split_sync(quarters[0])[0])
    assert len(single) == 1  # one reading cannot be split
    assert q.dead_letter_sync(single[0], "REFUSED: bad") == 1
    assert q.depth() == 11 and q.dead_letter_count() == 1
    q.close()
