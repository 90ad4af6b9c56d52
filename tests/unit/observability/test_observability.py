"""JSON log lines carry extra fields; the metrics endpoint serves the registry."""

import json
import logging
import urllib.request

import pytest
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


def test_a_framework_configured_from_the_dict_config_logs_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    import logging.config

    from services.observability import json_logging_config

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(json_logging_config("leakdetect", "INFO"))  # what faust's Worker does with it
        logging.getLogger("faust.worker").info("[^Worker]: Starting...")
        logging.getLogger("aiokafka.consumer").warning("broker unreachable", extra={"bootstrap": "127.0.0.1:1"})
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["logger"], e["level"], e["service"]) for e in lines] == [
        ("faust.worker", "info", "leakdetect"),
        ("aiokafka.consumer", "warning", "leakdetect"),
    ]
    assert lines[1]["bootstrap"] == "127.0.0.1:1"
