"""What the ingest use case needs from the outside world."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from services.telemetry.domain import RejectReason


class OutRecord(NamedTuple):
    topic: str
    key: bytes
    value: bytes


class PublishUnavailable(Exception):
    """Kafka did not acknowledge every record in time; the caller must not ack the batch."""


class RecordTooLarge(Exception):
    """Kafka refuses a record of the batch for its size: permanent, a resend of the same batch fails the same way.

    Raised before any record of the batch is sent when the producer's own limit is what refuses it; when the
    broker refuses (its limit is below the producer's), records of the batch may already have been written.
    """


class RecordPublisher(Protocol):
    async def publish(self, records: Sequence[OutRecord]) -> None:
        """Return once Kafka has acknowledged every record; raise PublishUnavailable (transient) or
        RecordTooLarge (permanent) otherwise."""
        ...


class Clock(Protocol):
    def now_us(self) -> int: ...


class IngestMetrics(Protocol):
    def batch_acked(
        self, accepted: int, rejected_by_reason: Mapping[RejectReason, int], latency_s: float, saturated: int
    ) -> None: ...
    def batch_deduplicated(self) -> None: ...
    def batch_refused(self, kind: str) -> None: ...
    def publish_failed(self) -> None: ...
