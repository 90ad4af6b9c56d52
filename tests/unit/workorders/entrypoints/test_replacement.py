"""Replacement programme over gRPC: targets, problem pipelines, progress, and the km-vs-target report/PNG."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.workorders.entrypoints.cli import main
from services.workorders.entrypoints.runtime import Runtime
from tests.support.workorders_api import Api, auth, token


def test_programme_report_and_png(runtime: Runtime, api: Api, tmp_path: Path) -> None:
    segment = next(s for s in runtime.network.segments.values() if s.district == "Dongsheng")
    supervisor = auth(token("supervisor", ["Dongsheng"]))
    year = __import__("datetime").datetime.now(__import__("datetime").UTC).year
    call = api.stub.ExecuteReplacementCommand
    call(pb.ExecuteReplacementCommandRequest(set_target=pb.SetReplacementTargetCommand(
        district="Dongsheng", pipe_class=segment.pipe_class.value, year=year, target_km=50.0)), metadata=supervisor)
    call(pb.ExecuteReplacementCommandRequest(flag_problem_pipeline=pb.FlagProblemPipelineCommand(
        segment_id=segment.segment_id, reason="material")), metadata=supervisor)
    opened = call(pb.ExecuteReplacementCommandRequest(open=pb.OpenReplacementCommand(
        segment_id=segment.segment_id, year=year)), metadata=supervisor)
    rid = opened.result.stream_id
    length_km = segment.length_m / 1000.0
    call(pb.ExecuteReplacementCommandRequest(replacement_id=rid, report_progress=pb.ReportReplacementProgressCommand(
        km_done=length_km)), metadata=supervisor)
    call(pb.ExecuteReplacementCommandRequest(replacement_id=rid, complete=pb.CompleteReplacementCommand()),
         metadata=supervisor)
    # Verification needs a second pair of eyes.
    other = auth(token("supervisor", ["Dongsheng"], subject="second"))
    call(pb.ExecuteReplacementCommandRequest(replacement_id=rid, verify=pb.VerifyReplacementCommand()), metadata=other)
    with pytest.raises(grpc.RpcError) as info:
        more = pb.ReportReplacementProgressCommand(km_done=1.0)
        call(pb.ExecuteReplacementCommandRequest(replacement_id=rid, report_progress=more), metadata=supervisor)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    dispatcher = auth(token("dispatcher", ["Dongsheng"]))
    with pytest.raises(grpc.RpcError) as info:
        call(pb.ExecuteReplacementCommandRequest(set_target=pb.SetReplacementTargetCommand(
            district="Dongsheng", pipe_class="municipal", year=year, target_km=1.0)), metadata=dispatcher)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    runtime.runner.run_until_caught_up()
    report = api.stub.GetReport(pb.GetReportRequest(name="replacement"), metadata=supervisor)
    row = report.table.rows[0].cells
    assert row[1] == "Dongsheng" and float(row[3]) == 50.0 and float(row[5]) == pytest.approx(length_km, abs=1e-3)
    inventory = api.stub.GetReport(pb.GetReportRequest(name="inventory"), metadata=supervisor)
    assert float(inventory.table.rows[0].cells[1]) == 0.0
    problems = api.stub.GetReport(pb.GetReportRequest(name="problem-pipelines"), metadata=supervisor)
    columns = list(problems.table.columns)
    [replaced] = [dict(zip(columns, row.cells, strict=True)) for row in problems.table.rows]
    assert replaced["segment_id"] == segment.segment_id and replaced["district"] == "Dongsheng"
    assert float(replaced["length_km"]) == pytest.approx(length_km, abs=1e-3)
    assert float(replaced["remaining_km"]) == 0.0 and replaced["reasons"] == "material"
    png = tmp_path / "km.png"
    url = str(runtime.store.engine.url)
    assert main(["report", "replacement", "--db", url, "--png", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_problem_pipelines_report_gives_each_flagged_segments_km_left_within_the_callers_districts(
    runtime: Runtime, api: Api
) -> None:
    segments = runtime.network.segments.values()
    by_district = {d: next(s for s in segments if s.district == d) for d in ("Dongsheng", "Kangbashi")}
    supervisor = auth(token("supervisor", ["*"]))
    for segment in by_district.values():
        flag = pb.FlagProblemPipelineCommand(segment_id=segment.segment_id, reason="leak_history")
        api.stub.ExecuteReplacementCommand(
            pb.ExecuteReplacementCommandRequest(flag_problem_pipeline=flag), metadata=supervisor
        )
    runtime.runner.run_until_caught_up()
    mine = api.stub.GetReport(
        pb.GetReportRequest(name="problem-pipelines"), metadata=auth(token("dispatcher", ["Kangbashi"]))
    )
    [row] = [dict(zip(mine.table.columns, r.cells, strict=True)) for r in mine.table.rows]
    kangbashi = by_district["Kangbashi"]
    assert row["segment_id"] == kangbashi.segment_id
    assert float(row["remaining_km"]) == pytest.approx(kangbashi.length_m / 1000, abs=1e-3)  # nothing replaced yet


@pytest.mark.parametrize(("offset_h", "year_counted"), [(8, 2025), (0, 2024)])
def test_replacement_report_counts_years_in_the_utilitys_local_time(tmp_path: Path, offset_h: int,
                                                                    year_counted: int) -> None:
    from datetime import UTC, datetime

    from services.workorders.bootstrap import build_runtime
    from tests.support.workorders_api import grpc_api

    # 03:00 on New Year's Day in China is still the old year in UTC.
    now = int(datetime(2024, 12, 31, 19, 0, tzinfo=UTC).timestamp() * 1e6)
    rt = build_runtime(f"sqlite:///{tmp_path}/tz.sqlite3", clock=lambda: now, report_utc_offset_s=offset_h * 3600)
    try:
        segment = next(s for s in rt.network.segments.values() if s.district == "Dongsheng")
        supervisor = auth(token("supervisor", ["Dongsheng"]))
        other = auth(token("supervisor", ["Dongsheng"], subject="second"))
        with grpc_api(rt) as api:
            call = api.stub.ExecuteReplacementCommand
            for year in (2024, 2025):
                call(pb.ExecuteReplacementCommandRequest(set_target=pb.SetReplacementTargetCommand(
                    district="Dongsheng", pipe_class=segment.pipe_class.value, year=year, target_km=10.0)),
                    metadata=supervisor)
            call(pb.ExecuteReplacementCommandRequest(flag_problem_pipeline=pb.FlagProblemPipelineCommand(
                segment_id=segment.segment_id, reason="material")), metadata=supervisor)
            rid = call(pb.ExecuteReplacementCommandRequest(open=pb.OpenReplacementCommand(
                segment_id=segment.segment_id, year=year_counted)), metadata=supervisor).result.stream_id
            length_km = segment.length_m / 1000.0
            progress = pb.ReportReplacementProgressCommand(km_done=length_km)
            call(pb.ExecuteReplacementCommandRequest(replacement_id=rid, report_progress=progress), metadata=supervisor)
            call(pb.ExecuteReplacementCommandRequest(replacement_id=rid, complete=pb.CompleteReplacementCommand()),
                 metadata=supervisor)
            call(pb.ExecuteReplacementCommandRequest(replacement_id=rid, verify=pb.VerifyReplacementCommand()),
                 metadata=other)
        rt.runner.run_until_caught_up()
        # the read side at the same instant (the gRPC servicer reads the wall clock)
        table, _ = rt.app.queries.report("replacement", now_unix_us=now, districts=None)
        assert table.name == f"replacement-{year_counted}"
        assert float(table.rows[0][5]) == pytest.approx(length_km, abs=1e-3)
    finally:
        rt.stop()


def test_report_utc_offset_from_config() -> None:
    from services.workorders.config import ConfigError, WorkOrdersConfig

    key = "PIPEWARDEN_WORKORDERS_REPORT_UTC_OFFSET_H"
    assert WorkOrdersConfig.from_env({}).report_utc_offset_h == 0.0
    assert WorkOrdersConfig.from_env({key: "8"}).report_utc_offset_h == 8.0
    assert WorkOrdersConfig.from_env({key: "5.75"}).report_utc_offset_h == 5.75  # Nepal
    for bad in ("CST", "15", "-13", "8.1", "nan"):
        with pytest.raises(ConfigError, match=key):
            WorkOrdersConfig.from_env({key: bad})
