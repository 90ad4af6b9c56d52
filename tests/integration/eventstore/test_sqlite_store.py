"""The event-store contract on ``EventStore`` over a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.eventstore import EventStore, EventStorePort, ManualClock, UpcasterRegistry
from tests.unit.eventstore.persistence_contract import EventStoreContract

# As in production, every append also writes outbox rows (in the same transaction).
OUTBOX_TOPIC = "eventstore.contract.v1"


class TestSQLiteEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, clock: ManualClock, tmp_path: Path) -> Iterator[EventStorePort]:
        store = EventStore.from_url(f"sqlite:///{tmp_path / 'events.sqlite3'}", clock=clock, outbox_topic=OUTBOX_TOPIC)
        yield store
        store.close()

    def with_upcasters(self, store: EventStorePort, upcasters: UpcasterRegistry) -> EventStorePort:
        assert isinstance(store, EventStore)
        return EventStore(store.engine, clock=store.clock, upcasters=upcasters)
