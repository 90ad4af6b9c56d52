"""The SLO file: the shipped defaults load; garbage is refused naming the file and the key; verdicts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from loadtest import slo


def test_the_shipped_defaults_are_the_ops_briefs() -> None:
    thresholds = slo.load()
    assert thresholds == {
        "ack_p99_ms": 50.0, "error_rate_pct": 0.1, "lost_acked_readings": 0.0, "leakdetect_lag_s": 10.0,
        "leak_to_workorder_over_detect_s": 2.0, "alarm_to_watch_p99_s": 1.0, "achieved_to_offered_min": 0.95,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("slos: [1, 2", "not valid YAML"),
        ("", "expected a mapping with one key, slos"),
        ("- 1\n- 2\n", "expected a mapping with one key, slos (got list)"),
        ("slos: {ack_p99_ms: 5}\nextra: 1\n", "keys ['extra', 'slos']"),
        ("slos: 5\n", "slos must be a non-empty mapping"),
        ("slos: {}\n", "slos must be a non-empty mapping"),
        ("slos: {ack_p99: 5}\n", "unknown SLO 'ack_p99'"),
        ("slos: {ack_p99_ms: fast}\n", "slos.ack_p99_ms must be a finite number >= 0 or null, got 'fast'"),
        ("slos: {ack_p99_ms: true}\n", "slos.ack_p99_ms must be a finite number"),
        ("slos: {ack_p99_ms: -1}\n", "slos.ack_p99_ms must be a finite number"),
        ("slos: {ack_p99_ms: .nan}\n", "slos.ack_p99_ms must be a finite number"),
        ("slos: {ack_p99_ms: .inf}\n", "slos.ack_p99_ms must be a finite number"),
        ("slos: {ack_p99_ms: [1]}\n", "slos.ack_p99_ms must be a finite number"),
        ("slos: {ack_p99_ms: \"\\0\"}\n", "slos.ack_p99_ms must be a finite number"),
    ],
)
def test_garbage_is_refused_naming_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    file = tmp_path / "slo.yaml"
    file.write_text(text)
    with pytest.raises(slo.SloError) as error:
        slo.load(file)
    assert str(error.value).startswith(str(file))
    assert expected in str(error.value)


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(slo.SloError, match="cannot be read"):
        slo.load(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(slo.SloError, match="cannot be read"):
        slo.load(binary)
    with pytest.raises(slo.SloError, match="cannot be read"):
        slo.load(tmp_path)  # a directory


def test_null_turns_an_slo_off() -> None:
    assert slo.parse("slos: {ack_p99_ms: null, error_rate_pct: 0.5}", "x") == {"error_rate_pct": 0.5}


def test_verdicts_by_sense_and_unmeasured_ones_are_not_judged() -> None:
    thresholds = {"ack_p99_ms": 50.0, "achieved_to_offered_min": 0.95, "leakdetect_lag_s": 10.0}
    verdicts = slo.judge(thresholds, {"ack_p99_ms": 50.0, "achieved_to_offered_min": 0.9,
                                      "leakdetect_lag_s": None})
    assert [(v.name, v.ok) for v in verdicts] == [
        ("ack_p99_ms", True), ("achieved_to_offered_min", False), ("leakdetect_lag_s", None)]
    assert not slo.passed(verdicts)
    assert slo.passed(slo.judge(thresholds, {"ack_p99_ms": 10.0, "achieved_to_offered_min": 1.0}))
    assert slo.judge({"ack_p99_ms": 1.0}, {"ack_p99_ms": math.nan})[0].ok is None
    row = verdicts[1].as_dict()
    assert row["sense"] == ">=" and row["measured"] == 0.9 and row["threshold"] == 0.95 and row["ok"] is False
