"""An append-only event store: optimistic concurrency, snapshots, upcasters, outbox and projections.

Backends: a SQLite file (development default) and PostgreSQL (production), both via SQLAlchemy Core, and
an in-memory store for unit tests. The package knows no service: the outbox's topic and envelope are
given to it by the wiring of the service that owns the events.

    from services.eventstore import EventStore, NewEvent, ConcurrencyError

    store = EventStore.from_url("sqlite:///var/workorders.sqlite3",            # creates the tables
                                outbox_topic=WORKORDERS_EVENTS.name)             # None: no outbox
    store.append("workorder-42", 0, [NewEvent("WorkOrderOpened", {"grade": 1})],
                 correlation_id=alarm_id, actor="dispatcher:ana")
    try:
        store.append("workorder-42", 0, [NewEvent("CrewAssigned", {"crew": "c7"})])
    except ConcurrencyError:        # someone else appended first: reload and retry (gRPC ABORTED)
        ...
    history = store.read_stream("workorder-42")                           # upcast to current schemas

Public surface (``__all__``):

Stores
- ``EventStorePort``: the ``typing.Protocol`` a service layer depends on (append, read_stream,
  stream_version, read_all, head_position, save_snapshot, load_snapshot, close).
- ``EventStore``: the SQL implementation (``from_url``, ``engine``); the outbox and projections need it.
- ``InMemoryEventStore``: the same contract in process memory (unit tests); no outbox, no projections.
- ``NewEvent`` (to append), ``RecordedEvent`` (as stored and read), ``Snapshot``: the value types.
- ``UpcasterRegistry``: lifts old payload schemas to the current one on read.
- ``canonical_json``: deterministic JSON text of a payload (envelopes, comparing read models).

Errors (map them at the edges)
- ``EventStoreError``: base of all. ``InvalidEventError``: malformed input (INVALID_ARGUMENT).
  ``ConcurrencyError``: the stream moved on (ABORTED: reload, retry). ``DuplicateEventError``: an event
  id stored by another append. ``is_transient_error``: whether a failed call may succeed if retried.

Outbox (publishing appended events to Kafka)
- ``OutboxRelay``: publishes a SQL store's pending outbox rows, in order, at least once.
- ``outbox_backlog`` -> ``OutboxBacklog``: how many rows wait, and the age of the oldest (metrics).
- ``EnvelopeEncoder``: ``RecordedEvent -> bytes``, the message value; supplied by the events' owner.
- ``Publisher`` (the producer port), ``KafkaPublisher`` (kafka-python, acks=all),
  ``RecordingPublisher`` (keeps messages: tests, dry runs), ``OutboxMessage`` (what a publisher gets).

Projections (read models in the store's database)
- ``Projection``: a read model's protocol; ``ProjectionRunner``: applies events and moves the checkpoint
  in one SQL transaction, exactly once; rebuilds.

SQL plumbing (for read models sharing the store's transactions)
- ``create_engine``, ``create_schema``, ``DEFAULT_URL``, ``read_transaction``, ``write_transaction``.

Clocks
- ``Clock`` (the protocol), ``SystemClock``, ``ManualClock`` (tests): where ``recorded_at_unix_us`` comes from.

Guarantees (every store):
- ``(stream_id, version)`` and ``event_id`` are unique; versions start at 1 and have no gaps.
- Global positions have no gaps and become visible in increasing order, so a reader that polls
  ``read_all(after_position=p)`` never misses an event (SQL: appends are serialised by a sequence row).
- Appending the same events again (same ids, same stream) is an idempotent retry.
- Input is checked the same way everywhere (``services.eventstore.model``) before anything is stored.
- SQL only: with an ``outbox_topic``, every append writes outbox rows in its own transaction;
  ``OutboxRelay`` publishes them (key = stream id, value = the ``EnvelopeEncoder``'s bytes).

Future work: versioned schema migrations (today ``create_schema`` = ``metadata.create_all``), outbox
row purging, snapshot history.
"""

from services.eventstore.clock import Clock, ManualClock, SystemClock
from services.eventstore.database import (
    DEFAULT_URL,
    create_engine,
    create_schema,
    read_transaction,
    write_transaction,
)
from services.eventstore.errors import ConcurrencyError, DuplicateEventError, EventStoreError, InvalidEventError
from services.eventstore.memory import InMemoryEventStore
from services.eventstore.model import NewEvent, RecordedEvent, Snapshot, canonical_json
from services.eventstore.outbox import (
    EnvelopeEncoder,
    KafkaPublisher,
    OutboxBacklog,
    OutboxMessage,
    OutboxRelay,
    Publisher,
    RecordingPublisher,
    outbox_backlog,
)
from services.eventstore.ports import EventStorePort
from services.eventstore.projections import Projection, ProjectionRunner
from services.eventstore.store import EventStore
from services.eventstore.transient import is_transient_error
from services.eventstore.upcasting import UpcasterRegistry

__all__ = [
    "DEFAULT_URL",
    "Clock",
    "ConcurrencyError",
    "DuplicateEventError",
    "EnvelopeEncoder",
    "EventStore",
    "EventStoreError",
    "EventStorePort",
    "InMemoryEventStore",
    "InvalidEventError",
    "KafkaPublisher",
    "ManualClock",
    "NewEvent",
    "OutboxBacklog",
    "OutboxMessage",
    "OutboxRelay",
    "Projection",
    "ProjectionRunner",
    "Publisher",
    "RecordedEvent",
    "RecordingPublisher",
    "Snapshot",
    "SystemClock",
    "UpcasterRegistry",
    "canonical_json",
    "create_engine",
    "create_schema",
    "is_transient_error",
    "outbox_backlog",
    "read_transaction",
    "write_transaction",
]
