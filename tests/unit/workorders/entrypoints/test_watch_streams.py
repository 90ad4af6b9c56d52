"""Watch streams without gRPC: ``WatchFeed`` (the shared tail of the event store, on SQLite), the
per-caller ``StreamLimit`` and its setting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.workorders.adapters.alarms import alarm_facts
from services.workorders.bootstrap import build_runtime
from services.workorders.config import ConfigError, WorkOrdersConfig
from services.workorders.entrypoints.runtime import Runtime
from services.workorders.entrypoints.watch_feed import FeedClosed, StreamLimit, WatchFeed
from services.workorders.service_layer.views import WatchItem
from tests.support.workorders_api import alarm

DISTRICT = "Dongsheng"
OTHER = "Kangbashi"


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(f"sqlite:///{tmp_path}/feed.sqlite3")
    try:
        yield runtime
    finally:
        runtime.stop()


def _open(rt: Runtime, alarm_id: str, district: str = DISTRICT) -> None:
    segment = next(s for s in rt.network.segments.values() if s.district == district)
    rt.app.handle_alarm(alarm_facts(alarm(alarm_id, segment.segment_id, district)), f"{alarm_id}/0")


async def _blocking(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def _take(stream: AsyncIterator[WatchItem], n: int, timeout_s: float = 10.0) -> list[WatchItem]:
    async def take() -> list[WatchItem]:
        return [await anext(stream) for _ in range(n)]

    return await asyncio.wait_for(take(), timeout_s)


async def test_streams_resume_from_old_positions_through_the_store_then_follow_the_feed(rt: Runtime) -> None:
    for i in range(7):  # before the feed starts: only in the store
        _open(rt, f"old-{i}", DISTRICT if i % 2 == 0 else OTHER)
    feed = WatchFeed(rt.app, _blocking, keep=4, batch=3)  # a small window: older positions come from the store
    await feed.start()
    try:
        assert feed.floor == feed.tail == 7
        for i in range(10):  # in-process appends wake the feed; more than its window holds
            await asyncio.to_thread(_open, rt, f"new-{i}", DISTRICT if i % 2 == 0 else OTHER)
        everything = feed.follow(None, 0)
        assert [item.position for item in await _take(everything, 17)] == list(range(1, 18))
        mine = feed.follow(frozenset({DISTRICT}), 2)
        items = await _take(mine, 8)
        assert [i.position for i in items] == [3, 5, 7, 8, 10, 12, 14, 16]
        assert {i.district for i in items} == {DISTRICT}
        assert feed.floor > 7  # the window moved on: positions 3-7 were read from the store
        # Live: both streams get the next event, each exactly once.
        await asyncio.to_thread(_open, rt, "live", DISTRICT)
        assert [i.position for i in await _take(everything, 1)] == [18]
        assert [i.position for i in await _take(mine, 1)] == [18]
        await everything.aclose()
        await mine.aclose()
    finally:
        await feed.close()


async def test_streams_asking_for_the_same_old_position_share_one_read_which_extends_the_window(
    rt: Runtime,
) -> None:
    for i in range(5):
        _open(rt, f"old-{i}")
    reads: list[int] = []

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        if fn == rt.app.watch_items:
            reads.append(args[0])
        return await asyncio.to_thread(fn, *args, **kwargs)

    feed = WatchFeed(rt.app, counting)
    await feed.start()
    try:
        assert feed.floor == 5
        streams = [feed.follow(None, 3) for _ in range(50)]  # a room of screens reconnecting at once
        firsts = await asyncio.gather(*(_take(stream, 2) for stream in streams))
        assert all([i.position for i in items] == [4, 5] for items in firsts)
        assert reads.count(3) == 1  # one read of the store for all fifty
        assert feed.floor == 3  # and what it read joined the window: the next stream reads nothing
        late = feed.follow(None, 3)
        assert [i.position for i in await _take(late, 2)] == [4, 5] and reads.count(3) == 1
        for stream in [*streams, late]:
            await stream.aclose()
    finally:
        await feed.close()


async def test_a_quiet_stream_gets_heartbeats_and_ends_when_the_feed_closes(rt: Runtime) -> None:
    _open(rt, "A-1")
    feed = WatchFeed(rt.app, _blocking)
    await feed.start()
    stream = feed.follow(frozenset({OTHER}), 0, heartbeat_s=0.2)
    try:
        beat = (await _take(stream, 1))[0]
        assert beat.heartbeat and beat.position == 1  # the position it read up to, though nothing matched
    finally:
        await feed.close()
    with pytest.raises(FeedClosed):
        await _take(stream, 1)


def test_stream_limit_counts_per_caller() -> None:
    limit = StreamLimit(2)
    assert limit.acquire("a") and limit.acquire("a") and not limit.acquire("a")
    assert limit.acquire("b")
    limit.release("a")
    assert limit.acquire("a") and limit.open_streams("a") == 2 and limit.open_streams() == 3
    with pytest.raises(ValueError):
        StreamLimit(0)


def test_max_streams_per_caller_setting() -> None:
    name = "PIPEWARDEN_WORKORDERS_MAX_STREAMS_PER_CALLER"
    assert WorkOrdersConfig.from_env({}).max_streams_per_caller == 100
    assert WorkOrdersConfig.from_env({name: "8"}).max_streams_per_caller == 8
    for bad in ("0", "-1", "2.5", "many", "inf"):
        with pytest.raises(ConfigError, match=name):
            WorkOrdersConfig.from_env({name: bad})
