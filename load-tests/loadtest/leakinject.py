"""``python -m loadtest.leakinject``: replay a physically simulated leak through telemetry (a subprocess of
the load tester, so that the physics does not share the load generator's interpreter).

One gateway replays its history from --start to --end (Unix s) time-compressed by --time-scale, with leaks
(services.gasflow), each ``--leak SEGMENT,POSITION_M,ONSET`` (repeatable); the gateway's token comes from the
environment (LOADTEST_LEAK_TOKEN, never the command line). The physics runs first: every reading is sampled, then
{"ready": Unix s, "readings": n} is printed and the replay starts. With --tail-from, the history before it
(the detectors' learning) goes at --time-scale in batches of --history-batch-source-s (in bulk: the load
tester gives 3000x and a minute of source time per batch), then {"tail": Unix s} is printed and the rest (the
leaks) at --tail-time-scale in batches of --batch-source-s: the load tester starts its load at the tail, so
the history's burst is not part of the measured load, and the tail adds a few thousand readings/s to it. The
replay's clock never passes the wall clock (an --end in the future is reached in real time). Then one JSON
line per step of source time reached, {"wall": Unix s, "source": Unix s}, and at the end {"summary": {...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import loadtest  # noqa: F401  (puts the repository on sys.path)
from loadtest import transport
from services.fieldsim import Fleet, FleetConfig
from services.gasflow import LeakSpec
from services.gasflow.fieldsource import SimulatedValues
from services.network import Network, Tag, load_demo_network, load_network


class RecordedValues:
    """A ValueSource answering from values sampled beforehand: the physics runs before the load, so the replay
    during it costs only what a gateway's sending does. Per tag, its readings on the scan grid a gateway samples
    it on (services.fieldsim.BatchBuilder: from floor(start / period) * period, one every period); a time is
    looked up by its place on that grid, so that the builder's running sum of periods need not equal it to the
    last bit."""

    def __init__(self) -> None:
        self.grid: dict[str, tuple[float, float, np.ndarray]] = {}  # tag id -> (first time, period, values)

    def __len__(self) -> int:
        return sum(len(values) for _, _, values in self.grid.values())

    def sample(self, tag: Tag, time_s: float) -> float:
        first, period, values = self.grid[tag.tag_id]
        return float(values[round((time_s - first) / period)])


def precompute(network: Network, source: SimulatedValues, gateway: str, start: float, end: float,
               step_s: float = 60.0) -> RecordedValues:
    """Sample every reading the replay of ``gateway`` from ``start`` to ``end`` will send, vectorised per tag and
    ``step_s`` of source time (the simulation advances chunk by chunk, every tag with it)."""
    recorded = RecordedValues()
    tags = network.tags_of_gateway(gateway)
    grids = {t.tag_id: (math.floor(start / t.scan_period_s) * t.scan_period_s, t.scan_period_s) for t in tags}
    # one reading beyond the end: the builder's running sum may put its last due time a hair past it
    counts = {tag_id: math.floor((end - first) / period) + 2 for tag_id, (first, period) in grids.items()}
    parts: dict[str, list[np.ndarray]] = {t.tag_id: [] for t in tags}
    at = min(first for first, _ in grids.values())
    stop = max(first + period * (counts[tag_id] - 1) for tag_id, (first, period) in grids.items())
    while at <= stop:
        for tag in tags:
            first, period = grids[tag.tag_id]
            k0 = max(0, math.ceil((at - first) / period - 1e-9))
            k1 = min(counts[tag.tag_id], math.ceil((at + step_s - first) / period - 1e-9))
            if k1 > k0:
                parts[tag.tag_id].append(source.sample_many(tag, first + period * np.arange(k0, k1)))
        at += step_s
    for tag in tags:
        first, period = grids[tag.tag_id]
        recorded.grid[tag.tag_id] = (first, period, np.concatenate(parts[tag.tag_id]))
    return recorded


@dataclass
class TwoSpeedConfig(FleetConfig):
    """A replay clock in two speeds: ``time_scale`` up to ``tail_from``, then ``tail_time_scale`` from the moment
    the replay actually reached it (``mark_tail``; acks may hold a replay behind its clock)."""

    tail_from: float | None = None
    tail_time_scale: float = 1.0
    tail_batch_source_s: float | None = None  # the tail's batches (None: batch_source_s throughout)
    _tail_mark: list[float] = field(default_factory=list)  # monotonic time the tail began

    def mark_tail(self) -> None:
        if not self._tail_mark:
            self._tail_mark.append(time.monotonic())
            if self.tail_batch_source_s is not None:
                self.batch_source_s = self.tail_batch_source_s  # the fleet reads it at every step

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
        batch_source_s=args.history_batch_source_s or args.batch_source_s, end_unix_s=args.end, ack_timeout_s=30.0,
        # The parent's TLS setting (a deployment with tls: true) reaches this child through the environment.
        tls_root_cert=Path(ca).read_bytes() if (ca := os.environ.get(transport.CA_ENV)) else None,
        # Mutual TLS (a tls: true deployment): the gateway presents its own certificate, as a real one does.
        tls_client_certs={args.gateway: (Path(files[0]).read_bytes(), Path(files[1]).read_bytes())}
        if (files := transport.gateway_cert_files(args.gateway)) else {},
        tail_from=args.tail_from, tail_time_scale=args.tail_time_scale,
        tail_batch_source_s=args.batch_source_s if args.tail_from is not None else None,
    )
    recorded = precompute(network, values, args.gateway, args.start, args.end)
    print(json.dumps({"ready": time.time(), "readings": len(recorded)}), flush=True)
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
    parser.add_argument("--batch-source-s", type=float, default=10.0, help="source s per batch (the tail's)")
    parser.add_argument("--history-batch-source-s", type=float, default=None,
                        help="source s per batch before --tail-from (default: --batch-source-s)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--network", default=None)
    args = parser.parse_args()
    summary = asyncio.run(run(args))
    print(json.dumps({"summary": summary}, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
