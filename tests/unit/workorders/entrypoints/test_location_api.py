"""The leak's position on the work order through the real servicer, ctl and read model (issue 19)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.eventstore import read_transaction
from services.workorders.adapters.alarms import alarm_facts
from services.workorders.adapters.read_models import add_missing_columns, dump_read_models, work_orders
from services.workorders.domain.workorder import work_order_id_for_alarm
from services.workorders.entrypoints.ctl import TOKEN_ENV, main
from services.workorders.entrypoints.grpc_api import work_order_pb
from services.workorders.entrypoints.runtime import Runtime
from services.workorders.service_layer.views import WorkOrderFilter, work_order_view
from tests.support.workorders_api import Api, alarm, auth, token

DISTRICT = "Dongsheng"
NOW_US = 1_700_000_000_000_000
NEW_COLUMNS = (
    "location_text",
    "position_km",
    "position_ci_low_km",
    "position_ci_high_km",
    "position_confidence_level",
    "location_method",
    "not_located",
)


def _located(runtime: Runtime, alarm_id: str, sequence: int, **location: object) -> alarms_pb2.LeakAlarmEvent:
    segment = next(s.segment_id for s in runtime.network.segments.values() if s.district == DISTRICT)
    message = alarm(alarm_id, segment, DISTRICT, sequence=sequence, at_unix_us=NOW_US + sequence * 300_000_000)
    if location:
        message.location.CopyFrom(alarms_pb2.LeakLocation(**location))  # type: ignore[arg-type]
    return message


def _feed(runtime: Runtime, message: alarms_pb2.LeakAlarmEvent) -> tuple[str, ...]:
    outcome = runtime.app.handle_alarm(alarm_facts(message), message.event_id)
    runtime.runner.run_until_caught_up()
    return outcome.event_types


WHOLE = {"position_km": 1.0, "ci_low_km": 0.0, "ci_high_km": 2.0, "confidence_level": 0.95,
         "covers_whole_segment": True, "method": "none"}
GRADIENT = {"position_km": 1.34, "uncertainty_km": 0.1, "ci_low_km": 1.15, "ci_high_km": 1.53,
            "confidence_level": 0.95, "method": "pressure_gradient"}


def test_get_and_list_show_the_position_from_the_opening_alarm_refined_by_updates(
    runtime: Runtime, api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = auth(token("dispatcher", [DISTRICT]))
    order_id = work_order_id_for_alarm("LOC-1")
    assert _feed(runtime, _located(runtime, "LOC-1", 0, **WHOLE)) == ("WorkOrderOpened",)
    got = api.stub.GetWorkOrder(pb.GetWorkOrderRequest(work_order_id=order_id), metadata=meta).work_order
    assert got.not_located and got.location_method == "none"
    assert got.location == "km 1.0 (whole segment, 0.0–2.0: not located yet)"

    update = _located(runtime, "LOC-1", 1, **GRADIENT)
    assert _feed(runtime, update) == ("AlarmUpdateAttached",)
    assert _feed(runtime, update) == ()  # redelivered: nothing changes
    got = api.stub.GetWorkOrder(pb.GetWorkOrderRequest(work_order_id=order_id), metadata=meta).work_order
    assert (got.position_km, got.position_ci_low_km, got.position_ci_high_km) == (1.34, 1.15, 1.53)
    assert got.position_confidence_level == 0.95 and not got.not_located
    assert got.location == "km 1.3 (1.1–1.5, 95 %, pressure gradient)"
    # An update without a position keeps the last one; the read model (ListWorkOrders) says the same.
    assert _feed(runtime, _located(runtime, "LOC-1", 2)) == ("AlarmUpdateAttached",)
    listed = api.stub.ListWorkOrders(pb.ListWorkOrdersRequest(), metadata=meta).work_orders
    (row,) = [o for o in listed if o.work_order_id == order_id]
    assert row.location == got.location and row.position_km == 1.34 and row.location_method == "pressure_gradient"

    monkeypatch.setenv(TOKEN_ENV, token("dispatcher", [DISTRICT], subject="ana"))
    assert main(["--address", api.address, "show", order_id]) == 0
    shown = capsys.readouterr().out
    assert "km 1.3 (1.1–1.5, 95 %, pressure gradient)" in shown and "position_ci_high_km" in shown
    assert main(["--address", api.address, "list"]) == 0
    listed_text = capsys.readouterr().out
    assert "location" in listed_text.splitlines()[1] and "km 1.3 (1.1–1.5, 95 %, pressure gradient)" in listed_text


def test_the_view_the_read_model_and_the_protobuf_agree(runtime: Runtime) -> None:
    _feed(runtime, _located(runtime, "LOC-2", 0, **GRADIENT))
    order_id = work_order_id_for_alarm("LOC-2")
    order, version = runtime.app.work_orders.get(order_id)  # from the stream, as GetWorkOrder reads it
    views, _ = runtime.app.queries.list_work_orders(WorkOrderFilter(), now_unix_us=NOW_US)
    (from_row,) = [v for v in views if v.work_order_id == order_id]
    assert work_order_view(order, version) == from_row
    message = work_order_pb(from_row, NOW_US)
    assert message.location == from_row.location == "km 1.3 (1.1–1.5, 95 %, pressure gradient)"
    assert (message.position_km, message.position_ci_low_km, message.position_ci_high_km) == (1.34, 1.15, 1.53)
    assert message.location_method == "pressure_gradient" and not message.not_located
    # No alarm carried a position: "not located yet", and the flag says so.
    _feed(runtime, _located(runtime, "LOC-3", 0))
    views, _ = runtime.app.queries.list_work_orders(WorkOrderFilter(), now_unix_us=NOW_US)
    (bare,) = [v for v in views if v.work_order_id == work_order_id_for_alarm("LOC-3")]
    assert bare.location == "not located yet" and bare.not_located and bare.position_km == 0.0


def test_a_read_model_table_of_an_older_version_gets_the_columns_and_rebuild_fills_them(runtime: Runtime) -> None:
    _feed(runtime, _located(runtime, "LOC-4", 0, **GRADIENT))
    engine = runtime.store.engine
    with engine.begin() as conn:  # the table as the version before issue 19 made it
        for name in NEW_COLUMNS:
            conn.execute(sa.text(f"ALTER TABLE {work_orders.name} DROP COLUMN {name}"))
    assert add_missing_columns(engine) == list(NEW_COLUMNS)
    assert add_missing_columns(engine) == []
    with read_transaction(engine) as conn:
        (row,) = dump_read_models(conn)[work_orders.name]
    assert row["location_text"] == "" and row["position_km"] == 0.0 and row["not_located"] is False
    runtime.runner.rebuild()
    with read_transaction(engine) as conn:
        (row,) = dump_read_models(conn)[work_orders.name]
    assert row["location_text"] == "km 1.3 (1.1–1.5, 95 %, pressure gradient)" and row["position_km"] == 1.34


@pytest.mark.integration
def test_an_older_read_model_table_on_postgresql_gets_the_columns(postgres_schema_url: str) -> None:
    from services.workorders.bootstrap import build_runtime

    rt = build_runtime(postgres_schema_url)
    try:
        _feed(rt, _located(rt, "LOC-PG", 0, **GRADIENT))
        with rt.store.engine.begin() as conn:
            for name in NEW_COLUMNS:
                conn.execute(sa.text(f"ALTER TABLE {work_orders.name} DROP COLUMN {name}"))
        assert add_missing_columns(rt.store.engine) == list(NEW_COLUMNS)
        with read_transaction(rt.store.engine) as conn:
            (row,) = dump_read_models(conn)[work_orders.name]
        assert row["location_text"] == "" and row["position_km"] == 0.0 and row["not_located"] is False
        rt.runner.rebuild()
        with read_transaction(rt.store.engine) as conn:
            (row,) = dump_read_models(conn)[work_orders.name]
        assert row["location_text"] == "km 1.3 (1.1–1.5, 95 %, pressure gradient)" and row["not_located"] is False
    finally:
        rt.stop()
