"""The random-layout suites of `make bench-detect`: scoring counts what the detector said (a balance-found leak
without a position is "no position", never given one), wave arrival from the truth, and a tiny end-to-end run
of one suite through the benchmark's command line writing its report keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks import detection, layout_suites
from benchmarks.layout_suites import score, wave_arrival_s


def _leak(pct: float, balance: dict[str, Any] | None, alarms: list[dict[str, Any]], npw: float | None = None
          ) -> dict[str, Any]:
    side: dict[str, Any] = {"detected": bool(alarms), "false_alarms_before_onset": 0, "alarms": alarms}
    if balance is not None:
        side["balance"] = balance
    if npw is not None:
        side["npw_error_pct"] = npw
    return {"suite": "location", "kind": "leak", "layout": 0, "regulated": pct < 5.0, "pct": pct, "end": side,
            "midline": side}


def test_a_balance_found_leak_without_a_position_is_counted_not_located() -> None:
    located = {"kind": "leak", "methods": ["mass_balance"], "position_m": 500.0, "interval_m": [400.0, 700.0],
               "error_pct": 2.0, "covered": True, "whole_segment": False, "half_width_pct": 3.0}
    unlocated = {"kind": "leak", "methods": ["mass_balance"], "position_m": None, "interval_m": None}
    fused = {**located, "methods": ["pressure_wave", "mass_balance"], "error_pct": 0.5, "covered": False}
    results = [
        _leak(2.0, located, [located]),
        _leak(5.0, unlocated, [unlocated]),
        _leak(10.0, fused, [fused], npw=0.4),
        _leak(0.5, located, [located]),  # below 1 %: not in the location figures
    ]
    s = score(results)
    b = s["balance_location_error_pct_of_length"]
    assert b["n"] == 2 and b["balance_found"] == 3 and b["no_position"] == 1 and b["leaks"] == 3
    assert b["median"] == pytest.approx(1.25)
    assert s["location_interval_coverage"] == pytest.approx(2 / 4)  # 2 intervals x 2 variants, 1 of 2 covers
    by = s["random_layouts_location_error_pct_by_method"]["end"]
    assert by["fused"]["10"]["n"] == 1 and by["mass_balance"]["10"]["n"] == 0
    assert by["pressure_wave"]["10"]["median"] == pytest.approx(0.4)
    ends = s["balance_location_error_pct_of_length_by_upstream_end"]
    assert ends["regulated"]["end"]["n"] == 1 and ends["unregulated"]["end"]["no_position"] == 1


def test_the_first_wave_reaches_the_nearest_meter_at_the_local_wave_speed() -> None:
    x = np.linspace(0.0, 10_000.0, 101)
    c = np.full_like(x, 400.0)
    assert wave_arrival_s(3000.0, (0.0, 10_000.0), x, c) == pytest.approx(7.5)
    assert wave_arrival_s(3000.0, (0.0, 5000.0, 10_000.0), x, c) == pytest.approx(5.0)
    slow = np.where(x < 5000.0, 200.0, 400.0)
    # 4 km at 200 m/s up (20 s); 1 km at 200 m/s and 5 km at 400 m/s down (17.5 s)
    assert wave_arrival_s(4000.0, (0.0, 10_000.0), x, slow) == pytest.approx(17.5, rel=0.01)


def test_one_suite_end_to_end_writes_its_report_keys_and_keeps_the_others(tmp_path: Path) -> None:
    out = tmp_path / "detection.json"
    out.write_text(json.dumps({"kernel_readings_per_s": 1.0, "suites_run": {"speed": {"quick": False}}}))
    assert detection.main(["--quick", "--suites", "rupture", "--workers", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    for key in ("rupture_ttd_after_wave_s", "rupture_ttd_after_wave_s_regulated_end"):
        assert set(report[key]) >= {"median", "max", "n", "ruptures", "missed"}
        assert report[key]["n"] + report[key]["missed"] == report[key]["ruptures"]
    assert report["rupture_ttd_after_wave_s"]["ruptures"] == layout_suites.COUNTS["rupture_layouts"][0]
    assert report["kernel_readings_per_s"] == 1.0  # a subset keeps the other suites' figures
    assert set(report["suites_run"]) == {"speed", "rupture"} and report["suites_run"]["rupture"]["quick"]
    assert all(r["suite"] == "rupture" for r in report["layout_scenarios"])
    assert {r["layout_id"] for r in report["layout_scenarios"]} == set(report["layouts"])
    assert (tmp_path / "detection_layouts_rupture.png").stat().st_size > 0
    assert "rupture_within_10s" in report["goals"]


@pytest.mark.parametrize("suites", ["bogus", "location,nope", ""])
def test_unknown_suites_are_refused_naming_them(suites: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        detection.main(["--suites", suites, "--out", "/nonexistent/never-written.json"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--suites" in err and "Traceback" not in err
    assert (suites.split(",")[-1] or "no suite") in err


def test_coverage_is_the_held_out_sets_with_the_tuning_sets_beside_it() -> None:
    covered = {"kind": "leak", "methods": ["mass_balance"], "position_m": 500.0, "interval_m": [400.0, 700.0],
               "error_pct": 2.0, "covered": True, "whole_segment": False, "half_width_pct": 3.0}
    missed = {**covered, "covered": False, "error_pct": 9.0}
    tuning = [_leak(2.0, covered, [covered]), _leak(5.0, covered, [covered])]
    held = [{**_leak(2.0, missed, [missed]), "suite": "location_heldout"}, {**_leak(5.0, covered, [covered]),
                                                                          "suite": "location_heldout"}]
    s = score(tuning + held)
    assert s["location_interval_coverage_tuning_set"] == pytest.approx(1.0)
    assert s["location_interval_coverage_held_out"] == pytest.approx(0.5)
    assert s["location_interval_coverage"] == pytest.approx(0.5)
    assert s["location_interval_coverage_source"] == "held_out"
    assert s["balance_location_error_pct_of_length_held_out"]["median"] == pytest.approx(5.5)
    assert score(tuning)["location_interval_coverage_source"] == "tuning_set"


def test_the_held_out_leaks_are_on_layouts_and_draws_of_their_own() -> None:
    tuning = layout_suites.scenarios({"location"}, quick=False)
    held = layout_suites.scenarios({"location_heldout"}, quick=False)
    assert len(held) == len(tuning)
    assert not {sc["layout"] for sc in held} & {sc["layout"] for sc in tuning}
    assert not {sc["position_frac"] for sc in held} & {sc["position_frac"] for sc in tuning}
