"""What only the SQL event store does, on SQLite and the real PostgreSQL server (the PostgreSQL variants
are marked integration; the fixture fails, never skips, without a server).

SQL-only, so not in the backend-neutral contract (tests/unit/eventstore/persistence_contract.py, run per
backend by test_sqlite_store.py, test_postgres_store.py and tests/unit/eventstore/test_memory_store.py):
- schema creation (tables, the sequence row) and reopening a database;
- the outbox: rows written in the append's transaction, published by ``OutboxRelay`` (which refuses the
  in-memory store), and appends not blocked while the relay waits for the broker;
- projections: read models and checkpoint moved in one SQL transaction by ``ProjectionRunner``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from services.contracts.pipewarden.workorders.v1.events_pb2 import EventEnvelope
from services.eventstore import (
    EventStore,
    NewEvent,
    OutboxRelay,
    ProjectionRunner,
    RecordedEvent,
    RecordingPublisher,
    outbox_backlog,
)
from services.topics import WORKORDERS_EVENTS
from services.workorders.adapters.outbox_envelope import encode_event_envelope
from tests.unit.eventstore.persistence_contract import _race, opened

# -- schema --------------------------------------------------------------------------------------------


def test_schema_is_created_idempotently(store: EventStore) -> None:
    store.append("s-1", 0, [opened()])
    store.create_schema()
    reopened = EventStore.from_url(store.engine.url)
    try:
        assert reopened.stream_version("s-1") == 1
        assert reopened.append("s-2", 0, [opened()])[0].position == 2
    finally:
        reopened.close()


# -- outbox --------------------------------------------------------------------------------------------


def test_outbox_backlog_counts_pending_rows_and_dates_the_oldest(store: EventStore) -> None:
    assert outbox_backlog(store).pending == 0
    assert outbox_backlog(store).oldest_recorded_at_unix_us is None
    first = store.append("a", 0, [opened(1)])[0]
    store.append("b", 0, [opened(2)])
    backlog = outbox_backlog(store)
    assert backlog.pending == 2
    assert backlog.oldest_recorded_at_unix_us == first.recorded_at_unix_us
    OutboxRelay(store, RecordingPublisher(), encode=encode_event_envelope, batch_size=1).publish_pending()
    later = outbox_backlog(store)
    assert later.pending == 1
    assert later.oldest_recorded_at_unix_us == store.read_stream("b")[0].recorded_at_unix_us


def test_append_writes_outbox_rows_that_the_relay_publishes_in_order(store: EventStore) -> None:
    store.append("a", 0, [opened(1)], correlation_id="corr-1")
    store.append("b", 0, [opened(2), opened(3)])
    store.append("a", 1, [opened(4)])
    publisher = RecordingPublisher()
    relay = OutboxRelay(store, publisher, encode=encode_event_envelope, batch_size=3)
    assert relay.pending_count() == 4
    assert relay.run_until_empty() == 4
    assert relay.pending_count() == 0
    assert [m.event.position for m in publisher.messages] == [1, 2, 3, 4]
    assert {m.topic for m in publisher.messages} == {WORKORDERS_EVENTS.name}
    assert [m.key for m in publisher.messages] == [b"a", b"b", b"b", b"a"]
    envelope = EventEnvelope.FromString(publisher.messages[0].value)
    assert envelope.stream_id == "a" and envelope.stream_version == 1 and envelope.global_position == 1
    assert envelope.event_type == "WorkOrderOpened" and envelope.payload_json == '{"n":1}'
    assert envelope.correlation_id == "corr-1" and envelope.causation_id == ""
    assert envelope.event_id == str(publisher.messages[0].event.event_id)
    assert dict(publisher.messages[0].headers)["event_type"] == b"WorkOrderOpened"
    # Published rows are not published again; new appends are.
    assert relay.publish_pending() == 0
    store.append("a", 2, [opened(5)])
    assert relay.publish_pending() == 1
    assert publisher.messages[-1].event.position == 5


def test_relay_marks_nothing_published_when_the_broker_fails(store: EventStore) -> None:
    for i in range(5):
        store.append(f"s-{i % 2}", None, [opened(i)])
    publisher = RecordingPublisher()
    publisher.fail_next = 1
    relay = OutboxRelay(store, publisher, encode=encode_event_envelope, batch_size=2)
    with pytest.raises(ConnectionError):
        relay.publish_pending()
    assert relay.pending_count() == 5
    assert publisher.messages == []
    assert relay.run_until_empty() == 5
    assert [m.event.position for m in publisher.messages] == [1, 2, 3, 4, 5]


def test_outbox_can_be_turned_off(store_url: str) -> None:
    store = EventStore.from_url(store_url, outbox_topic=None)
    try:
        store.append("s-1", 0, [opened()])
        assert OutboxRelay(store, RecordingPublisher(), encode=encode_event_envelope).pending_count() == 0
    finally:
        store.close()


def test_appends_are_not_blocked_while_the_relay_waits_for_the_broker(store: EventStore) -> None:
    store.append("s-1", 0, [opened(1)])
    appended_during_publish: list[Any] = []

    class SlowBroker(RecordingPublisher):
        def publish(self, messages: Any) -> None:
            if not appended_during_publish:
                writer = threading.Thread(
                    target=lambda: appended_during_publish.append(store.append("s-2", 0, [opened(2)]))
                )
                writer.start()
                writer.join(timeout=10)
                assert not writer.is_alive(), "an append waited for the relay's broker round trip"
            super().publish(messages)

    publisher = SlowBroker()
    relay = OutboxRelay(store, publisher, encode=encode_event_envelope)
    assert relay.publish_pending() == 1
    assert len(appended_during_publish) == 1
    assert relay.publish_pending() == 1
    assert [m.event.stream_id for m in publisher.messages] == ["s-1", "s-2"]


# -- projections ---------------------------------------------------------------------------------------

read_models = sa.MetaData()
work_orders = sa.Table(
    "test_rm_work_orders",
    read_models,
    sa.Column("stream_id", sa.String(200), primary_key=True),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("last_n", sa.Integer, nullable=False),
)
event_log = sa.Table(
    "test_rm_event_log",
    read_models,
    sa.Column("position", sa.BigInteger, primary_key=True),
    sa.Column("stream_id", sa.String(200), sa.ForeignKey("test_rm_work_orders.stream_id"), nullable=False),
)


class WorkOrderCounts:
    name = "test-work-order-counts"
    tables: Sequence[sa.Table] = (event_log, work_orders)

    def __init__(self, fail_at_position: int | None = None) -> None:
        self.fail_at_position = fail_at_position

    def handle(self, conn: sa.Connection, event: RecordedEvent) -> None:
        if event.position == self.fail_at_position:
            raise RuntimeError("projection bug")
        if event.event_type != "WorkOrderOpened":
            return
        updated = conn.execute(
            sa.update(work_orders)
            .where(work_orders.c.stream_id == event.stream_id)
            .values(events=work_orders.c.events + 1, last_n=event.payload["n"])
        )
        if updated.rowcount == 0:
            conn.execute(sa.insert(work_orders).values(stream_id=event.stream_id, events=1, last_n=event.payload["n"]))
        conn.execute(sa.insert(event_log).values(position=event.position, stream_id=event.stream_id))


def _read_model(store: EventStore) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with store.engine.connect() as conn:
        return (
            [tuple(r) for r in conn.execute(sa.select(work_orders).order_by(work_orders.c.stream_id))],
            [tuple(r) for r in conn.execute(sa.select(event_log).order_by(event_log.c.position))],
        )


def test_projection_applies_events_once_and_rebuild_equals_live(store: EventStore) -> None:
    runner = ProjectionRunner(store, WorkOrderCounts(), batch_size=4)
    runner.create_tables()
    assert runner.run_until_caught_up() == 0
    for i in range(7):
        store.append(f"wo-{i % 3}", None, [opened(i)])
        store.append("noise", None, [NewEvent("Other", {})])
        if i % 2:
            runner.run_once()
    runner.run_until_caught_up()
    assert runner.checkpoint() == store.head_position() == 14
    assert runner.run_once() == 0
    live = _read_model(store)
    assert live[0] == [("wo-0", 3, 6), ("wo-1", 2, 4), ("wo-2", 2, 5)]
    assert len(live[1]) == 7

    assert runner.rebuild() == 14
    assert _read_model(store) == live
    assert runner.checkpoint() == 14
    # A second runner instance continues from the shared checkpoint.
    store.append("wo-9", 0, [opened(9)])
    assert ProjectionRunner(store, WorkOrderCounts()).run_until_caught_up() == 1
    assert ("wo-9", 1, 9) in _read_model(store)[0]


def test_a_failing_projection_commits_neither_read_model_nor_checkpoint(store: EventStore) -> None:
    for i in range(4):
        store.append("wo-1", None, [opened(i)])
    failing = ProjectionRunner(store, WorkOrderCounts(fail_at_position=3), batch_size=10)
    failing.create_tables()
    with pytest.raises(RuntimeError, match="projection bug"):
        failing.run_once()
    assert failing.checkpoint() == 0
    assert _read_model(store) == ([], [])
    healthy = ProjectionRunner(store, WorkOrderCounts(), batch_size=10)
    assert healthy.run_until_caught_up() == 4
    assert _read_model(store)[0] == [("wo-1", 4, 3)]


def test_rebuild_of_an_empty_store(store: EventStore) -> None:
    runner = ProjectionRunner(store, WorkOrderCounts())
    runner.create_tables()
    assert runner.rebuild() == 0
    assert runner.checkpoint() == 0


def test_concurrent_projection_runners_apply_each_event_once(store: EventStore) -> None:
    for i in range(40):
        store.append(f"wo-{i % 5}", None, [opened(i)])
    ProjectionRunner(store, WorkOrderCounts()).create_tables()
    results = _race(3, lambda i: ProjectionRunner(store, WorkOrderCounts(), batch_size=3).run_until_caught_up())
    assert sum(results) == 40, results
    counts, log = _read_model(store)
    assert sum(row[1] for row in counts) == 40
    assert [row[0] for row in log] == list(range(1, 41))
