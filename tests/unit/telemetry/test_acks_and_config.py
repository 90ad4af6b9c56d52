"""Batch-level checks, the ack window, gateway tokens and configuration parsing."""

from __future__ import annotations

import pytest

from services.telemetry.adapters.auth import AuthError, GatewayTokens
from services.telemetry.config import ConfigError, TelemetryConfig, parse_gateway_tokens
from services.telemetry.domain import AckWindow, BatchAck, BatchError, check_batch_shape


def ack(seq: int, gateway: str = "gw") -> BatchAck:
    return BatchAck(gateway, seq, 1, 0, ())


def test_window_returns_original_ack_and_marks_duplicates() -> None:
    window = AckWindow(3)
    window.remember(ack(1))
    found = window.get("gw", 1)
    assert found == ack(1) and found is not None and found.as_duplicate().duplicate_batch
    assert window.get("gw", 2) is None and window.get("other", 1) is None


def test_window_keeps_the_highest_sequences() -> None:
    window = AckWindow(3)
    for seq in (5, 1, 6, 7, 8):
        window.remember(ack(seq))
    assert window.sequences("gw") == [6, 7, 8]


def test_window_is_per_gateway() -> None:
    window = AckWindow(1)
    window.remember(ack(1, "a"))
    window.remember(ack(1, "b"))
    assert window.get("a", 1) is not None and window.get("b", 1) is not None


@pytest.mark.parametrize(
    ("gateway", "seq", "count", "kind", "words"),
    [
        ("", 1, 1, BatchError.INVALID, "gateway_id is empty"),
        ("gw-x", 1, 1, BatchError.WRONG_GATEWAY, "not the authenticated gateway"),
        ("gw", 0, 1, BatchError.INVALID, "sequence 0 is reserved"),
        ("gw", 1, 0, BatchError.INVALID, "readings is empty"),
        ("gw", 1, 11, BatchError.TOO_LARGE, "at most 10"),
    ],
)
def test_batch_shape_errors(gateway: str, seq: int, count: int, kind: str, words: str) -> None:
    with pytest.raises(BatchError) as caught:
        check_batch_shape(gateway, seq, count, "gw", max_readings=10)
    assert caught.value.kind == kind and words in str(caught.value)


def test_batch_shape_ok() -> None:
    check_batch_shape("gw", 1, 10, "gw", max_readings=10)


def test_tokens() -> None:
    tokens = GatewayTokens({"gw-a": "tok1", "gw-b": "tok2"})
    assert tokens.gateway_of([("authorization", "Bearer tok2")]) == "gw-b"
    assert tokens.gateway_of([("x", "y"), ("authorization", b"bearer tok1")]) == "gw-a"
    for metadata, words in [
        ([], "missing"),
        ([("authorization", "Basic tok1")], "malformed"),
        ([("authorization", "Bearer ")], "malformed"),
        ([("authorization", "Bearer tok3")], "unknown"),
        ([("authorization", "Bearer tok")], "unknown"),
    ]:
        with pytest.raises(AuthError, match=words):
            tokens.gateway_of(metadata)


def test_parse_tokens() -> None:
    assert parse_gateway_tokens("gw-a=tok1, gw-b = tok2\n# comment\n", "x") == {"gw-a": "tok1", "gw-b": "tok2"}
    for bad in ("gw-a", "gw-a=", "=tok", "gw-a=t1,gw-a=t2", "gw-a=same,gw-b=same"):
        with pytest.raises(ConfigError):
            parse_gateway_tokens(bad, "x")


def test_config_from_env(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text("gw-c=tok3\n")
    config = TelemetryConfig.from_env(
        {
            "PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS": "gw-a=tok1",
            "PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS_FILE": str(tokens_file),
            "PIPEWARDEN_TELEMETRY_MAX_CLOCK_SKEW_S": "2.5",
            "PIPEWARDEN_KAFKA_BOOTSTRAP": "k:1",
            "PIPEWARDEN_TELEMETRY_MAX_READINGS_PER_BATCH": "100",
        }
    )
    assert dict(config.gateway_tokens) == {"gw-a": "tok1", "gw-c": "tok3"}
    assert (
        config.max_clock_skew_s == 2.5 and config.kafka_bootstrap == "k:1" and config.max_readings_per_batch == 100
    )
    assert TelemetryConfig.from_env({}) == TelemetryConfig()


@pytest.mark.parametrize(
    "env",
    [
        {"PIPEWARDEN_TELEMETRY_MAX_READINGS_PER_BATCH": "0"},
        {"PIPEWARDEN_TELEMETRY_MAX_CLOCK_SKEW_S": "soon"},
        {"PIPEWARDEN_TELEMETRY_TLS_CERT_FILE": "/x.pem"},
        {"PIPEWARDEN_TELEMETRY_KAFKA_COMPRESSION": "rar"},
        {"PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS_FILE": "/nonexistent/tokens"},
    ],
)
def test_config_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        TelemetryConfig.from_env(env)


def test_kafka_max_request_bytes_from_env() -> None:
    assert TelemetryConfig().kafka_max_request_bytes == 1024 * 1024  # Kafka's own default
    env = {"PIPEWARDEN_TELEMETRY_KAFKA_MAX_REQUEST_BYTES": "2097152"}
    assert TelemetryConfig.from_env(env).kafka_max_request_bytes == 2 * 1024 * 1024
    for bad in ("100", "big"):
        with pytest.raises(ConfigError, match="KAFKA_MAX_REQUEST_BYTES"):
            TelemetryConfig.from_env({"PIPEWARDEN_TELEMETRY_KAFKA_MAX_REQUEST_BYTES": bad})
