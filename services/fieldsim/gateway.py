"""One simulated SCADA gateway: samples its tags at their scan periods, batches them, and streams the
batches to telemetry over ``PublishStream``, resending unacked batches with the same sequence."""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc

from services.contracts.pipewarden.telemetry.v1 import (
    reading_pb2,
    telemetry_ingest_service_pb2,
    telemetry_ingest_service_pb2_grpc,
)
from services.network import Tag
from services.network.quality import SATURATION_MARGIN_SPANS

from .values import ValueSource

log = logging.getLogger(__name__)

# Codes after which the same batch may succeed later; anything else is the batch's or our fault.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
FATAL = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})


@dataclass
class BadReadings:
    """Deliberately wrong readings, so rejects show up in a demo. ``fraction``: chance per batch."""

    fraction: float = 0.0
    kinds: tuple[str, ...] = ("out_of_range", "unknown_tag")


@dataclass
class GatewayStats:
    batches_sent: int = 0
    batches_acked: int = 0
    duplicate_acks: int = 0
    batches_failed: int = 0  # refused as a whole (INVALID_ARGUMENT ...), not retried
    batches_dropped: int = 0  # the unacked buffer overflowed
    readings_sent: int = 0
    readings_accepted: int = 0
    readings_rejected: int = 0
    retries: int = 0  # reconnects after an error or an ack timeout
    ack_latencies_s: list[float] = field(default_factory=list)
    last_error: str = ""


class BatchBuilder:
    """Samples a gateway's tags at their scan periods into numbered batches."""

    def __init__(
        self,
        gateway_id: str,
        tags: Sequence[Tag],
        values: ValueSource,
        *,
        first_sequence: int,
        bad: BadReadings | None = None,
        seed: int | None = None,
    ) -> None:
        if first_sequence < 1:
            raise ValueError("batch sequences start at 1 (0 is reserved)")
        self.gateway_id = gateway_id
        self.tags = list(tags)
        self.values = values
        self.next_sequence = first_sequence
        self.bad = bad or BadReadings()
        self._rng = random.Random(seed)
        self._next_due_s: dict[str, float] = {}
        self._bad_count = 0

    def build(self, now_s: float) -> reading_pb2.ReadingBatch | None:
        """Every sample due up to ``now_s`` since the last call, as one batch (None when nothing is due)."""
        readings = []
        Reading = reading_pb2.Reading
        for tag in self.tags:
            due = self._next_due_s.get(tag.tag_id)
            if due is None:
                # Align to the scan period's grid, as an RTU does.
                due = math.floor(now_s / tag.scan_period_s) * tag.scan_period_s
            while due <= now_s:
                readings.append(
                    Reading(
                        tag_id=tag.tag_id,
                        source_time_unix_us=round(due * 1e6),
                        value=self.values.sample(tag, due),
                        quality=reading_pb2.QUALITY_GOOD,
                    )
                )
                due += tag.scan_period_s
            self._next_due_s[tag.tag_id] = due
        if not readings:
            return None
        if self.bad.fraction > 0 and self.bad.kinds and self._rng.random() < self.bad.fraction:
            readings.append(self._bad_reading(now_s))
        batch = reading_pb2.ReadingBatch(gateway_id=self.gateway_id, batch_sequence=self.next_sequence)
        batch.readings.extend(readings)
        self.next_sequence += 1
        return batch

    def _bad_reading(self, now_s: float) -> reading_pb2.Reading:
        kind = self.bad.kinds[self._bad_count % len(self.bad.kinds)]
        self._bad_count += 1
        time_us = round(now_s * 1e6)
        if kind == "unknown_tag":
            return reading_pb2.Reading(
                tag_id=f"{self.gateway_id}-NO-SUCH-TAG",
                source_time_unix_us=time_us,
                value=1.0,
                quality=reading_pb2.QUALITY_GOOD,
            )
        if kind == "bad_quality":
            tag = self._rng.choice(self.tags)
            return reading_pb2.Reading(
                tag_id=tag.tag_id,
                source_time_unix_us=time_us + 1,
                value=tag.range_min,
                quality=reading_pb2.QUALITY_BAD,
            )
        tag = self._rng.choice(self.tags)
        span = tag.range_max - tag.range_min
        # farther beyond the range than a saturated meter reads (SATURATION_MARGIN_SPANS): a scaling fault
        return reading_pb2.Reading(
            tag_id=tag.tag_id,
            source_time_unix_us=time_us + 1,
            value=tag.range_max + (SATURATION_MARGIN_SPANS + 1.0) * span,
            quality=reading_pb2.QUALITY_GOOD,
        )


