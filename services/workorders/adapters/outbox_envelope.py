"""The value of a ``workorders.events.v1`` record: a recorded event as a ``pipewarden.workorders.v1.EventEnvelope``.

The event store's outbox relay knows no envelope of its own; the workorders wiring hands it
``encode_event_envelope`` (``OutboxRelay(store, publisher, encode=encode_event_envelope)``).
"""

from __future__ import annotations

from services.contracts.pipewarden.workorders.v1.events_pb2 import EventEnvelope
from services.eventstore import RecordedEvent, canonical_json


def to_envelope(event: RecordedEvent) -> EventEnvelope:
    """Every field of the recorded event; the payload as canonical JSON, absent ids as ""."""
    return EventEnvelope(
        event_id=str(event.event_id),
        stream_id=event.stream_id,
        stream_version=event.version,
        global_position=event.position,
        event_type=event.event_type,
        schema_version=event.schema_version,
        payload_json=canonical_json(event.payload),
        causation_id=event.causation_id or "",
        correlation_id=event.correlation_id or "",
        actor=event.actor or "",
        recorded_at_unix_us=event.recorded_at_unix_us,
    )


def encode_event_envelope(event: RecordedEvent) -> bytes:
    """The ``EnvelopeEncoder`` of the workorders outbox: the serialized ``EventEnvelope``."""
    return to_envelope(event).SerializeToString()
