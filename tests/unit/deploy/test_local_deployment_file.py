"""The one-host deployment file (deploy/local/pipewarden.yaml): the shipped file loads; garbage is refused
with the file and the setting named, before anything is started."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from deploy.local.config import DEFAULT_FILE, DeploymentError, load
from deploy.local.deployment import render_supervisord_conf


def test_the_shipped_file_loads_with_distinct_ports() -> None:
    deployment = load(DEFAULT_FILE)
    ports = [port for _, port in deployment.ports()]
    assert len(ports) == len(set(ports)) and deployment.telemetry_workers >= 1


def test_the_ingest_path_runs_first_and_analytics_behind_it() -> None:
    """telemetry and Kafka (a gateway waits for both) at niceness 0; leakdetect (10 s lag budget) and the console
    behind workorders and PostgreSQL; supervisord starts each through nice(1), so the pid is still the program's."""
    deployment = load(DEFAULT_FILE)
    nice = {p.name: p.nice for p in deployment.programs()}
    assert nice["kafka"] == nice["telemetry-0"] == nice["telemetry-1"] == 0
    assert nice["leakdetect-0"] == nice["leakdetect-1"] == 10 and nice["console"] == 10
    assert nice["workorders"] == nice["postgres"] == 5
    conf = render_supervisord_conf(deployment, {"supervisor_http_password": "x"})
    commands = dict(re.findall(r"\[program:([^\]]+)\]\ncommand=(.*)", conf))
    assert re.fullmatch(r"\S*nice -n 10 \S*python\S* -m services\.leakdetect", commands["leakdetect-0"])
    assert "nice" not in commands["telemetry-0"] and "nice" not in commands["kafka"]


def test_a_niceness_can_be_set_per_section(tmp_path: Path) -> None:
    path = _write(tmp_path, _shipped_with(leakdetect__nice=0, telemetry__nice=3))
    nice = {p.name: p.nice for p in load(path).programs()}
    assert nice["leakdetect-1"] == 0 and nice["telemetry-0"] == 3


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipewarden.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _shipped_with(**changes: object) -> str:
    raw = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if key:
            raw[section][key] = value
        else:
            raw[section] = value
    return yaml.safe_dump(raw)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("data_dir: [unclosed", "not valid YAML"),
        ("- a list\n- not a mapping", "mapping at the top level"),
        (_shipped_with(kafka__port=70000), "kafka.port must be an integer from 1 to 65535"),
        (_shipped_with(kafka__port="ninety"), "kafka.port"),
        (_shipped_with(telemetry__port=9092), "configured twice"),
        (_shipped_with(telemetry__workers=0), "telemetry.workers"),
        (_shipped_with(leakdetect__workers=13), "leakdetect.workers"),
        (_shipped_with(kafka__prot=9092), "kafka.prot"),
        (_shipped_with(postgres__database="x; drop"), "postgres.database"),
        (_shipped_with(kafka="not a section"), "kafka"),
        (_shipped_with(log_level=""), "log_level"),
        (_shipped_with(leakdetect__nice=-5), "leakdetect.nice must be an integer from 0 to 19"),
        (_shipped_with(telemetry__nice=20), "telemetry.nice"),
        (_shipped_with(kafka__nice="low"), "kafka.nice"),
        (_shipped_with(console__nice=True), "console.nice"),
    ],
)
def test_garbage_is_refused_naming_the_file_and_the_setting(tmp_path: Path, text: str, named: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DeploymentError) as refused:
        load(path)
    assert str(path) in str(refused.value) and named in str(refused.value)


def test_a_missing_file_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match="cannot be read"):
        load(tmp_path / "nowhere.yaml")
