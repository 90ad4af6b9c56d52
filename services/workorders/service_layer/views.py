"""Plain views the queries return and the gRPC layer renders (no protobuf here)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class WorkOrderView:
    work_order_id: str
    version: int
    state: str
    grade: int
    alarm_id: str = ""
    segment_id: str = ""
    district: str = ""
    pipe_class: str = ""
    material: str = ""
    opened_at_unix_us: int = 0
    crew_id: str = ""
    dispatched_at_unix_us: int = 0
    arrived_at_unix_us: int = 0
    made_safe_at_unix_us: int = 0
    repaired_at_unix_us: int = 0
    closed_at_unix_us: int = 0
    sla_breaches: tuple[str, ...] = ()
    detail_json: str = ""


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
