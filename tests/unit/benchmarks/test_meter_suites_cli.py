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
