"""What ``Watch`` streams read: one tail of the event store per server, shared, on the server's event loop.

A stream used to hold a server thread for its whole life (reading the store, then blocking on the change
notifier), so 32 open consoles took every thread of the server. Here a stream is a coroutine: it waits on
an asyncio event, costs no thread, and the store is read once per change for all streams.

- ``WatchFeed`` keeps the most recent events as ``WatchItem``s (district and work order/hazard view
  resolved once). Its task reads new events when the ``ChangeNotifier`` reports an append (in-process; on
  PostgreSQL any process's, through LISTEN/NOTIFY) and otherwise polls, ``poll_s`` after a change and
  doubling while idle up to ``max_poll_s`` (appends by another process on SQLite).
- A stream that resumes from a position older than the feed's window reads the store, in batches,
  through the blocking pool, until it reaches the window; from then on it takes from the feed. Streams
  asking for the same position and districts share one read (a room of screens reconnecting at once
  after a restart asks for the same thing a thousand times), and a read of every district that reaches
  the window extends it backwards, for the streams that come next.
- ``StreamLimit`` (``services.grpcserve``, the one limit every server with streams uses) counts open
  streams per caller (token subject) and refuses one too many.

Everything here runs on the event loop thread; blocking calls go through ``run_blocking``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from services.grpcserve import StreamLimit
from services.workorders.service_layer.app import WorkOrdersApp
from services.workorders.service_layer.views import WatchItem

log = logging.getLogger(__name__)

RunBlocking = Callable[..., Awaitable[Any]]

__all__ = ["FeedClosed", "StreamLimit", "WatchFeed"]


class FeedClosed(Exception):
    """The server is shutting down: streams end (the client reconnects and resumes from its position)."""


class WatchFeed:
    """The shared tail of the event store (see the module docstring)."""

    def __init__(
        self,
        app: WorkOrdersApp,
        run_blocking: RunBlocking,
        *,
        keep: int = 10_000,
        batch: int = 500,
        poll_s: float = 0.05,
        max_poll_s: float = 1.0,
        min_interval_s: float = 0.05,
        retry_s: float = 1.0,
    ) -> None:
        self.min_interval_s = min_interval_s
        self.app = app
        self.run_blocking = run_blocking
        self.keep = keep
        self.batch = batch
        self.poll_s = poll_s
        self.max_poll_s = max(poll_s, max_poll_s)
        self.retry_s = retry_s
        # Every event with floor < position <= tail is in _items (in position order).
        self.floor = 0
        self.tail = 0
        self._items: list[WatchItem] = []
        self._positions: list[int] = []
        self._advanced = asyncio.Event()  # replaced (after being set) each time the tail moves
        self._wake = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._reads: dict[tuple[int, frozenset[str] | None], asyncio.Future[tuple[list[WatchItem], int, bool]]] = {}
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        """Begin at the store's head (older positions are read by the streams that ask for them)."""
        self.floor = self.tail = await self.run_blocking(self.app.store.head_position)
        loop = asyncio.get_running_loop()

        def changed() -> None:  # on the appending thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server has stopped
                loop.call_soon_threadsafe(self._wake.set)

        self._unsubscribe = self.app.notifier.subscribe(changed)
        self._task = asyncio.create_task(self._run(), name="workorders-watch-feed")

    async def close(self) -> None:
        """End every stream (``FeedClosed``) and stop reading."""
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._advance()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay_s = self.poll_s
        last_read = 0.0
        while not self._closed:
            woken = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay_s)
                woken = True
            # Under a steady stream of appends, one read per min_interval_s takes what came meanwhile (each append
            # wakes the feed, twice on PostgreSQL); the first append after a quiet spell is read at once.
            rest = last_read + self.min_interval_s - asyncio.get_running_loop().time()
            if woken and delay_s == self.poll_s and rest > 0:
                await asyncio.sleep(rest)
            self._wake.clear()
            last_read = asyncio.get_running_loop().time()
            tail = self.tail
            try:
                more = True
                while more and not self._closed:
                    items, last, more = await self.run_blocking(self.app.watch_items, self.tail, None, limit=self.batch)
                    self._append(items, last)
            except Exception:
                log.exception("watch feed cannot read the event store; retrying")
                await asyncio.sleep(self.retry_s)
            # Idle: the poll (a safety net) backs off; a change brings it back to poll_s.
            delay_s = self.poll_s if woken or self.tail != tail else min(delay_s * 2, self.max_poll_s)

    def _append(self, items: list[WatchItem], last: int) -> None:
        if last <= self.tail:
            return
        self._items.extend(items)
        self._positions.extend(item.position for item in items)
        self.tail = last
        excess = len(self._items) - self.keep
        if excess > self.keep // 4:  # trim in chunks, not on every event
            self.floor = self._positions[excess - 1]
            del self._items[:excess]
            del self._positions[:excess]
        self._advance()

    def _advance(self) -> None:
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()

    async def _wait_beyond(self, position: int, timeout_s: float) -> None:
        advanced = self._advanced
        if self.tail > position or self._closed or timeout_s <= 0:
            return
        # asyncio.timeout, not wait_for: no task per wait (a thousand streams wait at once).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await advanced.wait()

    def _window(self, position: int, districts: frozenset[str] | None) -> list[WatchItem]:
        start = bisect.bisect_right(self._positions, position)
        items = self._items[start:]
        if districts is None:
            return items
        return [item for item in items if item.district in districts]

    async def _read(
        self, position: int, districts: frozenset[str] | None
    ) -> tuple[list[WatchItem], int, bool]:
        """Items after ``position`` from the store, the position read up to, whether more follow at once;
        one read for all the streams that ask for the same thing meanwhile."""
        key = (position, districts)
        pending = self._reads.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._read_store(position, districts))
            self._reads[key] = pending
            pending.add_done_callback(lambda _: self._reads.pop(key, None))
        # One stream going away must not cancel the read the others wait for.
        return await asyncio.shield(pending)

    async def _read_store(
        self, position: int, districts: frozenset[str] | None
    ) -> tuple[list[WatchItem], int, bool]:
        floor = self.floor
        items, last, more = await self.run_blocking(self.app.watch_items, position, districts, limit=self.batch)
        if not more:
            # A short read reached the store's head, which was at least the floor when the read began.
            last = max(last, floor)
        if districts is None and last >= self.floor > position and len(self._items) + len(items) <= self.keep:
            # Every event in (position, last] was read and the window holds (floor, tail]: join them.
            older = [item for item in items if item.position <= self.floor]
            self._items[:0] = older
            self._positions[:0] = [item.position for item in older]
            self.floor = position
        return items, last, more

    async def follow(
        self, districts: frozenset[str] | None, after_position: int, *, heartbeat_s: float = 10.0
    ) -> AsyncIterator[WatchItem]:
        """Items after ``after_position`` in ``districts`` (None: all), then new ones as they come; a
        heartbeat item after ``heartbeat_s`` of silence. Raises ``FeedClosed`` when the feed closes."""
        loop = asyncio.get_running_loop()
        position = after_position
        last_sent = loop.time()
        while True:
            if self._closed:
                raise FeedClosed("the server is shutting down")
            more = False
            if position < self.floor:
                items, position, more = await self._read(position, districts)
            else:
                items = self._window(position, districts)
                position = max(position, self.tail)
            for item in items:
                yield item
            if items:
                last_sent = loop.time()
            if more:
                continue
            silent_s = loop.time() - last_sent
            if silent_s >= heartbeat_s:
                yield WatchItem(position, "", 0, "", "", "", 0, "", heartbeat=True)
                last_sent = loop.time()
                silent_s = 0.0
            await self._wait_beyond(position, heartbeat_s - silent_s)
