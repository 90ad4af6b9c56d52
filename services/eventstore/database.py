"""Engines from URLs, the event store's tables, and write transactions that behave alike on both backends.

Backends: SQLite (a file; the default for development) and PostgreSQL via psycopg 3 (production).
Schema creation is ``metadata.create_all`` (idempotent); versioned migrations are future work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from services.eventstore.model import MAX_ID_LENGTH

DEFAULT_URL = "sqlite:///var/eventstore.sqlite3"

_ID = sa.String(MAX_ID_LENGTH)
# jsonb on PostgreSQL (indexable by read models); JSON text on SQLite.
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

metadata = sa.MetaData()

events = sa.Table(
    "eventstore_events",
    metadata,
    # Gap-free, assigned under the sequence row lock (see EventStore.append), never by the database.
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("stream_id", _ID, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("event_type", _ID, nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("payload", _JSON, nullable=False),
    sa.Column("event_id", sa.Uuid, nullable=False),
    sa.Column("recorded_at_unix_us", sa.BigInteger, nullable=False),
    sa.Column("causation_id", _ID, nullable=True),
    sa.Column("correlation_id", _ID, nullable=True),
    sa.Column("actor", _ID, nullable=True),
    sa.UniqueConstraint("stream_id", "version", name="uq_eventstore_events_stream_version"),
    sa.UniqueConstraint("event_id", name="uq_eventstore_events_event_id"),
    sa.CheckConstraint("version >= 1", name="ck_eventstore_events_version"),
)

# One row (id = 1) holding the last assigned position. Appends update it first, which serialises them:
# positions commit in increasing order, so a reader that has seen position p never later finds a new
# event with a position <= p (no gaps filled in behind a reader's back).
sequence = sa.Table(
    "eventstore_sequence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_position", sa.BigInteger, nullable=False),
)

snapshots = sa.Table(
    "eventstore_snapshots",
    metadata,
    sa.Column("stream_id", _ID, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("state", _JSON, nullable=False),
    sa.Column("recorded_at_unix_us", sa.BigInteger, nullable=False),
)

outbox = sa.Table(
    "eventstore_outbox",
    metadata,
    sa.Column(
        "position",
        sa.BigInteger,
        sa.ForeignKey("eventstore_events.position", name="fk_eventstore_outbox_position"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("topic", _ID, nullable=False),
    sa.Column("published_at_unix_us", sa.BigInteger, nullable=True),
)
sa.Index(
    "ix_eventstore_outbox_pending",
    outbox.c.position,
    postgresql_where=outbox.c.published_at_unix_us.is_(None),
    sqlite_where=outbox.c.published_at_unix_us.is_(None),
)

checkpoints = sa.Table(
    "eventstore_checkpoints",
    metadata,
    sa.Column("name", _ID, primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)


def normalise_url(url: str | sa.URL) -> sa.URL:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 (the only PostgreSQL driver installed)."""
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    if text.startswith("postgres://"):
        text = "postgresql://" + text[len("postgres://") :]
    parsed = make_url(text)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str | sa.URL, **kwargs: Any) -> sa.Engine:
    """An engine for the event store (and the read models that share its transactions).

    SQLite: a file (created with its parent directory), WAL, 30 s busy timeout, foreign keys on, and
    transaction control taken over from pysqlite so ``write_transaction`` can ``BEGIN IMMEDIATE``.
    In-memory SQLite is refused: each pooled connection would see a different empty database.
    """
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            raise ValueError("in-memory SQLite is not supported: use a file, e.g. sqlite:///var/events.sqlite3")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, "timeout": 30.0, **kwargs.pop("connect_args", {})}
        engine = sa.create_engine(parsed, connect_args=connect_args, **kwargs)
        _install_sqlite_transaction_control(engine)
        return engine
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(parsed, **kwargs)
    raise ValueError(f"unsupported event store backend {backend!r}: use sqlite or postgresql")


_WRITE_OPTION = "eventstore_write"


def _install_sqlite_transaction_control(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own implicit BEGIN would defeat BEGIN IMMEDIATE; the "begin" hook below issues it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A deferred transaction that reads and then writes fails with SQLITE_BUSY (no waiting) when
        # another writer committed in between; IMMEDIATE takes the write lock up front and waits for it.
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that will write: committed on exit, rolled back on an exception.

    Use it for read-model writes too. On SQLite it takes the database write lock at BEGIN.
    """
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE_OPTION: True})
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A read-only unit of work (one consistent snapshot on SQLite; statement snapshots on PostgreSQL)."""
    with engine.connect() as connection, connection.begin():
        yield connection


def create_schema(engine: sa.Engine) -> None:
    """Create the event store's tables when missing (idempotent) and its sequence row."""
    metadata.create_all(engine)
    with write_transaction(engine) as connection:
        insert_ignore(connection, sequence, {"id": 1, "last_position": 0})


def insert_ignore(connection: sa.Connection, table: sa.Table, values: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING for both backends."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(postgresql.insert(table).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        connection.execute(sqlite.insert(table).values(values).on_conflict_do_nothing())
    else:  # pragma: no cover - create_engine refuses other backends
        raise ValueError(f"unsupported dialect {dialect}")
