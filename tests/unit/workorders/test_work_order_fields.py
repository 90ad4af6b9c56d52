"""The work-order field list (service_layer.views.WorkOrderView) pinned against the wire and the read model."""

from __future__ import annotations

import typing

import sqlalchemy as sa
from google.protobuf.descriptor import FieldDescriptor

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.workorders.adapters.read_models import work_orders
from services.workorders.service_layer.views import WORK_ORDER_FIELDS, WorkOrderView, column_of

_PROTO_TYPES = {
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_UINT64: int,
    FieldDescriptor.TYPE_UINT32: int,
    FieldDescriptor.TYPE_INT64: int,
    FieldDescriptor.TYPE_DOUBLE: float,
    FieldDescriptor.TYPE_BOOL: bool,
}


def test_the_protobuf_work_order_is_the_view_plus_its_age() -> None:
    hints = typing.get_type_hints(WorkOrderView)
    wire = {f.name: f for f in pb.WorkOrder.DESCRIPTOR.fields}
    assert set(wire) == {f.name for f in WORK_ORDER_FIELDS} | {"age_s"}
    for view_field in WORK_ORDER_FIELDS:
        proto = wire[view_field.name]
        if proto.is_repeated:
            assert hints[view_field.name] == tuple[str, ...] and proto.type == FieldDescriptor.TYPE_STRING
        else:
            assert hints[view_field.name] is _PROTO_TYPES[proto.type], view_field.name


def test_the_read_model_table_keeps_every_view_field_in_the_columns_it_always_had() -> None:
    columns = {c.name: c for c in work_orders.columns}
    schema = {name: (type(c.type).__name__, getattr(c.type, "length", None), c.nullable) for name, c in columns.items()}
    assert schema == {
        "work_order_id": ("String", 200, False),
        "version": ("BigInteger", None, False),
        "last_position": ("BigInteger", None, False),
        "state": ("String", 40, False),
        "grade": ("Integer", None, False),
        "alarm_id": ("String", 200, False),
        "segment_id": ("String", 200, False),
        "district": ("String", 200, False),
        "pipe_class": ("String", 40, False),
        "material": ("String", 100, False),
        "is_open": ("Boolean", None, False),
        "crew_id": ("String", 200, False),
        "received_at_unix_us": ("BigInteger", None, False),
        "dispatched_at_unix_us": ("BigInteger", None, True),
        "arrived_at_unix_us": ("BigInteger", None, True),
        "made_safe_at_unix_us": ("BigInteger", None, True),
        "repaired_at_unix_us": ("BigInteger", None, True),
        "closed_at_unix_us": ("BigInteger", None, True),
        "cancelled_at_unix_us": ("BigInteger", None, True),
        "sla_breaches": ("Text", None, False),
        "state_json": ("Text", None, False),
        # The leak's position (issue 19): added columns (``add_missing_columns`` on older tables).
        "location_text": ("Text", None, False),
        "position_km": ("Float", None, False),
        "position_ci_low_km": ("Float", None, False),
        "position_ci_high_km": ("Float", None, False),
        "position_confidence_level": ("Float", None, False),
        "location_method": ("String", 100, False),
        "not_located": ("Boolean", None, False),
    }
    assert [c.name for c in work_orders.primary_key.columns] == ["work_order_id"]
    assert {column_of(f).name for f in WORK_ORDER_FIELDS} <= set(columns)
    assert isinstance(work_orders.c.grade.type, sa.Integer)
