"""`make demo`'s entry point refuses garbage arguments before starting anything."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("args", [["--duration", "-5"], ["--duration", "soon"], ["--colour", "red"]])
def test_demo_refuses_garbage_arguments(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deploy.demo", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Starting Kafka" not in result.stdout
