"""The forwarding use case on a fake telemetry link and a real queue file: acks remove, refusals split or
dead-letter (never retried forever), outages resend the same sequences, live readings overtake the backlog."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from services.gateway.adapters.sqlite_queue import SqliteQueue
from services.gateway.domain import Failure, Reading
from services.gateway.service_layer import Forwarder, ForwarderSettings
from services.gateway.service_layer.ports import SendError

from .fakes import FakeLink, FakeMetrics


def readings(n: int, start: int = 0, tag: str = "T") -> list[Reading]:
    return [Reading(f"{tag}{i % 5}", 1_000_000 + i, float(i), 1) for i in range(start, start + n)]


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[SqliteQueue]:
    q = SqliteQueue(
        tmp_path / "q.sqlite3", max_readings=10**6, drop_oldest=True, synchronous="NORMAL", first_sequence=1
    )
    yield q
    q.close()


async def run_until(forwarder: Forwarder, done: Callable[[], bool], timeout_s: float = 20.0) -> None:
    stop = asyncio.Event()
    task = asyncio.ensure_future(forwarder.run(stop))
    try:
        async with asyncio.timeout(timeout_s):
            while not done():
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


def settings(**kw: float) -> ForwarderSettings:
    options = {"max_readings_per_batch": 100, "max_in_flight_batches": 4, "linger_s": 0.01, "backoff_s": (0.01, 0.05)}
    options.update(kw)
    return ForwarderSettings(**options)  # type: ignore[arg-type]


async def test_everything_is_delivered_once_in_order_and_removed(queue: SqliteQueue) -> None:
    sent = readings(1050)
    await queue.append(sent)
    link = FakeLink()
    forwarder = Forwarder(queue, link, FakeMetrics(), settings())
    await run_until(forwarder, lambda: queue.depth() == 0)
    assert link.delivered() == [(r.tag_id, r.time_unix_us) for r in sent]
    assert list(link.acked) == sorted(link.acked)  # increasing sequences


async def test_outage_resends_the_same_sequences_and_loses_nothing(queue: SqliteQueue) -> None:
    await queue.append(readings(500))
    link = FakeLink()
    link.down = True
    forwarder = Forwarder(queue, link, FakeMetrics(), settings())
    stop = asyncio.Event()
    task = asyncio.ensure_future(forwarder.run(stop))
    await asyncio.sleep(0.3)
    pending = queue.pending()
    assert pending and queue.depth() == 500 and not link.acked
    await queue.append(readings(300, 500))
    link.down = False
    async with asyncio.timeout(20):
        while queue.depth():
            await asyncio.sleep(0.01)
    stop.set()
    await task
    assert [b.sequence for b in pending] == list(link.acked)[: len(pending)]  # resent under their own numbers
    delivered = link.delivered()
    assert sorted(delivered) == sorted({(r.tag_id, r.time_unix_us) for r in readings(800)})
    assert len(delivered) == 800


async def test_oversized_batches_are_split_until_accepted(queue: SqliteQueue) -> None:
    await queue.append(readings(300))
    link = FakeLink(
        lambda seq, rows: SendError(Failure.TOO_LARGE, "RESOURCE_EXHAUSTED: too many") if len(rows) > 30 else None
    )
    metrics = FakeMetrics()
    forwarder = Forwarder(queue, link, metrics, settings())
    await run_until(forwarder, lambda: queue.depth() == 0)
    assert sorted(link.delivered()) == sorted((r.tag_id, r.time_unix_us) for r in readings(300))
    assert metrics.counts["failed:too_large"] >= 3 and metrics.counts["dead"] == 0


async def test_a_refused_reading_is_dead_lettered_and_the_rest_delivered(queue: SqliteQueue) -> None:
    await queue.append(readings(100))
    await queue.append([Reading("POISON", 5, 1.0, 1)])
    await queue.append(readings(100, 100))

    def judge(seq: int, rows: object) -> SendError | None:
        return SendError(Failure.REFUSED, "INVALID_ARGUMENT: no") if any(r.tag_id == "POISON" for r in rows) else None  # type: ignore[attr-defined]

    link = FakeLink(judge)
    metrics = FakeMetrics()
    forwarder = Forwarder(queue, link, metrics, settings())
    await run_until(forwarder, lambda: queue.depth() == 0)
    assert len(link.delivered()) == 200 and metrics.counts["dead"] == 1 and queue.dead_letter_count() == 1


async def test_a_batch_that_always_fails_unexplained_is_not_retried_forever(queue: SqliteQueue) -> None:
    await queue.append(readings(8))
    link = FakeLink(lambda seq, rows: SendError(Failure.UNEXPLAINED, "INTERNAL: boom"))
    metrics = FakeMetrics()
    forwarder = Forwarder(queue, link, metrics, settings())
    await run_until(forwarder, lambda: queue.depth() == 0)
    assert metrics.counts["dead"] == 8 and queue.dead_letter_count() == 8
    assert len(link.attempts) < 100


async def test_live_readings_overtake_a_paced_backlog(queue: SqliteQueue) -> None:
    await queue.append(readings(3000, tag="OLD"))
    link = FakeLink()
    forwarder = Forwarder(queue, link, FakeMetrics(), settings(backfill_readings_per_s=2000.0))
    stop = asyncio.Event()
    task = asyncio.ensure_future(forwarder.run(stop))
    await asyncio.sleep(0.2)
    await queue.append(readings(10, 10_000, tag="NEW"))
    async with asyncio.timeout(20):
        while queue.depth():
            await asyncio.sleep(0.01)
    stop.set()
    await task
    delivered = link.delivered()
    first_new = next(i for i, (tag, _) in enumerate(delivered) if tag.startswith("NEW"))
    assert first_new < 1500, first_new  # well before the backlog's end (it drains at 2,000 readings/s)
    old = [t for tag, t in delivered if tag.startswith("OLD")]
    assert old == sorted(old) and len(old) == 3000  # the backlog in order, complete
