"""Report writing, the recorder's figures and the generator's hand-encoded batches, on fakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from loadtest import fleet, report
from loadtest.stats import Recorder, percentiles_ms

from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as pb
from services.network import load_demo_network


def _recorder() -> Recorder:
    r = Recorder(started=100.0)
    for k in range(1000):
        now = 100.0 + k / 100.0  # 10 s
        r.offered(50, now)
        r.sent(now)
        r.acked(50, 50, 0, (k % 100 + 1) / 1000.0, now)  # 1 .. 100 ms
    r.error("UNAVAILABLE", 3, 105.5)
    return r


def _report(r: Recorder, **extra: Any) -> dict[str, Any]:
    return {
        "profile": "smoke", "target": {"name": "fake", "gateways": 3, "network": "demo"}, "passed": True,
        "slos": [{"name": "ack_p99_ms", "threshold": 50.0, "measured": 99.0, "ok": False, "unit": "ms",
                  "sense": "<=", "description": "ingest ack latency p99"}],
        "offered_readings_per_s": 5000.0, "achieved_readings_per_s": 5000.0,
        "ack_latency_ms": percentiles_ms(r.total), "errors_by_status": dict(r.errors_by_status),
        "leakdetect_max_lag_s": 1.5, "leak_to_workorder_s": {"p50": 12.0, "p99": 12.0, "n": 1},
        "ghz": {"rps": 40.0, "p99_ms": 30.0, "errors": 0}, "processes": [{"name": "kafka", "cpu_s": 1.0,
                                                                          "rss_mb": 400.0}],
        "series": r.series(), "lag_series": [{"t_s": 0.0, "lag_s": 1.0, "lag_records": 10},
                                             {"t_s": 2.0, "lag_s": 1.5, "lag_records": 12}],
        **extra,
    }


def test_recorder_percentiles_windows_and_errors() -> None:
    r = _recorder()
    lat = percentiles_ms(r.total)
    assert lat["p50"] == pytest.approx(50.0, rel=0.01)
    assert lat["p99"] == pytest.approx(99.0, rel=0.01)
    assert lat["max"] == pytest.approx(100.0, rel=0.01)
    assert len(r.series()) == 10
    w = r.window(0, 5)
    assert w["offered_readings_per_s"] == pytest.approx(5000.0)
    assert w["achieved_readings_per_s"] == pytest.approx(5000.0)
    assert w["errors"] == 0
    assert r.window(5, 6)["errors"] == 3 and r.window(5, 6)["error_rate_pct"] == pytest.approx(3.0)
    assert dict(r.errors_by_status) == {"UNAVAILABLE": 1}
    assert sum(n for _, n in r.histogram_ms()) == 1000
    assert percentiles_ms(Recorder().total)["p99"] is None


def test_report_writes_json_markdown_and_plots(tmp_path: Path) -> None:
    r = _recorder()
    doc = _report(r, knee_readings_per_s=30_000.0, kafka_producer_perf_readings_per_s=600_000.0,
                  knee_ratio_to_kafka_perf=0.05,
                  steps=[{"offered_readings_per_s": 10_000.0, "achieved_readings_per_s": 9_990.0,
                          "ack_latency_ms": {"p99": 20.0}, "errors": 0, "max_lag_s": 1.0, "ok": True, "broken": []}])
    run_dir = report.write(doc, tmp_path, r.histogram_ms(), stamp="20260101T000000Z")
    assert run_dir == tmp_path / "loadtest" / "smoke-20260101T000000Z"
    written = json.loads((tmp_path / "loadtest.json").read_text())
    assert written == json.loads((run_dir / "loadtest.json").read_text())
    for field in report.REQUIRED:
        assert field in written
    assert written["knee_readings_per_s"] == 30_000.0
    md = (run_dir / "report.md").read_text()
    assert "**PASS**" in md and "| ack_p99_ms" in md and "**BROKEN**" in md and "knee: 30,000" in md
    for png in ("throughput_latency.png", "latency_histogram.png", "lag.png"):
        assert (run_dir / png).read_bytes()[:4] == b"\x89PNG"
        assert f"]({png})" in md


def test_a_report_without_a_required_field_is_not_written(tmp_path: Path) -> None:
    doc = _report(_recorder())
    del doc["ghz"]
    with pytest.raises(ValueError, match="ghz"):
        report.write(doc, tmp_path)
    assert not (tmp_path / "loadtest.json").exists()


def test_generated_batches_decode_and_follow_the_rate() -> None:
    network = load_demo_network()
    r = Recorder()
    plan = fleet.build(network, {"gw-ds-01": "t"}, ["gw-ds-01"], "127.0.0.1:1", r)
    gateway = plan.streams[0].plan
    tags = {t.tag_id: t for t in network.tags_of_gateway("gw-ds-01")}
    total = 0
    for sequence in range(20):
        payload, count, segments = gateway.batch(sequence, 5_000.0, 0.1, 1_800_000_000_000_000 + sequence * 100_000)
        batch = pb.PublishStreamRequest.FromString(payload).batch
        assert batch.gateway_id == "gw-ds-01" and batch.batch_sequence == sequence
        assert len(batch.readings) == count
        assert segments == len({tags[x.tag_id].segment_id for x in batch.readings})
        for reading in batch.readings:
            tag = tags[reading.tag_id]
            assert tag.range_min <= reading.value <= tag.range_max
            assert reading.source_time_unix_us <= 1_800_000_000_000_000 + sequence * 100_000
        total += count
    assert total == pytest.approx(5_000 * 0.1 * 20, rel=0.02)


def test_achieved_counts_only_acks_while_the_load_was_offered() -> None:
    r = Recorder(started=0.0)
    for second in range(10):
        r.offered(1000, second + 0.5)
        if second < 5:
            r.acked(1000, 1000, 0, 0.01, second + 0.6)
    r.load_end_s = 10.0
    r.acked(5000, 5000, 0, 5.0, 12.0)  # the drain: late acks are not throughput
    assert r.offered_readings_per_s() == 1000.0
    assert r.achieved_readings_per_s() == 500.0
