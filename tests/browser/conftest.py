"""Fixtures of the console's browser tests: the real stack (Kafka from the session fixture, workorders and
the console as processes) and headless Chromium from the distribution (deploy/browser/chromium.sh)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.stack import CHROMIUM, Console, Workorders, console_process, workorders_process

SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "console"


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workorders, Console]]:
    scratch = tmp_path_factory.mktemp("console")
    with workorders_process(scratch, kafka_bootstrap) as wo, console_process(scratch, wo) as console:
        yield wo, console


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (deploy/browser/chromium.sh install)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--autoplay-policy=no-user-gesture-required"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
