"""Run one telemetry server: the gRPC server (ingest, health, reflection) around a wired ingest service.

``services.telemetry.bootstrap.build_server`` wires it; ``python -m services.telemetry``, the integration
tests and the benchmark start what it returns.
"""

from __future__ import annotations

import logging
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from services.contracts.pipewarden.telemetry.v1 import (
    telemetry_ingest_service_pb2,
)
from services.grpctls import server_credentials
from services.network import Network
from services.telemetry.adapters.metrics import PrometheusIngestMetrics
from services.telemetry.config import TelemetryConfig
from services.telemetry.service_layer import IngestService

from .grpc_api import TelemetryIngestServicer, add_to_server

log = logging.getLogger(__name__)

SERVICE_NAME = telemetry_ingest_service_pb2.DESCRIPTOR.services_by_name["TelemetryIngestService"].full_name


class ProducerLifecycle(Protocol):
    """A publisher the server owns: connected before it listens, flushed and closed after it stops."""

    async def start(self, timeout_s: float = 60.0) -> None: ...
    async def stop(self) -> None: ...


class TelemetryServer:
    """One gRPC server (ingest, health, reflection) around a wired ingest service.

    Built by ``services.telemetry.bootstrap.build_server``, the one place adapters are chosen.
    """

    def __init__(
        self,
        config: TelemetryConfig,
        service: IngestService,
        servicer: TelemetryIngestServicer,
        *,
        network: Network,
        metrics: PrometheusIngestMetrics,
        owned_producer: ProducerLifecycle | None,
    ) -> None:
        self.config = config
        self.network = network
        self.metrics = metrics
        self.service = service
        self.servicer = servicer
        self._owned_producer = owned_producer
        self.health = health_aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port: int = 0

    async def start(self) -> int:
        """Connect to Kafka, then listen; returns the bound port."""
        config = self.config
        if self._owned_producer is not None:
            await self._owned_producer.start(config.kafka_start_timeout_s)
        options: list[tuple[str, int]] = [
            ("grpc.max_receive_message_length", config.max_receive_message_bytes),
            ("grpc.max_concurrent_streams", config.max_concurrent_streams),
            # Several worker processes may share the port (PIPEWARDEN_TELEMETRY_WORKERS).
            ("grpc.so_reuseport", 1 if config.workers > 1 else 0),
            # Gateways keep streams open for hours: let them keepalive-ping without being cut off.
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ]
        server = grpc.aio.server(options=options)
        add_to_server(self.servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            server,
        )
        if config.tls_cert_file and config.tls_key_file:
            credentials = server_credentials(config.tls_cert_file, config.tls_key_file,
                                             client_ca_file=config.tls_client_ca_file)
            self.port = server.add_secure_port(config.listen_address, credentials)
        else:
            self.port = server.add_insecure_port(config.listen_address)
        if self.port == 0:
            raise OSError(f"cannot listen on {config.listen_address}")
        await server.start()
        self.server = server
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "telemetry listening",
            extra={"port": self.port, "tls": bool(config.tls_cert_file), "kafka": config.kafka_bootstrap},
        )
        return self.port

    async def stop(self, grace_s: float | None = None) -> None:
        """Refuse new batches, finish the ones in flight, close streams, flush the producer."""
        grace = self.config.grace_period_s if grace_s is None else grace_s
        await self.health.enter_graceful_shutdown()
        self.servicer.start_draining()
        if self.server is not None:
            await self.server.stop(grace)
        await self.service.drain()
        if self._owned_producer is not None:
            await self._owned_producer.stop()
        log.info("telemetry stopped")

    async def wait_for_termination(self) -> None:
        if self.server is not None:
            await self.server.wait_for_termination()
