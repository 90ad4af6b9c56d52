"""An in-process telemetry server on a free port, talking to the session's real Kafka broker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import grpc
import pytest

from services.contracts.pipewarden.telemetry.v1 import reading_pb2, telemetry_ingest_service_pb2_grpc
from services.network import Network, load_demo_network
from services.telemetry.bootstrap import build_server
from services.telemetry.config import TelemetryConfig
from services.telemetry.entrypoints.server import TelemetryServer

TOKENS = {
    "gw-transmission": "tok-transmission",
    "gw-ds-01": "tok-ds-01",
    "gw-kb-01": "tok-kb-01",
    "gw-eh-01": "tok-eh-01",
}
NETWORK = load_demo_network()


def auth(gateway: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {TOKENS[gateway]}"),)


def unique_sequence() -> int:
    """Sequences never used before on the shared broker, so each test finds only its own records."""
    return time.time_ns() // 1000


def make_batch(
    network: Network, gateway: str, sequence: int, *, samples: int = 1, extra=()
) -> reading_pb2.ReadingBatch:  # type: ignore[no-untyped-def]
    now_us = time.time_ns() // 1000
    readings = [
        reading_pb2.Reading(
            tag_id=tag.tag_id,
            source_time_unix_us=now_us - 1000 * k,
            value=(tag.range_min + tag.range_max) / 2,
            quality=reading_pb2.QUALITY_GOOD,
        )
        for k in range(samples)
        for tag in network.tags_of_gateway(gateway)
    ]
    return reading_pb2.ReadingBatch(gateway_id=gateway, batch_sequence=sequence, readings=[*readings, *extra])


@dataclass
class Running:
    server: TelemetryServer
    channel: grpc.aio.Channel
    stub: telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub
    bootstrap: str

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@pytest.fixture
def telemetry_config(kafka_bootstrap: str) -> TelemetryConfig:
    return TelemetryConfig(
        listen_address="127.0.0.1:0",
        kafka_bootstrap=kafka_bootstrap,
        gateway_tokens=TOKENS,
        max_receive_message_bytes=256 * 1024,
        max_readings_per_batch=2000,
        # Short, so that a stopped broker shows up as UNAVAILABLE within a couple of seconds.
        publish_timeout_s=3.0,
        kafka_request_timeout_ms=2000,
        kafka_linger_ms=2,
        grace_period_s=2.0,
        kafka_start_timeout_s=20.0,
    )


@pytest.fixture
async def start_telemetry(telemetry_config: TelemetryConfig) -> AsyncIterator[Callable[..., Any]]:
    """Starts servers (config overrides as keyword arguments) and stops them after the test."""
    started: list[Running] = []

    async def start(**overrides: Any) -> Running:
        server = build_server(replace(telemetry_config, **overrides), network=NETWORK)
        port = await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
        running = Running(server, channel, stub, telemetry_config.kafka_bootstrap)
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in started:
            await running.channel.close()
            await running.server.stop(grace_s=1.0)


@pytest.fixture
async def telemetry(start_telemetry: Callable[..., Any]) -> Running:
    return await start_telemetry()  # type: ignore[no-any-return]
