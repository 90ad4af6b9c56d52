"""Engine URLs and clocks. (The workorders envelope is tested in tests/unit/workorders/adapters.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.eventstore import ManualClock, SystemClock, create_engine
from services.eventstore.database import normalise_url


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


def test_clocks() -> None:
    clock = ManualClock(start_unix_us=10, step_us=5)
    assert [clock.now_unix_us(), clock.now_unix_us()] == [10, 15]
    clock.advance(100)
    assert clock.now_unix_us() == 120
    assert SystemClock().now_unix_us() > 1_600_000_000_000_000
