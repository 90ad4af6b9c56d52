"""SQL read models of the work orders service, kept by one projection through ``ProjectionRunner``.

Tables (prefix ``wo_rm_``) live in the event store's database and are written only by
``WorkOrdersProjection.handle`` inside the runner's transaction, so a row and the checkpoint move
together. Work-order rows keep the folded aggregate (``state_json``): each event is applied with the
domain's own ``WorkOrder.apply``, so the read model cannot drift from the aggregate's rules, and a
rebuild from position 0 gives byte-identical rows.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from services.eventstore import RecordedEvent
from services.eventstore.model import canonical_json
from services.workorders.domain.audit import AUDIT_RECORDED
from services.workorders.domain.errors import DomainError
from services.workorders.domain.events import event_from_payload
from services.workorders.domain.hazard import Hazard, HazardEvent, HazardOverdue, HazardStatus
from services.workorders.domain.replacement import Replacement, ReplacementEvent
from services.workorders.domain.workorder import SlaBreached, WorkOrder, WorkOrderEvent
from services.workorders.service_layer.views import (
    WORK_ORDER_FIELDS,
    WorkOrderView,
    column_of,
    work_order_view,
)

PROJECTION_NAME = "workorders-read-models-v1"

metadata = sa.MetaData()

_TYPES = typing.get_type_hints(WorkOrderView)


def _sql_column(view_field: dataclasses.Field[Any]) -> sa.Column[Any]:
    """The read-model column of a ``WorkOrderView`` field (see ``views.Column``)."""
    column = column_of(view_field)
    kind: Any
    if _TYPES[view_field.name] in (str, tuple[str, ...]):
        kind = sa.String(column.max_length) if column.max_length is not None else sa.Text
    elif _TYPES[view_field.name] is float:
        kind = sa.Float
    elif _TYPES[view_field.name] is bool:
        kind = sa.Boolean
    else:
        kind = sa.Integer if column.small else sa.BigInteger
    primary = view_field.name == "work_order_id"
    return sa.Column(column.name, kind, primary_key=primary, nullable=column.nullable)


# The view's fields (views.WorkOrderView: the field list), and what only the read model keeps.
work_orders = sa.Table(
    "wo_rm_work_orders",
    metadata,
    *(_sql_column(f) for f in WORK_ORDER_FIELDS),
    sa.Column("last_position", sa.BigInteger, nullable=False),
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.Column("cancelled_at_unix_us", sa.BigInteger, nullable=True),
    sa.Index("ix_wo_rm_work_orders_district_open", "district", "is_open", "grade"),
)

sla_breaches = sa.Table(
    "wo_rm_sla_breaches",
    metadata,
    sa.Column("work_order_id", sa.String(200), primary_key=True),
    sa.Column("breach_key", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("grade", sa.Integer, nullable=False),
    sa.Column("district", sa.String(200), nullable=False),
    sa.Column("deadline_unix_us", sa.BigInteger, nullable=False),
    sa.Column("breached_at_unix_us", sa.BigInteger, nullable=False),
)

replacements = sa.Table(
    "wo_rm_replacements",
    metadata,
    sa.Column("replacement_id", sa.String(200), primary_key=True),
    sa.Column("segment_id", sa.String(200), nullable=False),
    sa.Column("district", sa.String(200), nullable=False),
    sa.Column("pipe_class", sa.String(40), nullable=False),
    sa.Column("material", sa.String(100), nullable=False),
    sa.Column("state", sa.String(40), nullable=False),
    sa.Column("cumulative_km", sa.Float, nullable=False),
    sa.Column("state_json", sa.Text, nullable=False),
)

replacement_targets = sa.Table(
    "wo_rm_replacement_targets",
    metadata,
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("district", sa.String(200), primary_key=True),
    sa.Column("pipe_class", sa.String(40), primary_key=True),
    sa.Column("target_km", sa.Float, nullable=False),
)

problem_pipelines = sa.Table(
    "wo_rm_problem_pipelines",
    metadata,
    sa.Column("segment_id", sa.String(200), primary_key=True),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("flagged_at_unix_us", sa.BigInteger, nullable=False),
)

# The hazard ledger (major hazards are the rows with major = true; the reports keep them apart).
hazards = sa.Table(
    "wo_rm_hazards",
    metadata,
    sa.Column("hazard_id", sa.String(200), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("last_position", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(40), nullable=False),
    sa.Column("district", sa.String(200), nullable=False),
    sa.Column("segment_id", sa.String(200), nullable=False),
    sa.Column("major", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("found_by", sa.String(200), nullable=False),
    sa.Column("found_at_unix_us", sa.BigInteger, nullable=False),
    sa.Column("recorded_at_unix_us", sa.BigInteger, nullable=False),
    sa.Column("location_text", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("reported_via", sa.String(200), nullable=False),
    sa.Column("interim_measures", sa.Text, nullable=False),
    sa.Column("responsible_unit", sa.String(200), nullable=False),
    sa.Column("supervising_department", sa.String(200), nullable=False),
    sa.Column("deadline_unix_us", sa.BigInteger, nullable=True),
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.Column("struck_off_at_unix_us", sa.BigInteger, nullable=True),
    sa.Column("signatures", sa.Integer, nullable=False),
    sa.Column("sign_off_levels", sa.Integer, nullable=False),
    sa.Column("rejections", sa.Integer, nullable=False),
    sa.Column("state_json", sa.Text, nullable=False),
    sa.Index("ix_wo_rm_hazards_district_open", "district", "is_open", "deadline_unix_us"),
)

# One row per overdue escalation (HazardOverdue: once per deadline passed).
hazard_overdue = sa.Table(
    "wo_rm_hazard_overdue",
    metadata,
    sa.Column("hazard_id", sa.String(200), primary_key=True),
    sa.Column("deadline_unix_us", sa.BigInteger, primary_key=True),
    sa.Column("district", sa.String(200), nullable=False),
    sa.Column("major", sa.Boolean, nullable=False),
    sa.Column("escalated_at_unix_us", sa.BigInteger, nullable=False),
)

# Events the projection could not read (unknown type from a newer writer, corrupt payload): kept, not
# fatal, so one bad event cannot stop every read model.
skipped_events = sa.Table(
    "wo_rm_skipped_events",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

TABLES: tuple[sa.Table, ...] = (
    work_orders,
    sla_breaches,
    replacements,
    replacement_targets,
    problem_pipelines,
    hazards,
    hazard_overdue,
    skipped_events,
)
# Programme facts the service layer stores itself (service_layer.app); plain JSON payloads.
TARGET_SET = "ReplacementTargetSet"
PROBLEM_FLAGGED = "ProblemPipelineFlagged"


def _writer(view_field: dataclasses.Field[Any]) -> Callable[[Any], Any]:
    if _TYPES[view_field.name] == tuple[str, ...]:
        return ",".join
    if column_of(view_field).nullable:
        return lambda value: value or None
    return lambda value: value


def _reader(view_field: dataclasses.Field[Any]) -> Callable[[Any], Any]:
    """How ``view_from_row`` reads a view field back from its column's cell."""
    if _TYPES[view_field.name] == tuple[str, ...]:
        return lambda text: tuple(b for b in text.split(",") if b)
    if _TYPES[view_field.name] is int:
        return lambda value: int(value or 0)
    if _TYPES[view_field.name] is float:
        return lambda value: float(value or 0.0)
    if _TYPES[view_field.name] is bool:
        return bool
    return lambda value: value


