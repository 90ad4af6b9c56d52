"""The event-store contract on ``InMemoryEventStore``, and what it refuses (it has no tables)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.eventstore import (
    EventStorePort,
    InMemoryEventStore,
    ManualClock,
    NewEvent,
    OutboxRelay,
    ProjectionRunner,
    RecordingPublisher,
    UpcasterRegistry,
)
from tests.unit.eventstore.persistence_contract import EventStoreContract, opened


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, clock: ManualClock) -> Iterator[EventStorePort]:
        store = InMemoryEventStore(clock=clock)
        yield store
        store.close()

    def with_upcasters(self, store: EventStorePort, upcasters: UpcasterRegistry) -> EventStorePort:
        assert isinstance(store, InMemoryEventStore)
        return store.with_upcasters(upcasters)


def test_stored_events_and_snapshots_are_not_aliased_by_callers() -> None:
    store = InMemoryEventStore()
    payload: dict[str, Any] = {"crew": {"id": "c7"}}
    recorded = store.append("s-1", 0, [NewEvent("CrewAssigned", payload)])
    payload["crew"]["id"] = "changed"
    recorded[0].payload["crew"]["id"] = "changed too"
    assert store.read_stream("s-1")[0].payload == {"crew": {"id": "c7"}}
    state: dict[str, Any] = {"count": [1]}
    store.save_snapshot("s-1", 1, state)
    state["count"].append(2)
    loaded = store.load_snapshot("s-1")
    assert loaded is not None and loaded.state == {"count": [1]}


def test_relay_and_projection_runner_refuse_it() -> None:
    store = InMemoryEventStore()
    store.append("s-1", 0, [opened()])
    with pytest.raises(TypeError, match="SQL EventStore"):
        OutboxRelay(store, RecordingPublisher(), encode=lambda event: b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="SQL EventStore"):
        ProjectionRunner(store, object())  # type: ignore[arg-type]
