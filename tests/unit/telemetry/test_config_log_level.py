"""Telemetry's log level: its own variable first, then the variable all services share."""

from services.telemetry.config import TelemetryConfig


def test_log_level_falls_back_to_the_shared_variable() -> None:
    assert TelemetryConfig.from_env({}).log_level == "INFO"
    assert TelemetryConfig.from_env({"PIPEWARDEN_LOG_LEVEL": "DEBUG"}).log_level == "DEBUG"
    both = {"PIPEWARDEN_LOG_LEVEL": "DEBUG", "PIPEWARDEN_TELEMETRY_LOG_LEVEL": "WARNING"}
    assert TelemetryConfig.from_env(both).log_level == "WARNING"
