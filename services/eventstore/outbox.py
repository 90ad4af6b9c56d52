"""Transactional outbox: publish appended events to Kafka without dual writes.

``EventStore.append`` inserts one outbox row per event in the append transaction. ``OutboxRelay`` takes
the pending rows in global-position order, hands them to a ``Publisher`` (the Kafka producer port),
and marks them published only after the publisher returned, i.e. after the broker acknowledged them.

Delivery is at least once and in order per stream: a crash or a failed publish between the broker's ack
and the commit of "published" publishes the batch again. Consumers deduplicate on ``event_id`` (or skip
``stream_version`` <= the last applied one). Run one relay per store. On PostgreSQL concurrent relays
are serialised by row locks; on SQLite they could publish a batch twice (still in order per relay).

Message format: key = stream id (UTF-8) so one stream stays in one partition; value = whatever the
``EnvelopeEncoder`` the wiring hands the relay makes of the event (workorders: a protobuf
``pipewarden.workorders.v1.EventEnvelope``, see ``services.workorders.adapters.outbox_envelope``);
headers ``event_type`` and ``event_id`` for cheap routing. The store knows neither topic nor envelope.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from services.eventstore.clock import Clock, SystemClock
from services.eventstore.database import events, outbox, read_transaction, write_transaction
from services.eventstore.model import RecordedEvent
from services.eventstore.store import EventStore
from services.kafkaconn import KafkaSecurity


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    event: RecordedEvent


class Publisher(Protocol):
    """The Kafka producer port."""

    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        """Send ``messages`` in order; return only after the broker acknowledged all; raise otherwise."""
        ...


EnvelopeEncoder = Callable[[RecordedEvent], bytes]
"""Turns a recorded event into a message value (the topic's envelope). Supplied by the events' owner."""


def to_message(topic: str, event: RecordedEvent, encode: EnvelopeEncoder) -> OutboxMessage:
    return OutboxMessage(
        topic=topic,
        key=event.stream_id.encode(),
        value=encode(event),
        headers=(("event_type", event.event_type.encode()), ("event_id", str(event.event_id).encode())),
        event=event,
    )


class RecordingPublisher:
    """A publisher that keeps what it was given (unit tests, dry runs). ``fail_next`` fails calls on demand."""

    def __init__(self) -> None:
        self.messages: list[OutboxMessage] = []
        self.fail_next = 0

    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise ConnectionError("recording publisher: simulated broker failure")
        self.messages.extend(messages)


class KafkaPublisher:
    """``Publisher`` over kafka-python: acks=all, idempotent producer (no reordering on retries).

    A failed publish raises within about ``timeout_s`` (also when the broker is down) and replaces the
    producer, so the relay's retry starts from a clean producer state.
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        *,
        client_id: str = "pipewarden-eventstore-relay",
        timeout_s: float = 30.0,
        security: KafkaSecurity | None = None,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._security = security or KafkaSecurity()
        self._client_id = client_id
        self._timeout_s = timeout_s
        self._producer: Any = None

    def _new_producer(self) -> Any:
        from kafka import KafkaProducer

        timeout_ms = max(1_000, int(self._timeout_s * 1000))
        request_timeout_ms = min(30_000, timeout_ms)
        return KafkaProducer(
            bootstrap_servers=self._bootstrap_servers,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_block_ms=timeout_ms,
            request_timeout_ms=request_timeout_ms,
            delivery_timeout_ms=max(timeout_ms, request_timeout_ms + 5),
            **self._security.kafka_python_kwargs(),
        )

    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        if self._producer is None:
            self._producer = self._new_producer()
        try:
            futures = [
                self._producer.send(message.topic, value=message.value, key=message.key, headers=list(message.headers))
                for message in messages
            ]
            self._producer.flush(timeout=self._timeout_s)
            for future in futures:
                future.get(timeout=self._timeout_s)  # raises the broker's error for that record
        except Exception:
            self._discard_producer()
            raise

    def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            # Closing a broken producer must not hide the publish error.
            with contextlib.suppress(Exception):
                producer.close(timeout=0)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self._timeout_s)
            self._producer = None


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """The outbox rows not yet published: how many, and when the oldest one's event was recorded."""

    pending: int
    oldest_recorded_at_unix_us: int | None  # None when nothing is pending


