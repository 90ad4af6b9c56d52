from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.workorders.bootstrap import build_runtime
from services.workorders.entrypoints.runtime import Runtime
from tests.support.workorders_api import Api, grpc_api


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = build_runtime(f"sqlite:///{tmp_path}/workorders.sqlite3")
    try:
        yield rt
    finally:
        rt.stop()


@pytest.fixture
def api(runtime: Runtime) -> Iterator[Api]:
    with grpc_api(runtime) as served:
        yield served
