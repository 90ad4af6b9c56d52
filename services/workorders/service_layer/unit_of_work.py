"""Load an aggregate from the event store (snapshot + newer events), run a domain command, append.

The aggregate-specific parts (stream naming, folding events, snapshot shape, district) are an
``AggregateKind``; the domain stays free of I/O and the store free of domain knowledge.

Event ids are ``uuid5(stream#version#command_id)``: a retried command (same ``command_id``, e.g. the
alarm's deterministic event id) rebuilds byte-identical events at the same versions and the store treats
the append as an exact retry; two different commands racing for the same version get different ids, so
the loser's append fails with ``ConcurrencyError`` (gRPC ABORTED) instead of passing for a retry.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from services.eventstore import ConcurrencyError, EventStore, NewEvent, RecordedEvent
from services.workorders.domain.events import NAMESPACE, DomainEvent, event_from_payload

A = TypeVar("A")

log = logging.getLogger(__name__)


class NotFound(LookupError):
    """No such aggregate (gRPC NOT_FOUND)."""


class AggregateKind(Protocol[A]):
    name: str

    def stream_id(self, aggregate_id: str) -> str: ...

    def empty(self, aggregate_id: str) -> A: ...

    def apply(self, aggregate: A, event: DomainEvent) -> A: ...

    def to_snapshot(self, aggregate: A) -> dict[str, Any]: ...

    def from_snapshot(self, state: dict[str, Any]) -> A: ...

    def exists(self, aggregate: A) -> bool: ...


@dataclass(frozen=True, slots=True)
class CommandMeta:
    """Who asked, and the ids that tie the events to the request."""

    actor: str
    command_id: str
    correlation_id: str | None = None
    causation_id: str | None = None
    expected_version: int | None = None

    @staticmethod
    def new_command_id() -> str:
        return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class CommandOutcome(Generic[A]):
    stream_id: str
    version: int
    position: int
    event_types: tuple[str, ...]
    aggregate: A


class ChangeNotifier:
    """Wakes in-process watchers (gRPC Watch, projection loop) as soon as something was appended.

    Threads block in ``wait``; an event loop subscribes a listener instead (no thread per watcher).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0
        self._listeners: list[Callable[[], None]] = []

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()
            listeners = tuple(self._listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:  # the append is done: a broken watcher must not fail the command
                log.exception("change listener failed")

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every ``notify``, on the notifying thread: it must be quick and must not
        block (e.g. ``loop.call_soon_threadsafe``). Returns the function that unsubscribes it."""
        with self._condition:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._condition:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    @property
    def generation(self) -> int:
        return self._generation

    def wait(self, seen_generation: int, timeout_s: float) -> int:
        with self._condition:
            if self._generation == seen_generation:
                self._condition.wait(timeout_s)
            return self._generation


def event_uuid(stream_id: str, version: int, command_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{stream_id}#{version}#{command_id}")


class Repository(Generic[A]):
    def __init__(
        self,
        store: EventStore,
        kind: AggregateKind[A],
        *,
        snapshot_every: int = 50,
        notifier: ChangeNotifier | None = None,
    ) -> None:
        self.store = store
        self.kind = kind
        self.snapshot_every = snapshot_every
        self.notifier = notifier

    def load(self, aggregate_id: str) -> tuple[A, int]:
        """The aggregate and its stream version (0 and ``kind.empty`` for a new stream)."""
        stream_id = self.kind.stream_id(aggregate_id)
        aggregate = self.kind.empty(aggregate_id)
        version = 0
        snapshot = self.store.load_snapshot(stream_id)
        if snapshot is not None:
            try:
                aggregate = self.kind.from_snapshot(snapshot.state)
                version = snapshot.version
            except ValueError:  # a snapshot of an older shape: fold from the start instead
                aggregate, version = self.kind.empty(aggregate_id), 0
        for recorded in self.store.read_stream(stream_id, after_version=version):
            aggregate = self.kind.apply(aggregate, to_domain(recorded))
            version = recorded.version
        return aggregate, version

    def get(self, aggregate_id: str) -> tuple[A, int]:
        aggregate, version = self.load(aggregate_id)
        if version == 0 or not self.kind.exists(aggregate):
            raise NotFound(f"no {self.kind.name} {aggregate_id!r}")
        return aggregate, version

    def execute(
        self,
        aggregate_id: str,
        command: Callable[[A], Sequence[DomainEvent]],
        meta: CommandMeta,
        *,
        authorize: Callable[[A], None] | None = None,
        must_exist: bool = True,
    ) -> CommandOutcome[A]:
        """Run ``command`` on the current aggregate and append what it decided, atomically or not at all."""
        stream_id = self.kind.stream_id(aggregate_id)
        aggregate, version = self.get(aggregate_id) if must_exist else self.load(aggregate_id)
        if meta.expected_version is not None and meta.expected_version != version:
            raise ConcurrencyError(stream_id, meta.expected_version, version)
        if authorize is not None:
            authorize(aggregate)
        decided = list(command(aggregate))
        if not decided:
            return CommandOutcome(stream_id, version, 0, (), aggregate)
        new_events = [
            NewEvent(
                event.type,
                event.to_payload(),
                schema_version=event.schema_version,
                event_id=event_uuid(stream_id, version + 1 + i, meta.command_id),
            )
            for i, event in enumerate(decided)
        ]
        recorded = self.store.append(
            stream_id,
            version,
            new_events,
            causation_id=meta.causation_id or meta.command_id,
            correlation_id=meta.correlation_id or meta.command_id,
            actor=meta.actor,
        )
        if self.notifier is not None:
            self.notifier.notify()
        for event in decided:
            aggregate = self.kind.apply(aggregate, event)
        new_version = recorded[-1].version
        if new_version // self.snapshot_every > version // self.snapshot_every:
            self.store.save_snapshot(stream_id, new_version, self.kind.to_snapshot(aggregate))
        return CommandOutcome(
            stream_id, new_version, recorded[-1].position, tuple(e.event_type for e in recorded), aggregate
        )


def to_domain(recorded: RecordedEvent) -> DomainEvent:
    return event_from_payload(recorded.event_type, recorded.schema_version, recorded.payload)
