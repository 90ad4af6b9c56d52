"""Telemetry configuration, read once from ``PIPEWARDEN_*`` environment variables.

Every variable, its default and its meaning is listed in ``services/telemetry/README.md``; the
defaults below are the documentation's source of truth.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.kafkaconn import KafkaSecurity, KafkaSecurityError
from services.topics.registry import TELEMETRY_READINGS, TELEMETRY_REJECTED


class ConfigError(ValueError):
    """An environment variable that cannot be used; names the variable and the problem."""


@dataclass(frozen=True)
class TelemetryConfig:
    # gRPC
    listen_address: str = "127.0.0.1:50051"
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    # Mutual TLS: gateways present a certificate signed by this CA that names their gateway id (CN or SAN).
    tls_client_ca_file: str | None = None
    max_receive_message_bytes: int = 4 * 1024 * 1024
    max_readings_per_batch: int = 10_000
    max_concurrent_streams: int = 1024
    # Per-gateway limits (services/telemetry/service_layer/rate_limits.py); a rate of 0 turns it off.
    max_streams_per_gateway: int = 8
    rate_limit_readings_per_s: float = 200_000.0
    rate_limit_readings_burst: float = 400_000.0
    rate_limit_batches_per_s: float = 1_000.0
    rate_limit_batches_burst: float = 2_000.0
    grace_period_s: float = 10.0
    # gateway_id -> bearer token (plain: development and tests)
    gateway_tokens: Mapping[str, str] = field(default_factory=dict)
    # Hashed gateway tokens (adapters/auth.py), re-read when the file changes: checked at most every N s.
    gateway_token_hashes_file: str | None = None
    gateway_token_hashes_check_s: float = 1.0
    # validation
    max_clock_skew_s: float = 5.0
    max_reading_age_s: float = 7 * 24 * 3600.0
    network_file: str | None = None  # None: the shipped demo city
    # dedupe
    dedupe_window: int = 1024
    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    readings_topic: str = TELEMETRY_READINGS.name
    rejected_topic: str = TELEMETRY_REJECTED.name
    publish_timeout_s: float = 10.0
    kafka_request_timeout_ms: int = 10_000
    # 0: a batch's records go to the broker at once (the gateway is waiting for its ack); records still batch
    # while a request is in flight. 5 ms added ~3.5 ms to the ack p50 (15.3 -> 11.8 ms) and telemetry's own
    # ack p99 was 37.7 ms against 19.8 / 29.5 ms at 0 (smoke, 10,000 readings/s, one-host deployment).
    kafka_linger_ms: int = 0
    kafka_max_batch_bytes: int = 256 * 1024
    # The largest record the producer sends (aiokafka max_request_size); the broker's own limit
    # (message.max.bytes, topic max.message.bytes) must be at least this. Default: Kafka's 1 MiB.
    kafka_max_request_bytes: int = 1024 * 1024
    kafka_compression: str | None = None
    kafka_start_timeout_s: float = 60.0
    # PIPEWARDEN_KAFKA_SECURITY_PROTOCOL and companions (services/kafkaconn): TLS, SASL/SCRAM.
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    # operations
    metrics_port: int = 9464  # 0: any free port; -1: no metrics endpoint
    metrics_host: str = "127.0.0.1"
    log_level: str = "INFO"
    workers: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TelemetryConfig:
        env = os.environ if env is None else env
        p = "PIPEWARDEN_TELEMETRY_"
        default = cls()

        def text(name: str, fallback: str) -> str:
            return env.get(p + name, fallback).strip() or fallback

        def opt(name: str) -> str | None:
            value = env.get(p + name, "").strip()
            return value or None

        def integer(name: str, fallback: int, minimum: int) -> int:
            raw = env.get(p + name)
            if raw is None or not raw.strip():
                return fallback
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"{p}{name} must be an integer, got {raw!r}") from None
            if value < minimum:
                raise ConfigError(f"{p}{name} must be >= {minimum}, got {value}")
            return value

        def number(name: str, fallback: float, minimum: float) -> float:
            raw = env.get(p + name)
            if raw is None or not raw.strip():
                return fallback
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{p}{name} must be a number, got {raw!r}") from None
            if not value >= minimum:
                raise ConfigError(f"{p}{name} must be >= {minimum:g}, got {raw}")
            return value

        tokens = parse_gateway_tokens(env.get(p + "GATEWAY_TOKENS", ""), source=p + "GATEWAY_TOKENS")
        tokens_file = opt("GATEWAY_TOKENS_FILE")
        if tokens_file:
            try:
                content = Path(tokens_file).read_text(encoding="utf-8")
            except OSError as error:
                raise ConfigError(f"{p}GATEWAY_TOKENS_FILE {tokens_file}: cannot be read: {error}") from None
            for gateway, token in parse_gateway_tokens(content, source=tokens_file).items():
                if gateway in tokens:
                    raise ConfigError(
                        f"gateway {gateway!r} has a token in both {p}GATEWAY_TOKENS and {tokens_file}"
                    )
                tokens[gateway] = token

        cert, key = opt("TLS_CERT_FILE"), opt("TLS_KEY_FILE")
        if (cert is None) != (key is None):
            raise ConfigError(f"{p}TLS_CERT_FILE and {p}TLS_KEY_FILE must be set together")
        client_ca = opt("TLS_CLIENT_CA_FILE")
        if client_ca is not None and cert is None:
            raise ConfigError(f"{p}TLS_CLIENT_CA_FILE (mutual TLS) needs {p}TLS_CERT_FILE and {p}TLS_KEY_FILE")
        compression = opt("KAFKA_COMPRESSION")
        try:
            kafka_security = KafkaSecurity.from_env(env)
        except KafkaSecurityError as error:
            raise ConfigError(str(error)) from None
        if compression is not None and compression not in ("gzip", "snappy", "lz4", "zstd"):
            raise ConfigError(f"{p}KAFKA_COMPRESSION must be gzip, snappy, lz4 or zstd, got {compression!r}")

        return cls(
            listen_address=text("LISTEN", default.listen_address),
            tls_cert_file=cert,
            tls_key_file=key,
            tls_client_ca_file=client_ca,
            max_receive_message_bytes=integer("MAX_MESSAGE_BYTES", default.max_receive_message_bytes, 1024),
            max_readings_per_batch=integer("MAX_READINGS_PER_BATCH", default.max_readings_per_batch, 1),
            max_concurrent_streams=integer("MAX_CONCURRENT_STREAMS", default.max_concurrent_streams, 1),
            max_streams_per_gateway=integer("MAX_STREAMS_PER_GATEWAY", default.max_streams_per_gateway, 1),
            rate_limit_readings_per_s=number("RATE_LIMIT_READINGS_PER_S", default.rate_limit_readings_per_s, 0.0),
            rate_limit_readings_burst=number("RATE_LIMIT_READINGS_BURST", default.rate_limit_readings_burst, 1.0),
            rate_limit_batches_per_s=number("RATE_LIMIT_BATCHES_PER_S", default.rate_limit_batches_per_s, 0.0),
            rate_limit_batches_burst=number("RATE_LIMIT_BATCHES_BURST", default.rate_limit_batches_burst, 1.0),
            grace_period_s=number("GRACE_PERIOD_S", default.grace_period_s, 0.0),
            gateway_tokens=tokens,
            gateway_token_hashes_file=opt("GATEWAY_TOKEN_HASHES_FILE"),
            gateway_token_hashes_check_s=number("GATEWAY_TOKEN_HASHES_CHECK_S", default.gateway_token_hashes_check_s,
                                                0.0),
            max_clock_skew_s=number("MAX_CLOCK_SKEW_S", default.max_clock_skew_s, 0.0),
            max_reading_age_s=number("MAX_READING_AGE_S", default.max_reading_age_s, 1.0),
            network_file=env.get("PIPEWARDEN_NETWORK_FILE") or None,
            dedupe_window=integer("DEDUPE_WINDOW", default.dedupe_window, 1),
            kafka_bootstrap=env.get("PIPEWARDEN_KAFKA_BOOTSTRAP", "").strip() or default.kafka_bootstrap,
            readings_topic=text("READINGS_TOPIC", default.readings_topic),
            rejected_topic=text("REJECTED_TOPIC", default.rejected_topic),
            publish_timeout_s=number("PUBLISH_TIMEOUT_S", default.publish_timeout_s, 0.1),
            kafka_request_timeout_ms=integer("KAFKA_REQUEST_TIMEOUT_MS", default.kafka_request_timeout_ms, 100),
            kafka_linger_ms=integer("KAFKA_LINGER_MS", default.kafka_linger_ms, 0),
            kafka_max_batch_bytes=integer("KAFKA_MAX_BATCH_BYTES", default.kafka_max_batch_bytes, 1024),
            kafka_max_request_bytes=integer("KAFKA_MAX_REQUEST_BYTES", default.kafka_max_request_bytes, 1024),
            kafka_compression=compression,
            kafka_start_timeout_s=number("KAFKA_START_TIMEOUT_S", default.kafka_start_timeout_s, 0.0),
            kafka_security=kafka_security,
            metrics_port=integer("METRICS_PORT", default.metrics_port, -1),
            metrics_host=text("METRICS_HOST", default.metrics_host),
            log_level=text("LOG_LEVEL", env.get("PIPEWARDEN_LOG_LEVEL", "").strip() or default.log_level),
            workers=integer("WORKERS", default.workers, 1),
        )


def parse_gateway_tokens(text: str, source: str) -> dict[str, str]:
    """``gw-a=tok1,gw-b=tok2`` (commas or newlines; ``#`` starts a comment in files)."""
    tokens: dict[str, str] = {}
    for raw_line in text.replace(",", "\n").splitlines():
        entry = raw_line.split("#", 1)[0].strip()
        if not entry:
            continue
        gateway, sep, token = (part.strip() for part in entry.partition("="))
        if not sep or not gateway or not token:
            raise ConfigError(f"{source}: expected gateway_id=token, got {entry.split('=', 1)[0]!r}=...")
        if gateway in tokens:
            raise ConfigError(f"{source}: gateway {gateway!r} is listed twice")
        tokens[gateway] = token
    if len(set(tokens.values())) != len(tokens):
        raise ConfigError(f"{source}: two gateways share a token; every gateway needs its own")
    return tokens
