"""The recorder's bound policies on a real queue file: block waits for room, drop_oldest counts, disk full is
counted and survived."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.gateway.adapters.sqlite_queue import SqliteQueue
from services.gateway.domain import Reading
from services.gateway.service_layer import QueueFullPolicy, Recorder

from .fakes import FakeMetrics


def readings(n: int, start: int = 0) -> list[Reading]:
    return [Reading("T", 1_000_000 + i, float(i), 1) for i in range(start, start + n)]


async def test_block_waits_for_room_and_loses_nothing(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "q.sqlite3", max_readings=10, drop_oldest=False, first_sequence=1)
    recorder = Recorder(queue, FakeMetrics(), QueueFullPolicy.BLOCK)
    await recorder.record("rtu", readings(8))
    waiting = asyncio.ensure_future(recorder.record("rtu", readings(5, 8)))
    await asyncio.sleep(0.3)
    assert not waiting.done() and queue.depth() == 8  # blocked: the scan waits
    batch = await queue.assign(1, 8)
    await queue.acked(batch)
    recorder.room_made()
    await asyncio.wait_for(waiting, 5)
    assert queue.readings_sync() == readings(5, 8) and recorder.dropped == 0
    queue.close()


async def test_drop_oldest_is_counted(tmp_path: Path) -> None:
    metrics = FakeMetrics()
    queue = SqliteQueue(
        tmp_path / "q.sqlite3", max_readings=10, drop_oldest=True, first_sequence=1, chunk_readings=5,
        on_dropped=metrics.readings_dropped,
    )  # fmt: skip
    recorder = Recorder(queue, metrics, QueueFullPolicy.DROP_OLDEST)
    await recorder.record("rtu", readings(10))
    await recorder.record("rtu", readings(5, 10))
    assert recorder.dropped == 5 and metrics.counts["dropped:oldest_dropped"] == 5
    assert queue.readings_sync() == readings(10, 5)
    queue.close()


async def test_disk_full_is_counted_and_the_recorder_goes_on(tmp_path: Path) -> None:
    metrics = FakeMetrics()
    queue = SqliteQueue(
        tmp_path / "q.sqlite3", max_readings=10**9, drop_oldest=True, first_sequence=1, max_bytes=65536,
        on_dropped=metrics.readings_dropped,
    )  # fmt: skip
    recorder = Recorder(queue, metrics, QueueFullPolicy.DROP_OLDEST)
    for start in range(0, 200_000, 1000):
        await recorder.record("rtu", readings(1000, start))
        if recorder.storage_failures:
            break
    assert recorder.storage_failures == 1 and metrics.counts["dropped:disk_full"] == 1000
    stored = queue.depth()
    assert stored > 0 and queue.readings_sync() == readings(stored)  # what was stored is intact
    queue.close()
