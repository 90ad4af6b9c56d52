"""The replay CLI and its history loader: a simulated leak on the hand-written long line is found, and every
flag and loader is fed garbage: refused with the file, line/row and problem named, counted, no traceback."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.leakdetect.__main__ import main as module_main
from services.leakdetect.adapters.history_file import History, HistoryFileError, TagInfo, read_history
from services.leakdetect.entrypoints.replay import EXIT_FAILED, EXIT_OK, EXIT_REFUSED_ROWS, EXIT_USAGE, main, parser
from services.network import load_network
from tests.support.historian import write_history_csv

NET_PATH = Path(__file__).resolve().parents[3] / "fixtures" / "networks" / "long_line.yaml"
NET = load_network(NET_PATH)
T0 = 1_767_225_600.0
LEAK_ONSET_S = 5000.0


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def history_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hours of the long line from the project's simulator, a 1 kg/s leak 12 km along L-01 at 5000 s."""
    from services.gasflow import LeakSpec

    leak = LeakSpec("L-01", position_m=12_000.0, onset_time_s=LEAK_ONSET_S, rate_kg_per_s=1.0)
    return write_history_csv(NET, leak, 7200.0, tmp_path_factory.mktemp("replay") / "history.csv")


def test_a_simulated_leak_is_replayed_into_an_alarm_table_json_lines_status_and_plots(
        history_csv: Path, tmp_path: Path) -> None:
    code, out, err = _run("--network", str(NET_PATH), "--readings", str(history_csv), "--out", str(tmp_path / "o"),
                          "--json", str(tmp_path / "alarms.jsonl"))
    assert code == EXIT_OK, err
    assert "L-01" in out and "leak" in out and "mass_balance" in out
    assert "replayed" in err  # progress
    (line,) = (tmp_path / "alarms.jsonl").read_text().splitlines()
    alarm = json.loads(line)
    for key in ("kind", "segment_id", "decided_unix_s", "onset_unix_s", "rate_kg_per_s", "rate_interval_kg_per_s",
                "position_m", "position_interval_m", "methods"):
        assert key in alarm
    assert alarm["segment_id"] == "L-01" and alarm["methods"] == ["mass_balance"]
    assert T0 + LEAK_ONSET_S - 60 <= alarm["onset_unix_s"] <= alarm["decided_unix_s"] <= T0 + LEAK_ONSET_S + 900
    lo, hi = alarm["rate_interval_kg_per_s"]
    assert lo < 1.0 < hi
    # issue 19: every balance alarm is located (pressure gradient), with a 95 % interval inside the segment
    p_lo, p_hi = alarm["position_interval_m"]
    assert 0.0 <= p_lo <= alarm["position_m"] <= p_hi <= NET.segments["L-01"].length_m and p_lo <= 12_000.0 <= p_hi
    status = pd.read_csv(tmp_path / "o" / "status.csv")
    assert set(status["window_s"]) == {60, 120, 240, 480, 900, 3600}
    assert status["time_unix_s"].diff().max() <= 60 and len(status) >= 6 * 7200 // 60
    after = status[(status["time_unix_s"] > alarm["decided_unix_s"] + 600) & (status["window_s"] == 240)]
    assert after["imbalance_kg_per_s"].median() == pytest.approx(1.0, rel=0.3)
    png = tmp_path / "o" / "alarm_0_L-01.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_closed_pipe_ends_the_replay_without_a_traceback(history_csv: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[4]
    proc = subprocess.Popen([sys.executable, "-m", "services.leakdetect", "replay", "--network", str(NET_PATH),
                             "--readings", str(history_csv), "--quiet"], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `| head -0` would
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in err


def test_json_lines_carry_no_infinities(tmp_path: Path) -> None:
    from services.leakdetect.domain import Alarm
    from services.leakdetect.entrypoints.replay import write_json

    alarm = Alarm(0, "leak", "L-01", 1.0, 2.0, ("mass_balance",), 0.5, (0.1, 0.9),
                  evidence={"mdlr_kg_per_s": float("inf"), "statistic": float("nan")})
    path = tmp_path / "a.jsonl"
    write_json([alarm], path)
    assert json.loads(path.read_text())["evidence"] == {"mdlr_kg_per_s": None, "statistic": None}


def test_help_documents_every_flag() -> None:
    text = parser().format_help()
    for action in parser()._actions:
        for flag in action.option_strings:
            assert flag in text
        assert action.help
    out = io.StringIO()
    assert main(["--help"], stdout=out) == EXIT_OK
    assert module_main(["--help"]) == 0 and module_main(["bogus"]) == 2


def _csv(tmp_path: Path, text: str, name: str = "h.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = ("L01-PT-IN,1767225600.0,39.0,1\n"
        "L01-PT-IN,1767225601.0,39.0,1\n")


@pytest.mark.parametrize(
    ("row", "problem", "says"),
    [
        ("NOPE,1767225602.0,39.0,1", "unknown tag", "'NOPE' is not a tag"),
        ("L01-PT-IN,yesterday,39.0,1", "unparseable time", "'yesterday'"),
        ("L01-PT-IN,,39.0,1", "unparseable time", "seconds since the Unix epoch"),
        ("L01-PT-IN,1767225602000,39.0,1", "implausible time", "milliseconds"),
        ("L01-PT-IN,1767225602.0,abc,1", "unparseable value", "'abc'"),
        ("L01-PT-IN,1767225602.0,inf,1", "unparseable value", "finite"),
        ("L01-PT-IN,1767225602.0,39.0,7", "bad quality", "'7'"),
        ("L01-PT-IN,1767225602.0,39.0,good", "bad quality", "'good'"),
        ("L01-PT-IN,1767225602.0,3900.0,1", "wrong unit", "far outside L01-PT-IN's range [0, 60] bar_g"),
        ("L01-PT-IN,1767225601.0,39.0,1", "duplicated time", "has a reading at"),
        ("L01-PT-IN,1767225600.5,39.0,1", "out-of-order time", "before an earlier reading"),
        ("", "unknown tag", "not a tag"),  # a blank line
    ],
)
def test_a_bad_row_is_refused_naming_file_line_and_problem(tmp_path: Path, row: str, problem: str, says: str) -> None:
    path = _csv(tmp_path, "tag_id,time_unix_s,value,quality\n" + GOOD + row + "\nL01-PT-IN,1767225603.0,39.0,1\n")
    code, out, err = _run("--network", str(NET_PATH), "--readings", str(path), "--quiet")
    assert code == EXIT_REFUSED_ROWS, err
    assert f"{path}:4: {problem}: " in err and says in err, err
    assert f"refused 1 of 4 rows ({problem} 1)" in out
    assert "3 readings replayed" in out  # the rows around it are used
    assert "Traceback" not in err


def test_a_unit_column_must_name_the_tags_unit(tmp_path: Path) -> None:
    path = _csv(tmp_path, "tag_id,time_unix_s,value,quality,unit\nL01-PT-IN,1767225600,39.0,1,bar_g\n"
                          "L01-PT-IN,1767225601,3.9,1,MPa_g\n")
    code, _out, err = _run("--network", str(NET_PATH), "--readings", str(path), "--quiet")
    assert code == EXIT_REFUSED_ROWS
    assert f"{path}:3: wrong unit: 'MPa_g', the network file declares 'bar_g'" in err


@pytest.mark.parametrize(
    ("content", "name", "says"),
    [
        ("", "h.csv", "is empty"),
        ("tag_id,time_unix_s,value,quality\n", "h.csv", "has no readings"),
        ("\n\n", "h.csv", "no header"),
        ("tag,time,value\nL01-PT-IN,1767225600,39.0\n", "h.csv", "lacks tag_id, time_unix_s, quality"),
        ("tag_id,time_unix_s,value,quality,extra\n", "h.csv", "has unknown extra"),
        ("tag_id,time_unix_s,value,quality\nL01-PT-IN,1767225600,39.0,1,5,6\n", "h.csv", "line 2: 6 fields"),
        ("tag_id,time_unix_s,value,quality\nL01-PT-IN,1767225600,39.0,1\nL01-PT-IN,1767225601,39.0,1,5\n", "h.csv",
         "line 3, saw 5"),
        ("whatever", "h.txt", "unknown file type '.txt'"),
        ("PAR1garbage", "h.parquet", "parquet"),
    ],
)
def test_an_unusable_history_file_is_refused_as_a_whole(tmp_path: Path, content: str, name: str, says: str) -> None:
    path = _csv(tmp_path, content, name)
    code, out, err = _run("--network", str(NET_PATH), "--readings", str(path))
    assert code == EXIT_FAILED
    assert str(path) in err and says in err, err
    assert "Traceback" not in err and out == ""


def test_a_parquet_history_replays_like_its_csv_with_rows_numbered(tmp_path: Path) -> None:
    path = tmp_path / "h.parquet"
    pd.DataFrame({"tag_id": ["L01-PT-IN", "NOPE"], "time_unix_s": [T0, T0 + 1], "value": [39.0, 1.0],
                  "quality": [1, 1]}).to_parquet(path)
    code, _out, err = _run("--network", str(NET_PATH), "--readings", str(path), "--quiet")
    assert code == EXIT_REFUSED_ROWS and f"{path}:2: unknown tag" in err
    wrong = tmp_path / "wrong.parquet"
    pd.DataFrame({"tag": ["L01-PT-IN"], "time": [T0]}).to_parquet(wrong)
    code, _out, err = _run("--network", str(NET_PATH), "--readings", str(wrong))
    assert code == EXIT_FAILED and str(wrong) in err and "lacks" in err and "Traceback" not in err


def test_missing_readings_file(tmp_path: Path) -> None:
    code, _, err = _run("--network", str(NET_PATH), "--readings", str(tmp_path / "absent.csv"))
    assert code == EXIT_FAILED and "absent.csv: cannot be read" in err


def test_bad_network_files(tmp_path: Path) -> None:
    h = _csv(tmp_path, "tag_id,time_unix_s,value,quality\n" + GOOD)
    code, _, err = _run("--network", str(tmp_path / "absent.yaml"), "--readings", str(h))
    assert code == EXIT_FAILED and "absent.yaml" in err and "cannot be read" in err
    bad = _csv(tmp_path, "name: [unclosed", "bad.yaml")
    code, _, err = _run("--network", str(bad), "--readings", str(h))
    assert code == EXIT_FAILED and "bad.yaml" in err and "not valid YAML" in err
    text = NET_PATH.read_text().replace("    monitored: true\n", "")
    unmonitored = _csv(tmp_path, text, "unmonitored.yaml")
    code, _, err = _run("--network", str(unmonitored), "--readings", str(h))
    assert code == EXIT_FAILED and "unmonitored.yaml" in err and "no monitored segment" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--network", "x.yaml"],
        ["--readings", "h.csv"],
        ["--network", "n.yaml", "--readings", "h.csv", "--status-interval-s", "abc"],
        ["--network", "n.yaml", "--readings", "h.csv", "--status-interval-s", "0"],
        ["--network", "n.yaml", "--readings", "h.csv", "--status-interval-s", "nan"],
        ["--network", "n.yaml", "--readings", "h.csv", "--status-interval-s", "1e9"],
        ["--network", "n.yaml", "--readings", "h.csv", "--bogus"],
        ["--network", "n.yaml", "--readings", "h.csv", "--quiet=yes"],
    ],
)
def test_bad_arguments_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _run(*argv)
    assert code == EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_out_must_be_a_directory_and_json_a_file(tmp_path: Path) -> None:
    h = _csv(tmp_path, "tag_id,time_unix_s,value,quality\n" + GOOD)
    a_file = _csv(tmp_path, "x", "file.txt")
    code, _, err = _run("--network", str(NET_PATH), "--readings", str(h), "--out", str(a_file))
    assert code == EXIT_USAGE and "--out" in err and "is not a directory" in err
    code, _, err = _run("--network", str(NET_PATH), "--readings", str(h), "--json", str(tmp_path))
    assert code == EXIT_USAGE and "--json" in err and "is a directory" in err
    code, out, err = _run("--network", str(NET_PATH), "--readings", str(h), "--quiet",
                          "--json", str(tmp_path / "new" / "a.jsonl"), "--out", str(tmp_path / "o"))
    assert code == EXIT_OK and err == "" and "no alarms" in out
    assert (tmp_path / "new" / "a.jsonl").read_text() == ""
    assert (tmp_path / "o" / "status.csv").exists()


