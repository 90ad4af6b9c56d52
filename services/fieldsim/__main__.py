"""``python -m services.fieldsim --target 127.0.0.1:50051 --duration 30``: stream simulated gateways.

Tokens come from ``--tokens`` or ``PIPEWARDEN_FIELDSIM_GATEWAY_TOKENS`` (same ``gw=token,...`` form as
telemetry's ``PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS``, which is also read as a fallback).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from services.network import load_demo_network, load_network
from services.observability import configure_logging
from services.telemetry.config import ConfigError, parse_gateway_tokens

from .fleet import Fleet, FleetConfig
from .gateway import BadReadings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.fieldsim", description=__doc__)
    parser.add_argument("--target", default=os.environ.get("PIPEWARDEN_FIELDSIM_TARGET", "127.0.0.1:50051"))
    parser.add_argument("--duration", type=float, default=None, help="seconds; default: until Ctrl-C")
    parser.add_argument("--network", default=os.environ.get("PIPEWARDEN_NETWORK_FILE"), help="default: demo city")
    parser.add_argument("--tokens", default=None, help="gw=token,... (default: from the environment)")
    parser.add_argument("--gateways", default=None, help="comma-separated subset (default: all with a token)")
    parser.add_argument("--batch-interval", type=float, default=1.0, help="seconds between batches")
    parser.add_argument("--bad-fraction", type=float, default=0.0, help="chance per batch of one bad reading")
    parser.add_argument("--first-sequence", type=int, default=None)
    parser.add_argument("--tls-root-cert", default=None, help="PEM file; enables TLS")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--replay-from", type=float, default=None, metavar="SECONDS_AGO",
        help="store-and-forward catch-up: source time starts this long ago and runs --time-scale times "
        "faster than real time until it reaches now, then goes on live",
    )  # fmt: skip
    parser.add_argument("--time-scale", type=float, default=60.0, help="replay speed (with --replay-from)")
    parser.add_argument("--batch-source-s", type=float, default=1.0, help="source seconds per replayed batch")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    raw_tokens = (
        args.tokens
        or os.environ.get("PIPEWARDEN_FIELDSIM_GATEWAY_TOKENS")
        or os.environ.get("PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS", "")
    )
    tokens = parse_gateway_tokens(raw_tokens, source="--tokens")
    network = load_network(args.network) if args.network else load_demo_network()
    config = FleetConfig(
        target=args.target,
        tokens=tokens,
        gateways=tuple(args.gateways.split(",")) if args.gateways else None,
        batch_interval_s=args.batch_interval,
        duration_s=args.duration,
        bad=BadReadings(fraction=args.bad_fraction),
        first_sequence=args.first_sequence,
        tls_root_cert=Path(args.tls_root_cert).read_bytes() if args.tls_root_cert else None,
        seed=args.seed,
        start_unix_s=None if args.replay_from is None else time.time() - args.replay_from,
        time_scale=args.time_scale,
        batch_source_s=args.batch_source_s,
    )
    fleet = Fleet(network, config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, fleet.stop)
    report = await fleet.run()
    print(json.dumps(report.summary(), indent=2))
    return 0 if report.total("batches_failed") == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("fieldsim", args.log_level)
    try:
        return asyncio.run(amain(args))
    except (ConfigError, ValueError) as error:
        print(f"fieldsim: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
