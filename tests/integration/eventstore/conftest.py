"""The SQL backends the SQL-only and Kafka tests run against (``store``): a SQLite file and the real PostgreSQL.

The backend-neutral contract runs per backend through its own subclasses (test_*_store.py), not these.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.eventstore import EventStore, ManualClock
from services.topics import WORKORDERS_EVENTS

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=[pytest.mark.integration, pytest.mark.postgres]),
]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.sqlite3'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start_unix_us=1_700_000_000_000_000, step_us=1_000)


@pytest.fixture
def store(store_url: str, clock: ManualClock) -> Iterator[EventStore]:
    store = EventStore.from_url(
        store_url, clock=clock, outbox_topic=WORKORDERS_EVENTS.name
    )  # the topic the Kafka test reads
    yield store
    store.close()
