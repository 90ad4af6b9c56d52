"""deploy/postgres/postgres.sh on its own: up is idempotent, the URL works, down stops cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fixtures.postgres import SCRIPT, _free_port

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_up_twice_then_down_twice() -> None:
    base = Path(tempfile.mkdtemp(prefix="pipewarden-pg-script-"))
    base.chmod(0o755)
    env = {**os.environ, "PIPEWARDEN_PG_DATA_DIR": str(base / "pg"), "PIPEWARDEN_PG_PORT": str(_free_port())}

    def run(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=180)

    try:
        assert run("install").returncode == 0
        first = run("up")
        assert first.returncode == 0, first.stderr
        url = first.stdout.strip()
        assert url == f"postgresql+psycopg://postgres@127.0.0.1:{env['PIPEWARDEN_PG_PORT']}/pipewarden"
        second = run("up")
        assert second.returncode == 0 and second.stdout.strip() == url
        assert "already running" in second.stderr
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == "pipewarden"
            # PostgreSQL refuses root: the server runs unprivileged.
            assert conn.execute(sa.text("SELECT current_setting('listen_addresses')")).scalar_one() == "127.0.0.1"
        assert run("status").returncode == 0
        assert run("down").returncode == 0
        assert run("status").returncode != 0
        assert run("down").returncode == 0
    finally:
        run("down")
        shutil.rmtree(base, ignore_errors=True)


def test_unknown_subcommand_is_refused() -> None:
    result = subprocess.run([str(SCRIPT), "explode"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "usage" in result.stderr
