"""``GET /health`` (JSON: 200 when healthy, 503 otherwise) and ``GET /metrics`` (Prometheus) on one port.

Served from a thread so that a slow scrape never stalls the event loop; the health document is a snapshot the
gateway refreshes every second.

Both are GETs without a body: a request with one is refused (413) without reading it, and the standard
library's own caps hold the rest (request line 64 KiB: 414; at most 100 header lines of 64 KiB: 431; other
methods: 501). A client that stops sending mid-request is dropped after ``REQUEST_TIMEOUT_S``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

REQUEST_TIMEOUT_S = 10.0


class HealthServer:
    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, snapshot: Callable[[], dict[str, Any]]
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            timeout = REQUEST_TIMEOUT_S

            def do_GET(self) -> None:
                if self.headers.get("Content-Length", "0").strip() not in ("", "0") or self.headers.get(
                    "Transfer-Encoding"
                ):
                    # Unread, a body would be parsed as the next request on this connection: refuse and close.
                    self.close_connection = True
                    body, status, kind = b'{"error": "GET /health and /metrics take no request body"}', 413, (
                        "application/json"
                    )
                elif self.path.split("?")[0] == "/metrics":
                    body, status, kind = generate_latest(registry), 200, CONTENT_TYPE_LATEST
                elif self.path.split("?")[0] in ("/health", "/healthz"):
                    state = snapshot()
                    body = json.dumps(state).encode()
                    status, kind = (200 if state.get("healthy") else 503), "application/json"
                else:
                    body, status, kind = b'{"error": "not found: try /health or /metrics"}', 404, "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="gateway-http", daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
