"""``python -m services.gateway --config GATEWAY.yaml``: run one field gateway until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from services.observability import configure_logging

from .bootstrap import Gateway
from .config import GatewayConfigError, load_config


def _dump_tasks() -> None:
    for task in asyncio.all_tasks():
        print(f"--- {task.get_name()}: {task.get_coro()}", file=sys.stderr)
        task.print_stack(limit=12, file=sys.stderr)
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gateway", description=__doc__)
    parser.add_argument("--config", default=os.environ.get("PIPEWARDEN_GATEWAY_CONFIG"), help="the gateway's YAML file")
    parser.add_argument("--check", action="store_true", help="check the configuration and exit")
    args = parser.parse_args(argv)
    if not args.config:
        print("gateway: no configuration: give --config FILE or PIPEWARDEN_GATEWAY_CONFIG", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except GatewayConfigError as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    if args.check:
        print(
            f"{args.config}: gateway {config.gateway_id}, {config.tag_count} tags, "
            f"{len(config.modbus)} Modbus device(s), {len(config.opcua)} OPC UA server(s): ok"
        )
        return 0
    configure_logging("gateway", config.log_level)
    # pymodbus and asyncua log every frame and reconnect attempt at INFO/DEBUG; the gateway reports what matters
    for noisy in ("pymodbus", "asyncua"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    async def run() -> None:
        gateway = Gateway(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, gateway.stop)
        loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)  # "where is it stuck?" without a debugger
        await gateway.run()

    try:
        asyncio.run(run())
    except GatewayConfigError as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. the queue file's directory or the health port cannot be used
        print(f"gateway: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
