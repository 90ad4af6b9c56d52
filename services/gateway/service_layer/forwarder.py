"""Forwarding: queued readings go to telemetry in numbered batches over one stream; a batch leaves the queue
only when its ack arrives. Live readings first, backlog paced behind them (see domain/batches.py)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from dataclasses import dataclass

from services.gateway.domain import (
    BatchRange,
    Failure,
    FailureAction,
    LanePlan,
    PendingRanges,
    TokenBucket,
    action_for,
)

from .ports import BatchStream, GatewayMetrics, ReadingQueue, Row, SendError, TelemetryLink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForwarderSettings:
    max_readings_per_batch: int = 5000
    max_in_flight_batches: int = 16
    ack_timeout_s: float = 15.0
    linger_s: float = 0.1  # live readings wait at most this long to fill a batch
    backfill_readings_per_s: float = 100_000.0
    backoff_s: tuple[float, float] = (0.2, 5.0)
    not_authorised_backoff_s: float = 30.0


@dataclass
class _InFlight:
    batch: BatchRange
    lane: str
    readings: int
    sent_at: float


class Forwarder:
    def __init__(
        self,
        queue: ReadingQueue,
        link: TelemetryLink,
        metrics: GatewayMetrics,
        settings: ForwarderSettings,
        *,
        on_room: collections.abc.Callable[[], None] | None = None,
    ) -> None:
        self.queue = queue
        self.link = link
        self.metrics = metrics
        self.settings = settings
        self.on_room = on_room or (lambda: None)
        self.lanes = LanePlan()
        self.bucket = TokenBucket(
            settings.backfill_readings_per_s, max(settings.max_readings_per_batch * 2.0, 1.0), time.monotonic()
        )
        self.connected = False
        self.last_error = ""
        self.acked_batches = 0
        self.acked_readings = 0
        self.dead_lettered = 0
        self._attempts: collections.Counter[int] = collections.Counter()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event, drain_timeout_s: float = 0.0) -> None:
        """Forward until ``stop``; then, for up to ``drain_timeout_s``, until the queue is empty."""
        backoff = self.settings.backoff_s[0]
        drain_deadline: float | None = None
        while True:
            if stop.is_set():
                drain_deadline = drain_deadline or time.monotonic() + drain_timeout_s
                if self.queue.depth() == 0 or time.monotonic() >= drain_deadline:
                    return
            wait_s = backoff
            try:
                stream = await self.link.open()
            except SendError as error:
                self._note_error(error.detail)
            else:
                try:
                    await self._session(stream, stop, drain_deadline)
                    backoff = self.settings.backoff_s[0]
                    continue
                except SendError as error:
                    wait_s = await self._failed(error, backoff)
                except Exception as error:
                    log.exception("stream failed unexpectedly; reconnecting")
                    self._note_error(f"{type(error).__name__}: {error}")
                finally:
                    self.connected = False
                    self.metrics.connected(False)
                    with contextlib.suppress(Exception):
                        await stream.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait_s * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, self.settings.backoff_s[1])

    def _note_error(self, detail: str) -> None:
        if detail != self.last_error:
            log.warning("telemetry link down", extra={"error": detail})
        self.last_error = detail

    async def _failed(self, error: SendError, backoff: float) -> float:
        """Decide about the oldest unacked batch after the stream failed; returns the wait before reconnecting."""
        self.metrics.batch_failed(str(error.failure))
        pending = self.queue.pending()
        if error.failure is Failure.TRANSIENT or not pending:
            self._note_error(error.detail)
            return backoff
        head = pending[0]
        self._attempts[head.sequence] += 1
        rows = await self.queue.rows_of(head)
        count = sum(r[1] for r in rows)
        action = action_for(error.failure, count, self._attempts[head.sequence])
        if action is FailureAction.WAIT:
            log.error("telemetry refuses this gateway; readings stay queued", extra={"error": error.detail})
            self.last_error = error.detail
            return self.settings.not_authorised_backoff_s
        if action is FailureAction.RESEND:
            self._note_error(error.detail)
            return backoff
        del self._attempts[head.sequence]
        if action is FailureAction.SPLIT and count > 1:
            made = await self.queue.split(head)
            log.warning(
                "batch refused; split in two under new sequences",
                extra={
                    "sequence": head.sequence,
                    "readings": count,
                    "into": [b.sequence for b in made],
                    "error": error.detail,
                },
            )
        else:
            moved = await self.queue.dead_letter(head, f"{error.failure}: {error.detail}")
            self.dead_lettered += moved
            self.metrics.readings_dead_lettered(moved)
            log.error(
                "batch refused for good; its readings are dead-lettered in the queue file",
                extra={"sequence": head.sequence, "readings": moved, "error": error.detail},
            )
        return 0.0  # the batch itself was the problem: go on at once

    async def _session(self, stream: BatchStream, stop: asyncio.Event, drain_deadline: float | None) -> None:
        settings = self.settings
        in_flight: collections.deque[_InFlight] = collections.deque()
        resend = collections.deque(self.queue.pending())
        self.lanes.reconnected(self.queue.next_row_id(), self.queue.depth(), settings.max_readings_per_batch)
        first_ack = asyncio.Event()

        async def writer() -> None:
            while True:
                while len(in_flight) < settings.max_in_flight_batches:
                    chosen = await self._next_batch(resend)
                    if chosen is None:
                        break
                    batch, lane, rows = chosen
                    in_flight.append(_InFlight(batch, lane, sum(r[1] for r in rows), time.monotonic()))
                    await stream.write(batch.sequence, rows)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), settings.linger_s)
                if stop.is_set() and (
                    self.queue.depth() == 0 or (drain_deadline and time.monotonic() >= drain_deadline)
                ):
                    return

        async def reader() -> None:
            while True:
                ack = await stream.read_ack()
                if not in_flight or ack.sequence != in_flight[0].batch.sequence:
                    raise SendError(
                        Failure.TRANSIENT, f"ack for batch {ack.sequence} is not for the oldest unacked batch"
                    )
                done = in_flight.popleft()
                await self.queue.acked(done.batch)
                self._attempts.pop(done.batch.sequence, None)
                self.acked_batches += 1
                self.acked_readings += done.readings
                self.metrics.batch_acked(done.readings, time.monotonic() - done.sent_at, done.lane)
                if not first_ack.is_set():
                    first_ack.set()
                    self.connected = True
                    self.metrics.connected(True)
                    if self.last_error:
                        log.info("telemetry link up", extra={"previous_error": self.last_error})
                        self.last_error = ""
                self.on_room()
                self._wake.set()

        async def watchdog() -> None:
            while True:
                await asyncio.sleep(min(0.5, settings.ack_timeout_s / 4))
                if in_flight and time.monotonic() - in_flight[0].sent_at > settings.ack_timeout_s:
                    raise SendError(Failure.TRANSIENT, f"no ack within {settings.ack_timeout_s:g} s")

        tasks = [asyncio.ensure_future(c) for c in (writer(), reader(), watchdog())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            # The reader's error first: it carries telemetry's verdict on the head batch, which a write
            # failing on the same ended stream could otherwise hide.
            for task in sorted(done, key=lambda t: t is not tasks[1]):
                failure = task.exception()
                if failure is not None:
                    raise failure
            # the writer finished (stop, drained); wait for the remaining acks
            while in_flight:
                done, _ = await asyncio.wait(tasks[1:], timeout=0.05)
                for task in done:
                    failure = task.exception()
                    if failure is not None:
                        raise failure
                if drain_deadline is not None and time.monotonic() >= drain_deadline:
                    break
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _next_batch(self, resend: collections.deque[BatchRange]) -> tuple[BatchRange, str, list[Row]] | None:
        """Resends first, then live readings, then backlog as far as pacing allows."""
        while resend:
            batch = resend.popleft()
            rows = await self.queue.rows_of(batch)
            if rows:
                return batch, "resend", rows
            await self.queue.acked(batch)  # nothing left of it (cannot happen unless edited by hand)
        lanes = self.lanes
        if lanes.live_from_id is None:
            taken = await self._take(lanes.backlog_cursor, None, self.settings.max_readings_per_batch)
            if taken is None:
                return None
            batch, rows = taken
            lanes.backlog_cursor = batch.last_id + 1
            return batch, "live", rows
        taken = await self._take(lanes.live_cursor, None, self.settings.max_readings_per_batch)
        if taken is not None:
            batch, rows = taken
            lanes.live_cursor = batch.last_id + 1
            return batch, "live", rows
        now = time.monotonic()
        allowed = int(min(self.bucket.available(now), self.settings.max_readings_per_batch))
        if allowed < min(self.settings.max_readings_per_batch, self.bucket.burst) // 4:
            return None  # paced: the writer comes back after linger_s
        taken = await self._take(lanes.backlog_cursor, lanes.live_from_id, allowed)
        if taken is None:
            lanes.backlog_done()
            return None
        batch, rows = taken
        lanes.backlog_cursor = batch.last_id + 1
        self.bucket.take(sum(r[1] for r in rows))
        return batch, "backlog", rows

    async def _take(self, cursor: int, before_id: int | None, limit: int) -> tuple[BatchRange, list[Row]] | None:
        """Up to ``limit`` unassigned rows from ``cursor`` (skipping pending batches), as a new numbered batch."""
        pending = PendingRanges(self.queue.pending())
        while True:
            start, next_pending = pending.free_from(cursor)
            end = before_id
            if next_pending is not None and (end is None or next_pending < end):
                end = next_pending
            if before_id is not None and start >= before_id:
                return None
            rows = await self.queue.rows(start, end, limit)
            if rows:
                batch = await self.queue.assign(rows[0][0], rows[-1][0] + rows[-1][1] - 1)
                return batch, rows
            if next_pending is None or (before_id is not None and next_pending >= before_id):
                return None
            cursor = next_pending
