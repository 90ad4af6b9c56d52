"""Plain views the queries return and the gRPC layer renders (no protobuf here), and the work-order field list.

Exports ``WorkOrderView`` (the work-order field list: see the comment above it), ``work_order_view``,
``WORK_ORDER_FIELDS``, ``Column``/``column_of``, ``HazardView``, the filters ``WorkOrderFilter`` and
``HazardFilter``, ``Table`` (a report) and ``WatchItem`` (one event of a Watch stream).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.eventstore.model import canonical_json
from services.workorders.domain.alarm import location_text
from services.workorders.domain.workorder import WorkOrder


@dataclass(frozen=True, slots=True)
class Column:
    """How a view field is kept in the read-model table (``adapters.read_models`` builds the table from it).

    Text is ``String(max_length)`` (``Text`` when None); integers are BIGINT unless ``small``; floats are
    FLOAT, bools BOOLEAN; a tuple of text is kept comma-joined. ``nullable`` columns hold NULL where the view
    has 0 (a time not reached yet).
    """

    name: str
    max_length: int | None = None
    small: bool = False
    nullable: bool = False


def _field(of: Callable[[WorkOrder], Any] | None, column: Column, default: Any = dataclasses.MISSING) -> Any:
    return field(default=default, metadata={"of": of, "column": column})


def _location(attribute: str, default: Any) -> Callable[[WorkOrder], Any]:
    def of(order: WorkOrder) -> Any:
        location = order.leak_location
        return getattr(location, attribute) if location is not None else default

    return of


def _segment(attribute: str) -> Callable[[WorkOrder], Any]:
    def of(order: WorkOrder) -> Any:
        if order.segment is None:
            return ""
        value = getattr(order.segment, attribute)
        return value.value if isinstance(value, enum.Enum) else value

    return of


# The work-order field list, told once. Each field says how it is read off the domain's ``WorkOrder``
# (``of``; None: from the stream) and how the read model keeps it (``column``). ``work_order_view`` builds
# the view; ``adapters.read_models`` the table and its rows, ``adapters.queries`` the view from a row;
# ``entrypoints.grpc_api.work_order_pb`` the protobuf ``WorkOrder`` (the wire's definition: a test pins the
# two field lists, the protobuf adding ``age_s``, the seconds since opened at the time of the reply).
@dataclass(frozen=True, slots=True)
class WorkOrderView:
    work_order_id: str = _field(lambda o: o.order_id, Column("work_order_id", 200))
    version: int = _field(None, Column("version"))
    state: str = _field(lambda o: o.status.value if o.status is not None else "", Column("state", 40))
    grade: int = _field(lambda o: int(o.grade) if o.grade is not None else 0, Column("grade", small=True))
    alarm_id: str = _field(lambda o: o.alarm_id, Column("alarm_id", 200), "")
    segment_id: str = _field(_segment("segment_id"), Column("segment_id", 200), "")
    district: str = _field(_segment("district"), Column("district", 200), "")
    pipe_class: str = _field(_segment("pipe_class"), Column("pipe_class", 40), "")
    material: str = _field(_segment("material"), Column("material", 100), "")
    opened_at_unix_us: int = _field(lambda o: o.received_at_unix_us or 0, Column("received_at_unix_us"), 0)
    crew_id: str = _field(lambda o: o.crew_id, Column("crew_id", 200), "")
    dispatched_at_unix_us: int = _field(
        lambda o: o.dispatched_at_unix_us or 0, Column("dispatched_at_unix_us", nullable=True), 0
    )
    arrived_at_unix_us: int = _field(
        lambda o: o.arrived_at_unix_us or 0, Column("arrived_at_unix_us", nullable=True), 0
    )
    made_safe_at_unix_us: int = _field(
        lambda o: o.made_safe_at_unix_us or 0, Column("made_safe_at_unix_us", nullable=True), 0
    )
    repaired_at_unix_us: int = _field(
        lambda o: o.repaired_at_unix_us or 0, Column("repaired_at_unix_us", nullable=True), 0
    )
    closed_at_unix_us: int = _field(lambda o: o.closed_at_unix_us or 0, Column("closed_at_unix_us", nullable=True), 0)
    sla_breaches: tuple[str, ...] = _field(lambda o: tuple(sorted(o.escalations)), Column("sla_breaches"), ())
    # Where to dig: the latest position leakdetect gave (the opening alarm's, refined by updates) and its
    # interval at ``position_confidence_level`` (0.95; 0: an alarm from before intervals, 1 s.d. only).
    # ``location`` is the text people read ("km 12.3 (11.8–12.9, 95 %, pressure gradient)", "... not located
    # yet" when the interval is the whole segment or no alarm carried a position).
    location: str = _field(lambda o: location_text(o.leak_location), Column("location_text"), "")
    position_km: float = _field(_location("position_km", 0.0), Column("position_km"), 0.0)
    position_ci_low_km: float = _field(_location("ci_low_km", 0.0), Column("position_ci_low_km"), 0.0)
    position_ci_high_km: float = _field(_location("ci_high_km", 0.0), Column("position_ci_high_km"), 0.0)
    position_confidence_level: float = _field(
        _location("confidence_level", 0.0), Column("position_confidence_level"), 0.0
    )
    location_method: str = _field(_location("method", ""), Column("location_method", 100), "")
    # True when no position is known: no alarm carried one, or its interval covers the whole segment.
    not_located: bool = _field(
        lambda o: o.leak_location is None or o.leak_location.covers_whole_segment, Column("not_located"), False
    )
    # The aggregate's state as JSON (domain field names); the read model folds rows from it.
    detail_json: str = _field(lambda o: canonical_json(o.to_snapshot()), Column("state_json"), "")


WORK_ORDER_FIELDS: tuple[dataclasses.Field[Any], ...] = dataclasses.fields(WorkOrderView)


def column_of(view_field: dataclasses.Field[Any]) -> Column:
    column: Column = view_field.metadata["column"]
    return column


# (view field, how it is read off the aggregate) for every field the aggregate gives: built once.
_READ_OFF_ORDER = tuple((f.name, f.metadata["of"]) for f in WORK_ORDER_FIELDS if f.metadata["of"] is not None)


def work_order_view(order: WorkOrder, version: int) -> WorkOrderView:
    """The view of an aggregate at a stream version, field by field as ``WorkOrderView`` says."""
    return WorkOrderView(version=version, **{name: of(order) for name, of in _READ_OFF_ORDER})


@dataclass(frozen=True, slots=True)
class HazardView:
    hazard_id: str
    version: int
    state: str
    district: str
    major: bool = False
    description: str = ""
    location: str = ""
    responsible_unit: str = ""
    supervising_department: str = ""
    found_at_unix_us: int = 0
    deadline_unix_us: int = 0
    rectified_at_unix_us: int = 0
    overdue: bool = False
    detail_json: str = ""
    source: str = ""
    found_by: str = ""
    reported_via: str = ""
    interim_measures: str = ""
    segment_id: str = ""
    signatures: int = 0
    sign_off_levels: int = 0
    next_sign_off_role: str = ""
    rejections: int = 0


@dataclass(frozen=True, slots=True)
class WorkOrderFilter:
    districts: frozenset[str] | None = None  # None = all
    grades: frozenset[int] = frozenset()
    states: frozenset[str] = frozenset()
    min_age_s: float = 0.0
    max_age_s: float = 0.0
    open_only: bool = False
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class HazardFilter:
    districts: frozenset[str] | None = None
    states: frozenset[str] = frozenset()
    major_only: bool = False
    overdue_only: bool = False
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Table:
    """A report: a title, column names and rows of cells (numbers or text)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class WatchItem:
    position: int
    stream_id: str
    stream_version: int
    event_type: str
    district: str
    payload_json: str
    recorded_at_unix_us: int
    actor: str
    work_order: WorkOrderView | None = None
    heartbeat: bool = False
    hazard: HazardView | None = None
