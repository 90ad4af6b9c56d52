"""The users file and the configuration: garbage refused naming the file/setting; argon2 verification."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.console.adapters.tokens import JwtIssuer
from services.console.adapters.users import UsersFile, UsersFileError, hash_password
from services.console.config import ConfigError, ConsoleConfig
from services.console.service_layer.ports import User
from services.workorders.adapters.tokens import verify_token
from tests.support.tokens import SIGNING_KEY, WORKORDERS_VERIFIER

SECRET = "s" * 40


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_users_file_verifies_argon2_hashes(tmp_path: Path) -> None:
    digest = hash_password("correct horse")
    path = _write(tmp_path, f"users:\n  - {{username: li, password_argon2: '{digest}', role: dispatcher, "
                            f"districts: [Dongsheng], name: Li}}\n")
    users = UsersFile.load(path)
    user = users.verify("li", "correct horse")
    assert user is not None and user.role == "dispatcher" and user.districts == ("Dongsheng",)
    assert users.verify("li", "wrong") is None and users.verify("nobody", "correct horse") is None
    assert digest.startswith("$argon2id$") and "correct horse" not in digest


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("users: [", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping with a list 'users'"),
        ("users: []\n", "no users"),
        ("users: [7]\n", r"users\[0\]: expected a mapping"),
        ("users:\n  - {username: li, password_argon2: plain, role: dispatcher, districts: [D]}\n", "password_argon2"),
        ("users:\n  - {username: li, password_argon2: $argon2id$x, role: king, districts: [D]}\n", "role"),
        ("users:\n  - {username: li, password_argon2: $argon2id$x, role: crew, districts: []}\n", "districts"),
        ("users:\n  - {username: li, password_argon2: $argon2id$x, role: crew, districts: [D], pets: 2}\n", "pets"),
        ("users:\n  - {username: '', password_argon2: $argon2id$x, role: crew, districts: [D]}\n", "username"),
        ("users:\n  - {username: li, password_argon2: $argon2id$x, role: crew, districts: [D]}\n"
         "  - {username: li, password_argon2: $argon2id$x, role: crew, districts: [D]}\n", "listed twice"),
    ],
)
def test_garbage_users_files_are_refused_naming_the_file_and_entry(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(UsersFileError, match=named) as error:
        UsersFile.load(_write(tmp_path, text))
    assert "users.yaml" in str(error.value)


def test_missing_users_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsersFileError, match="cannot be read"):
        UsersFile.load(tmp_path / "absent.yaml")


def test_issued_tokens_are_workorders_tokens() -> None:
    issuer = JwtIssuer(SIGNING_KEY, 600)
    principal = verify_token(WORKORDERS_VERIFIER, issuer.issue(User("li", "crew", ("Dongsheng",), ("unit_head",))))
    assert principal.subject == "li" and principal.role.value == "crew"
    assert principal.districts == frozenset({"Dongsheng"}) and principal.sign_off_roles == frozenset({"unit_head"})
    feed = verify_token(WORKORDERS_VERIFIER, issuer.service_token())
    assert feed.role.value == "regulator" and feed.all_districts  # the feed only reads
    with pytest.raises(ValueError, match="Ed25519 signing key"):
        JwtIssuer("short", 600)  # type: ignore[arg-type]


BASE = {"PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE": "signing-key.pem", "PIPEWARDEN_CONSOLE_SESSION_SECRET": SECRET,
        "PIPEWARDEN_CONSOLE_USERS_FILE": "users.yaml"}


def test_config_defaults_and_garbage_named() -> None:
    config = ConsoleConfig.from_env(BASE)
    assert (config.host, config.port, config.secure_cookies, config.metrics_port) == ("127.0.0.1", 8090, True, -1)
    for key, value in (
        ("PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE", ""), ("PIPEWARDEN_CONSOLE_SESSION_SECRET", ""),
        ("PIPEWARDEN_CONSOLE_USERS_FILE", ""), ("PIPEWARDEN_CONSOLE_ADDRESS", "nowhere"),
        ("PIPEWARDEN_CONSOLE_ADDRESS", "127.0.0.1:99999"), ("PIPEWARDEN_CONSOLE_SESSION_TTL_S", "ten"),
        ("PIPEWARDEN_CONSOLE_SESSION_TTL_S", "1"), ("PIPEWARDEN_CONSOLE_SECURE_COOKIES", "maybe"),
        ("PIPEWARDEN_CONSOLE_METRICS_PORT", "-2"), ("PIPEWARDEN_CONSOLE_LEAKDETECT_ADDRESSES", "a,b:1"),
    ):
        with pytest.raises(ConfigError, match=key):
            ConsoleConfig.from_env({**BASE, key: value})


def test_the_orders_location_comes_from_the_api() -> None:
    from services.console.adapters.workorders_grpc import order_of
    from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb

    text = "km 1.2 (1.0–1.4, 95 %, pressure gradient)"
    assert order_of(pb.WorkOrder(work_order_id="wo-1", location=text)).location == text
    assert order_of(pb.WorkOrder(work_order_id="wo-1")).location == ""
