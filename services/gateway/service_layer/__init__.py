"""Use cases: recording readings into the queue (bounded, with a policy) and forwarding them to telemetry."""

from .forwarder import Forwarder, ForwarderSettings
from .ports import Ack, BatchStream, GatewayMetrics, ReadingQueue, Row, SendError, TelemetryLink
from .recorder import QueueFullPolicy, Recorder

__all__ = [
    "Ack",
    "BatchStream",
    "Forwarder",
    "ForwarderSettings",
    "GatewayMetrics",
    "QueueFullPolicy",
    "ReadingQueue",
    "Recorder",
    "Row",
    "SendError",
    "TelemetryLink",
]
