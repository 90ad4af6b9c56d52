"""The composition root of telemetry: the one place its adapters are chosen and wired.

    server = build_server(config)                     # Kafka producer, Prometheus metrics, system clock
    port = await server.start(); ...; await server.stop()

Tests and benchmarks pass a ``network`` (instead of loading the configured file), a ``publisher`` (a fake,
or a shared producer the caller starts and stops) or a ``registry`` (several servers in one process).
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry

from services.network import Network, load_demo_network, load_network
from services.telemetry.adapters.auth import GatewayTokens
from services.telemetry.adapters.clock import SystemClock
from services.telemetry.adapters.kafka_publisher import KafkaPublisher
from services.telemetry.adapters.metrics import PrometheusIngestMetrics
from services.telemetry.config import TelemetryConfig
from services.telemetry.domain import TagIndex, ValidationLimits, max_request_bytes
from services.telemetry.entrypoints.grpc_api import TelemetryIngestServicer
from services.telemetry.entrypoints.server import TelemetryServer
from services.telemetry.service_layer import IngestService, RateLimits, RecordPublisher

log = logging.getLogger("services.telemetry")


def build_server(
    config: TelemetryConfig,
    *,
    network: Network | None = None,
    publisher: RecordPublisher | None = None,
    registry: CollectorRegistry | None = None,
) -> TelemetryServer:
    """A telemetry server wired from ``config``; a given ``publisher`` is the caller's to start and stop."""
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
    metrics = PrometheusIngestMetrics(registry)
    owned_producer = None
    if publisher is None:
        owned_producer = KafkaPublisher(
            config.kafka_bootstrap,
            publish_timeout_s=config.publish_timeout_s,
            request_timeout_ms=config.kafka_request_timeout_ms,
            linger_ms=config.kafka_linger_ms,
            max_batch_bytes=config.kafka_max_batch_bytes,
            max_request_bytes=config.kafka_max_request_bytes,
            compression=config.kafka_compression,
            security=config.kafka_security,
        )
        publisher = owned_producer
    service = IngestService(
        TagIndex.from_network(network),
        publisher,
        SystemClock(),
        metrics,
        limits=ValidationLimits(
            max_clock_skew_us=int(config.max_clock_skew_s * 1e6),
            max_age_us=int(config.max_reading_age_s * 1e6),
        ),
        readings_topic=config.readings_topic,
        rejected_topic=config.rejected_topic,
        max_readings_per_batch=config.max_readings_per_batch,
        dedupe_window=config.dedupe_window,
        rate_limits=RateLimits(
            readings_per_s=config.rate_limit_readings_per_s,
            readings_burst=config.rate_limit_readings_burst,
            batches_per_s=config.rate_limit_batches_per_s,
            batches_burst=config.rate_limit_batches_burst,
        ),
    )
    tokens = GatewayTokens(config.gateway_tokens, config.gateway_token_hashes_file,
                           check_every_s=config.gateway_token_hashes_check_s)
    if not len(tokens):
        log.warning("no gateway tokens configured: every call will be refused "
                    "(PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE)")
    return TelemetryServer(
        config,
        service,
        TelemetryIngestServicer(service, tokens, metrics, max_streams_per_gateway=config.max_streams_per_gateway,
                                client_cert_identity=config.tls_client_ca_file is not None),
        network=network,
        metrics=metrics,
        owned_producer=owned_producer,
    )
