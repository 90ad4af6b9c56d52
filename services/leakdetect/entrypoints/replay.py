"""`python -m services.leakdetect replay`: replay a historian export through the detectors (the public facade,
`services.leakdetect.domain.Pipeline`) and show what they would have decided.

Prints the alarms as a table; `--json` writes them as JSON lines; `--out` writes every segment's status over
time (imbalance against threshold and stated MDLR per window, `status.csv`) and a PNG per alarm (imbalance with
threshold; pressure at every meter of the segment with the onset and, where known, the position marked).
Refused rows are listed (the first of each problem) and counted. Exit status: 0 replayed, every row used;
3 replayed, some rows refused; 1 nothing replayed (network file or history file unusable); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import numpy as np

from services.leakdetect.adapters.history_file import (
    COLUMNS,
    History,
    HistoryFileError,
    TagInfo,
    read_history,
)
from services.leakdetect.domain import Alarm, BaselineStatus, Pipeline
from services.network import Network, NetworkFileError, load_network

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED_ROWS = 0, 1, 2, 3
FEED_READINGS = 2_000_000  # readings per facade call when no status is sampled


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.leakdetect replay",
        description="Replay a historian export (CSV or parquet) through the leak detectors configured from a "
                    "network file; print the alarms they raise.",
        epilog="History columns: " + ",".join(COLUMNS) + " (optionally unit), one reading per row, values in "
               "the tags' own units as the network file declares them, time in seconds since the Unix epoch, "
               "quality 0 unspecified, 1 good, 2 uncertain, 3 bad. Rows that cannot be used are refused with "
               "file, line and problem, and counted. Exit status: 0 every row used, 3 some rows refused, "
               "1 nothing replayed (a file unusable), 2 bad arguments.",
    )
    p.add_argument("--network", required=True, metavar="NET.yaml",
                   help="network file (the pipeline's segments, nodes and tags with their units and ranges)")
    p.add_argument("--readings", required=True, metavar="HISTORY",
                   help="historian export, .csv or .parquet (parquet needs pyarrow)")
    p.add_argument("--out", metavar="DIR",
                   help="write status.csv (per segment and window, every --status-interval-s of source time: "
                        "imbalance, threshold = stated MDLR, statistic) and alarm_<n>_<segment>.png per alarm")
    p.add_argument("--json", metavar="FILE",
                   help="write the alarms as JSON lines: kind, segment_id, decided_unix_s, onset_unix_s, "
                        "rate_kg_per_s, rate_interval_kg_per_s, position_m (from the segment's upstream end, or "
                        "null), position_interval_m, methods (and number, cleared_unix_s, evidence)")
    p.add_argument("--status-interval-s", type=_positive_seconds, default=60.0, metavar="S",
                   help="with --out: how often (source time) the segments' status is sampled (default 60)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and 1.0 <= value <= 86_400.0):
        raise argparse.ArgumentTypeError(f"{text!r}: want seconds between 1 and 86400")
    return value


class _Progress:
    def __init__(self, out: TextIO, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet
        self.last = 0.0

    def __call__(self, what: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not force and now - self.last < 2.0):
            return
        self.last = now
        print(what, file=self.out, flush=True)


def tag_info(network: Network, pipeline: Pipeline) -> TagInfo:
    tags = [network.tags[t] for t in pipeline.tag_ids]
    return TagInfo(
        tag_ids=pipeline.tag_ids,
        units=[t.unit for t in tags],
        range_min=np.array([t.range_min for t in tags], float),
        range_max=np.array([t.range_max for t in tags], float),
    )


def _same_file(a: str, b: str | None) -> bool:
    try:
        return b is not None and Path(a).exists() and Path(b).exists() and Path(a).samefile(b)
    except OSError:  # unusable names are refused where they are used
        return False


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and the problem
        return EXIT_USAGE if exc.code else EXIT_OK
    progress = _Progress(err, args.quiet)
    for name, target in (("--out", args.out), ("--json", args.json)):
        try:
            clash = target is not None and Path(target).exists() and (Path(target).is_dir() != (name == "--out"))
        except OSError as exc:  # e.g. a name too long for the file system
            print(f"replay: {name} {str(target)[:200]}: unusable path: {exc.strerror or exc}", file=err)
            return EXIT_USAGE
        if clash:
            print(f"replay: {name} {target}: exists and is {'not ' if name == '--out' else ''}a directory", file=err)
            return EXIT_USAGE
    if args.json is not None and any(_same_file(args.json, given) for given in (args.network, args.readings)):
        print(f"replay: --json {args.json}: is one of the input files; it would be overwritten", file=err)
        return EXIT_USAGE
    try:
        network = load_network(args.network)
        pipeline = Pipeline.from_network(network)
    except NetworkFileError as exc:
        print(f"replay: network file {exc}", file=err)
        return EXIT_FAILED
    except ValueError as exc:  # e.g. no monitored segment
        print(f"replay: network file {args.network}: {exc}", file=err)
        return EXIT_FAILED
    t0 = time.perf_counter()
    try:
        history = read_history(
            args.readings, tag_info(network, pipeline),
            lambda rows, frac: progress(f"reading {args.readings}: {rows:,} rows ({100 * frac:.0f} %)"))
    except HistoryFileError as exc:
        print(f"replay: {exc}", file=err)
        return EXIT_FAILED
    read_s = time.perf_counter() - t0
    for line in history.examples:
        print(line, file=err)
    t1 = time.perf_counter()
    status_rows = replay(pipeline, history, args.status_interval_s if args.out else None, progress)
    replay_s = time.perf_counter() - t1
    alarms = pipeline.alarms
    print_table(alarms, out)
    baselines = {sid: pipeline.baseline(sid) for sid in pipeline.segment_ids}
    print_baselines(baselines, out)
    n = history.time_unix_us.size
    rate = n / max(read_s + replay_s, 1e-9)
    print(f"{history.rows:,} rows read, {n:,} readings replayed in {read_s + replay_s:.1f} s "
          f"({rate:,.0f} readings/s; reading {read_s:.4f} s, detectors {replay_s:.4f} s), {len(alarms)} alarm(s)",
          file=out)
    if history.refused_rows:
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(history.refused.items()))
        print(f"refused {history.refused_rows:,} of {history.rows:,} rows ({counts}); the first of each are listed "
              "above", file=out)
    # An unwritable --json / --out (no such folder, a name too long, no permission, disk full) is said as such,
    # after the alarms were printed: never a traceback (found by make fuzz).
    if args.json:
        try:
            write_json(alarms, Path(args.json), baselines)
        except OSError as exc:
            print(f"replay: --json {args.json[:200]}: cannot be written: {exc.strerror or exc}", file=err)
            return EXIT_FAILED
        print(f"alarms written to {args.json}", file=out)
    if args.out:
        try:
            written = write_out(Path(args.out), pipeline, network, history, status_rows, alarms)
        except OSError as exc:
            print(f"replay: --out {args.out[:200]}: cannot be written: {exc.strerror or exc}", file=err)
            return EXIT_FAILED
        print(f"status and {len(written) - 1} plot(s) written to {args.out}", file=out)
    return EXIT_REFUSED_ROWS if history.refused_rows else EXIT_OK


def replay(pipeline: Pipeline, history: History, status_interval_s: float | None, progress: _Progress
           ) -> list[tuple[float, dict[str, np.ndarray]]]:
    """Feed the history in time order; returns the sampled status (time, window table) when asked for."""
    t = history.time_unix_us
    order = None if t.size < 2 or bool(np.all(t[1:] >= t[:-1])) else np.argsort(t, kind="stable")

    def take(a: np.ndarray) -> np.ndarray:
        return a if order is None else a[order]

    tag, t, v, q = take(history.tag_index), take(t), take(history.value), take(history.quality)
    n = t.size
    samples: list[tuple[float, dict[str, np.ndarray]]] = []
    if n == 0:
        return samples
    if status_interval_s is None:
        edges = [*range(0, n, FEED_READINGS), n]
        sample_at = None
    else:
        step = round(status_interval_s * 1e6)
        sample_at = np.arange(int(t[0]) - int(t[0]) % step + step, int(t[-1]) + step, step, dtype=np.int64)
        edges = [0, *np.searchsorted(t, sample_at, side="left").tolist()]
    for k in range(len(edges) - 1):
        a, b = edges[k], edges[k + 1]
        if b > a:
            pipeline.feed(tag=tag[a:b], time_unix_us=t[a:b], value=v[a:b], quality=q[a:b])
        if sample_at is not None:
            samples.append((float(sample_at[k]) / 1e6, pipeline.window_table()))
        progress(f"replaying: {b:,} of {n:,} readings ({100 * b / n:.0f} %)")
    pipeline.advance_to(float(t[-1]) / 1e6)  # the end of the history: open fronts expire, silent tags turn stale
    progress(f"replayed {n:,} readings", force=True)
    return samples


def _utc(t: float | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _interval(v: float | None, iv: tuple[float, float] | None, scale: float = 1.0, fmt: str = ".3f") -> str:
    if v is None:
        return "-"
    s = f"{v / scale:{fmt}}"
    return s + (f" [{iv[0] / scale:{fmt}}, {iv[1] / scale:{fmt}}]" if iv else "")


def print_table(alarms: list[Alarm], out: TextIO) -> None:
    if not alarms:
        print("no alarms", file=out)
        return
    head = ("#", "kind", "segment", "onset (UTC)", "decided (UTC)", "rate kg/s [95 %]", "position km [95 %]",
            "methods")
    rows = [(str(a.number), a.kind, a.segment, _utc(a.onset_unix_s), _utc(a.decided_unix_s),
             _interval(a.rate_kg_per_s, a.rate_interval_kg_per_s),
             _interval(a.position_m, a.position_interval_m, 1000.0, ".2f"), ",".join(a.methods)) for a in alarms]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    for r in (head, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def write_json(alarms: list[Alarm], path: Path, baselines: Mapping[str, BaselineStatus] | None = None) -> None:
    """One JSON line per alarm; with `baselines`, each carries its segment's learned baseline at the replay's end
    (`baseline`: `BaselineStatus.as_json`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for a in alarms:
            record = a.as_json()
            if baselines is not None and a.segment in baselines:
                record["baseline"] = baselines[a.segment].as_json()
            fh.write(json.dumps(_finite(record), allow_nan=False) + "\n")


def print_baselines(baselines: Mapping[str, BaselineStatus], out: TextIO) -> None:
    """Each segment's learned baseline at the replay's end (issue 24): how and when it was learned, offset, gain
    and kappa, the friction calibration of the location, the stated 15-min MDLR, re-learnings."""
    for sid, b in baselines.items():
        if not b.learned:
            print(f"baseline {sid}: not learned ({b.learning_blocks} of {b.learning_window_blocks} blocks, "
                  f"{b.skipped_transient_blocks} transient blocks left out)", file=out)
            continue
        friction = (f"friction k {b.friction_k:.4g} +- {b.friction_k_sd:.2g} Pa^2 s^2/kg^2 "
                    f"({b.friction_calibration_blocks:.0f} blocks)" if b.friction_k is not None else "friction -")
        rejected = f", last rejected: {b.last_rejection}" if b.last_rejection else ""
        print(f"baseline {sid}: {b.source} at {_utc(b.learned_unix_s)} (from {_utc(b.window_start_unix_s)}, "
              f"{b.blocks} blocks): offset {b.offset_kg_per_s:.4f} +- {b.offset_sd_kg_per_s:.4f} kg/s, gain "
              f"{b.gain:.5f} +- {b.gain_sd:.5f}, kappa {b.kappa:.2f} at {b.throughput_kg_per_s:.3f} kg/s; {friction}; "
              f"MDLR 15 min {b.mdlr_15min_kg_per_s:.4f} kg/s; re-learnings {b.relearns_adopted} adopted, "
              f"{b.relearns_rejected} rejected{rejected}", file=out)


def _finite(x: object) -> object:
    """JSON has no infinities or NaN (an MDLR is infinite while a segment is not monitored): null instead."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def write_out(out_dir: Path, pipeline: Pipeline, network: Network, history: History,
              samples: list[tuple[float, dict[str, np.ndarray]]], alarms: list[Alarm]) -> list[Path]:
    from services.leakdetect.entrypoints import replay_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    status_path = out_dir / "status.csv"
    windows = pipeline.window_lengths_s()
    with open(status_path, "w", encoding="utf-8") as fh:
        fh.write("time_unix_s,segment_id,window_s,imbalance_kg_per_s,threshold_kg_per_s,statistic\n")
        for t, table in samples:
            for i, sid in enumerate(pipeline.segment_ids):
                for w, w_s in enumerate(windows):
                    fh.write(f"{t:.0f},{sid},{w_s:.0f},{table['imbalance_kg_per_s'][i, w]:.6g},"
                             f"{table['threshold_kg_per_s'][i, w]:.6g},{table['statistic'][i, w]:.6g}\n")
    written = [status_path]
    for a in alarms:
        written.append(replay_plots.alarm_plot(out_dir / f"alarm_{a.number}_{a.segment}.png", a, pipeline, network,
                                               history, samples))
    return written
