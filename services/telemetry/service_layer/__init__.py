"""Use cases of telemetry: ingest one batch (validate, publish, ack, dedupe)."""

from .ingest import IngestService
from .ports import (
    Clock,
    IngestMetrics,
    OutRecord,
    PublishUnavailable,
    RateLimitExceeded,
    RecordPublisher,
    RecordTooLarge,
)
from .rate_limits import GatewayRateLimiter, RateLimited, RateLimits

__all__ = [
    "Clock",
    "GatewayRateLimiter",
    "IngestMetrics",
    "IngestService",
    "OutRecord",
    "PublishUnavailable",
    "RateLimitExceeded",
    "RateLimited",
    "RateLimits",
    "RecordPublisher",
    "RecordTooLarge",
]