class GatewayStreamer:
    """Streams batches over one long-lived ``PublishStream``; reconnects and resends what is unacked.

    Acks come back in order, so the unacked batches are a queue: an ack always answers its head.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        token: str,
        *,
        max_in_flight: int = 32,
        max_buffered: int = 10_000,
        ack_timeout_s: float = 10.0,
        backoff_s: tuple[float, float] = (0.2, 5.0),
        on_ack: Callable[[reading_pb2.IngestAck], None] | None = None,
    ) -> None:
        self.stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.max_in_flight = max_in_flight
        self.max_buffered = max_buffered
        self.ack_timeout_s = ack_timeout_s
        self.backoff_s = backoff_s
        self.on_ack = on_ack
        self.stats = GatewayStats()
        self._unacked: collections.deque[reading_pb2.ReadingBatch] = collections.deque()
        self._sent_at: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._closing = False
        self._fatal: grpc.aio.AioRpcError | None = None

    @property
    def unacked(self) -> int:
        return len(self._unacked)

    def submit(self, batch: reading_pb2.ReadingBatch) -> None:
        if len(self._unacked) >= self.max_buffered:
            self._unacked.popleft()
            self.stats.batches_dropped += 1
        self._unacked.append(batch)
        self._wake.set()

    async def run(self, stop: asyncio.Event, drain_timeout_s: float = 10.0) -> GatewayStats:
        """Stream until ``stop`` is set and every submitted batch is acked (or ``drain_timeout_s`` passes)."""
        backoff = self.backoff_s[0]
        drain_deadline: float | None = None
        while self._fatal is None:
            if stop.is_set():
                drain_deadline = drain_deadline or time.monotonic() + drain_timeout_s
                if not self._unacked or time.monotonic() >= drain_deadline:
                    break
            try:
                await self._one_connection(stop, drain_deadline)
                backoff = self.backoff_s[0]
            except grpc.aio.AioRpcError as error:
                self.stats.last_error = f"{error.code().name}: {error.details()}"
                if error.code() in FATAL:
                    log.error("gateway refused", extra={"error": self.stats.last_error})
                    self._fatal = error
                    break
                if error.code() not in RETRYABLE and self._unacked:
                    # The head batch itself is refused: drop it, or the gateway would resend it forever.
                    self._unacked.popleft()
                    self.stats.batches_failed += 1
                    log.warning("batch refused", extra={"error": self.stats.last_error})
                    continue
                self.stats.retries += 1
            except TimeoutError:
                self.stats.last_error = f"no ack within {self.ack_timeout_s:g} s"
                self.stats.retries += 1
            if self._unacked or not stop.is_set():
                await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, self.backoff_s[1])
        return self.stats

    async def _one_connection(self, stop: asyncio.Event, drain_deadline: float | None) -> None:
        call = self.stub.PublishStream(metadata=self.metadata)
        written = 0  # how many of the queue's head batches went out on this call

        async def writer() -> None:
            nonlocal written
            while True:
                while written < len(self._unacked) and written < self.max_in_flight:
                    batch = self._unacked[written]
                    self._sent_at[batch.batch_sequence] = time.monotonic()
                    await call.write(telemetry_ingest_service_pb2.PublishStreamRequest(batch=batch))
                    self.stats.batches_sent += 1
                    self.stats.readings_sent += len(batch.readings)
                    written += 1
                if stop.is_set() and not self._unacked:
                    await call.done_writing()
                    return
                self._wake.clear()
                await self._wake.wait()

        async def reader() -> None:
            nonlocal written
            async for response in call:
                ack = response.ack
                if not self._unacked or ack.batch_sequence != self._unacked[0].batch_sequence:
                    raise RuntimeError(
                        f"ack for batch {ack.batch_sequence} does not match the oldest unacked batch"
                    )
                self._unacked.popleft()
                written -= 1
                sent_at = self._sent_at.pop(ack.batch_sequence, None)
                if sent_at is not None:
                    self.stats.ack_latencies_s.append(time.monotonic() - sent_at)
                self.stats.batches_acked += 1
                self.stats.duplicate_acks += ack.duplicate_batch
                self.stats.readings_accepted += ack.accepted_count
                self.stats.readings_rejected += ack.rejected_count
                if self.on_ack is not None:
                    self.on_ack(ack)
                self._wake.set()

        async def watchdog() -> None:
            while True:
                await asyncio.sleep(min(0.5, self.ack_timeout_s / 4))
                if written and self._unacked:
                    sent_at = self._sent_at.get(self._unacked[0].batch_sequence)
                    if sent_at is not None and time.monotonic() - sent_at > self.ack_timeout_s:
                        raise TimeoutError
                if stop.is_set():
                    self._wake.set()  # let the writer notice and close the stream
                    if drain_deadline is not None and time.monotonic() >= drain_deadline:
                        raise TimeoutError

        writer_task, reader_task, watchdog_task = (
            asyncio.ensure_future(c) for c in (writer(), reader(), watchdog())
        )
        pending = {writer_task, reader_task, watchdog_task}
        try:
            while reader_task in pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    failure = task.exception()
                    if failure is not None:
                        raise failure
        finally:
            for task in (writer_task, reader_task, watchdog_task):
                task.cancel()
            call.cancel()
