"""The seventh session's two diagnosis tools (`estimator_move_study`, `replay_demo_day`) fed garbage on their
command lines: each exits 2 with what is wrong, before any simulation (those take minutes)."""

from __future__ import annotations

import pytest

from benchmarks import estimator_move_study, replay_demo_day


@pytest.mark.parametrize("argv, problem", [
    ([], "required"),
    (["x"], "invalid int"),
    (["14"], "0..13"),
    (["-1"], "0..13"),
    (["3", "--free", "nan"], "--free"),
    (["3", "--free", "-5"], "--free"),
    (["3", "--cells", "8,a"], "comma-separated integers"),
    (["3", "--cells", "1,8"], "at least 2 cells"),
])
def test_estimator_move_study_refuses_garbage(argv: list[str], problem: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        estimator_move_study.main(argv)
    assert e.value.code == 2
    assert problem in capsys.readouterr().err


@pytest.mark.parametrize("argv, problem", [
    ([], "required"),
    (["x"], "an integer 0..31"),
    (["32"], "an integer 0..31"),
    (["3", "no_such_param=1"], "DetectorParams' fields"),
    (["3", "line_pack_estimator"], "NAME=VALUE"),
    (["3", "line_pack_estimator=yes"], "not a number"),
    (["3", "est_settle_eps=inf"], "not finite"),
])
def test_replay_demo_day_refuses_garbage(argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        replay_demo_day.main(argv)
    assert e.value.code == 2
    assert problem in capsys.readouterr().err
