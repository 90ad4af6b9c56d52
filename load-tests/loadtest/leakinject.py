"""``python -m loadtest.leakinject``: replay a physically simulated leak through telemetry (a subprocess of
the load tester, so that the physics does not share the load generator's interpreter).

One gateway replays its history from --start to --end (Unix s) time-compressed by --time-scale, with leaks
(services.gasflow), each ``--leak SEGMENT,POSITION_M,ONSET`` (repeatable); the gateway's token comes from the
environment (LOADTEST_LEAK_TOKEN, never the command line). The physics runs first: every reading is sampled, then
{"ready": Unix s, "readings": n} is printed and the replay starts. With --tail-from, the history before it
(the detectors' learning) goes at --time-scale, then {"tail": Unix s} is printed and the rest (the leaks) at
--tail-time-scale: the load tester starts its load at the tail, so the history's burst (~26,000 readings/s
at 300x) is not part of the measured load, and the tail adds a few thousand readings/s to it. Then one JSON
line per step of source time reached, {"wall": Unix s, "source": Unix s}, and at the end {"summary": {...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
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


@dataclass
class TwoSpeedConfig(FleetConfig):
    """A replay clock in two speeds: ``time_scale`` up to ``tail_from``, then ``tail_time_scale`` from the moment
    the replay actually reached it (``mark_tail``; acks may hold a replay behind its clock)."""

    tail_from: float | None = None
    tail_time_scale: float = 1.0
    _tail_mark: list[float] = field(default_factory=list)  # monotonic time the tail began

    def mark_tail(self) -> None:
        if not self._tail_mark:
            self._tail_mark.append(time.monotonic())

    def source_time(self, elapsed_s: float, now_s: float) -> float:
        if self.tail_from is None:
            return super().source_time(elapsed_s, now_s)
        if not self._tail_mark:
            return min(super().source_time(elapsed_s, now_s), self.tail_from)
        in_tail_s = max(0.0, self._tail_mark[0] - (time.monotonic() - elapsed_s))
        return min(self.tail_from + self.tail_time_scale * (elapsed_s - in_tail_s), now_s)


async def run(args: argparse.Namespace) -> dict[str, object]:
    network = load_network(args.network) if args.network else load_demo_network()
    leaks = tuple(LeakSpec(segment, position_m, onset, rate_kg_per_s=args.rate_kg_per_s)
                  for segment, position_m, onset in args.leak)
    values = SimulatedValues(network, seed=args.seed, leaks=leaks)
    # The simulation begins one chunk before the replay, so that no leak falls in its first chunk: a replay that
    # started a few minutes before a leak (a later run on the same deployment) showed the segment a rupture at
    # its very start, 30 s before the onset (TR-01, 2026-12-06), where a leak in a later chunk (TR-04, same run)
    # was detected after its onset as in a first run. The truth is read, not sampled: no noise drawn.
    values.true_value_si(network.tags_of_gateway(args.gateway)[0], args.start - values.chunk_s)
    config = TwoSpeedConfig(
        target=args.target, tokens={args.gateway: os.environ["LOADTEST_LEAK_TOKEN"]}, gateways=(args.gateway,),
        first_sequence=time.time_ns() // 1000, seed=args.seed, start_unix_s=args.start, time_scale=args.time_scale,
        batch_source_s=args.batch_source_s, end_unix_s=args.end, ack_timeout_s=30.0,
        # The parent's TLS setting (a deployment with tls: true) reaches this child through the environment.
        tls_root_cert=Path(ca).read_bytes() if (ca := os.environ.get(transport.CA_ENV)) else None,
        # Mutual TLS (a tls: true deployment): the gateway presents its own certificate, as a real one does.
        tls_client_certs={args.gateway: (Path(files[0]).read_bytes(), Path(files[1]).read_bytes())}
        if (files := transport.gateway_cert_files(args.gateway)) else {},
        tail_from=args.tail_from, tail_time_scale=args.tail_time_scale,
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
            if config.tail_from is not None and last >= config.tail_from and not config._tail_mark:
                config.mark_tail()
                print(json.dumps({"tail": time.time()}), flush=True)
        await asyncio.wait({task}, timeout=0.02)
    return task.result().summary()


def leak_arg(text: str) -> tuple[str, float, float]:
    parts = text.split(",")
    try:
        if len(parts) != 3 or not parts[0]:
            raise ValueError
        return parts[0], float(parts[1]), float(parts[2])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SEGMENT,POSITION_M,ONSET_UNIX_S, got {text!r}") from None


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.leakinject")
    parser.add_argument("--target", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--leak", type=leak_arg, action="append", required=True,
                        help="SEGMENT,POSITION_M,ONSET_UNIX_S (repeatable: one leak each)")
    parser.add_argument("--rate-kg-per-s", type=float, required=True)
    parser.add_argument("--start", type=float, required=True)
    parser.add_argument("--end", type=float, required=True)
    parser.add_argument("--time-scale", type=float, default=300.0)
    parser.add_argument("--tail-from", type=float, default=None, help="source time where the tail begins")
    parser.add_argument("--tail-time-scale", type=float, default=300.0)
    parser.add_argument("--batch-source-s", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--network", default=None)
    args = parser.parse_args()
    summary = asyncio.run(run(args))
    print(json.dumps({"summary": summary}, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
