"""The deployment shared by every test of tests/deploy: one `make up` on free ports serves them all (it
never touches a developer's var/local), and is taken down at the end of the session."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.config import load
from tests.deploy.support import Running, cli, write_deployment


@pytest.fixture(scope="session")
def local() -> Iterator[Running]:
    base = Path(tempfile.mkdtemp(prefix="pipewarden-deploy-"))
    base.chmod(0o755)  # PostgreSQL runs as the `postgres` user when we are root: it must reach the data dir
    file = write_deployment(base, "local")
    running = Running(file, load(file))
    try:
        up = cli(file, "up")
        assert up.returncode == 0, f"make up failed:\n{up.stdout}\n{up.stderr}"
        yield running
    finally:
        down = cli(file, "down", timeout=240)
        if down.returncode != 0:
            print(down.stderr, file=sys.stderr)
        shutil.rmtree(base, ignore_errors=True)
