"""Use cases of telemetry: ingest one batch (validate, publish, ack, dedupe)."""

from .ingest import IngestService
from .ports import Clock, IngestMetrics, OutRecord, PublishUnavailable, RecordPublisher, RecordTooLarge

__all__ = [
    "Clock",
    "IngestMetrics",
    "IngestService",
    "OutRecord",
    "PublishUnavailable",
    "RecordPublisher",
    "RecordTooLarge",
]
