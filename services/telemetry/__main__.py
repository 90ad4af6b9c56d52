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
from pathlib import Path

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


def supervise(config: TelemetryConfig, dev: bool = False) -> int:
    children = []
    for index in range(config.workers):
        env = dict(os.environ, **{WORKER_INDEX_ENV: str(index)})
        children.append(subprocess.Popen([sys.executable, "-m", "services.telemetry", *(["--dev"] if dev else [])],
                                         env=env))

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes, default=0)


def gateway_tokens_problem(config: TelemetryConfig) -> str | None:
    """Why telemetry cannot authenticate any gateway (None: it can). A server that refuses every call is no
    server: it starts so only with ``--dev``."""
    from services.telemetry.adapters.auth import TokenFileError, parse_token_hashes

    if config.gateway_token_hashes_file is not None:
        try:
            if parse_token_hashes(Path(config.gateway_token_hashes_file)):
                return None
        except TokenFileError as error:
            return str(error)
    if config.gateway_tokens:
        return None
    return ("no gateway tokens configured: set PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE (hashed tokens, "
            "`python -m services.telemetry tokens add GATEWAY`), or PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS[_FILE] "
            "(plain, for development); `--dev` starts without any and refuses every call")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["tokens"]:
        from services.telemetry.entrypoints.tokens_cli import main as tokens_cli

        return tokens_cli(args[1:])
    dev = args == ["--dev"]
    if args and not dev:
        print("usage: python -m services.telemetry [--dev] | tokens {add,revoke,list} ...", file=sys.stderr)
        return 0 if args[0] in ("-h", "--help") else 2
    try:
        config = TelemetryConfig.from_env()
    except ConfigError as error:
        print(f"telemetry: configuration error: {error}", file=sys.stderr)
        return 2
    problem = gateway_tokens_problem(config)
    if problem is not None and not dev:
        print(f"telemetry: {problem}", file=sys.stderr)
        return 2
    configure_logging("telemetry", config.log_level)
    if problem is not None:
        log.warning("dev mode: %s", problem)
    worker_env = os.environ.get(WORKER_INDEX_ENV)
    if config.workers > 1 and worker_env is None:
        return supervise(config, dev)
    asyncio.run(run(config, int(worker_env or 0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
