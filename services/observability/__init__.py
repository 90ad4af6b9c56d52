"""Structured logging and the Prometheus endpoint that every Pipewarden service uses.

    >>> from services.observability import configure_logging, start_metrics_server
    >>> configure_logging("telemetry", level="INFO")  # one JSON object per line on stderr
    >>> Worker(app, logging_config=json_logging_config("leakdetect"))  # the framework's loggers too
"""

from ._logging import JsonFormatter, configure_logging, json_logging_config
from ._metrics import MetricsServer, start_metrics_server

__all__ = ["JsonFormatter", "MetricsServer", "configure_logging", "json_logging_config", "start_metrics_server"]
