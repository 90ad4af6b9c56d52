"""The outbox relay against the real Kafka broker: in order per stream, marked only after the ack."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.contracts.pipewarden.workorders.v1.events_pb2 import EventEnvelope
from services.eventstore import EventStore, KafkaPublisher, NewEvent, OutboxRelay
from services.topics import WORKORDERS_EVENTS
from services.workorders.adapters.outbox_envelope import encode_event_envelope
from tests.fixtures.kafka import consume_all

pytestmark = pytest.mark.integration


def _envelopes_of(bootstrap: str, streams: set[str], expected: int) -> list[EventEnvelope]:
    # The topic is shared with other tests of the session: keep only this test's streams.
    records = consume_all(bootstrap, WORKORDERS_EVENTS.name, timeout_s=30)
    ours = [r for r in records if r.key is not None and r.key.decode() in streams]
    assert len(ours) >= expected, f"{len(ours)} of {expected} records arrived"
    envelopes = []
    for record in ours:
        envelope = EventEnvelope.FromString(record.value or b"")
        assert record.key == envelope.stream_id.encode()
        assert record.header("event_id") == envelope.event_id.encode()
        envelopes.append(envelope)
    return envelopes


def _per_stream(envelopes: list[EventEnvelope]) -> dict[str, list[int]]:
    versions: dict[str, list[int]] = {}
    for envelope in envelopes:
        versions.setdefault(envelope.stream_id, []).append(envelope.stream_version)
    return versions


def test_relay_publishes_every_event_in_order_per_stream(store: EventStore, kafka_bootstrap: str) -> None:
    tag = uuid.uuid4().hex[:8]
    streams = [f"workorder-{tag}-{i}" for i in range(4)]
    appended: list[Any] = []
    for round_ in range(5):
        for stream in streams:
            appended += store.append(stream, None, [NewEvent("WorkOrderNoted", {"round": round_})])
    publisher = KafkaPublisher(kafka_bootstrap, timeout_s=30)
    try:
        relay = OutboxRelay(store, publisher, encode=encode_event_envelope, batch_size=7)
        assert relay.run_until_empty() == 20
        assert relay.pending_count() == 0
    finally:
        publisher.close()
    envelopes = _envelopes_of(kafka_bootstrap, set(streams), expected=20)
    assert len(envelopes) == 20  # nothing was published twice on the happy path
    assert {e.event_id for e in envelopes} == {str(e.event_id) for e in appended}
    assert _per_stream(envelopes) == {stream: [1, 2, 3, 4, 5] for stream in streams}


def test_events_stay_pending_while_the_broker_is_down(store: EventStore, kafka_broker: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    stream = f"workorder-{tag}"
    store.append(stream, 0, [NewEvent("WorkOrderOpened", {"n": 1})])
    publisher = KafkaPublisher(kafka_broker.bootstrap, timeout_s=4)
    relay = OutboxRelay(store, publisher, encode=encode_event_envelope)
    try:
        assert relay.run_until_empty() == 1  # the producer is connected and has the topic's metadata
        store.append(stream, 1, [NewEvent("WorkOrderClosed", {"n": 2})])
        kafka_broker.stop()
        try:
            with pytest.raises(Exception):  # noqa: B017 - kafka-python raises several error types here
                relay.publish_pending()
            assert relay.pending_count() == 1
        finally:
            kafka_broker.start()
        assert relay.run_until_empty() == 1
        assert relay.pending_count() == 0
    finally:
        publisher.close()
    envelopes = _envelopes_of(kafka_broker.bootstrap, {stream}, expected=2)
    versions = [e.stream_version for e in envelopes]
    # At least once: a record the broker stored before the failure may come again, never out of order.
    assert sorted(set(versions)) == [1, 2]
    assert versions == sorted(versions)
