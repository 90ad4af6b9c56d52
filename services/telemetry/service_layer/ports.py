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


class RecordPublisher(Protocol):
    async def publish(self, records: Sequence[OutRecord]) -> None:
        """Return once Kafka has acknowledged every record; raise PublishUnavailable otherwise."""
        ...


class Clock(Protocol):
    def now_us(self) -> int: ...


class IngestMetrics(Protocol):
    def batch_acked(
        self, accepted: int, rejected_by_reason: Mapping[RejectReason, int], latency_s: float
    ) -> None: ...
    def batch_deduplicated(self) -> None: ...
    def batch_refused(self, kind: str) -> None: ...
    def publish_failed(self) -> None: ...
