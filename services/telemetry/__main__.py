"""``python -m services.telemetry``: config -> server -> run until SIGTERM/SIGINT.

With ``PIPEWARDEN_TELEMETRY_WORKERS`` > 1 this process supervises that many worker processes that share
the listen port (SO_REUSEPORT); each has its own Kafka producer and metrics port (base + index).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys

from services.observability import configure_logging, start_metrics_server
from services.telemetry.bootstrap import build_server
from services.telemetry.config import ConfigError, TelemetryConfig

log = logging.getLogger("services.telemetry")
WORKER_INDEX_ENV = "PIPEWARDEN_TELEMETRY_WORKER_INDEX"


async def run(config: TelemetryConfig, worker_index: int) -> None:
    server = build_server(config)
    metrics = None
    if config.metrics_port >= 0:
        port = config.metrics_port + worker_index if config.metrics_port else 0
        metrics = start_metrics_server(port, host=config.metrics_host, registry=server.metrics.registry)
        log.info("metrics endpoint", extra={"url": f"http://{config.metrics_host}:{metrics.port}/metrics"})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
        await stop.wait()
        log.info("shutting down: finishing in-flight batches")
    finally:
        await server.stop()
        if metrics is not None:
            metrics.stop()


def supervise(config: TelemetryConfig) -> int:
    children = []
    for index in range(config.workers):
        env = dict(os.environ, **{WORKER_INDEX_ENV: str(index)})
        children.append(subprocess.Popen([sys.executable, "-m", "services.telemetry"], env=env))

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes, default=0)


def main() -> int:
    try:
        config = TelemetryConfig.from_env()
    except ConfigError as error:
        print(f"telemetry: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging("telemetry", config.log_level)
    worker_env = os.environ.get(WORKER_INDEX_ENV)
    if config.workers > 1 and worker_env is None:
        return supervise(config)
    asyncio.run(run(config, int(worker_env or 0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
