"""The event-sourced repository: load an aggregate (snapshot + newer events), run a decision, append.

``Repository(store, WorkOrder, "work_order")`` works for any aggregate class that folds events
(``apply``), snapshots itself (``to_snapshot``/``from_snapshot``) and has a ``status`` (None until its
first event): ``Aggregate``. One ``execute`` is one append, atomic or nothing, so a command needs no unit
of work around it. Also here: ``CommandMeta`` (who asked, the ids) and ``CommandOutcome`` (what was stored).

Event ids are ``uuid5(stream#version#command_id)``: a retried command (same ``command_id``, e.g. the
alarm's deterministic event id) rebuilds byte-identical events at the same versions and the store treats
the append as an exact retry; two different commands racing for the same version get different ids, so
the loser's append fails with ``ConcurrencyError`` (gRPC ABORTED) instead of passing for a retry.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar

from services.eventstore import ConcurrencyError, NewEvent, RecordedEvent
from services.workorders.domain.events import NAMESPACE, DomainEvent, event_from_payload
from services.workorders.service_layer.notifier import ChangeNotifier
from services.workorders.service_layer.ports import EventStore


class NotFound(LookupError):
    """No such aggregate (gRPC NOT_FOUND)."""


class Aggregate(Protocol):
    """What the repository needs of an aggregate class (``WorkOrder``, ``Hazard``, ``Replacement``)."""

    @property
    def status(self) -> object | None: ...

    def apply(self, event: Any) -> Self: ...

    def to_snapshot(self) -> dict[str, Any]: ...

    @classmethod
    def from_snapshot(cls, state: dict[str, Any]) -> Self: ...


A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True, slots=True)
class CommandMeta:
    """Who asked, and the ids that tie the events to the request."""

    actor: str
    command_id: str
    correlation_id: str | None = None
    causation_id: str | None = None
    expected_version: int | None = None
    # Free text kept with the request (gRPC CommandContext.note): the default of a command's notes/reason.
    note: str = ""

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


def event_uuid(stream_id: str, version: int, command_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{stream_id}#{version}#{command_id}")


class Repository(Generic[A]):
    def __init__(
        self,
        store: EventStore,
        aggregate: type[A],
        name: str,
        *,
        snapshot_every: int = 50,
        notifier: ChangeNotifier | None = None,
    ) -> None:
        self.store = store
        self.aggregate = aggregate
        self.name = name
        self.snapshot_every = snapshot_every
        self.notifier = notifier

    def load(self, aggregate_id: str) -> tuple[A, int]:
        """The aggregate and its stream version (0 and an empty aggregate for a new stream)."""
        stream_id = aggregate_id
        aggregate = self.aggregate()
        version = 0
        snapshot = self.store.load_snapshot(stream_id)
        if snapshot is not None:
            try:
                aggregate = self.aggregate.from_snapshot(snapshot.state)
                version = snapshot.version
            except ValueError:  # a snapshot of an older shape: fold from the start instead
                aggregate, version = self.aggregate(), 0
        for recorded in self.store.read_stream(stream_id, after_version=version):
            aggregate = aggregate.apply(to_domain(recorded))
            version = recorded.version
        return aggregate, version

    def get(self, aggregate_id: str) -> tuple[A, int]:
        aggregate, version = self.load(aggregate_id)
        if version == 0 or aggregate.status is None:
            raise NotFound(f"no {self.name} {aggregate_id!r}")
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
        stream_id = aggregate_id
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
            aggregate = aggregate.apply(event)
        new_version = recorded[-1].version
        if new_version // self.snapshot_every > version // self.snapshot_every:
            self.store.save_snapshot(stream_id, new_version, aggregate.to_snapshot())
        return CommandOutcome(
            stream_id, new_version, recorded[-1].position, tuple(e.event_type for e in recorded), aggregate
        )


def to_domain(recorded: RecordedEvent) -> DomainEvent:
    return event_from_payload(recorded.event_type, recorded.schema_version, recorded.payload)
