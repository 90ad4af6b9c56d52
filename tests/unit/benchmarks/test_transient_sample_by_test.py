"""benchmarks.transient_sample counts the sample's false alarms by the test that raised them (issue 24: which
window the settling allowance leaves open), a rupture alarm by its method."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_false_alarms_are_counted_by_the_test_or_method_that_raised_them(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import transient_sample

    def alarm(test: str | None, method: str) -> dict[str, object]:
        return {"time_s": 10.0, "test": test, "methods": [method], "operations": []}

    report = tmp_path / "r.json"
    report.write_text(json.dumps({"transient_scenarios": [
        {"suite": "transient_free", "monitored_days": 0.25,
         "alarms": [alarm("window_120s", "mass_balance"), alarm("window_120s", "mass_balance"),
                    alarm(None, "rupture")]},
        {"suite": "transient_free", "monitored_days": 0.25, "alarms": [alarm("window_240s", "mass_balance")]}]}))
    assert transient_sample.main([str(report)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["false_alarms"] == 4
    assert out["false_alarms_by_test"] == {"rupture": 1, "window_120s": 2, "window_240s": 1}
