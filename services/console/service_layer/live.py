"""One Watch stream per console process, fanned out to every browser's live connection.

The hub holds the console's single ``Watch`` (a read-only service token), remembers the last position it
received, and after any break reconnects with ``after_position`` = that position, so nothing is missed
or repeated. It keeps the last ``buffer`` changes so that a browser reconnecting with ``Last-Event-ID``
gets what it missed; older than that, it is told to reload. Each browser gets only changes in its user's
districts, and only which stream changed: its page then asks the API with the user's own token.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from services.console.domain.records import Change
from services.console.service_layer.ports import WorkOrdersApi

log = logging.getLogger(__name__)

ALL = "*"


KEEPALIVE = ": keep-alive\n\n"
RESET = None  # queued when the browser fell behind: the connection ends and the page reloads


def frame(change: Change) -> str:
    """The server-sent event of a change, encoded once for every browser that gets it."""
    return f"id: {change.position}\nevent: change\ndata: {json.dumps(change.summary())}\n\n"


@dataclass(eq=False)
class Subscription:
    districts: frozenset[str]
    queue: asyncio.Queue[str | None]
    # Set when the browser fell too far behind (its queue filled): it must reload, not skip silently.
    overflowed: bool = False
    replay: list[str] = field(default_factory=list)
    reset: bool = False

    def may_see(self, district: str) -> bool:
        return ALL in self.districts or district in self.districts


class LiveHub:
    def __init__(
        self,
        api: WorkOrdersApi,
        service_token: Callable[[], str],
        *,
        buffer: int = 10_000,
        queue_size: int = 2_000,
        retry_max_s: float = 5.0,
        keepalive_s: float = 15.0,
    ) -> None:
        self._api = api
        self._token = service_token
        self._recent: collections.deque[tuple[Change, str]] = collections.deque(maxlen=buffer)
        self._keepalive_s = keepalive_s
        self._keepalive_task: asyncio.Task[None] | None = None
        self._subs: set[Subscription] = set()
        self._queue_size = queue_size
        self._retry_max_s = retry_max_s
        self.position = 0
        self.connected = False
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def start(self, from_position: int) -> None:
        self.position = from_position
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name="console-watch")
        self._keepalive_task = loop.create_task(self._keepalive(), name="console-keepalive")

    async def stop(self) -> None:
        for task in (self._task, self._keepalive_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for sub in list(self._subs):
            sub.queue.put_nowait(None)

    async def _run(self) -> None:
        pause_s = 0.2
        while True:
            try:
                async for change in self._api.watch(self._token(), self.position):
                    self.connected = True
                    pause_s = 0.2
                    self.publish(change)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any break: resume from the last position received
                log.warning("watch stream broke; resuming", extra={"after_position": self.position,
                                                                   "error": str(error)[:300]})
            self.connected = False
            self.reconnects += 1
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, self._retry_max_s)

    async def _keepalive(self) -> None:
        # A comment line now and then keeps proxies from closing idle connections; one timer for all.
        while True:
            await asyncio.sleep(self._keepalive_s)
            for sub in self._subs:
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.put_nowait(KEEPALIVE)

    def publish(self, change: Change) -> None:
        if change.position <= self.position and not change.heartbeat:
            return  # a resumed stream never repeats; this guards a server that would
        self.position = max(self.position, change.position)
        if change.heartbeat:
            return
        encoded = frame(change)
        self._recent.append((change, encoded))
        for sub in self._subs:
            if sub.overflowed or not sub.may_see(change.district):
                continue
            try:
                sub.queue.put_nowait(encoded)
            except asyncio.QueueFull:
                sub.overflowed = True
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.queue.put_nowait(RESET)  # the connection ends with "reload"; the browser reconnects

    def subscribe(self, districts: frozenset[str], last_event_id: int | None = None) -> Subscription:
        sub = Subscription(districts, asyncio.Queue(self._queue_size))
        if last_event_id is not None and last_event_id < self.position:
            oldest = self._recent[0][0].position if self._recent else self.position + 1
            if last_event_id + 1 < oldest:
                sub.reset = True  # what it missed is no longer buffered: the page reloads
            else:
                sub.replay = [f for c, f in self._recent if c.position > last_event_id and sub.may_see(c.district)]
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
