"""The SQLite queue: durable across reopening (a restart), batch bookkeeping, bound and policy, disk full."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.gateway.adapters.sqlite_queue import SqliteQueue
from services.gateway.domain import BatchRange, Reading
from services.gateway.service_layer.ports import StorageFull


def readings(n: int, start: int = 0) -> list[Reading]:
    return [Reading(f"T{i % 7}", 1_000_000 + i, float(i), 1) for i in range(start, start + n)]


def open_queue(path: Path, **kw: object) -> SqliteQueue:
    options: dict[str, object] = {"max_readings": 1000, "drop_oldest": True, "first_sequence": 100}
    options.update(kw)
    return SqliteQueue(path, **options)  # type: ignore[arg-type]


def test_rows_batches_and_sequences_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    q = open_queue(path)
    q.append_sync(readings(10))
    batch = q.assign_sync(1, 4)
    assert batch == BatchRange(100, 1, 4)
    q.close()  # as after kill -9: nothing but the file remains
    q = open_queue(path, first_sequence=1)
    assert q.depth() == 10 and q.pending() == [batch] and q.next_sequence == 101
    assert [r[2] for r in q.rows_sync(1, 5, 100)] == [1_000_000 + i for i in range(4)]
    q.acked_sync(batch)
    q.close()
    q = open_queue(path)
    assert q.depth() == 6 and q.pending() == [] and q.next_sequence == 101
    q.append_sync(readings(1, 10))
    assert q.next_row_id() == 12  # ids are never reused, so a batch's range always means the same rows
    q.close()


def test_drop_oldest_spares_rows_of_batches(tmp_path: Path) -> None:
    dropped: list[tuple[str, int]] = []
    q = open_queue(tmp_path / "q.sqlite3", max_readings=10, on_dropped=lambda reason, n: dropped.append((reason, n)))
    q.append_sync(readings(10))
    q.assign_sync(1, 3)  # in flight: its content must not change
    assert q.append_sync(readings(4, 10)) == 4
    assert dropped == [("oldest_dropped", 4)]
    ids = [r[0] for r in q.rows_sync(0, None, 100)]
    assert ids == [1, 2, 3, 8, 9, 10, 11, 12, 13, 14]
    q.close()


def test_policy_without_dropping_old_refuses_new_rows_beyond_the_bound(tmp_path: Path) -> None:
    dropped: list[tuple[str, int]] = []
    q = open_queue(tmp_path / "q.sqlite3", max_readings=5, drop_oldest=False, on_dropped=lambda r, n: dropped.append((r, n)))
    assert q.append_sync(readings(8)) == 3
    assert q.depth() == 5 and dropped == [("queue_full", 3)]
    q.close()


def test_disk_full_refuses_the_append_and_keeps_everything_stored(tmp_path: Path) -> None:
    """A real SQLITE_FULL (the file's page limit): the append fails whole, queued rows and batches stay,
    and after acks free space appends work again."""
    dropped: list[tuple[str, int]] = []
    q = open_queue(
        tmp_path / "q.sqlite3", max_readings=10**9, max_bytes=65536, on_dropped=lambda r, n: dropped.append((r, n))
    )
    stored = 0
    with pytest.raises(StorageFull, match="not stored"):
        for start in range(0, 100_000, 200):
            q.append_sync(readings(200, start))
            stored += 200
    assert stored > 0 and q.depth() == stored
    assert dropped == [("disk_full", 200)]
    batch = q.assign_sync(1, stored)
    assert len(q.rows_sync(1, stored + 1, 10**6)) == stored
    q.acked_sync(batch)
    assert q.depth() == 0
    q.append_sync(readings(200))
    assert q.depth() == 200
    q.close()


def test_split_and_dead_letter(tmp_path: Path) -> None:
    q = open_queue(tmp_path / "q.sqlite3")
    q.append_sync(readings(10))
    a = q.assign_sync(1, 6)
    b = q.assign_sync(7, 10)
    halves = q.split_sync(a, [(1, 3), (4, 6)])
    assert [x.sequence for x in halves] == [102, 103]
    assert q.pending() == [*halves, b]  # the halves go out first, where the batch was
    assert q.dead_letter_sync(halves[0], "REFUSED: bad") == 3
    assert q.pending() == [halves[1], b] and q.depth() == 7 and q.dead_letter_count() == 3
    q.close()
