"""An append-only SQLAlchemy event store with optimistic concurrency, snapshots, outbox and projections.

Backends: a SQLite file (development default) and PostgreSQL (production), both via SQLAlchemy Core.

    from services.eventstore import EventStore, NewEvent, ConcurrencyError

    store = EventStore.from_url("sqlite:///var/workorders.sqlite3")       # creates the tables
    store.append("workorder-42", 0, [NewEvent("WorkOrderOpened", {"grade": 1})],
                 correlation_id=alarm_id, actor="dispatcher:ana")
    try:
        store.append("workorder-42", 0, [NewEvent("CrewAssigned", {"crew": "c7"})])
    except ConcurrencyError:        # someone else appended first: reload and retry (gRPC ABORTED)
        ...
    history = store.read_stream("workorder-42")                           # upcast to current schemas

Guarantees:
- ``(stream_id, version)`` and ``event_id`` are unique; versions start at 1 and have no gaps.
- Global positions have no gaps and commit in increasing order, so a reader that polls
  ``read_all(after_position=p)`` never misses an event (appends are serialised by a sequence row).
- Appending the same events again (same ids, same stream) is an idempotent retry.
- With an ``outbox_topic``, every append writes outbox rows in its own transaction; ``OutboxRelay``
  publishes them to Kafka (key = stream id, value = the wiring's ``EnvelopeEncoder``) at least once, in order.
- ``ProjectionRunner`` applies events and moves the projection's checkpoint in one transaction.

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
from services.eventstore.model import NewEvent, RecordedEvent, Snapshot
from services.eventstore.outbox import (
    EnvelopeEncoder,
    KafkaPublisher,
    OutboxMessage,
    OutboxRelay,
    Publisher,
    RecordingPublisher,
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
    "create_engine",
    "create_schema",
    "is_transient_error",
    "read_transaction",
    "write_transaction",
]
