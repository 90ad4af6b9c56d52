"""Fakes of the work orders service layer's ports (``service_layer.ports``), as cosmicpython's tests/unit/fakes.py.

``make_app`` wires ``WorkOrdersApp`` to an ``InMemoryEventStore`` (services.eventstore), a ``FakeClock``,
``FakeNetwork`` segments and ``FakeQueries`` that fold the store's streams: no database, no network model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.eventstore import InMemoryEventStore, RecordedEvent
from services.workorders.domain.alarm import SegmentContext
from services.workorders.domain.hazard import Hazard, HazardRecorded, is_overdue
from services.workorders.domain.values import PipeClass
from services.workorders.domain.workorder import WorkOrder, WorkOrderOpened
from services.workorders.service_layer.app import WorkOrdersApp
from services.workorders.service_layer.repository import to_domain
from services.workorders.service_layer.views import (
    HazardFilter,
    HazardView,
    Table,
    WorkOrderFilter,
    WorkOrderView,
    work_order_view,
)

T0 = 1_700_000_000_000_000
SEGMENTS = (
    SegmentContext(
        segment_id="S-D1", district="D1", pipe_class=PipeClass.MUNICIPAL, material="steel", length_km=1.2,
        install_year=1985,
    ),
    SegmentContext(
        segment_id="S-D2", district="D2", pipe_class=PipeClass.COURTYARD, material="PE", length_km=0.4,
        install_year=2010,
    ),
)


class FakeClock:
    """``Clock``: returns ``now``, which tests move by hand."""

    def __init__(self, now_unix_us: int = T0) -> None:
        self.now_unix_us = now_unix_us

    def __call__(self) -> int:
        return self.now_unix_us

    def advance_s(self, seconds: float) -> None:
        self.now_unix_us += round(seconds * 1_000_000)


@dataclass
class FakeNetwork:
    """``NetworkFacts`` over a fixed set of segments."""

    segments: dict[str, SegmentContext] = field(default_factory=lambda: {s.segment_id: s for s in SEGMENTS})

    def segment(self, segment_id: str) -> SegmentContext | None:
        return self.segments.get(segment_id)


class SpyingEventStore(InMemoryEventStore):
    """An ``InMemoryEventStore`` that remembers every ``read_stream(stream, after_version)`` asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.stream_reads: list[tuple[str, int]] = []

    def read_stream(self, stream_id: str, *, after_version: int = 0, limit: int | None = None) -> list[RecordedEvent]:
        self.stream_reads.append((stream_id, after_version))
        return super().read_stream(stream_id, after_version=after_version, limit=limit)


class FakeQueries:
    """``Queries`` answered by folding the store's streams (what the SQL read models hold, computed on demand)."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store

    def _streams(self, first_type: str) -> dict[str, list[RecordedEvent]]:
        streams: dict[str, list[RecordedEvent]] = {}
        for event in self.store.read_all(limit=1_000_000):
            if event.stream_id in streams or (event.version == 1 and event.event_type == first_type):
                streams.setdefault(event.stream_id, []).append(event)
        return streams

    def _orders(self) -> list[tuple[WorkOrder, int]]:
        return [
            (WorkOrder.replay(to_domain(e) for e in events), events[-1].version)
            for events in self._streams(WorkOrderOpened.type).values()
        ]

    def _hazards(self) -> list[Hazard]:
        return [Hazard.replay(to_domain(e) for e in events) for events in self._streams(HazardRecorded.type).values()]

    def list_work_orders(self, filt: WorkOrderFilter, *, now_unix_us: int) -> tuple[list[WorkOrderView], int]:
        views = [
            work_order_view(order, version)
            for order, version in self._orders()
            if (not filt.open_only or order.is_open)
            and (filt.districts is None or (order.segment is not None and order.segment.district in filt.districts))
        ]
        views.sort(key=lambda v: (-v.opened_at_unix_us, v.work_order_id))
        return views[filt.offset : filt.offset + filt.limit], self.store.head_position()

    def work_order_row(self, work_order_id: str) -> WorkOrderView | None:
        return None

    def districts_of(self, stream_ids: list[str]) -> dict[str, str]:
        return {}

    def report(self, name: str, *, now_unix_us: int, districts: frozenset[str] | None) -> tuple[Table, int]:
        raise NotImplementedError("reports are SQL: tests/unit/workorders/entrypoints")

    def list_hazards(self, filt: HazardFilter, *, now_unix_us: int) -> tuple[list[HazardView], int]:
        raise NotImplementedError("the hazard list is SQL: tests/unit/workorders/entrypoints")

    def overdue_hazard_ids(self, now_unix_us: int) -> list[str]:
        return sorted(h.hazard_id for h in self._hazards() if is_overdue(h, now_unix_us))


@dataclass
class Faked:
    app: WorkOrdersApp
    store: SpyingEventStore
    clock: FakeClock
    network: FakeNetwork


def make_app(*, snapshot_every: int = 50, **kwargs: Any) -> Faked:
    store = SpyingEventStore()
    clock = FakeClock()
    network = FakeNetwork()
    app = WorkOrdersApp(store, network, FakeQueries(store), clock=clock, snapshot_every=snapshot_every, **kwargs)
    return Faked(app, store, clock, network)
