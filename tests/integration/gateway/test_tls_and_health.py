"""The gateway over TLS to a telemetry that has server TLS (its own config), token from a file; its health
endpoint and Prometheus metrics while it runs. Gateway, Modbus simulator and telemetry in this test's loop."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.demo_gateway import ModbusFieldSimulator, gateway_config, layout
from services.gateway.bootstrap import Gateway
from services.gateway.config import load_config
from services.telemetry.bootstrap import build_server
from services.telemetry.config import TelemetryConfig
from tests.support.tls import self_signed_certificate

from .conftest import NETWORK, TOKENS

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path)


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def test_tls_token_file_health_and_metrics(
    kafka_bootstrap: str, readings_topic: str, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = certificate
    telemetry = build_server(
        TelemetryConfig(
            listen_address="127.0.0.1:0", kafka_bootstrap=kafka_bootstrap, gateway_tokens=TOKENS,
            tls_cert_file=str(cert), tls_key_file=str(key), kafka_start_timeout_s=30.0, metrics_port=-1,
            readings_topic=readings_topic,
        ),
        network=NETWORK,
    )  # fmt: skip
    port = await telemetry.start()
    gateway_id = "gw-kb-01"
    sim = ModbusFieldSimulator(layout(NETWORK.tags_of_gateway(gateway_id)))
    await sim.start()
    token_file = tmp_path / "token"
    token_file.write_text(TOKENS[gateway_id] + "\n")
    config_dict: dict[str, Any] = gateway_config(
        gateway_id, sim.mapped, modbus_port=sim.port, target=f"127.0.0.1:{port}", token_file=token_file,
        queue_path=tmp_path / "queue.sqlite3", scan_period_s=0.5,
        extra_telemetry={"tls_root_cert_file": str(cert)},
    )  # fmt: skip
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(config_dict))
    gateway = Gateway(load_config(path))
    task = asyncio.ensure_future(gateway.run())
    try:
        async with asyncio.timeout(30):
            while gateway.forwarder.acked_readings < 3 * len(sim.mapped):
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.2)  # one refresh of the health document
        assert gateway.health is not None
        base = f"http://127.0.0.1:{gateway.health.port}"
        status, body = await asyncio.to_thread(fetch, base + "/health")
        health = json.loads(body)
        assert status == 200 and health["healthy"] and health["telemetry_connected"], health
        assert health["gateway_id"] == gateway_id and health["sources"]["rtu-1"]["errors"] == 0
        status, metrics = await asyncio.to_thread(fetch, base + "/metrics")
        assert status == 200
        for name in (
            "pipewarden_gateway_queue_depth_readings", "pipewarden_gateway_oldest_unsent_age_seconds",
            "pipewarden_gateway_read_errors_total", "pipewarden_gateway_send_latency_seconds_bucket",
            "pipewarden_gateway_readings_dropped_total", "pipewarden_gateway_telemetry_connected 1.0",
        ):  # fmt: skip
            assert name in metrics, name
        status, _ = await asyncio.to_thread(fetch, base + "/nothing")
        assert status == 404
    finally:
        gateway.stop()
        await asyncio.wait_for(task, 30)
        await sim.stop()
        await telemetry.stop(grace_s=1.0)
    assert time.time() > 0


async def test_wrong_token_keeps_readings_queued_and_says_so(
    kafka_bootstrap: str, readings_topic: str, tmp_path: Path
) -> None:
    """Telemetry refuses the token (UNAUTHENTICATED): nothing is dropped or dead-lettered, the gateway waits
    and reports it on /health."""
    telemetry = build_server(
        TelemetryConfig(
            listen_address="127.0.0.1:0", kafka_bootstrap=kafka_bootstrap, gateway_tokens=TOKENS, metrics_port=-1,
            readings_topic=readings_topic,
        ),
        network=NETWORK,
    )
    port = await telemetry.start()
    gateway_id = "gw-kb-01"
    sim = ModbusFieldSimulator(layout(NETWORK.tags_of_gateway(gateway_id)))
    await sim.start()
    token_file = tmp_path / "token"
    token_file.write_text("not-the-token")
    config_dict = gateway_config(
        gateway_id, sim.mapped, modbus_port=sim.port, target=f"127.0.0.1:{port}", token_file=token_file,
        queue_path=tmp_path / "queue.sqlite3", scan_period_s=0.5,
    )  # fmt: skip
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(config_dict))
    gateway = Gateway(load_config(path))
    task = asyncio.ensure_future(gateway.run(drain_timeout_s=0.5))
    try:
        async with asyncio.timeout(20):
            while "UNAUTHENTICATED" not in gateway.forwarder.last_error:
                await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)
        assert gateway.queue.depth() >= 2 * len(sim.mapped)
        assert gateway.forwarder.dead_lettered == 0 and gateway.recorder.dropped == 0
        await asyncio.sleep(1.2)
        assert not gateway.snapshot()["healthy"]
    finally:
        gateway.stop()
        await asyncio.wait_for(task, 30)
        await sim.stop()
        await telemetry.stop(grace_s=1.0)
