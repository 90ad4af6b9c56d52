"""`python -m benchmarks.meter_suites` (make bench-meters) refuses garbage arguments at once, with one line, and
writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.meter_suites import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--layouts", "0"], "--layouts must be 1..200"),
        (["--layouts", "201"], "--layouts must be 1..200"),
        (["--first", "-1"], "--first >= 0"),
    ],
)
def test_out_of_range_arguments_are_refused(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "meters.json"
    assert main([*argv, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("argv", [["--layouts", "many"], ["--first", "1.5"], ["--no-such-option"]])
def test_unparsable_arguments_are_refused_by_the_parser(argv: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--out", str(tmp_path / "meters.json")])
    assert exit_.value.code == 2
    assert not (tmp_path / "meters.json").exists()


def test_the_meter_suites_are_suites_of_bench_detect_on_their_own_layouts() -> None:
    """make bench-detect runs the redundant and mid-line meter suites too (issue 19): `meters` on the tuning
    layouts, `meters_heldout` on layouts of their own, each a scenario per layout for the pool."""
    from benchmarks import detection
    from benchmarks import meter_suites as M

    assert set(M.SUITES) <= set(detection.parse_suites("all"))
    assert detection.parse_suites("meters_heldout,meters") == list(M.SUITES)
    full = M.scenarios(set(M.SUITES), quick=False)
    tuning = [s["layout"] for s in full if s["suite"] == "meters"]
    held = [s["layout"] for s in full if s["suite"] == "meters_heldout"]
    assert tuning == list(range(30)) and held == list(range(100, 130))
    assert len(M.scenarios({"meters"}, quick=True)) == 2 and M.scenarios(set(), quick=False) == []
    assert all(M.cost_s(s) > 0 for s in full[:3])


def test_the_meter_suites_scores_go_to_their_own_keys() -> None:
    """score_suites keys each suite's figures apart (tuning and held out), from runs shaped as run_layout's."""
    from benchmarks import meter_suites as M

    def run(suite: str, fa: int, named: bool) -> dict[str, object]:
        loc = {"false_alarms": 0, "detected_15min": True, "balance_located": True, "error_pct": 1.0,
               "half_width_pct": 3.0, "covered": True, "bracket_m": [0.0, 1.0], "bracket_right": True}
        return {"suite": suite, "fault": "drift",
                "vote": {"false_alarms": fa, "detected_15min": True, "named": ["X"], "named_right": named,
                         "named_after_fault_s": 60.0},
                "no_vote": {"false_alarms": 3, "detected_15min": False},
                "midline": dict(loc), "midline_flow": dict(loc)}

    out = M.score_suites([run("meters", 0, True), run("meters", 1, False), run("meters_heldout", 2, True)])
    assert out["meters_redundant_failed_member_named"] == {"named": 1, "runs": 2}
    assert out["meters_redundant_false_alarms"] == {"vote": 1, "no_vote": 6}
    assert out["meters_held_out_redundant_false_alarms"] == {"vote": 2, "no_vote": 3}
    assert out["meters_midline_flow_bracket_right"] == {"right": 2, "bracketed": 2}
