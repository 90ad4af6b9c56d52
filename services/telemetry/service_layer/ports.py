"""What the ingest use case needs from the outside world."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from services.telemetry.domain import RejectReason

from .rate_limits import RateLimited


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


class RateLimitExceeded(Exception):
    """The gateway is over one of its rate limits; the batch was not looked at. Retry it unchanged (same
    ``batch_sequence``) after ``limited.retry_after_s``."""

    def __init__(self, gateway_id: str, batch_sequence: int, limited: RateLimited) -> None:
        self.gateway_id = gateway_id
        self.batch_sequence = batch_sequence
        self.limited = limited
        unit = "readings" if limited.limit == "readings_per_s" else "batches"
        super().__init__(
            f"gateway {gateway_id!r} is over its rate limit of {limited.rate_per_s:g} {unit}/s "
            f"(burst {limited.burst:g}, {limited.limit}): batch {batch_sequence} was not processed; retry it "
            f"with the same batch_sequence in {limited.retry_after_s:.3f} s"
        )


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
