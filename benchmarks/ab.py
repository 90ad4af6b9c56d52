"""Before and after, in one session: the speed benchmarks of another revision and of this checkout, alternately.

    python -m benchmarks.ab --base 736bcae [--head HEAD] [--rounds 2] [--benches kernels,stream,ingest]

The machine is shared and noisy, so a figure measured in another session says little about a change. This runs
each benchmark on two revisions (each a git worktree under .cache/ab/ with its own venv from its own lock file,
so uncommitted edits in the checkout do not count), alternating base, head, base, head..., and reports each
run's figure and the ratio of the medians (head / base). The benchmarks are the project's own, as each
revision has them:

- kernels: `benchmarks.detection.speed()` — the numba kernels on 10,000 segments (readings/s, one core);
- stream: `load-tests/stream.py` — readings/s one leakdetect worker drains (`reports/stream.json`);
- ingest: `load-tests/ingest.py` — readings/s telemetry accepts end to end (`reports/ingest.json`).

Writes reports/ab.json and reports/ab.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
# Downloads the base revision's set-up would repeat: the pinned uv, the Kafka jars and their Maven cache.
_SHARED_CACHES = ("uv-tool", "kafka", "m2")

_KERNELS = "import json; from benchmarks.detection import speed; print('AB ' + json.dumps(speed()))"


def _kernels(tree: Path) -> float:
    out = subprocess.run([str(tree / ".venv/bin/python"), "-c", _KERNELS], cwd=tree, check=True,
                         capture_output=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("AB "))
    return float(json.loads(line[3:])["kernel_readings_per_s"])


def _report_figure(script: str, report: str, key: str) -> Callable[[Path], float]:
    def run(tree: Path) -> float:
        subprocess.run([str(tree / ".venv/bin/python"), script], cwd=tree, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return float(json.loads((tree / "reports" / report).read_text())[key])

    return run


BENCHES: dict[str, tuple[str, Callable[[Path], float]]] = {
    "kernels": ("numba kernels, readings/s (10,000 segments, one core)", _kernels),
    "stream": ("one leakdetect worker's backlog drain, readings/s",
               _report_figure("load-tests/stream.py", "stream.json", "readings_per_s")),
    "ingest": ("telemetry, readings/s accepted end to end",
               _report_figure("load-tests/ingest.py", "ingest.json", "readings_per_s")),
}


def tree_of(rev: str) -> Path:
    """A worktree of `rev` with its venv and Kafka jars (made once, reused)."""
    sha = subprocess.run(["git", "rev-parse", "--short=12", rev], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    tree = ROOT / ".cache" / "ab" / sha
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=ROOT, check=True)
        for name in _SHARED_CACHES:
            if (ROOT / ".cache" / name).exists():
                shutil.copytree(ROOT / ".cache" / name, tree / ".cache" / name, symlinks=True)
    for target in ("venv", "kafka-jars"):
        subprocess.run(["make", "-s", target], cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return tree


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the revision to compare with (commit, tag or branch)")
    ap.add_argument("--head", default="HEAD", help="the revision measured against it (default HEAD)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each benchmark on each side (default 2)")
    ap.add_argument("--benches", default="kernels,stream,ingest", help=f"comma-separated, of {', '.join(BENCHES)}")
    args = ap.parse_args(argv)
    names = [b.strip() for b in args.benches.split(",") if b.strip()]
    unknown = [b for b in names if b not in BENCHES]
    if unknown or not names or args.rounds < 1:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHES)}" if unknown else
                 "give at least one benchmark and one round")
    print(f"setting up {args.base} and {args.head} ...", flush=True)
    trees = {"base": tree_of(args.base), "head": tree_of(args.head)}
    runs: dict[str, dict[str, list[float]]] = {b: {"base": [], "head": []} for b in names}
    total, done, started = len(names) * args.rounds * 2, 0, time.monotonic()
    for bench in names:
        for _ in range(args.rounds):
            for side in ("base", "head"):
                figure = BENCHES[bench][1](trees[side])
                runs[bench][side].append(figure)
                done += 1
                print(f"[{done}/{total}, {time.monotonic() - started:.0f} s] {bench} {side}: {figure:,.0f}", flush=True)
    benches = {
        b: {"what": BENCHES[b][0], "base": r["base"], "head": r["head"],
            "head_over_base": round(statistics.median(r["head"]) / statistics.median(r["base"]), 3)}
        for b, r in runs.items()
    }
    report = {"base": trees["base"].name, "head": trees["head"].name, "benches": benches}
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "ab.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Before and after: {report['base']} → {report['head']}", "",
             "| benchmark | base runs | head runs | head / base (medians) |", "| --- | --- | --- | --- |"]
    for b, r in runs.items():
        base_runs = ", ".join(f"{x:,.0f}" for x in r["base"])
        head_runs = ", ".join(f"{x:,.0f}" for x in r["head"])
        lines.append(f"| {BENCHES[b][0]} | {base_runs} | {head_runs} | {benches[b]['head_over_base']} |")
    (REPORTS / "ab.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
