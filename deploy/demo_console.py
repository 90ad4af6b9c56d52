"""The console in ``make demo``: started beside workorders, and kept running with ``--keep``.

``deploy/demo.py`` wires it in (three lines, see ``console``'s docstring)::

    from .demo_console import console, keep_running
    ...
    wait_for_port(WORKORDERS_ADDRESS, 90, workorders, "workorders")
    demo_console = stack.enter_context(console(service, WORKORDERS_ADDRESS, signing_key, DEMO_DIR))
    ...                                   # the leak, the field, the summary, as today
    if options.keep:                      # parser.add_argument("--keep", action="store_true", ...)
        keep_running(demo_console)        # prints the URL and the users, returns on Ctrl-C

Started right after workorders, before the simulated leak is streamed, so a person who signs in while
the demo runs sees the leak arrive in the queue as a graded work order.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

CONSOLE_ADDRESS = "127.0.0.1:29080"
# name: (role, districts); every user of the demo may see the whole demo city.
DEMO_USERS: dict[str, tuple[str, list[str]]] = {
    "dispatcher": ("dispatcher", ["*"]),
    "crew": ("crew", ["*"]),
    "supervisor": ("supervisor", ["*"]),
    "regulator": ("regulator", ["*"]),
}

ServiceStarter = Callable[[str, list[str], dict[str, str]], AbstractContextManager[subprocess.Popen[bytes]]]


@dataclass(frozen=True)
class DemoConsole:
    url: str
    passwords: dict[str, str]
    users_file: Path
    log_file: Path


def write_demo_users(path: Path) -> dict[str, str]:
    """A users file with a fresh password per demo user (printed by the demo, never reused)."""
    from services.console.adapters.users import hash_password

    passwords = {name: secrets.token_urlsafe(9) for name in DEMO_USERS}
    users = [{"username": name, "password_argon2": hash_password(passwords[name]), "role": role,
              "districts": districts, "name": f"Demo {name}"} for name, (role, districts) in DEMO_USERS.items()]
    path.write_text("# make demo: generated on every run\n" + yaml.safe_dump({"users": users}, sort_keys=False),
                    encoding="utf-8")
    path.chmod(0o600)
    return passwords


@contextmanager
def console(service: ServiceStarter, workorders_address: str, signing_key_file: Path, demo_dir: Path,
            leakdetect_addresses: str = "") -> Iterator[DemoConsole]:
    """Start the console (``service`` is demo.py's process starter: it logs to ``<demo_dir>/console.log``
    and stops the process on exit) and wait until it is healthy (its Watch of workorders is open)."""
    users_file = demo_dir / "console-users.yaml"
    passwords = write_demo_users(users_file)
    env = {
        "PIPEWARDEN_CONSOLE_ADDRESS": CONSOLE_ADDRESS,
        "PIPEWARDEN_CONSOLE_WORKORDERS_ADDRESS": workorders_address,
        "PIPEWARDEN_CONSOLE_LEAKDETECT_ADDRESSES": leakdetect_addresses,
        "PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE": str(signing_key_file),
        "PIPEWARDEN_CONSOLE_SESSION_SECRET": secrets.token_urlsafe(48),
        "PIPEWARDEN_CONSOLE_USERS_FILE": str(users_file),
    }
    url = f"http://{CONSOLE_ADDRESS}"
    with service("console", ["-m", "services.console", "serve"], env) as process:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the console did not become healthy; see {demo_dir / 'console.log'}")
            time.sleep(0.3)
        print(f"   console on {url} (sign in as dispatcher / {passwords['dispatcher']})", flush=True)
        yield DemoConsole(url, passwords, users_file, demo_dir / "console.log")


def keep_running(demo: DemoConsole) -> None:
    """Print how to use the console and wait for Ctrl-C (SIGINT or SIGTERM); the caller's ExitStack then
    stops every process as it does today."""
    print(f"\n\033[1m== The console is running: {demo.url}\033[0m", flush=True)
    for name, password in demo.passwords.items():
        print(f"   {name:<11} password {password}   ({DEMO_USERS[name][0]}, all districts)")
    print("   Sign in as dispatcher: the leak's work order is in the queue; open it, dispatch a crew and take it")
    print("   through acknowledge, en route, on site, made safe, repaired, verified to closed.")
    print("   Ctrl-C stops the demo.", flush=True)
    stop = False

    def handler(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
