"""The gateway's /health and /metrics port under hostile requests: bodies, huge request lines and headers,
other methods, a client that stalls. Each gets a clear status, and the port goes on answering /health."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from services.gateway.entrypoints import http
from services.gateway.entrypoints.http import HealthServer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HealthServer]:
    monkeypatch.setattr(http, "REQUEST_TIMEOUT_S", 0.5)
    served = HealthServer("127.0.0.1", 0, CollectorRegistry(), lambda: {"healthy": True})
    try:
        yield served
    finally:
        served.stop()


def exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status(reply: bytes) -> int:
    if reply.startswith(b"HTTP/"):
        return int(reply.split(b" ", 2)[1])
    # A request line that is not HTTP/1.x is answered the HTTP/0.9 way: the error page without a status line.
    return int(reply.split(b"Error code: ", 1)[1][:3])


def healthy(port: int) -> bool:
    reply = exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return status(reply) == 200 and b'"healthy": true' in reply


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nxxxx", 413),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nxxxxx\r\n", 413),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /health HTTP/1.1\r\n" + b"X-A: " + b"b" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n", 431),
        (b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 501),
        (b"\xff\xfe\x00garbage\r\n\r\n", 400),
        (b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
    ],
    ids=["declared-body", "chunked-body", "long-line", "long-header", "many-headers", "post", "garbage", "unknown"],
)
def test_hostile_requests_get_a_clear_status_and_the_port_keeps_serving(
    server: HealthServer, raw: bytes, expected: int
) -> None:
    assert status(exchange(server.port, raw)) == expected
    assert healthy(server.port)


def test_a_stalled_client_is_dropped_and_others_are_served_meanwhile(server: HealthServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as stalled:
        stalled.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        assert healthy(server.port)
        stalled.settimeout(5)
        assert stalled.recv(1024) == b""  # closed by the server after its timeout
