"""``python -m services.workorders``: reports, rebuild, PNG, and garbage arguments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.workorders.adapters.alarms import alarm_facts
from services.workorders.bootstrap import build_runtime
from services.workorders.config import ConfigError, WorkOrdersConfig
from services.workorders.entrypoints.cli import main
from tests.support.workorders_api import alarm

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/cli.sqlite3"
    rt = build_runtime(url)
    segment = next(iter(rt.network.segments.values()))
    for i in range(3):
        rt.app.handle_alarm(alarm_facts(alarm(f"C-{i}", segment.segment_id, segment.district)), f"C-{i}/0")
    rt.stop()
    return url


@pytest.mark.parametrize("name", ["open-work-orders", "sla-breaches", "response-times", "leaks-per-100km"])
def test_reports_print_tables(db: str, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", name, "--db", db]) == 0
    out = capsys.readouterr().out
    assert out.startswith(name) and "as of global position 3" in out


def test_report_png(db: str, tmp_path: Path) -> None:
    png = tmp_path / "chart.png"
    assert main(["report", "leaks-per-100km", "--db", db, "--png", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rebuild(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rebuild", "--db", db]) == 0
    assert "from 3 event(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["report"], ["report", "no-such-report"], ["report", "open-work-orders", "--bogus"]],
)
def test_garbage_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_garbage_database_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "open-work-orders", "--db", "mysql://nope/x"]) == 2
    assert "cannot open the event store" in capsys.readouterr().err


def test_serve_without_secret_refuses(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PIPEWARDEN_WORKORDERS_DB_URL": f"sqlite:///{tmp_path}/s.sqlite3"}
    result = subprocess.run(
        [sys.executable, "-m", "services.workorders", "serve"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2 and "JWT_SECRET" in result.stderr


def test_bad_environment_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PIPEWARDEN_WORKORDERS_SLA_TICK_S", "soon")
    assert main(["rebuild"]) == 2
    assert "PIPEWARDEN_WORKORDERS_SLA_TICK_S" in capsys.readouterr().err


@pytest.mark.parametrize(("raw", "port"), [("", -1), ("-1", -1), ("0", 0), ("9473", 9473)])
def test_metrics_port_means_what_it_means_in_every_service(raw: str, port: int) -> None:
    env = {"PIPEWARDEN_WORKORDERS_METRICS_PORT": raw} if raw else {}
    assert WorkOrdersConfig.from_env(env).metrics_port == port


@pytest.mark.parametrize("raw", ["-2", "1.5", "http", "nan"])
def test_metrics_port_garbage_is_refused_naming_the_setting(raw: str) -> None:
    with pytest.raises(ConfigError, match="PIPEWARDEN_WORKORDERS_METRICS_PORT"):
        WorkOrdersConfig.from_env({"PIPEWARDEN_WORKORDERS_METRICS_PORT": raw})
