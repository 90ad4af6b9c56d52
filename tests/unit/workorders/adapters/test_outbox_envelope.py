"""The workorders outbox envelope: every field of a recorded event in ``EventEnvelope`` (moved from eventstore)."""

from __future__ import annotations

import uuid

from services.contracts.pipewarden.workorders.v1.events_pb2 import EventEnvelope
from services.eventstore import RecordedEvent
from services.eventstore.outbox import to_message
from services.topics import WORKORDERS_EVENTS
from services.workorders.adapters.outbox_envelope import encode_event_envelope, to_envelope


def test_envelope_carries_every_field() -> None:
    event = RecordedEvent(
        stream_id="workorder-1",
        version=3,
        position=42,
        event_type="CrewAssigned",
        schema_version=2,
        payload={"crew": "c7", "eta_s": 900},
        event_id=uuid.UUID(int=5),
        recorded_at_unix_us=1_700_000_000_000_001,
        causation_id="cmd-1",
        correlation_id=None,
        actor="dispatcher:ana",
    )
    message = to_message(WORKORDERS_EVENTS.name, event, encode_event_envelope)
    decoded = EventEnvelope.FromString(message.value)
    assert decoded == to_envelope(event)
    assert message.key == b"workorder-1"
    assert (decoded.stream_version, decoded.global_position, decoded.schema_version) == (3, 42, 2)
    assert decoded.payload_json == '{"crew":"c7","eta_s":900}'
    assert decoded.correlation_id == "" and decoded.actor == "dispatcher:ana"
    assert decoded.recorded_at_unix_us == 1_700_000_000_000_001
