"""deploy/kafka/kafka.sh refuses garbage before touching Java, Maven or the network."""

import os
import socket
import subprocess
from pathlib import Path

import pytest

KAFKA_SH = Path(__file__).resolve().parents[3] / "deploy" / "kafka" / "kafka.sh"


def run(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KAFKA_SH), *args],
        env={**os.environ, "PIPEWARDEN_KAFKA_DATA_DIR": str(tmp_path / "kafka"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("args", [[], ["bogus"], ["--up"]])
def test_unknown_subcommand_prints_usage(args: list[str], tmp_path: Path) -> None:
    result = run(*args, tmp_path=tmp_path)
    assert result.returncode == 2
    assert "kafka.sh fetch" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PIPEWARDEN_KAFKA_PORT": "abc"}, "PIPEWARDEN_KAFKA_PORT is not a port"),
        ({"PIPEWARDEN_KAFKA_PORT": "70000"}, "PIPEWARDEN_KAFKA_PORT is not a port"),
        ({"PIPEWARDEN_KAFKA_CONTROLLER_PORT": "-1"}, "PIPEWARDEN_KAFKA_CONTROLLER_PORT is not a port"),
        ({"PIPEWARDEN_KAFKA_PORT": "19999", "PIPEWARDEN_KAFKA_CONTROLLER_PORT": "19999"}, "must differ"),
    ],
)
def test_up_refuses_bad_ports(env: dict[str, str], message: str, tmp_path: Path) -> None:
    result = run("up", tmp_path=tmp_path, **env)
    assert result.returncode == 1
    assert message in result.stderr
    assert not (tmp_path / "kafka").exists()


def test_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run("up", tmp_path=tmp_path, PIPEWARDEN_KAFKA_PORT=str(port))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr


def test_status_and_down_without_a_broker(tmp_path: Path) -> None:
    assert run("status", tmp_path=tmp_path).returncode == 3
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "kafka.pid").write_text(f"{os.getpid()}\n")  # a live pid that is not a broker
    assert run("status", tmp_path=tmp_path).returncode == 3
    down = run("down", tmp_path=tmp_path)
    assert down.returncode == 0
    assert "not running" in down.stderr
    assert not (tmp_path / "kafka" / "kafka.pid").exists()


def test_run_class_needs_a_class(tmp_path: Path) -> None:
    result = run("run-class", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "usage" in result.stderr
