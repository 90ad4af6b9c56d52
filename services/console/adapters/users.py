"""The users file: who may sign in, with an argon2 hash of the password, a role and districts.

```yaml
users:
  - username: dispatcher-ds
    password_argon2: "$argon2id$v=19$m=65536,t=3,p=4$..."   # python -m services.console hash-password
    role: dispatcher            # dispatcher | crew | supervisor | regulator
    districts: [Dongsheng]      # or ["*"] for all
    sign_off_roles: []          # hazard sign-off positions held (supervisors)
    name: Wang Li               # shown in the console (optional)
```

A bad file is refused naming the file, the entry and the problem. Production would sign people in with
the utility's OIDC provider instead (see the console README); the token the console issues is the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.console.service_layer.ports import User
from services.workorders.service_layer.auth import CallerRole

_HASHER = PasswordHasher()
# Verified against when the user name is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("pipewarden-console-no-such-user")
_KEYS = {"username", "password_argon2", "role", "districts", "sign_off_roles", "name"}


class UsersFileError(ValueError):
    """The users file cannot be used; the message names the file, the entry and the problem."""


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def _entry(path: Path, index: int, raw: Any) -> tuple[User, str]:
    where = f"{path}: users[{index}]"
    if not isinstance(raw, dict):
        raise UsersFileError(f"{where}: expected a mapping")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise UsersFileError(f"{where}: unknown key {unknown[0]!r}")
    username = raw.get("username")
    if not isinstance(username, str) or not username or len(username) > 150 or not username.isprintable() \
            or username != username.strip():
        raise UsersFileError(f"{where}: username must be a non-empty printable string")
    where = f"{path}: users[{index}] ({username})"
    digest = raw.get("password_argon2")
    if not isinstance(digest, str) or not digest.startswith("$argon2"):
        raise UsersFileError(
            f"{where}: password_argon2 must be an argon2 hash (python -m services.console hash-password)"
        )
    role = raw.get("role")
    if role not in [r.value for r in CallerRole]:
        raise UsersFileError(f"{where}: role must be one of {[r.value for r in CallerRole]}, got {role!r}")
    districts = raw.get("districts")
    if not isinstance(districts, list) or not districts or not all(isinstance(d, str) and d for d in districts):
        raise UsersFileError(f"{where}: districts must be a non-empty list of district names (or [\"*\"])")
    sign_off = raw.get("sign_off_roles", []) or []
    if not isinstance(sign_off, list) or not all(isinstance(r, str) and r for r in sign_off):
        raise UsersFileError(f"{where}: sign_off_roles must be a list of role names")
    name = raw.get("name", "") or ""
    if not isinstance(name, str):
        raise UsersFileError(f"{where}: name must be text")
    return User(username, str(role), tuple(districts), tuple(sign_off), name), digest


class UsersFile:
    """The ``Users`` port over a YAML file, read once at start."""

    def __init__(self, users: Mapping[str, tuple[User, str]]) -> None:
        self._users = dict(users)

    @classmethod
    def load(cls, path: Path | str) -> UsersFile:
        path = Path(path)
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise UsersFileError(f"{path}: cannot be read: {error.strerror or error}") from None
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise UsersFileError(f"{path}: not valid YAML: {str(error)[:200]}") from None
        if not isinstance(document, dict) or not isinstance(document.get("users"), list):
            raise UsersFileError(f"{path}: expected a mapping with a list 'users'")
        users: dict[str, tuple[User, str]] = {}
        for index, raw in enumerate(document["users"]):
            user, digest = _entry(path, index, raw)
            if user.username in users:
                raise UsersFileError(f"{path}: users[{index}] ({user.username}): listed twice")
            users[user.username] = (user, digest)
        if not users:
            raise UsersFileError(f"{path}: no users")
        return cls(users)

    @property
    def usernames(self) -> list[str]:
        return sorted(self._users)

    def verify(self, username: str, password: str) -> User | None:
        found = self._users.get(username)
        try:
            _HASHER.verify(found[1] if found else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return found[0] if found else None