def outbox_backlog(store: EventStore) -> OutboxBacklog:
    """One read of the outbox's backlog (for metrics: a relay that falls behind or cannot reach Kafka)."""
    with read_transaction(store.engine) as conn:
        pending, oldest = conn.execute(
            sa.select(sa.func.count(), sa.func.min(events.c.recorded_at_unix_us))
            .select_from(outbox.join(events, events.c.position == outbox.c.position))
            .where(outbox.c.published_at_unix_us.is_(None))
        ).one()
    return OutboxBacklog(int(pending), None if oldest is None else int(oldest))


class OutboxRelay:
    """Publishes a SQL ``EventStore``'s outbox rows; ``encode`` makes each event's message value."""

    def __init__(
        self,
        store: EventStore,
        publisher: Publisher,
        *,
        encode: EnvelopeEncoder,
        batch_size: int = 500,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(store, EventStore):
            # The outbox is rows written in the append's SQL transaction; other stores have none.
            raise TypeError(
                f"OutboxRelay needs a SQL EventStore (it reads its outbox table), not {type(store).__name__}"
            )
        if not callable(encode):
            raise TypeError("encode must be a callable RecordedEvent -> bytes")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.store = store
        self.publisher = publisher
        self.encode = encode
        self.batch_size = batch_size
        self.clock: Clock = clock or SystemClock()

    def publish_pending(self) -> int:
        """Publish one batch of pending rows, oldest first; returns how many were published.

        Raises whatever the publisher raised; nothing is marked published then, so a later call retries.
        """
        engine = self.store.engine
        if engine.dialect.name == "postgresql":
            # The row locks serialise concurrent relays without blocking appends (they insert new rows).
            with write_transaction(engine) as conn:
                messages = self._pending(conn, lock=True)
                if messages:
                    self.publisher.publish(messages)
                    self._mark_published(conn, messages)
            return len(messages)
        # SQLite has one database-wide write lock: holding it while the broker answers would stall every
        # append. Read, publish, then mark; a second relay could publish a batch twice (at least once).
        with read_transaction(engine) as conn:
            messages = self._pending(conn, lock=False)
        if messages:
            self.publisher.publish(messages)
            with write_transaction(engine) as conn:
                self._mark_published(conn, messages)
        return len(messages)

    def _pending(self, conn: sa.Connection, *, lock: bool) -> list[OutboxMessage]:
        query = (
            sa.select(outbox.c.topic, events)
            .join(events, events.c.position == outbox.c.position)
            .where(outbox.c.published_at_unix_us.is_(None))
            .order_by(outbox.c.position)
            .limit(self.batch_size)
        )
        if lock:
            query = query.with_for_update(of=outbox)
        return [
            to_message(row["topic"], self.store._to_recorded(row), self.encode)
            for row in conn.execute(query).mappings()
        ]

    def _mark_published(self, conn: sa.Connection, messages: Sequence[OutboxMessage]) -> None:
        conn.execute(
            sa.update(outbox)
            .where(outbox.c.position.in_([m.event.position for m in messages]))
            .values(published_at_unix_us=self.clock.now_unix_us())
        )

    def run_until_empty(self) -> int:
        total = 0
        while published := self.publish_pending():
            total += published
        return total

    def pending_count(self) -> int:
        return outbox_backlog(self.store).pending

    def run_forever(self, stop: threading.Event, *, idle_sleep_s: float = 0.2, retry_sleep_s: float = 1.0) -> None:
        """Relay until ``stop`` is set; publish failures are retried after ``retry_sleep_s``."""
        while not stop.is_set():
            try:
                published = self.publish_pending()
            except Exception:  # the broker or database is down: keep the rows, try again
                stop.wait(retry_sleep_s)
                continue
            if published == 0:
                stop.wait(idle_sleep_s)
