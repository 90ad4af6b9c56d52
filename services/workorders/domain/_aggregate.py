"""The event-sourcing plumbing the domain's aggregates share: replay and the snapshot round-trip.

Each aggregate (``WorkOrder``, ``Hazard``, ``Replacement``) is a frozen dataclass that inherits from
``Aggregate`` and implements ``apply``; everything that only needs ``apply`` and the dataclass fields
lives here. Snapshots are the codec's JSON of the dataclass fields, read back strictly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

from services.workorders.domain.codec import from_json, to_json
from services.workorders.domain.events import DomainEvent


class Aggregate:
    # Empty slots keep the subclasses' ``slots=True`` dataclasses free of a ``__dict__``.
    __slots__ = ()

    def apply(self, event: DomainEvent) -> Self:
        raise NotImplementedError

    @classmethod
    def replay(cls, events: Iterable[DomainEvent], initial: Self | None = None) -> Self:
        """Rebuild from events (after ``initial``, e.g. a snapshot)."""
        state = initial if initial is not None else cls()
        for event in events:
            state = state.apply(event)
        return state

    def to_snapshot(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = to_json(self)
        return snapshot

    @classmethod
    def from_snapshot(cls, state: dict[str, Any]) -> Self:
        aggregate: Self = from_json(cls, state, f"{cls.__name__} snapshot")
        return aggregate
