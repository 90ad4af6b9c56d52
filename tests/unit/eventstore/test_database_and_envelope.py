"""Engine URLs, the outbox envelope, clocks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from services.contracts.pipewarden.workorders.v1.events_pb2 import EventEnvelope
from services.eventstore import ManualClock, RecordedEvent, SystemClock, create_engine, to_envelope
from services.eventstore.database import normalise_url
from services.eventstore.outbox import to_message


@pytest.mark.parametrize(
    "url",
    ["postgresql://u@h:1/db", "postgres://u@h:1/db", "postgresql+psycopg://u@h:1/db"],
)
def test_postgres_urls_use_psycopg3(url: str) -> None:
    assert normalise_url(url).drivername == "postgresql+psycopg"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="in-memory"):
        create_engine(url)


def test_unsupported_backends_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        create_engine("mysql://u@h/db")


def test_sqlite_file_and_parent_directory_are_created(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'events.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (tmp_path / "a" / "b").is_dir()
    engine.dispose()


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
    message = to_message("workorders.events.v1", event)
    decoded = EventEnvelope.FromString(message.value)
    assert decoded == to_envelope(event)
    assert message.key == b"workorder-1"
    assert (decoded.stream_version, decoded.global_position, decoded.schema_version) == (3, 42, 2)
    assert decoded.payload_json == '{"crew":"c7","eta_s":900}'
    assert decoded.correlation_id == "" and decoded.actor == "dispatcher:ana"
    assert decoded.recorded_at_unix_us == 1_700_000_000_000_001


def test_clocks() -> None:
    clock = ManualClock(start_unix_us=10, step_us=5)
    assert [clock.now_unix_us(), clock.now_unix_us()] == [10, 15]
    clock.advance(100)
    assert clock.now_unix_us() == 120
    assert SystemClock().now_unix_us() > 1_600_000_000_000_000