def test_json_never_overwrites_an_input_file(tmp_path: Path) -> None:
    """Found by `make fuzz`: `--json` naming the network file wrote the alarms over it."""
    network = tmp_path / "line.yaml"
    network.write_bytes(NET_PATH.read_bytes())
    h = _csv(tmp_path, "tag_id,time_unix_s,value,quality\n" + GOOD)
    for target in (network, h, tmp_path / "." / "line.yaml"):
        code, _, err = _run("--network", str(network), "--readings", str(h), "--json", str(target))
        assert code == EXIT_USAGE and "--json" in err and "would be overwritten" in err
    assert network.read_bytes() == NET_PATH.read_bytes() and "L01" in h.read_text()


def test_the_loader_keeps_the_order_of_each_tag_across_chunks(tmp_path: Path) -> None:
    rows = ["tag_id,time_unix_s,value,quality"]
    rows += [f"L01-PT-IN,{T0 + i},39.0,1" for i in range(10)]
    rows += [f"L01-PT-IN,{T0 + 5},39.0,1", f"L01-PT-OUT,{T0},38.0,1"]
    path = _csv(tmp_path, "\n".join(rows) + "\n")
    tags = TagInfo(["L01-PT-IN", "L01-PT-OUT"], ["bar_g", "bar_g"], np.zeros(2), np.full(2, 60.0))
    seen: list[int] = []
    h = read_history(path, tags, progress=lambda rows, frac: seen.append(rows), chunk_rows=3)
    assert isinstance(h, History)
    assert h.rows == 12 and h.refused == {"out-of-order time": 1} and seen[-1] == 12 and len(seen) == 4
    assert h.examples == [f"{path}:12: out-of-order time: {T0 + 5:.6f} is before an earlier reading of L01-PT-IN"]
    assert list(h.tag_index) == [0] * 10 + [1]
    with pytest.raises(HistoryFileError, match="is empty"):
        read_history(_csv(tmp_path, "", "e.csv"), tags)
