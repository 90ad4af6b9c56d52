"""The worked example of services/leakdetect/README.md runs as written: its Python block makes a history with the
project's simulator, its shell block replays it, and the alarm table it shows is what the replay prints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "services" / "leakdetect" / "README.md"


def _block(text: str, marker: str) -> str:
    m = re.search(rf"<!-- worked-example: {re.escape(marker)} -->\s*```[a-z]*\n(.*?)```", text, re.S)
    assert m, f"README has no worked-example block {marker!r}"
    return m.group(1)


@pytest.mark.slow
def test_the_readme_worked_example_runs_and_prints_what_it_shows(tmp_path: Path) -> None:
    text = README.read_text()
    (tmp_path / "make_history.py").write_text(_block(text, "python make_history.py"))
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the example runs from the repository root
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    commands = _block(text, "shell").replace("\\\n", " ").strip().splitlines()
    assert [c.split()[:2] for c in commands] == [["python", "make_history.py"], ["python", "-m"]]
    out = ""
    for command in commands:
        argv = [sys.executable, *command.split()[1:]]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        out += done.stdout
    shown = _block(text, "output").strip().splitlines()
    assert shown == out.strip().splitlines()[: len(shown)]
    (alarm,) = [json.loads(line) for line in (tmp_path / "alarms.jsonl").read_text().splitlines()]
    assert alarm["segment_id"] == "L-01" and alarm["onset_unix_s"] == pytest.approx(1_767_225_600 + 4800, abs=60)
    assert (tmp_path / "replay" / "status.csv").stat().st_size > 0
    assert (tmp_path / "replay" / "alarm_0_L-01.png").read_bytes()[:4] == b"\x89PNG"