# (view field, column, conversion) for every field but the key, and every field back: built once.
_TO_ROW = tuple((f.name, column_of(f).name, _writer(f)) for f in WORK_ORDER_FIELDS if f.name != "work_order_id")
_FROM_ROW = tuple((f.name, column_of(f).name, _reader(f)) for f in WORK_ORDER_FIELDS)


def _view_from_row(row: Any) -> WorkOrderView:
    return WorkOrderView(**{name: read(row[column]) for name, column, read in _FROM_ROW})


def _row_from_order(order: WorkOrder, position: int) -> dict[str, Any]:
    """The order's row (without its key), each view field in its column, as ``view_from_row`` reads it back."""
    assert order.segment is not None and order.grade is not None and order.status is not None
    view = work_order_view(order, order.version)
    row = {column: write(getattr(view, name)) for name, column, write in _TO_ROW}
    row.update(last_position=position, is_open=order.is_open, cancelled_at_unix_us=order.cancelled_at_unix_us)
    return row


def _default_sql(column: sa.Column[Any]) -> str:
    if isinstance(column.type, sa.Boolean):
        return "false"
    if isinstance(column.type, sa.String):  # Text too
        return "''"
    return "0"


def add_missing_columns(engine: sa.Engine) -> list[str]:
    """Add the work-order columns a ``wo_rm_work_orders`` table made by an older version lacks.

    ``create_tables`` leaves an existing table as it is, so a field added to ``WorkOrderView`` would make
    every write fail there. The new columns are added with their empty value (``''``, 0, false); existing
    rows get theirs at their order's next event, or all at once with ``rebuild`` (replays from position 0).
    Returns the names of the columns added (none on a current or absent table).
    """
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        if not inspector.has_table(work_orders.name):
            return []
        present = {c["name"] for c in inspector.get_columns(work_orders.name)}
        added: list[str] = []
        for column in work_orders.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            constraint = "NULL" if column.nullable else f"NOT NULL DEFAULT {_default_sql(column)}"
            conn.execute(sa.text(f"ALTER TABLE {work_orders.name} ADD COLUMN {column.name} {kind} {constraint}"))
            added.append(column.name)
    return added


