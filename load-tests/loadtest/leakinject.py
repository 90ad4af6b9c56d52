"""``python -m loadtest.leakinject``: replay a physically simulated leak through telemetry (a subprocess of
the load tester, so that the physics does not share the load generator's interpreter).

One gateway replays its history from --start to --end (Unix s) time-compressed by --time-scale, with a
leak (services.gasflow) on --segment from --onset; the gateway's token comes from the environment
(LOADTEST_LEAK_TOKEN, never the command line). The physics runs first: every reading is sampled, then
{"ready": Unix s, "readings": n} is printed and the replay starts (so the load tester starts its load after
the simulation, and the replay adds only a gateway's sending to it). Then one JSON line per step of source
time reached, {"wall": Unix s, "source": Unix s}, and at the end {"summary": {...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import loadtest  # noqa: F401  (puts the repository on sys.path)
from loadtest import transport
from services.fieldsim import BatchBuilder, Fleet, FleetConfig, ValueSource
from services.gasflow import LeakSpec
from services.gasflow.fieldsource import SimulatedValues
from services.network import Network, Tag, load_demo_network, load_network


class RecordedValues:
    """A ValueSource answering from values sampled beforehand (tag id, time -> value): the physics runs before
    the load, so the replay during it costs only what a gateway's sending does."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, float], float] = {}

    def sample(self, tag: Tag, time_s: float) -> float:
        return self.values[(tag.tag_id, time_s)]


class _Recording:
    def __init__(self, source: ValueSource, into: RecordedValues) -> None:
        self.source, self.into = source, into

    def sample(self, tag: Tag, time_s: float) -> float:
        value = self.source.sample(tag, time_s)
        self.into.values[(tag.tag_id, time_s)] = value
        return value


def precompute(network: Network, config: FleetConfig, source: ValueSource, gateway: str) -> RecordedValues:
    """Sample every reading the replay will send, in the order the fleet's replay asks for them (the same
    builder, seed and source times: the simulator's noise is drawn in that order)."""
    assert config.start_unix_s is not None and config.end_unix_s is not None
    recorded = RecordedValues()
    builder = BatchBuilder(gateway, network.tags_of_gateway(gateway), _Recording(source, recorded),
                           first_sequence=1, bad=config.bad, seed=None if config.seed is None else config.seed)
    at = config.start_unix_s
    builder.build(at)
    while at < config.end_unix_s:
        at = min(at + config.batch_source_s, config.end_unix_s)
        builder.build(at)
    return recorded


async def run(args: argparse.Namespace) -> dict[str, object]:
    network = load_network(args.network) if args.network else load_demo_network()
    values = SimulatedValues(network, seed=args.seed, leaks=(
        LeakSpec(args.segment, args.position_m, args.onset, rate_kg_per_s=args.rate_kg_per_s),))
    config = FleetConfig(
        target=args.target, tokens={args.gateway: os.environ["LOADTEST_LEAK_TOKEN"]}, gateways=(args.gateway,),
        first_sequence=time.time_ns() // 1000, seed=args.seed, start_unix_s=args.start, time_scale=args.time_scale,
        batch_source_s=args.batch_source_s, end_unix_s=args.end, ack_timeout_s=30.0,
        # The parent's TLS setting (a deployment with tls: true) reaches this child through the environment.
        tls_root_cert=Path(ca).read_bytes() if (ca := os.environ.get(transport.CA_ENV)) else None,
    )
    recorded = precompute(network, config, values, args.gateway)
    print(json.dumps({"ready": time.time(), "readings": len(recorded.values)}), flush=True)
    fleet = Fleet(network, config, recorded)
    task = asyncio.ensure_future(fleet.run())
    last: float | None = None
    while not task.done():
        if fleet.source_time_s is not None and fleet.source_time_s != last:
            last = fleet.source_time_s
            print(json.dumps({"wall": time.time(), "source": last}), flush=True)
        await asyncio.wait({task}, timeout=0.02)
    return task.result().summary()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.leakinject")
    parser.add_argument("--target", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--segment", required=True)
    parser.add_argument("--position-m", type=float, required=True)
    parser.add_argument("--rate-kg-per-s", type=float, required=True)
    parser.add_argument("--start", type=float, required=True)
    parser.add_argument("--onset", type=float, required=True)
    parser.add_argument("--end", type=float, required=True)
    parser.add_argument("--time-scale", type=float, default=300.0)
    parser.add_argument("--batch-source-s", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--network", default=None)
    args = parser.parse_args()
    summary = asyncio.run(run(args))
    print(json.dumps({"summary": summary}, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
