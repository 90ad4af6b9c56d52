"""Assemble and run one telemetry server: producer, ingest service, gRPC server with health and reflection.

`TelemetryServer` is what ``python -m services.telemetry`` runs and what the integration tests and the
benchmark start in-process.
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry

from services.contracts.pipewarden.telemetry.v1 import (
    telemetry_ingest_service_pb2,
)
from services.network import Network, load_demo_network, load_network
from services.telemetry.adapters.auth import GatewayTokens
from services.telemetry.adapters.clock import SystemClock
from services.telemetry.adapters.kafka_publisher import KafkaPublisher
from services.telemetry.adapters.metrics import PrometheusIngestMetrics
from services.telemetry.config import TelemetryConfig
from services.telemetry.domain import TagIndex, ValidationLimits, max_request_bytes
from services.telemetry.service_layer import IngestService, RecordPublisher

from .grpc_api import TelemetryIngestServicer, add_to_server

log = logging.getLogger(__name__)

SERVICE_NAME = telemetry_ingest_service_pb2.DESCRIPTOR.services_by_name["TelemetryIngestService"].full_name


class TelemetryServer:
    def __init__(
        self,
        config: TelemetryConfig,
        *,
        network: Network | None = None,
        publisher: RecordPublisher | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        largest_valid = max_request_bytes(config.max_readings_per_batch)
        if config.max_receive_message_bytes < largest_valid:
            log.warning(
                "gRPC message limit below the largest valid batch: gateways sending long tag ids in full "
                "batches get RESOURCE_EXHAUSTED (PIPEWARDEN_TELEMETRY_MAX_MESSAGE_BYTES)",
                extra={
                    "max_message_bytes": config.max_receive_message_bytes,
                    "largest_valid_batch_bytes": largest_valid,
                    "max_readings_per_batch": config.max_readings_per_batch,
                },
            )
        if network is None:
            network = load_network(config.network_file) if config.network_file else load_demo_network()
        self.network = network
        self.metrics = PrometheusIngestMetrics(registry)
        self._own_publisher = publisher is None
        self.publisher: RecordPublisher = publisher or KafkaPublisher(
            config.kafka_bootstrap,
            publish_timeout_s=config.publish_timeout_s,
            request_timeout_ms=config.kafka_request_timeout_ms,
            linger_ms=config.kafka_linger_ms,
            max_batch_bytes=config.kafka_max_batch_bytes,
            max_request_bytes=config.kafka_max_request_bytes,
            compression=config.kafka_compression,
        )
        self.service = IngestService(
            TagIndex.from_network(network),
            self.publisher,
            SystemClock(),
            self.metrics,
            limits=ValidationLimits(
                max_clock_skew_us=int(config.max_clock_skew_s * 1e6),
                max_age_us=int(config.max_reading_age_s * 1e6),
            ),
            readings_topic=config.readings_topic,
            rejected_topic=config.rejected_topic,
            max_readings_per_batch=config.max_readings_per_batch,
            dedupe_window=config.dedupe_window,
        )
        tokens = GatewayTokens(config.gateway_tokens)
        if not len(tokens):
            log.warning(
                "no gateway tokens configured: every call will be refused (PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS)"
            )
        self.servicer = TelemetryIngestServicer(self.service, tokens)
        self.health = health_aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port: int = 0

    async def start(self) -> int:
        """Connect to Kafka, then listen; returns the bound port."""
        config = self.config
        if isinstance(self.publisher, KafkaPublisher) and self._own_publisher:
            await self.publisher.start(config.kafka_start_timeout_s)
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
            credentials = grpc.ssl_server_credentials(
                [(Path(config.tls_key_file).read_bytes(), Path(config.tls_cert_file).read_bytes())]
            )
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
        if self._own_publisher and isinstance(self.publisher, KafkaPublisher):
            await self.publisher.stop()
        log.info("telemetry stopped")

    async def wait_for_termination(self) -> None:
        if self.server is not None:
            await self.server.wait_for_termination()
