"""The ports the work orders service layer depends on (``typing.Protocol``); adapters implement them.

- ``EventStore``: where the aggregates' events, snapshots and the programme facts are kept: the event
  store's ``EventStorePort`` (``services.eventstore.EventStore`` on SQLite/PostgreSQL,
  ``InMemoryEventStore`` in unit tests).
- ``Clock``: microseconds since the Unix epoch (``system_clock``; a fake in tests).
- ``NetworkFacts``: what the service knows of a pipeline segment, as the domain's ``SegmentContext``
  (``adapters.network.NetworkSegments`` over the network model).
- ``Queries``: the read models (``adapters.queries.ReadModelQueries``).
"""

from __future__ import annotations

from typing import Protocol

from services.eventstore import EventStorePort
from services.workorders.domain.alarm import SegmentContext
from services.workorders.service_layer.views import HazardFilter, HazardView, Table, WorkOrderFilter, WorkOrderView

# The event store's own port: ``EventStore`` (SQL) and ``InMemoryEventStore`` both implement it.
EventStore = EventStorePort


class Clock(Protocol):
    def __call__(self) -> int:
        """Microseconds since the Unix epoch (UTC)."""
        ...


class NetworkFacts(Protocol):
    def segment(self, segment_id: str) -> SegmentContext | None:
        """The segment's facts, or None when the network model has no such segment."""
        ...


class Queries(Protocol):
    def list_work_orders(self, filt: WorkOrderFilter, *, now_unix_us: int) -> tuple[list[WorkOrderView], int]: ...

    def work_order_row(self, work_order_id: str) -> WorkOrderView | None: ...

    def districts_of(self, stream_ids: list[str]) -> dict[str, str]: ...

    def report(self, name: str, *, now_unix_us: int, districts: frozenset[str] | None) -> tuple[Table, int]: ...

    def list_hazards(self, filt: HazardFilter, *, now_unix_us: int) -> tuple[list[HazardView], int]: ...

    def overdue_hazard_ids(self, now_unix_us: int) -> list[str]: ...
