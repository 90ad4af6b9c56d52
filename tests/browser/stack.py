"""The real stack for the console's browser tests and benchmark: workorders (`serve`, SQLite) and the
console as real processes on free ports, with a users file of argon2-hashed passwords.

    with workorders_process(tmp, kafka_bootstrap) as wo, console_process(tmp, wo) as console:
        console.url, console.password("dispatcher-ds")
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

from deploy import processes
from services.console.adapters.users import hash_password
from tests.fixtures.kafka import free_port
from tests.support.tokens import write_keys

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"

# name: (role, districts, sign_off_roles)
USERS: dict[str, tuple[str, list[str], list[str]]] = {
    "dispatcher-ds": ("dispatcher", ["Dongsheng"], []),
    "dispatcher-ds2": ("dispatcher", ["Dongsheng"], []),
    "dispatcher-kb": ("dispatcher", ["Kangbashi"], []),
    "crew-ds": ("crew", ["Dongsheng"], []),
    "supervisor": ("supervisor", ["*"], ["unit_safety_officer"]),
    "regulator": ("regulator", ["*"], []),
}


def password_of(username: str) -> str:
    return f"pw-{username}-correct horse"


def write_users_file(path: Path, users: dict[str, tuple[str, list[str], list[str]]] = USERS) -> Path:
    entries = [
        {"username": name, "password_argon2": hash_password(password_of(name)), "role": role,
         "districts": districts, "sign_off_roles": sign_off}
        for name, (role, districts, sign_off) in users.items()
    ]
    path.write_text(yaml.safe_dump({"users": entries}), encoding="utf-8")
    return path


def _wait_line(stream: IO[str], needle: str, timeout_s: float, what: str, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}: {''.join(seen)[-2000:]}")
            time.sleep(0.05)
            continue
        seen.append(line)
        if needle in line:
            return line
    raise RuntimeError(f"{what} did not print {needle!r} within {timeout_s:.0f} s")


def _stop(process: subprocess.Popen[str]) -> None:
    processes.stop(process)


@dataclass
class Workorders:
    address: str
    db_url: str
    process: subprocess.Popen[str]


@contextmanager
def workorders_process(
    scratch: Path, kafka_bootstrap: str | None, *, db_url: str | None = None
) -> Iterator[Workorders]:
    """``python -m services.workorders serve`` on a free port; consumes leak.alarms.v1 when given a broker."""
    address = f"127.0.0.1:{free_port()}"
    url = db_url or f"sqlite:///{scratch}/workorders.sqlite3"
    env = {
        **os.environ,
        "PIPEWARDEN_WORKORDERS_JWT_KEYS_FILE": str(write_keys(scratch)[1]),
        "PIPEWARDEN_WORKORDERS_DB_URL": url,
        "PIPEWARDEN_WORKORDERS_GRPC_ADDRESS": address,
        "PIPEWARDEN_WORKORDERS_CONSUME_ALARMS": "1" if kafka_bootstrap else "0",
        "PIPEWARDEN_WORKORDERS_CONSUME_SENSOR_HEALTH": "0",
        "PIPEWARDEN_WORKORDERS_RELAY_OUTBOX": "1" if kafka_bootstrap else "0",
        "PIPEWARDEN_WORKORDERS_CONSUMER_GROUP": f"console-test-{uuid.uuid4().hex[:8]}",
        "PIPEWARDEN_WORKORDERS_PROJECTION_POLL_S": "0.02",
        "PIPEWARDEN_KAFKA_BOOTSTRAP": kafka_bootstrap or "127.0.0.1:1",
        "PIPEWARDEN_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.workorders", "serve"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout is not None
        _wait_line(process.stdout, "workorders serving on", 90, "workorders serve", process)
        yield Workorders(address, url, process)
    finally:
        _stop(process)


@dataclass
class Console:
    url: str
    process: subprocess.Popen[str]
    users_file: Path
    log_file: Path
    env: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def password(username: str) -> str:
        return password_of(username)


@contextmanager
def console_process(scratch: Path, workorders: Workorders, *, max_live: int = 2000,
                    leakdetect: str = "", secure_cookies: bool = True) -> Iterator[Console]:
    users = write_users_file(scratch / "console-users.yaml")
    port = free_port()
    log_file = scratch / "console.log"
    env = {
        **os.environ,
        "PIPEWARDEN_CONSOLE_ADDRESS": f"127.0.0.1:{port}",
        "PIPEWARDEN_CONSOLE_WORKORDERS_ADDRESS": workorders.address,
        "PIPEWARDEN_CONSOLE_LEAKDETECT_ADDRESSES": leakdetect,
        "PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE": str(write_keys(scratch)[0]),
        "PIPEWARDEN_CONSOLE_SESSION_SECRET": "session-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "PIPEWARDEN_CONSOLE_USERS_FILE": str(users),
        "PIPEWARDEN_CONSOLE_MAX_LIVE": str(max_live),
        "PIPEWARDEN_CONSOLE_SECURE_COOKIES": "1" if secure_cookies else "0",
        "PIPEWARDEN_LOG_LEVEL": "WARNING",
    }
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.console", "serve"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        assert process.stdout is not None
        _wait_line(process.stdout, "console serving on", 60, "console serve", process)
        deadline = time.monotonic() + 60
        while True:  # healthy = the console's Watch stream is connected
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"console not healthy: {log_file.read_text()[-2000:]}")
            time.sleep(0.2)
        yield Console(url, process, users, log_file, env)
    finally:
        _stop(process)
