"""A faust-streaming agent consumes from the project's real broker (faust runs in its own process)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from services.topics import LEAK_SENSOR_HEALTH

pytestmark = pytest.mark.integration
APP = Path(__file__).with_name("faust_probe_app.py")


def test_faust_agent_consumes_from_the_broker(kafka_bootstrap: str, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "PROBE_BOOTSTRAP": kafka_bootstrap,
        "PROBE_TOPIC": LEAK_SENSOR_HEALTH.name,
        "PROBE_TAG": tag,
        "PROBE_COUNT": "5",
        "PROBE_DATADIR": str(tmp_path / "faust"),
    }
    result = subprocess.run(
        [sys.executable, str(APP), "worker", "-l", "warn"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "FAUST-PROBE-OK 5" in result.stdout + result.stderr
