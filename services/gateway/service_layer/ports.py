"""Ports of the gateway's use cases: the durable queue, the link to telemetry, metrics and the clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.gateway.domain import BatchRange, Failure, Reading

# A stored chunk of readings: (number of its first reading, readings in it, payload). The payload is opaque to the
# use cases; the link knows its format (adapters/wire.py).
Row = tuple[int, int, bytes]


class StorageFull(Exception):
    """The queue cannot store more (disk full, or the queue file's configured size limit)."""


class ReadingQueue(Protocol):
    """A durable FIFO of readings with batch bookkeeping; every method is atomic and durable on return."""

    max_readings: int

    async def append(self, readings: Sequence[Reading]) -> int:
        """Store readings; returns how many readings (old or new) were dropped to respect the bound."""
        ...

    def depth(self) -> int: ...

    def next_row_id(self) -> int: ...

    def pending(self) -> list[BatchRange]: ...

    async def rows(self, from_id: int, before_id: int | None, limit: int) -> list[Row]:
        """Whole chunks from ``from_id`` (below ``before_id``) with at most ``limit`` readings (at least one chunk)."""
        ...

    async def rows_of(self, batch: BatchRange) -> list[Row]: ...

    async def assign(self, first_id: int, last_id: int) -> BatchRange: ...

    async def acked(self, batch: BatchRange) -> None: ...

    async def split(self, batch: BatchRange) -> list[BatchRange]: ...

    async def dead_letter(self, batch: BatchRange, reason: str) -> int: ...

    async def oldest_time_us(self) -> int | None: ...


@dataclass(frozen=True)
class Ack:
    sequence: int
    accepted: int
    rejected: int
    duplicate: bool


class SendError(Exception):
    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail


class BatchStream(Protocol):
    """One open ``PublishStream``: batches written in order, acks read in the same order."""

    async def write(self, sequence: int, rows: Sequence[Row]) -> None: ...

    async def read_ack(self) -> Ack:
        """The next ack; raises SendError when the stream ends or fails."""
        ...

    async def close(self) -> None: ...


class TelemetryLink(Protocol):
    async def open(self) -> BatchStream: ...


class GatewayMetrics(Protocol):
    def readings_taken(self, source: str, count: int) -> None: ...

    def read_error(self, source: str, kind: str) -> None: ...

    def readings_dropped(self, reason: str, count: int) -> None: ...

    def batch_acked(self, readings: int, latency_s: float, lane: str) -> None: ...

    def batch_failed(self, failure: str) -> None: ...

    def readings_dead_lettered(self, count: int) -> None: ...

    def queue_state(self, depth: int, oldest_age_s: float) -> None: ...

    def connected(self, up: bool) -> None: ...
