"""JSON log lines carry extra fields; the metrics endpoint serves the registry."""

import json
import logging
import urllib.request

from prometheus_client import CollectorRegistry, Counter

from services.observability import JsonFormatter, start_metrics_server


def test_json_formatter_emits_extra_fields_and_exceptions() -> None:
    formatter = JsonFormatter("telemetry")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.makeLogRecord(
            {"msg": "batch %s", "args": (7,), "levelname": "ERROR", "gateway_id": "gw-1", "exc_info": sys.exc_info()}
        )
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "batch 7"
    assert entry["service"] == "telemetry"
    assert entry["gateway_id"] == "gw-1"
    assert "RuntimeError: boom" in entry["exception"]


def test_metrics_server_serves_registry() -> None:
    registry = CollectorRegistry()
    Counter("pipewarden_test_things", "things", registry=registry).inc(3)
    server = start_metrics_server(0, registry=registry)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read().decode()
    finally:
        server.stop()
    assert "pipewarden_test_things_total 3.0" in body
