"""The event-store contract on ``EventStore`` over the real PostgreSQL server (a fresh schema per test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.eventstore import EventStore, EventStorePort, ManualClock, UpcasterRegistry
from tests.unit.eventstore.persistence_contract import EventStoreContract

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

# As in production, every append also writes outbox rows (in the same transaction).
OUTBOX_TOPIC = "eventstore.contract.v1"


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, clock: ManualClock, postgres_schema_url: str) -> Iterator[EventStorePort]:
        store = EventStore.from_url(postgres_schema_url, clock=clock, outbox_topic=OUTBOX_TOPIC)
        yield store
        store.close()

    def with_upcasters(self, store: EventStorePort, upcasters: UpcasterRegistry) -> EventStorePort:
        assert isinstance(store, EventStore)
        return EventStore(store.engine, clock=store.clock, upcasters=upcasters)
