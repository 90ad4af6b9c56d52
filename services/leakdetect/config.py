"""Configuration of the leak detection service, read from PIPEWARDEN_* environment variables.

Every field has a documented default; `LeakdetectConfig.from_env()` refuses malformed values with a
ValueError naming the variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from services.kafkaconn import KafkaSecurity


@dataclass(frozen=True, slots=True)
class LeakdetectConfig:
    # PIPEWARDEN_KAFKA_BOOTSTRAP: "host:port[,host:port]".
    kafka_bootstrap: str = "127.0.0.1:9092"
    # PIPEWARDEN_LEAKDETECT_APP_ID: faust app id = consumer group id = prefix of the state changelog topic.
    app_id: str = "pipewarden-leakdetect"
    # PIPEWARDEN_NETWORK_FILE: network model YAML; empty = the shipped demo city.
    network_file: str = ""
    # PIPEWARDEN_LEAKDETECT_DATA_DIR: faust's local data folder (table metadata); one per app id.
    data_dir: str = "var/leakdetect"
    # PIPEWARDEN_LEAKDETECT_REORDER_TOLERANCE_S: readings up to this much older than the newest reading
    # of their segment are merged in time order; older ones are counted and dropped.
    reorder_tolerance_s: float = 5.0
    # PIPEWARDEN_LEAKDETECT_REORDER_MAX_READINGS: the most readings a segment's reorder buffer holds; a flood
    # within the tolerance (a gateway far above its scan rates) releases the oldest early. It bounds the
    # segment's memory and its checkpoint (19 bytes a reading): 16,384 readings are ~0.3 MB of a changelog
    # record, which Kafka caps at 1 MB (a 1.08 MB checkpoint once crashed both workers of a deployment).
    reorder_max_readings: int = 16384
    # PIPEWARDEN_LEAKDETECT_MAX_CLOCK_SKEW_S: a record with a reading more than this far ahead of the
    # worker's clock is dead-lettered (one far-future reading would otherwise make every later reading of
    # its segment "late"). Telemetry allows 5 s at ingest; this adds room for the two hosts' clocks.
    max_clock_skew_s: float = 60.0
    # PIPEWARDEN_LEAKDETECT_DEDUPE_RECORDS: record ids remembered per segment (gateway retries).
    dedupe_records: int = 256
    # PIPEWARDEN_LEAKDETECT_BATCH_MAX / _BATCH_WITHIN_S: records per detector batch, and the longest wait
    # for a batch to fill.
    batch_max: int = 2000
    batch_within_s: float = 0.2
    # PIPEWARDEN_LEAKDETECT_COMMIT_INTERVAL_S: how often faust commits consumed offsets.
    commit_interval_s: float = 1.0
    # PIPEWARDEN_LEAKDETECT_GRPC_PORT: query API (0 = pick a free port, logged at start; -1 = off).
    grpc_port: int = 50071
    # PIPEWARDEN_LEAKDETECT_TLS_CERT_FILE / _TLS_KEY_FILE: the query API's TLS certificate and key (PEM);
    # empty: plaintext.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # PIPEWARDEN_KAFKA_SECURITY_PROTOCOL and companions (services/kafkaconn): TLS, SASL/SCRAM to Kafka.
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    # PIPEWARDEN_LEAKDETECT_JWT_KEYS_FILE: key set (JWKS) of callers' token keys (services.tokens), re-read on
    # change. Required while the query API is on (`--dev`: throwaway keys in var/dev/tokens).
    jwt_keys_file: str = ""
    # PIPEWARDEN_LEAKDETECT_METRICS_PORT: Prometheus /metrics (0 = free port; -1 = off).
    metrics_port: int = 9471
    # PIPEWARDEN_LEAKDETECT_ALARM_HOLD_S: how long (source time) an alarm raised only by a pressure wave
    # or rupture stays active without the mass balance or a methane sensor confirming it.
    alarm_hold_s: float = 1800.0
    # PIPEWARDEN_LEAKDETECT_UPDATE_MIN_INTERVAL_S: least source time between two UPDATED events of one
    # alarm when only the estimate moved (a new method or location is published at once).
    update_min_interval_s: float = 60.0
    # PIPEWARDEN_LEAKDETECT_ONSET_BUCKET_S: onset time bucket in the deterministic alarm id.
    onset_bucket_s: float = 600.0
    # PIPEWARDEN_LEAKDETECT_HISTORY: alarm events kept per segment for the query API.
    history_per_segment: int = 50
    # PIPEWARDEN_LEAKDETECT_DETECTOR: "core" (the numeric detectors), or "auto", the same, kept for deployments
    # that set it. The former "interim" stand-in (uncompensated balance, untested) is gone.
    detector: str = "auto"
    # PIPEWARDEN_LOG_LEVEL
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError(
                "PIPEWARDEN_LEAKDETECT_TLS_CERT_FILE and PIPEWARDEN_LEAKDETECT_TLS_KEY_FILE must be set together"
            )
        if self.reorder_tolerance_s < 0:
            raise ValueError("PIPEWARDEN_LEAKDETECT_REORDER_TOLERANCE_S must be >= 0")
        if self.reorder_max_readings < 1:
            raise ValueError(
                f"PIPEWARDEN_LEAKDETECT_REORDER_MAX_READINGS must be >= 1, got {self.reorder_max_readings}"
            )
        if not (math.isfinite(self.max_clock_skew_s) and self.max_clock_skew_s >= 0):
            raise ValueError(
                f"PIPEWARDEN_LEAKDETECT_MAX_CLOCK_SKEW_S must be a finite number >= 0, got {self.max_clock_skew_s}"
            )
        # `not x >= 0` refuses NaN too.
        if not self.alarm_hold_s >= 0:
            raise ValueError(f"PIPEWARDEN_LEAKDETECT_ALARM_HOLD_S must be >= 0, got {self.alarm_hold_s}")
        if not self.update_min_interval_s >= 0:
            raise ValueError(
                f"PIPEWARDEN_LEAKDETECT_UPDATE_MIN_INTERVAL_S must be >= 0, got {self.update_min_interval_s}"
            )
        if not self.onset_bucket_s >= 1e-6:
            raise ValueError(f"PIPEWARDEN_LEAKDETECT_ONSET_BUCKET_S must be > 0, got {self.onset_bucket_s}")
        if self.history_per_segment < 1:
            # 0 would not mean "none": the history is also where the query API finds the active alarm.
            raise ValueError(f"PIPEWARDEN_LEAKDETECT_HISTORY must be >= 1, got {self.history_per_segment}")
        if self.dedupe_records < 1:
            raise ValueError("PIPEWARDEN_LEAKDETECT_DEDUPE_RECORDS must be >= 1")
        if self.batch_max < 1 or self.batch_within_s <= 0:
            raise ValueError("PIPEWARDEN_LEAKDETECT_BATCH_MAX must be >= 1 and _BATCH_WITHIN_S > 0")
        if self.commit_interval_s <= 0:
            raise ValueError("PIPEWARDEN_LEAKDETECT_COMMIT_INTERVAL_S must be > 0")
        if self.detector not in ("auto", "core"):
            raise ValueError("PIPEWARDEN_LEAKDETECT_DETECTOR must be core (or auto, the same)")
        if not self.data_dir.strip():
            raise ValueError("PIPEWARDEN_LEAKDETECT_DATA_DIR must not be empty")
        if not self.app_id or not all(c.isalnum() or c in "._-" for c in self.app_id):
            raise ValueError("PIPEWARDEN_LEAKDETECT_APP_ID must be a valid topic-name prefix")

    @property
    def reorder_tolerance_us(self) -> int:
        return round(self.reorder_tolerance_s * 1e6)

    @property
    def max_clock_skew_us(self) -> int:
        return round(self.max_clock_skew_s * 1e6)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LeakdetectConfig:
        env = os.environ if env is None else env
        names = {
            "kafka_bootstrap": "PIPEWARDEN_KAFKA_BOOTSTRAP",
            "app_id": "PIPEWARDEN_LEAKDETECT_APP_ID",
            "network_file": "PIPEWARDEN_NETWORK_FILE",
            "data_dir": "PIPEWARDEN_LEAKDETECT_DATA_DIR",
            "reorder_tolerance_s": "PIPEWARDEN_LEAKDETECT_REORDER_TOLERANCE_S",
            "reorder_max_readings": "PIPEWARDEN_LEAKDETECT_REORDER_MAX_READINGS",
            "max_clock_skew_s": "PIPEWARDEN_LEAKDETECT_MAX_CLOCK_SKEW_S",
            "dedupe_records": "PIPEWARDEN_LEAKDETECT_DEDUPE_RECORDS",
            "batch_max": "PIPEWARDEN_LEAKDETECT_BATCH_MAX",
            "batch_within_s": "PIPEWARDEN_LEAKDETECT_BATCH_WITHIN_S",
            "commit_interval_s": "PIPEWARDEN_LEAKDETECT_COMMIT_INTERVAL_S",
            "grpc_port": "PIPEWARDEN_LEAKDETECT_GRPC_PORT",
            "tls_cert_file": "PIPEWARDEN_LEAKDETECT_TLS_CERT_FILE",
            "tls_key_file": "PIPEWARDEN_LEAKDETECT_TLS_KEY_FILE",
            "jwt_keys_file": "PIPEWARDEN_LEAKDETECT_JWT_KEYS_FILE",
            "metrics_port": "PIPEWARDEN_LEAKDETECT_METRICS_PORT",
            "alarm_hold_s": "PIPEWARDEN_LEAKDETECT_ALARM_HOLD_S",
            "update_min_interval_s": "PIPEWARDEN_LEAKDETECT_UPDATE_MIN_INTERVAL_S",
            "onset_bucket_s": "PIPEWARDEN_LEAKDETECT_ONSET_BUCKET_S",
            "history_per_segment": "PIPEWARDEN_LEAKDETECT_HISTORY",
            "detector": "PIPEWARDEN_LEAKDETECT_DETECTOR",
            "log_level": "PIPEWARDEN_LOG_LEVEL",
        }
        # KafkaSecurityError is a ValueError naming the variable, as this loop's errors are.
        kwargs: dict[str, object] = {"kafka_security": KafkaSecurity.from_env(env)}
        for f in fields(cls):
            if f.name == "kafka_security":
                continue
            var = names[f.name]
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            raw = raw.strip()
            try:
                if f.type == "int":
                    kwargs[f.name] = int(raw)
                elif f.type == "float":
                    kwargs[f.name] = float(raw)
                else:
                    kwargs[f.name] = raw
            except ValueError as exc:
                raise ValueError(f"{var}: cannot parse {raw!r} as {f.type}") from exc
        return cls(**kwargs)  # type: ignore[arg-type]