def view_from_row(row: Any) -> WorkOrderView:
    """The view of a ``wo_rm_work_orders`` row."""
    return _view_from_row(row)


def _row_from_hazard(hazard: Hazard, position: int) -> dict[str, Any]:
    assert hazard.status is not None and hazard.source is not None
    return {
        "version": hazard.version,
        "last_position": position,
        "state": hazard.status.value,
        "district": hazard.district,
        "segment_id": hazard.segment_id,
        "major": hazard.major,
        "source": hazard.source.value,
        "found_by": hazard.found_by,
        "found_at_unix_us": hazard.found_at_unix_us,
        "recorded_at_unix_us": hazard.recorded_at_unix_us,
        "location_text": hazard.location_text,
        "description": hazard.description,
        "reported_via": hazard.reported_via,
        "interim_measures": hazard.interim_measures,
        "responsible_unit": hazard.responsible_unit,
        "supervising_department": hazard.supervising_department,
        "deadline_unix_us": hazard.deadline_unix_us,
        "is_open": hazard.status is not HazardStatus.STRUCK_OFF,
        "struck_off_at_unix_us": hazard.struck_off_at_unix_us,
        "signatures": len(hazard.signatures),
        "sign_off_levels": len(hazard.sign_off_levels),
        "rejections": hazard.rejections,
        "state_json": canonical_json(hazard.to_snapshot()),
    }


def hazard_from_row(row: Any) -> Hazard:
    return Hazard.from_snapshot(json.loads(row["state_json"]))


def order_from_row(row: Any) -> WorkOrder:
    return WorkOrder.from_snapshot(json.loads(row["state_json"]))


