"""The console in the one-host deployment (deploy/local): its program, its secrets kept out of
supervisord.conf, its generated users file, its probe, and garbage in its section refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.local.config import DEFAULT_FILE, DeploymentError, load
from deploy.local.deployment import ensure_console_users, ensure_secrets, probe, render_supervisord_conf
from services.console.adapters.users import UsersFile


def _deployment_file(tmp_path: Path, **console: object) -> Path:
    raw = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    raw["data_dir"] = str(tmp_path / "data")
    raw["console"].update(console)
    path = tmp_path / "pipewarden.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_the_console_is_a_supervised_program_with_its_own_ports_and_no_secret_in_the_config(tmp_path: Path) -> None:
    d = load(_deployment_file(tmp_path))
    console = next(p for p in d.programs() if p.kind == "console")
    assert dict(console.ports) == {"console http": 8090, "console metrics": 9481}
    values = ensure_secrets(d)
    conf = render_supervisord_conf(d, values)
    section = conf.split("[program:console]")[1].split("[program:")[0]
    assert "services.console serve" in section and "with_secrets" in section
    assert f'PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE="{d.signing_key_file}"' in section
    assert f"127.0.0.1:{d.workorders_grpc_port}" in section
    assert f"127.0.0.1:{d.leakdetect_grpc_port},127.0.0.1:{d.leakdetect_grpc_port + 1}" in section
    for secret in ("console_session_secret", "console_supervisor_password"):
        assert values[secret] not in conf
    key_body = "".join(d.signing_key_file.read_text().splitlines()[1:-1])
    assert key_body not in conf.replace("\n", "")


def test_first_up_generates_a_users_file_whose_supervisor_signs_in_with_the_secret(tmp_path: Path) -> None:
    d = load(_deployment_file(tmp_path))
    values = ensure_secrets(d)
    ensure_console_users(d, values)
    path = d.console_users_path
    assert path.stat().st_mode & 0o777 == 0o600
    users = UsersFile.load(path)
    user = users.verify("supervisor", values["console_supervisor_password"])
    assert user is not None and user.role == "supervisor" and user.districts == ("*",)
    before = path.read_text()
    ensure_console_users(d, values)  # a second `up` keeps it (users added by hand stay)
    assert path.read_text() == before


def test_a_named_users_file_is_used_as_it_is(tmp_path: Path) -> None:
    named = tmp_path / "my-users.yaml"
    d = load(_deployment_file(tmp_path, users_file=str(named)))
    assert d.console_users_path == named
    ensure_console_users(d, ensure_secrets(d))
    assert not named.exists()


def test_the_probe_says_what_failed_when_the_console_is_down(tmp_path: Path) -> None:
    from tests.fixtures.kafka import free_port

    d = load(_deployment_file(tmp_path, port=free_port(), metrics_port=free_port()))
    console = next(p for p in d.programs() if p.kind == "console")
    healthy, detail = probe(d, console)
    assert not healthy and f"/healthz :{d.console_port}" in detail


@pytest.mark.parametrize(
    ("console", "named"),
    [({"port": "http"}, "console.port"), ({"port": 9480}, "configured twice"), ({"colour": "red"}, "console.colour"),
     ({"users_file": 7}, "console.users_file")],
)
def test_garbage_in_the_console_section_is_refused_by_name(tmp_path: Path, console: dict[str, object],
                                                           named: str) -> None:
    with pytest.raises(DeploymentError, match=named):
        load(_deployment_file(tmp_path, **console))
