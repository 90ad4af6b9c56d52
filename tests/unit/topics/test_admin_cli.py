"""The topics CLI refuses garbage arguments and reports an unreachable broker clearly."""

import subprocess
import sys
from pathlib import Path

import pytest

from services.topics.admin import TopicAdminError, ensure_topics, parse_bootstrap

ROOT = Path(__file__).resolve().parents[3]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "services.topics.admin", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--no-such-flag"],
        ["positional-garbage"],
        ["--bootstrap", "nonsense"],
        ["--bootstrap", "host:port"],
        ["--bootstrap", "127.0.0.1:99999"],
        ["--bootstrap", ""],
        ["--bootstrap", ":9092"],
        ["--wait-s", "abc"],
        ["--wait-s", "-1"],
        ["--wait-s", "nan"],
    ],
)
def test_garbage_arguments_exit_2_with_usage(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_broker_is_a_clear_error() -> None:
    result = run_cli("--bootstrap", "127.0.0.1:1", "--wait-s", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("error: Kafka at 127.0.0.1:1 did not answer")
    assert "Traceback" not in result.stderr


def test_bootstrap_comes_from_the_environment() -> None:
    result = run_cli("--wait-s", "1", env={"PIPEWARDEN_KAFKA_BOOTSTRAP": "127.0.0.1:2"})
    assert result.returncode == 1
    assert "127.0.0.1:2" in result.stderr
    result = run_cli(env={"PIPEWARDEN_KAFKA_BOOTSTRAP": "garbage"})
    assert result.returncode == 2


def test_list_prints_the_registry() -> None:
    result = run_cli("--list")
    assert result.returncode == 0
    assert "telemetry.readings.v1\tpartitions=12" in result.stdout


def test_parse_bootstrap() -> None:
    assert parse_bootstrap("a:1, b:2") == ["a:1", "b:2"]
    assert parse_bootstrap("[::1]:9092") == ["[::1]:9092"]
    for bad in ("", ",", "a", "a:", "a:0", "a:x"):
        with pytest.raises(ValueError):
            parse_bootstrap(bad)


def test_ensure_topics_unreachable_raises_topic_admin_error() -> None:
    with pytest.raises(TopicAdminError):
        ensure_topics("127.0.0.1:1", timeout_s=1)
