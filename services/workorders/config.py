"""Configuration of the work orders service, read from ``PIPEWARDEN_*`` environment variables.

| variable | default | meaning |
| --- | --- | --- |
| ``PIPEWARDEN_WORKORDERS_DB_URL`` | ``sqlite:///var/workorders.sqlite3`` | event store + read models |
| ``PIPEWARDEN_KAFKA_BOOTSTRAP`` | ``127.0.0.1:9092`` | Kafka brokers |
| ``PIPEWARDEN_WORKORDERS_GRPC_ADDRESS`` | ``127.0.0.1:50053`` | where ``serve`` listens |
| ``PIPEWARDEN_WORKORDERS_TLS_CERT_FILE``, ``_TLS_KEY_FILE`` | none (plaintext) | gRPC server TLS certificate, key |
| ``PIPEWARDEN_KAFKA_SECURITY_PROTOCOL`` and companions | ``PLAINTEXT`` | Kafka TLS / SASL (``services/kafkaconn``) |
| ``PIPEWARDEN_WORKORDERS_JWT_KEYS_FILE`` | none: ``serve`` refuses (``--dev``: throwaway) | callers' token key set |
| ``PIPEWARDEN_WORKORDERS_MAX_STREAMS_PER_CALLER`` | ``100`` | open ``Watch`` streams per caller (token subject) |
| ``PIPEWARDEN_WORKORDERS_MAX_MESSAGE_BYTES`` | ``4194304`` | largest request read (larger: RESOURCE_EXHAUSTED) |
| ``PIPEWARDEN_WORKORDERS_CONSUMER_GROUP`` | ``pipewarden-workorders`` | group reading ``leak.alarms.v1`` |
| ``PIPEWARDEN_WORKORDERS_SNAPSHOT_EVERY`` | ``50`` | save an aggregate snapshot every N events |
| ``PIPEWARDEN_WORKORDERS_SLA_TICK_S`` | ``15`` | how often the SLA ticker looks for due escalations |
| ``PIPEWARDEN_WORKORDERS_PROJECTION_POLL_S`` | ``0.05`` | safety-net poll of the background loops after work |
| ``PIPEWARDEN_WORKORDERS_IDLE_POLL_MAX_S`` | ``1`` | that poll doubles while idle up to this (appends wake them) |
| ``PIPEWARDEN_WORKORDERS_METRICS_PORT`` | ``-1`` (off) | ``/metrics`` port (0: any free port, -1: off) |
| ``PIPEWARDEN_WORKORDERS_CONSUME_ALARMS`` | ``1`` | run the alarm consumer in ``serve`` |
| ``PIPEWARDEN_WORKORDERS_CONSUME_SENSOR_HEALTH`` | ``1`` | run the sensor-health consumer (hazards) in ``serve`` |
| ``PIPEWARDEN_WORKORDERS_HAZARD_TICK_S`` | ``60`` | how often the hazard ticker escalates overdue hazards |
| ``PIPEWARDEN_WORKORDERS_SIGN_OFF_LEVELS`` | the domain's four roles (hazard.py) | sign-off roles, 1-4, in order |
| ``PIPEWARDEN_WORKORDERS_RELAY_OUTBOX`` | ``1`` | run the outbox relay in ``serve`` |
| ``PIPEWARDEN_NETWORK_FILE`` | the demo city | network model (district lengths for leaks per 100 km) |
| ``PIPEWARDEN_LOG_LEVEL`` | ``INFO`` | log level |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.kafkaconn import KafkaSecurity, KafkaSecurityError
from services.workorders.domain.hazard import DEFAULT_LEVEL_ROLES, MAX_SIGN_OFF_LEVELS

DEFAULT_DB_URL = "sqlite:///var/workorders.sqlite3"
DEFAULT_GRPC_ADDRESS = "127.0.0.1:50053"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
# A console holds a few Watch streams; a hundred per caller is far beyond that and still keeps one buggy
# or hostile client (a reconnect loop that never cancels) from holding every stream the server can carry.
DEFAULT_MAX_STREAMS_PER_CALLER = 100


class ConfigError(ValueError):
    """An environment variable has a value the service cannot use."""


@dataclass(frozen=True, slots=True)
class WorkOrdersConfig:
    db_url: str = DEFAULT_DB_URL
    kafka_bootstrap: str = DEFAULT_BOOTSTRAP
    grpc_address: str = DEFAULT_GRPC_ADDRESS
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    jwt_keys_file: str | None = None
    max_streams_per_caller: int = DEFAULT_MAX_STREAMS_PER_CALLER
    max_message_bytes: int = 4 * 1024 * 1024
    consumer_group: str = "pipewarden-workorders"
    snapshot_every: int = 50
    sla_tick_s: float = 15.0
    projection_poll_s: float = 0.05
    # The safety-net poll backs off to this while idle: on PostgreSQL appends are announced (LISTEN/NOTIFY),
    # on SQLite it bounds how late another process's append is seen.
    idle_poll_max_s: float = 1.0
    metrics_port: int = -1  # 0: any free port, -1: off (the meaning every service gives it)
    consume_alarms: bool = True
    consume_sensor_health: bool = True
    hazard_tick_s: float = 60.0
    sign_off_levels: tuple[str, ...] = DEFAULT_LEVEL_ROLES
    relay_outbox: bool = True
    network_file: str | None = None
    log_level: str = "INFO"
    # The utility's local time as an offset from UTC (hours; China: 8): yearly reports (km replaced against the
    # year's targets) count calendar years in local time, as the regulator does.
    report_utc_offset_h: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkOrdersConfig:
        env = os.environ if env is None else env

        def text(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value or default

        def number(name: str, default: float, *, minimum: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a number") from None
            if not value >= minimum or value != value:
                raise ConfigError(f"{name}={raw!r} must be >= {minimum}")
            return value

        def integer(name: str, default: int, *, minimum: int = 1) -> int:
            value = number(name, default, minimum=minimum)
            if value == float("inf") or value != int(value):
                raise ConfigError(f"{name}={value!r} must be a whole number")
            return int(value)

        def flag(name: str, default: bool) -> bool:
            raw = env.get(name, "").strip().lower()
            if not raw:
                return default
            if raw in ("1", "true", "yes", "on"):
                return True
            if raw in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name}={raw!r} is not a boolean (1/0, true/false)")

        def levels(name: str) -> tuple[str, ...]:
            raw = env.get(name, "").strip()
            if not raw:
                return DEFAULT_LEVEL_ROLES
            roles = tuple(r.strip() for r in raw.split(","))
            if not 1 <= len(roles) <= MAX_SIGN_OFF_LEVELS or not all(roles):
                raise ConfigError(
                    f"{name}={raw!r} must list 1 to {MAX_SIGN_OFF_LEVELS} non-empty roles, comma-separated"
                )
            return roles

        def utc_offset_h(name: str) -> float:
            value = number(name, 0.0, minimum=-12.0)
            if value > 14.0 or value * 4 != round(value * 4):
                raise ConfigError(f"{name}={value!r} must be a UTC offset in quarter hours, -12 to 14")
            return value

        keys_file = env.get("PIPEWARDEN_WORKORDERS_JWT_KEYS_FILE", "").strip() or None
        cert = env.get("PIPEWARDEN_WORKORDERS_TLS_CERT_FILE", "").strip() or None
        key = env.get("PIPEWARDEN_WORKORDERS_TLS_KEY_FILE", "").strip() or None
        if (cert is None) != (key is None):
            raise ConfigError(
                "PIPEWARDEN_WORKORDERS_TLS_CERT_FILE and PIPEWARDEN_WORKORDERS_TLS_KEY_FILE must be set together"
            )
        try:
            kafka_security = KafkaSecurity.from_env(env)
        except KafkaSecurityError as error:
            raise ConfigError(str(error)) from None
        return cls(
            db_url=text("PIPEWARDEN_WORKORDERS_DB_URL", DEFAULT_DB_URL),
            kafka_bootstrap=text("PIPEWARDEN_KAFKA_BOOTSTRAP", DEFAULT_BOOTSTRAP),
            grpc_address=text("PIPEWARDEN_WORKORDERS_GRPC_ADDRESS", DEFAULT_GRPC_ADDRESS),
            tls_cert_file=cert,
            tls_key_file=key,
            kafka_security=kafka_security,
            jwt_keys_file=keys_file,
            max_streams_per_caller=integer(
                "PIPEWARDEN_WORKORDERS_MAX_STREAMS_PER_CALLER", DEFAULT_MAX_STREAMS_PER_CALLER
            ),
            max_message_bytes=integer("PIPEWARDEN_WORKORDERS_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, minimum=1024),
            consumer_group=text("PIPEWARDEN_WORKORDERS_CONSUMER_GROUP", "pipewarden-workorders"),
            snapshot_every=int(number("PIPEWARDEN_WORKORDERS_SNAPSHOT_EVERY", 50, minimum=1)),
            sla_tick_s=number("PIPEWARDEN_WORKORDERS_SLA_TICK_S", 15.0, minimum=0.01),
            projection_poll_s=number("PIPEWARDEN_WORKORDERS_PROJECTION_POLL_S", 0.05, minimum=0.001),
            idle_poll_max_s=number("PIPEWARDEN_WORKORDERS_IDLE_POLL_MAX_S", 1.0, minimum=0.001),
            metrics_port=integer("PIPEWARDEN_WORKORDERS_METRICS_PORT", -1, minimum=-1),
            consume_alarms=flag("PIPEWARDEN_WORKORDERS_CONSUME_ALARMS", True),
            consume_sensor_health=flag("PIPEWARDEN_WORKORDERS_CONSUME_SENSOR_HEALTH", True),
            hazard_tick_s=number("PIPEWARDEN_WORKORDERS_HAZARD_TICK_S", 60.0, minimum=0.01),
            sign_off_levels=levels("PIPEWARDEN_WORKORDERS_SIGN_OFF_LEVELS"),
            relay_outbox=flag("PIPEWARDEN_WORKORDERS_RELAY_OUTBOX", True),
            network_file=env.get("PIPEWARDEN_NETWORK_FILE") or None,
            log_level=text("PIPEWARDEN_LOG_LEVEL", "INFO"),
            report_utc_offset_h=utc_offset_h("PIPEWARDEN_WORKORDERS_REPORT_UTC_OFFSET_H"),
        )
