"""deploy/demo_console.py: the console `make demo --keep` leaves running, with its demo users, against a
real workorders process; a demo dispatcher signs in in the browser."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from deploy import demo_console
from tests.browser.stack import ROOT, workorders_process
from tests.fixtures.kafka import free_port
from tests.support.tokens import write_keys

pytestmark = pytest.mark.integration


@contextmanager
def _service(name: str, args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    log = Path(env["PIPEWARDEN_CONSOLE_USERS_FILE"]).parent / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, *args], env={**os.environ, **env}, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(15)


def test_the_demo_console_serves_its_demo_users(tmp_path: Path, browser: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_console, "CONSOLE_ADDRESS", f"127.0.0.1:{free_port()}")
    with workorders_process(tmp_path, None) as wo, \
            demo_console.console(_service, wo.address, write_keys(tmp_path)[0], tmp_path) as demo:
        assert set(demo.passwords) == {"dispatcher", "crew", "supervisor", "regulator"}
        assert demo.users_file.stat().st_mode & 0o777 == 0o600
        page = browser.new_page()
        page.goto(f"{demo.url}/login")
        page.fill("input[name=username]", "dispatcher")
        page.fill("input[name=password]", demo.passwords["dispatcher"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{demo.url}/queue*")
        assert page.inner_text("#role") == "dispatcher"
        page.context.close()
