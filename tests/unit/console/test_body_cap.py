"""The console's request body cap: a body over MAX_BODY_BYTES is refused (413) without being read, whether it
declares its length or comes chunked, nothing is done, and the console goes on serving."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.testclient import TestClient

from services.console.entrypoints.web import MAX_BODY_BYTES
from tests.unit.console.fakes import FakeWorkOrders
from tests.unit.console.test_web import api, client, csrf, login

__all__ = ["api", "client"]  # fixtures


def test_a_declared_body_over_the_cap_is_refused_before_it_is_read(client: TestClient, api: FakeWorkOrders) -> None:
    login(client)
    token = csrf(client, "/orders/wo-ds")
    body = f"csrf_token={token}&verb=dispatch&note=".encode() + b"x" * MAX_BODY_BYTES
    reply = client.post("/orders/wo-ds/actions", content=body,
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 413 and "KiB, the most the console reads" in reply.text
    assert api.executed == []
    reply = client.post("/login", content=b"a=b", headers={"content-length": "banana"})
    assert reply.status_code == 400 and "Content-Length is not a number" in reply.text
    assert client.get("/queue").status_code == 200  # still serving


def test_a_chunked_body_is_cut_off_at_the_cap(client: TestClient, api: FakeWorkOrders) -> None:
    login(client)
    token = csrf(client, "/orders/wo-ds")

    def chunks() -> Iterator[bytes]:
        yield f"csrf_token={token}&verb=dispatch&note=".encode()
        for _ in range(2 * MAX_BODY_BYTES // 4096):
            yield b"x" * 4096

    reply = client.post("/orders/wo-ds/actions", content=chunks(),
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 413 and "the most the console reads" in reply.text and "Traceback" not in reply.text
    assert api.executed == []
    assert client.get("/queue").status_code == 200
