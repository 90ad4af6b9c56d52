"""Issue 19's done-when test: on the hand-written long line (tests/fixtures/networks/long_line.yaml: 28 km below a
regulator that holds the inlet pressure, mid-line meters), the replay CLI locates a 2 % leak (0.5 kg/s of the
25 kg/s nominal flow) found by the mass balance within 5 % of the line's length, with a 95 % interval that holds
the truth and lies inside the segment; every version of the alarm carries a position and an interval."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from services.leakdetect.entrypoints.replay import EXIT_OK, main
from services.network import load_network
from tests.support.historian import write_history_csv

NET_PATH = Path(__file__).resolve().parents[3] / "fixtures" / "networks" / "long_line.yaml"
NET = load_network(NET_PATH)
LENGTH_M = NET.segments["L-01"].length_m
LEAK_AT_M = 17_500.0
LEAK_KG_PER_S = 0.02 * NET.segments["L-01"].nominal_flow_kg_per_s


@pytest.fixture(scope="module")
def history_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """110 min of the line from the project's simulator, the leak from minute 80 (after the balance's hour of
    learning and the location's calibration), as a historian exports it (tags' own units)."""
    from services.gasflow import LeakSpec

    leak = LeakSpec("L-01", position_m=LEAK_AT_M, onset_time_s=4800.0, rate_kg_per_s=LEAK_KG_PER_S)
    return write_history_csv(NET, leak, 6600.0, tmp_path_factory.mktemp("long_line") / "history.csv")


def test_the_replay_locates_a_2_pct_leak_within_5_pct_of_the_length(history_csv: Path, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--network", str(NET_PATH), "--readings", str(history_csv), "--json", str(tmp_path / "a.jsonl")],
                stdout=out, stderr=err)
    assert code == EXIT_OK, err.getvalue()
    (alarm,) = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert alarm["kind"] == "leak" and alarm["methods"] == ["mass_balance"]
    lo, hi = alarm["position_interval_m"]
    assert 0.0 <= lo <= LEAK_AT_M <= hi <= LENGTH_M
    assert abs(alarm["position_m"] - LEAK_AT_M) <= 0.05 * LENGTH_M
    assert alarm["evidence"]["position_method"] == "pressure_gradient"
    assert alarm["evidence"]["position_covers_segment"] == 0
    # the table shows the position and its interval in km
    assert f"{alarm['position_m'] / 1000:.2f}" in out.getvalue()


def test_every_version_of_the_balance_alarm_carries_a_position_refined_as_the_leak_persists(
        history_csv: Path) -> None:
    from services.leakdetect.domain import Pipeline

    frame = pd.read_csv(history_csv)
    pipeline = Pipeline.from_network(NET)
    versions = []
    for start in range(0, len(frame), len(frame) // 20 + 1):  # fed as a stream is, batch by batch
        versions += pipeline.feed(frame.iloc[start:start + len(frame) // 20 + 1])
    assert versions and all(v.kind == "leak" for v in versions)
    assert all(v.position_m is not None and v.position_interval_m is not None for v in versions)
    widths = [v.position_interval_m[1] - v.position_interval_m[0] for v in versions]  # type: ignore[index]
    assert len(versions) >= 3 and widths[-1] < widths[0]  # refined: the interval narrows as the leak persists


def test_the_stream_path_publishes_the_position_and_interval_and_the_work_order_reads_them(
        history_csv: Path) -> None:
    """The detector events as the stream service gets them -> the alarm lifecycle -> LeakAlarmEvents on
    leak.alarms.v1 (every one with a located position and its clamped 95 % interval) -> workorders' alarm facts."""
    from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2 as pb
    from services.leakdetect.domain import Pipeline
    from services.leakdetect.service_layer.alarms import AlarmPolicy, AlarmTracker, SegmentInfo
    from services.leakdetect.service_layer.segment_state import SegmentRuntime
    from services.workorders.adapters.alarms import alarm_facts, location_text

    frame = pd.read_csv(history_csv)
    pipeline = Pipeline.from_network(NET)
    seg = NET.segments["L-01"]
    info = SegmentInfo("L-01", seg.district, LENGTH_M, seg.nominal_flow_kg_per_s, {}, {}, {})
    tracker = AlarmTracker(AlarmPolicy(hold_us=1800 * 10**6, update_min_interval_us=60 * 10**6,
                                       onset_bucket_us=600 * 10**6, history_per_segment=50), lambda: 0)
    runtime = SegmentRuntime("L-01")
    published: list[pb.LeakAlarmEvent] = []
    step = len(frame) // 20 + 1
    for start in range(0, len(frame), step):
        pipeline.feed(frame.iloc[start:start + step])
        clock = int(frame["time_unix_s"].iloc[min(start + step, len(frame)) - 1] * 1e6)
        published += tracker.apply(info, runtime, pipeline.last_events, clock).alarms
    assert published and published[0].state == pb.ALARM_STATE_RAISED
    for event in published:
        loc = event.location
        assert event.HasField("location") and loc.confidence_level == 0.95 and loc.method == "pressure_gradient"
        assert 0.0 <= loc.ci_low_km <= loc.position_km <= loc.ci_high_km <= LENGTH_M / 1000
        assert not loc.covers_whole_segment
    last = published[-1].location
    assert abs(last.position_km * 1000 - LEAK_AT_M) <= 0.05 * LENGTH_M and last.ci_low_km * 1000 <= LEAK_AT_M
    facts = alarm_facts(published[-1])
    assert facts.location is not None and facts.location.position_km == pytest.approx(last.position_km)
    text = location_text(published[-1])
    assert text.startswith(f"km {last.position_km:.1f} (") and "95 %" in text and "pressure gradient" in text