class WorkOrdersProjection:
    """The ``Projection`` (services.eventstore) that maintains every ``wo_rm_`` table."""

    name = PROJECTION_NAME

    @property
    def tables(self) -> Sequence[sa.Table]:
        return TABLES

    def handle(self, conn: sa.Connection, event: RecordedEvent) -> None:
        if event.event_type == AUDIT_RECORDED:  # the audit trail is read from its own streams, not modelled
            return
        if event.event_type == TARGET_SET:
            p = event.payload
            key = {"year": p["year"], "district": p["district"], "pipe_class": p["pipe_class"]}
            conn.execute(sa.delete(replacement_targets).filter_by(**key))
            conn.execute(sa.insert(replacement_targets).values(**key, target_km=float(p["target_km"])))
            return
        if event.event_type == PROBLEM_FLAGGED:
            p = event.payload
            conn.execute(sa.delete(problem_pipelines).filter_by(segment_id=p["segment_id"]))
            conn.execute(
                sa.insert(problem_pipelines).values(
                    segment_id=p["segment_id"],
                    reasons=",".join(p["reasons"]),
                    flagged_at_unix_us=int(p["flagged_at_unix_us"]),
                )
            )
            return
        try:
            domain_event = event_from_payload(event.event_type, event.schema_version, event.payload)
        except DomainError as error:
            self._skip(conn, event, str(error))
            return
        if isinstance(domain_event, WorkOrderEvent):
            self._work_order(conn, event, domain_event)
        elif isinstance(domain_event, ReplacementEvent):
            self._replacement(conn, event, domain_event)
        elif isinstance(domain_event, HazardEvent):
            self._hazard(conn, event, domain_event)

    def _hazard(self, conn: sa.Connection, recorded: RecordedEvent, event: HazardEvent) -> None:
        row = (
            conn.execute(sa.select(hazards.c.state_json).where(hazards.c.hazard_id == recorded.stream_id))
            .mappings()
            .one_or_none()
        )
        try:
            hazard = hazard_from_row(row) if row is not None else Hazard()
            hazard = hazard.apply(event)
        except DomainError as error:
            self._skip(conn, recorded, str(error))
            return
        values = _row_from_hazard(hazard, recorded.position)
        if row is None:
            conn.execute(sa.insert(hazards).values(hazard_id=recorded.stream_id, **values))
        else:
            conn.execute(sa.update(hazards).where(hazards.c.hazard_id == recorded.stream_id).values(**values))
        if isinstance(event, HazardOverdue):
            conn.execute(
                sa.insert(hazard_overdue).values(
                    hazard_id=recorded.stream_id,
                    deadline_unix_us=event.deadline_unix_us,
                    district=hazard.district,
                    major=hazard.major,
                    escalated_at_unix_us=event.at_unix_us,
                )
            )

    def _replacement(self, conn: sa.Connection, recorded: RecordedEvent, event: ReplacementEvent) -> None:
        row = (
            conn.execute(
                sa.select(replacements.c.state_json).where(replacements.c.replacement_id == recorded.stream_id)
            )
            .mappings()
            .one_or_none()
        )
        try:
            current = Replacement.from_snapshot(json.loads(row["state_json"])) if row else Replacement()
            current = current.apply(event)
        except DomainError as error:
            self._skip(conn, recorded, str(error))
            return
        segment = current.segment
        assert segment is not None and current.status is not None
        values = {
            "segment_id": segment.segment_id,
            "district": segment.district,
            "pipe_class": segment.pipe_class.value,
            "material": segment.material,
            "state": current.status.value,
            "cumulative_km": current.cumulative_km,
            "state_json": canonical_json(current.to_snapshot()),
        }
        conn.execute(sa.delete(replacements).where(replacements.c.replacement_id == recorded.stream_id))
        conn.execute(sa.insert(replacements).values(replacement_id=recorded.stream_id, **values))

    def _work_order(self, conn: sa.Connection, recorded: RecordedEvent, event: WorkOrderEvent) -> None:
        row = (
            conn.execute(sa.select(work_orders.c.state_json).where(work_orders.c.work_order_id == recorded.stream_id))
            .mappings()
            .one_or_none()
        )
        try:
            order = order_from_row(row) if row is not None else WorkOrder()
            order = order.apply(event)
        except DomainError as error:
            self._skip(conn, recorded, str(error))
            return
        values = _row_from_order(order, recorded.position)
        if row is None:
            conn.execute(sa.insert(work_orders).values(work_order_id=recorded.stream_id, **values))
        else:
            conn.execute(
                sa.update(work_orders).where(work_orders.c.work_order_id == recorded.stream_id).values(**values)
            )
        if isinstance(event, SlaBreached):
            conn.execute(
                sa.insert(sla_breaches).values(
                    work_order_id=recorded.stream_id,
                    breach_key=event.breach_key,
                    kind=event.kind.value,
                    severity=event.severity.value,
                    grade=int(event.grade),
                    district=values["district"],
                    deadline_unix_us=event.deadline_unix_us,
                    breached_at_unix_us=event.at_unix_us,
                )
            )

    @staticmethod
    def _skip(conn: sa.Connection, event: RecordedEvent, reason: str) -> None:
        conn.execute(
            sa.insert(skipped_events).values(position=event.position, event_type=event.event_type, reason=reason[:2000])
        )


def dump_read_models(conn: sa.Connection) -> dict[str, list[dict[str, Any]]]:
    """Every read-model row in primary-key order (to compare a rebuild with the live model)."""
    dump: dict[str, list[dict[str, Any]]] = {}
    for table in TABLES:
        order_by = list(table.primary_key.columns)
        dump[table.name] = [dict(r) for r in conn.execute(sa.select(table).order_by(*order_by)).mappings()]
    return dump
