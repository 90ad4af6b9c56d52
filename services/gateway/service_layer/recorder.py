"""Recording: every reading a source takes goes into the durable queue before anything else happens to it."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Sequence

from services.gateway.domain import Reading

from .ports import GatewayMetrics, ReadingQueue, StorageFull

log = logging.getLogger(__name__)


class QueueFullPolicy(enum.StrEnum):
    DROP_OLDEST = "drop_oldest"  # keep taking readings; the oldest unsent ones go (counted)
    BLOCK = "block"  # stop taking readings until the forwarder makes room (scans are missed, counted)


class Recorder:
    def __init__(
        self, queue: ReadingQueue, metrics: GatewayMetrics, policy: QueueFullPolicy, *, log_every_s: float = 10.0
    ) -> None:
        self.queue = queue
        self.metrics = metrics
        self.policy = policy
        self.log_every_s = log_every_s
        self._room = asyncio.Event()
        self._last_log = {"full": 0.0, "storage": 0.0}
        self.dropped = 0
        self.storage_failures = 0

    def room_made(self) -> None:
        """Called by the forwarder after acks removed readings."""
        self._room.set()

    def _log_limited(self, what: str, message: str, **extra: object) -> None:
        now = time.monotonic()
        if now - self._last_log[what] >= self.log_every_s:
            self._last_log[what] = now
            log.warning(message, extra=extra)

    async def record(self, source: str, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        self.metrics.readings_taken(source, len(readings))
        if self.policy is QueueFullPolicy.BLOCK:
            while self.queue.depth() + len(readings) > self.queue.max_readings:
                self._log_limited(
                    "full",
                    "queue full: policy block, readings wait for acks",
                    depth=self.queue.depth(),
                    max_readings=self.queue.max_readings,
                    source=source,
                )
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), 0.5)
        try:
            dropped = await self.queue.append(readings)
        except StorageFull as error:
            self.storage_failures += 1
            self.dropped += len(readings)
            self._log_limited("storage", "readings not stored: the queue cannot grow", error=str(error), source=source)
            return
        if dropped:
            self.dropped += dropped
            self._log_limited(
                "full",
                "queue full: readings dropped",
                policy=str(self.policy),
                dropped_total=self.dropped,
                max_readings=self.queue.max_readings,
            )
