"""What each page shows, composed from the APIs with the user's token (use cases; no HTTP here)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from services.console.domain import schematic
from services.console.domain.charts import BarChart, bar_chart
from services.console.domain.orders import (
    Countdown,
    Evidence,
    Order,
    QueueFilter,
    countdowns,
    evidence,
)
from services.console.domain.records import Change, Hazard, Table, TimelineEntry, timeline_entry
from services.console.service_layer.ports import ApiRefusal, Clock, LeakQuery, WorkOrdersApi

# Reading an order's history scans its district's events from the start (the API has no per-stream read);
# past this the page shows the events found so far and says the timeline is incomplete.
TIMELINE_BUDGET_S = 3.0
REPORTS = ("rectification", "response-times", "sla-breaches", "leaks-per-100km", "open-work-orders",
           "replacement", "inventory", "overdue-hazards")


@dataclass(frozen=True, slots=True)
class QueueRow:
    order: Order
    countdowns: tuple[Countdown, ...]
    age_s: float


def queue_row(order: Order, now_unix_us: int, make_safe_sla_s: int) -> QueueRow:
    return QueueRow(order, countdowns(order, now_unix_us, make_safe_limit_s=make_safe_sla_s),
                    max(0.0, (now_unix_us - order.opened_at_unix_us) / 1e6))


@dataclass(frozen=True, slots=True)
class QueueView:
    rows: tuple[QueueRow, ...]
    position: int


async def queue_view(api: WorkOrdersApi, clock: Clock, token: str, flt: QueueFilter, make_safe_sla_s: int,
                     limit: int = 5000) -> QueueView:
    orders, position = await api.list_orders(token, flt, open_only=True, limit=limit)
    now = clock.now_unix_us()
    # Most urgent first: grade, then the oldest.
    orders.sort(key=lambda o: (o.grade or 9, o.opened_at_unix_us))
    return QueueView(tuple(queue_row(o, now, make_safe_sla_s) for o in orders), position)


@dataclass(frozen=True, slots=True)
class OrderView:
    row: QueueRow
    evidence: Evidence
    timeline: tuple[TimelineEntry, ...]
    timeline_complete: bool


async def order_timeline(api: WorkOrdersApi, token: str, order: Order) -> tuple[list[Change], bool]:
    """The order's events, read from the Watch feed of its district until the stream's version is reached."""
    found: list[Change] = []

    async def scan() -> None:
        async for change in api.watch(token, 0, [order.district]):
            if change.stream_id == order.work_order_id:
                found.append(change)
                if change.stream_version >= order.version:
                    return

    try:
        await asyncio.wait_for(scan(), TIMELINE_BUDGET_S)
    except (TimeoutError, ApiRefusal):
        return found, False
    return found, True


async def order_view(api: WorkOrdersApi, clock: Clock, token: str, work_order_id: str,
                     make_safe_sla_s: int, with_timeline: bool = True) -> OrderView:
    order = await api.get_order(token, work_order_id)
    changes, complete = await order_timeline(api, token, order) if with_timeline else ([], False)
    return OrderView(queue_row(order, clock.now_unix_us(), make_safe_sla_s), evidence(order.detail),
                     tuple(timeline_entry(c) for c in changes), complete)


@dataclass(frozen=True, slots=True)
class NetworkView:
    drawing: schematic.Schematic
    alarm_segments: frozenset[str]
    fault_segments: frozenset[str]
    notes: tuple[str, ...]


async def network_view(
    api: WorkOrdersApi, leak: LeakQuery, token: str,
    nodes: Sequence[schematic.NodePoint], segments: Sequence[schematic.SegmentLine],
) -> NetworkView:
    notes: list[str] = []
    orders, _ = await api.list_orders(token, QueueFilter(), open_only=True)
    alarms = {o.segment_id for o in orders}
    try:
        alarms |= await leak.active_alarm_segments(token)
    except Exception as error:  # leakdetect down: the map still shows what workorders knows
        notes.append(f"leakdetect: {str(error)[:200]}")
    faults: set[str] = set()
    try:
        hazards = await api.list_hazards(token)
        faults = {h.segment_id for h in hazards if h.source == "sensor_health" and h.state != "struck_off"
                  and h.segment_id}
    except ApiRefusal as refusal:
        notes.append(f"hazards: {refusal.message}")
    leaks = []
    for o in orders:
        e = evidence(o.detail)
        if e.location_m is not None:
            leaks.append(schematic.LeakMark(o.segment_id, o.work_order_id, e.location_m,
                                            e.location_low_m or e.location_m, e.location_high_m or e.location_m))
    problems: set[str] = set()
    try:
        flagged = await api.report(token, "problem-pipelines")
        segment_at = flagged.column("segment_id")
        problems = {row[segment_at] for row in flagged.rows if flagged.number(row, "remaining_km") > 0}
    except ApiRefusal as refusal:
        notes.append(f"problem pipelines: {refusal.message}")
    drawing = schematic.draw(nodes, segments, alarms=alarms, faults=faults, problems=problems, leaks=leaks)
    if drawing.missing_positions:
        notes.append(f"no map position for the nodes of {', '.join(drawing.missing_positions)}")
    return NetworkView(drawing, frozenset(alarms), frozenset(faults), tuple(notes))


@dataclass(frozen=True, slots=True)
class HazardsView:
    hazards: tuple[Hazard, ...]
    rectification: Table | None
    note: str


async def hazards_view(api: WorkOrdersApi, token: str, *, districts: Sequence[str], states: Sequence[str],
                       major_only: bool, overdue_only: bool) -> HazardsView:
    hazards = await api.list_hazards(token, districts=districts, states=states, major_only=major_only,
                                     overdue_only=overdue_only)
    note = ""
    try:
        rectification: Table | None = await api.report(token, "rectification")
    except ApiRefusal as refusal:
        rectification, note = None, refusal.message
    return HazardsView(tuple(hazards), rectification, note)


@dataclass(frozen=True, slots=True)
class ReplacementView:
    replacement: Table
    inventory: Table
    charts: tuple[BarChart, ...]


def replacement_charts(replacement: Table, inventory: Table) -> tuple[BarChart, ...]:
    charts = []
    cols = replacement.columns
    value_cols = [c for c in ("target_km", "built_km", "replaced_km") if c in cols]
    if "line" in cols and value_cols:
        groups: dict[str, list[float]] = {}
        for row in replacement.rows:
            groups[row[cols.index("line")]] = [replacement.number(row, c) for c in value_cols]
        charts.append(bar_chart("Replaced against target, this year", "km", list(groups.items()), value_cols))
    if "material" in inventory.columns and "remaining_km" in inventory.columns:
        charts.append(bar_chart(
            "Remaining problem pipelines by material", "km",
            [(r[inventory.column("material")], [inventory.number(r, "remaining_km")]) for r in inventory.rows],
            ["remaining_km"],
        ))
    return tuple(charts)


async def replacement_view(api: WorkOrdersApi, token: str) -> ReplacementView:
    replacement, inventory = await asyncio.gather(api.report(token, "replacement"), api.report(token, "inventory"))
    return ReplacementView(replacement, inventory, replacement_charts(replacement, inventory))


async def report_view(api: WorkOrdersApi, token: str) -> list[tuple[str, Table | str]]:
    """The regulator's figures: every report, or the API's refusal of it."""
    results = await asyncio.gather(*(api.report(token, name) for name in REPORTS), return_exceptions=True)
    out: list[tuple[str, Table | str]] = []
    for name, result in zip(REPORTS, results, strict=True):
        if isinstance(result, ApiRefusal):
            out.append((name, result.message))
        elif isinstance(result, BaseException):
            raise result
        else:
            out.append((name, result))
    return out
