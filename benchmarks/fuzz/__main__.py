"""``make fuzz`` / ``python -m benchmarks.fuzz [--cases N] [--only NAMES] [--jobs J] [--seed S]``.

Runs every entry point's fuzz target (``--list`` names them), each in a process of its own, ``--jobs`` at a
time, against a private Kafka broker when a consumer or telemetry is among them; then the soak of 1,000 open
``Watch`` streams (``benchmarks.workorders.measure_unary_p99_with_streams``, the same measurement as
``make bench-workorders``). Writes ``reports/fuzz.json`` (a list of rows, one per entry point), ``reports/fuzz.md``
and ``reports/fuzz.png``. Exit 0 when every goal holds (0 crashes, 0 hangs, 0 stalled partitions, every
rejection with a status and a reason, every canary answered, the soak's unary p99 within its goal), else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SOAK_STREAMS = 1000
SOAK_GOAL_P99_MS = 50.0
# Targets that need a Kafka broker (the consumers always; telemetry publishes what it accepts).
NEEDS_KAFKA = ("grpc.telemetry", "topic.alarms->workorders", "topic.sensor-health->workorders")


# Seconds per case on a quiet 2-core machine (measured: ``make fuzz`` at 10^5 per entry point): jobs start
# longest first, so that the two at a time end together (the longest job last would run alone at the end).
COST_S_PER_CASE = {
    "grpc.workorders": 9 * 2.2e-3,  # 9 methods x 10^5 cases
    "loader.history-file": 8e-3,
    "cli.leakdetect-replay": 7e-3,
    "loader.network-file": 5.5e-3,
    "grpc.telemetry": 2 * 2.5e-3,
    "web.console-forms": 2.5e-3,
    "topic.alarms->workorders": 2e-3,
    "topic.sensor-health->workorders": 2e-3,
    "topic.readings->leakdetect": 1.5e-3,
    "grpc.leakdetect-query": 3 * 0.7e-3,
    "cli.workorders-ctl": 1e-3,
}


def target_names() -> list[str]:
    return [
        "grpc.telemetry",
        "grpc.workorders",
        "grpc.leakdetect-query",
        "topic.readings->leakdetect",
        "topic.alarms->workorders",
        "topic.sensor-health->workorders",
        "loader.network-file",
        "loader.history-file",
        "cli.leakdetect-replay",
        "cli.workorders-ctl",
        "web.console-forms",
    ]


def build_target(name: str, kafka: str | None, scratch: Path) -> Any:
    """The target called ``name``; ``kafka`` None runs telemetry on an in-memory publisher."""
    from . import file_targets, grpc_targets, topic_targets

    if name == "grpc.telemetry":
        return grpc_targets.TelemetryTarget(kafka, topic_suffix=f".fuzz-{os.getpid()}")
    if name == "grpc.workorders":
        return grpc_targets.WorkOrdersTarget(scratch / "workorders")
    if name == "grpc.leakdetect-query":
        return _LeakQueryWithViews()
    if name == "topic.readings->leakdetect":
        return topic_targets.ReadingsProcessorTarget()
    if name == "topic.alarms->workorders":
        if kafka is None:
            raise SystemExit("topic.alarms->workorders needs a Kafka broker (--kafka)")
        return topic_targets.AlarmsConsumerTarget(kafka, scratch / "alarms")
    if name == "topic.sensor-health->workorders":
        if kafka is None:
            raise SystemExit("topic.sensor-health->workorders needs a Kafka broker (--kafka)")
        return topic_targets.SensorHealthConsumerTarget(kafka, scratch / "health")
    if name == "loader.network-file":
        return file_targets.NetworkFileTarget()
    if name == "loader.history-file":
        return file_targets.HistoryFileTarget()
    if name == "cli.leakdetect-replay":
        return file_targets.ReplayCliTarget()
    if name == "cli.workorders-ctl":
        return _CtlWithServer(scratch / "ctl")
    if name == "web.console-forms":
        return file_targets.ConsoleFormsTarget()
    raise SystemExit(f"unknown entry point {name!r}: python -m benchmarks.fuzz --list")


def _LeakQueryWithViews() -> Any:
    """The query API over the views of a processor that has processed real records (statuses to show)."""
    from . import grpc_targets, topic_targets

    processor = topic_targets.ReadingsProcessorTarget()

    class Target(grpc_targets.LeakQueryTarget):
        async def start_server(self) -> str:
            await processor.start()
            for _ in range(3):
                await processor.canary()
            return await super().start_server()

    return Target(lambda: processor.processor.views.copy())


def _CtlWithServer(scratch: Path) -> Any:
    """``ctl`` with half of its cases against a live workorders server (its garbage values reach the API)."""
    from . import file_targets, grpc_targets

    server = grpc_targets.WorkOrdersTarget(scratch)

    class Target(file_targets.CtlCliTarget):
        async def start(self) -> None:
            await super().start()
            self.server_address = await server.start_server()
            self.token = server._token("supervisor", "*")
            self.token_file.write_text(self.token)

        async def stop(self) -> None:
            await server.stop_server()
            await super().stop()

    return Target()


# ---------------------------------------------------------------------------------------------- one target
def run_one(name: str, cases: int, seed: int, kafka: str | None, scratch: Path, out: Path, hang_s: float,
            max_seconds: float | None) -> int:
    import logging
    import signal

    from .core import STOP_REQUESTED, run_target

    # The services log every refusal and dead letter at WARNING: 10^5 of them would cost more than the cases.
    logging.basicConfig(level=logging.ERROR)
    # The run's time bound (--total-minutes): stop making cases, finish (consumers drain), write the counts.
    signal.signal(signal.SIGTERM, lambda *_: STOP_REQUESTED.set())
    target = build_target(name, kafka, scratch)
    started = time.monotonic()

    def progress(stats: Any, total: int) -> None:
        rate = stats.cases / max(time.monotonic() - started, 1e-9)
        print(
            f"  {name:34s} {stats.cases:>8,}/{total:,} cases  {rate:7.0f}/s  crashes {stats.crashes}  "
            f"hangs {stats.hangs}  canary {stats.canary_calls - stats.canary_failures}/{stats.canary_calls} ok",
            flush=True,
        )

    def row_of(stats: Any) -> dict[str, Any]:
        row = stats.row()
        if stats.kind == "grpc":  # every method its own row (the issue counts cases per method)
            row["methods"] = stats.label_rows()
        return row

    def aborted(stats: Any) -> None:  # the watchdog: a case stuck past 4x --hang-s; the process ends after this
        out.write_text(json.dumps(row_of(stats), indent=1, default=str))

    cases = target.cases_for(cases)
    stats = asyncio.run(run_target(target, cases, seed=seed, hang_s=hang_s, progress=progress,
                                   max_seconds=max_seconds, on_abort=aborted))
    out.write_text(json.dumps(row_of(stats), indent=1, default=str))
    return 0


def run_soak(out: Path, scratch: Path) -> int:
    from benchmarks.workorders import measure_unary_p99_with_streams

    print(f"  soak: {SOAK_STREAMS:,} open Watch streams, ListWorkOrders p99 (bench-workorders' measurement)",
          flush=True)
    result = measure_unary_p99_with_streams(scratch, counts=(SOAK_STREAMS,))
    out.write_text(json.dumps(result, indent=1, default=str))
    return 0


# ----------------------------------------------------------------------------------------------- the report
def goals_of(all_rows: Sequence[dict[str, Any]], soak: dict[str, Any] | None,
             cases_goal: int) -> list[dict[str, Any]]:
    rows = [r for r in all_rows if "parent" not in r]
    methods = [r for r in all_rows if "parent" in r]
    total = sum(r["cases"] for r in rows)
    canaries = sum(r["canary_calls"] for r in rows)
    canaries_ok = canaries - sum(r["canary_failures"] for r in rows)
    fewest = min((r["cases"] for r in rows), default=0)
    ran = [r for r in rows if r["cases_per_s"]]
    slowest = min(ran, key=lambda r: r["cases_per_s"], default=None)
    not_run = len(rows) - len(ran)
    goals = [
        {"goal": f">= {cases_goal:,} cases per entry point", "result": f"min {fewest:,}" + (
            f" (slowest {slowest['entry_point']}, {slowest['cases_per_s']} cases/s)" if slowest else "") + (
            f"; {sum(r['cases'] >= cases_goal for r in rows)} of {len(rows)} reached it, {not_run} not run"
            if not_run or fewest < cases_goal else ""),
         "met": all(r["cases"] >= cases_goal for r in rows)},
        {"goal": f">= {cases_goal:,} cases per gRPC method",
         "result": f"min {min((r['cases'] for r in methods), default=0):,} over {len(methods)} methods"
         if methods else "no gRPC server in this run",
         "met": all(r["cases"] >= cases_goal for r in methods)},
        {"goal": "0 crashes", "result": str(sum(r["crashes"] for r in rows)),
         "met": all(r["crashes"] == 0 for r in rows)},
        {"goal": "0 hangs (a case over the limit twice, the second time alone)",
         "result": f"{sum(r['hangs'] for r in rows)} ({sum(r.get('hang_suspects', 0) for r in rows)} over the limit "
                   f"once, {sum(r.get('hang_suspects_cleared', 0) for r in rows)} of them answered when run again)",
         "met": all(r["hangs"] == 0 for r in rows)},
        {"goal": "0 stalled partitions (canary after the garbage processed)",
         "result": str(sum(r["canary_failures"] for r in rows if r["kind"] == "topic")),
         "met": all(r["canary_failures"] == 0 for r in rows if r["kind"] == "topic")},
        {"goal": "every rejection has a status and a reason",
         "result": f"{sum(r['unexplained_rejections'] for r in rows)} without",
         "met": all(r["unexplained_rejections"] == 0 for r in rows)},
        {"goal": "serving while fuzzed (every canary answered)", "result": f"{canaries_ok:,}/{canaries:,}",
         "met": canaries_ok == canaries},
        {"goal": "total cases", "result": f"{total:,}", "met": True},
    ]
    if soak is not None:
        p99 = _soak_p99(soak)
        goals.append({"goal": f"unary p99 <= {SOAK_GOAL_P99_MS:g} ms with {SOAK_STREAMS:,} Watch streams open",
                      "result": f"{p99} ms" if p99 is not None else "not measured",
                      "met": p99 is not None and p99 <= SOAK_GOAL_P99_MS})
    return goals


def _soak_p99(soak: dict[str, Any]) -> float | None:
    idle = soak.get("idle") or {}
    level = idle.get(SOAK_STREAMS) or idle.get(str(SOAK_STREAMS)) or {}
    value = level.get("p99") if isinstance(level, dict) else None
    return float(value) if value is not None else None


def write_report(rows: list[dict[str, Any]], soak: dict[str, Any] | None, out_dir: Path, cases_goal: int,
                 seconds: float, command: str) -> list[dict[str, Any]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    goals = goals_of(rows, soak, cases_goal)
    (out_dir / "fuzz.json").write_text(json.dumps(rows, indent=1, default=str) + "\n")
    (out_dir / "fuzz_summary.json").write_text(json.dumps(
        {"command": command, "seconds": round(seconds, 1), "goals": goals, "soak": soak}, indent=1, default=str) + "\n")
    lines = [
        "# Fuzz report", "",
        f"`{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds / 60:.1f} min.", "",
        "| goal | result | met |", "| --- | --- | --- |",
        *(f"| {g['goal']} | {g['result']} | {'yes' if g['met'] else '**no**'} |" for g in goals), "",
        "| entry point | cases | crashes | hangs | unexplained | distinct rejections | accepted | canary ok "
        "| canary p99 ms | cases/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        if "parent" in r:  # a gRPC method: its share of its server's run
            lines.append(
                f"| &nbsp;&nbsp;{r['entry_point']} | {r['cases']:,} | {r['crashes']} | {r['hangs']} | "
                f"{r['unexplained_rejections']} | {r['distinct_rejections']} | | | | {r['cases_per_s']} |")
            continue
        lines.append(
            f"| {r['entry_point']} | {r['cases']:,} | {r['crashes']} | {r['hangs']} | {r['unexplained_rejections']} | "
            f"{r['distinct_rejections']} | {r['accepted']:,} | "
            f"{r['canary_calls'] - r['canary_failures']}/{r['canary_calls']} | "
            f"{r['canary_p99_ms'] if r['canary_p99_ms'] is not None else '-'} | {r['cases_per_s']} |"
        )
    for r in rows:
        if "parent" in r:
            continue
        lines += ["", f"## {r['entry_point']}", "",
                  f"Cases by kind: {r['cases_by_kind']}; statuses: {r['statuses']}."]
        if len(r.get("cases_by_label", {})) > 1:
            lines.append(f"Cases by method/label: {r['cases_by_label']}.")
        lines += [f"- {n}" for n in r.get("notes", [])]
        if r.get("subprocess_cases"):
            lines.append(f"- {r['subprocess_cases']} of the cases also ran as a fresh process "
                         f"({r['subprocess_seconds']} s; status differed from in process: "
                         f"{r['subprocess_status_mismatches']}).")
        if r["top_rejections"]:
            lines += ["", "Most frequent rejections (input quoted and numbers blanked):", ""]
            lines += [f"- {x['count']:,} × {x['status']}: {x['reason'][:200]}" for x in r["top_rejections"][:6]]
        if r["failures"]:
            lines += ["", "**Failures** (saved to the regression corpus):", ""]
            lines += [f"- {f[:300]}" for f in r["failures"][:10]]
    if soak is not None:
        lines += ["", "## Soak: Watch streams", "", "```", json.dumps(soak, indent=1, default=str)[:3000], "```"]
    (out_dir / "fuzz.md").write_text("\n".join(lines) + "\n")
    _plot(rows, out_dir / "fuzz.png", cases_goal)
    return goals


def _plot(rows: Sequence[dict[str, Any]], path: Path, cases_goal: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["entry_point"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.45 * len(rows) + 2), sharey=True)
    bad = [r["crashes"] + r["hangs"] + r["unexplained_rejections"] + r.get("canary_failures", 0) for r in rows]
    left.barh(names, [r["cases"] for r in rows], color=["tab:red" if b else "tab:green" for b in bad])
    left.axvline(cases_goal, color="k", linestyle="--", linewidth=1, label=f"goal {cases_goal:,}")
    left.set_xscale("log")
    left.set_xlabel("cases (red: a crash, hang, unexplained rejection or canary failure)")
    left.legend(loc="lower right")
    right.barh(names, [r["distinct_rejections"] for r in rows], color="tab:blue")
    right.set_xlabel("distinct rejections (status, reason shape)")
    left.invert_yaxis()
    fig.suptitle("make fuzz: cases per entry point")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------- driver
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000, help="generated cases per entry point (default 100,000)")
    parser.add_argument("--only", default="", help="comma-separated entry points (or parts of their names)")
    parser.add_argument("--jobs", type=int, default=2, help="entry points fuzzed at once, one process each (default 2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hang-s", type=float, default=15.0, help="a case not done in this many seconds is a hang")
    parser.add_argument("--max-minutes", type=float, default=0.0,
                        help="stop each entry point's cases after this many minutes (0: no bound); the report says so")
    parser.add_argument("--total-minutes", type=float, default=0.0,
                        help="bound the whole run (0: none): at this time the entry points running stop making "
                             "cases and report what ran; the ones not started yet are reported as not run")
    parser.add_argument("--kafka", default="", help="a broker's bootstrap address (default: start a private one)")
    parser.add_argument("--no-soak", action="store_true", help="skip the 1,000 Watch streams soak")
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    parser.add_argument("--list", action="store_true", help="name the entry points and exit")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cases < 0 or args.jobs < 1 or not args.hang_s > 0:
        parser.error("--cases must be >= 0, --jobs >= 1, --hang-s > 0")
    if args.list:
        print("\n".join(target_names()))
        return 0
    if args.worker:
        assert args.worker_out is not None and args.scratch is not None
        if args.worker == "soak":
            return run_soak(args.worker_out, args.scratch)
        return run_one(args.worker, args.cases, args.seed, args.kafka or None, args.scratch, args.worker_out,
                       args.hang_s, args.max_minutes * 60 if args.max_minutes > 0 else None)

    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    names = [n for n in target_names() if not wanted or any(w in n for w in wanted)]
    # The longest first, then the others shortest first: the longest has the whole run to finish, and if the run
    # is cut short (--total-minutes, a loaded machine) the most entry points have reached their count.
    by_cost = sorted(names, key=lambda n: COST_S_PER_CASE.get(n, 1e-3))
    runs = by_cost[-1:] + by_cost[:-1]
    if wanted and not names and wanted != ["soak"]:
        parser.error(f"--only {args.only!r} names no entry point: python -m benchmarks.fuzz --list")
    command = "python -m benchmarks.fuzz " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    broker = None
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        scratch = Path(tmp)
        kafka = args.kafka
        if not kafka and any(n in NEEDS_KAFKA for n in names):
            from tests.fixtures.kafka import _start_private_broker

            print("fuzz: starting a private Kafka broker", flush=True)
            broker = _start_private_broker(scratch / "kafka")
            kafka = broker.bootstrap
        try:
            jobs: list[tuple[str, list[str], Path]] = []
            for name in runs:
                out = scratch / f"{name.replace('>', '').replace('/', '_')}.json"
                command_line = [sys.executable, "-m", "benchmarks.fuzz", "--worker", name, "--worker-out", str(out),
                                "--scratch", str(scratch / f"s-{len(jobs)}"), "--cases", str(args.cases),
                                "--seed", str(args.seed), "--hang-s", str(args.hang_s), "--kafka", kafka,
                                "--max-minutes", str(args.max_minutes)]
                jobs.append((name, command_line, out))
            if not args.no_soak and (not wanted or "soak" in args.only):
                out = scratch / "soak.json"
                jobs.append(("soak", [sys.executable, "-m", "benchmarks.fuzz", "--worker", "soak", "--worker-out",
                                      str(out), "--scratch", str(scratch / "soak")], out))
            print(f"fuzz: {len(jobs)} job(s), {args.jobs} at a time, {args.cases:,} cases per entry point", flush=True)
            deadline = time.monotonic() + args.total_minutes * 60 if args.total_minutes > 0 else None
            results = _run_jobs(jobs, args.jobs, lambda line: print(line, end="", flush=True), deadline)
        finally:
            if broker is not None:
                broker.stop()
        rows: list[dict[str, Any]] = []
        soak: dict[str, Any] | None = None
        for name, (code, out) in results.items():
            if name == "soak":
                soak = json.loads(out.read_text()) if code == 0 and out.exists() else {
                    "error": "not run: the run's time bound" if code == NOT_RUN else f"exit {code}"}
                continue
            if code == NOT_RUN:
                rows.append(_empty_row(name, crashes=0, why="not run: the run's time bound (--total-minutes) "
                                                            "came before its turn"))
                continue
            if out.exists():  # exit 3: the watchdog ended it after writing the counts so far
                row = json.loads(out.read_text())
                methods = row.pop("methods", [])
                rows.append(row)
                rows.extend(methods)
            else:  # the whole target died: that is a crash of its own
                rows.append(_empty_row(name, crashes=1, why=f"the fuzz process exited {code}"))
        def order(r: dict[str, Any]) -> tuple[int, str]:
            parent = r.get("parent", r["entry_point"])
            return (names.index(parent) if parent in names else 99, r["entry_point"])

        rows.sort(key=order)
        goals = write_report(rows, soak, args.out, args.cases, time.monotonic() - started, command)
    for goal in goals:
        print(f"  {'met ' if goal['met'] else 'MISS'}  {goal['goal']}: {goal['result']}")
    print(f"fuzz: wrote {args.out / 'fuzz.json'}, fuzz.md, fuzz.png in {(time.monotonic() - started) / 60:.1f} min")
    return 0 if all(g["met"] for g in goals) else 1


NOT_RUN = -1000  # the exit status given to a job the run's time bound kept from starting
STOP_GRACE_S = 300.0  # after the time bound, a job's time to finish (a consumer drains) before it is killed


def _empty_row(name: str, *, crashes: int, why: str) -> dict[str, Any]:
    return {"entry_point": name, "kind": "?", "cases": 0, "crashes": crashes, "hangs": 0,
            "unexplained_rejections": 0, "distinct_rejections": 0, "accepted": 0, "rejected": 0,
            "canary_calls": 0, "canary_failures": 0, "canary_p50_ms": None, "canary_p99_ms": None,
            "cases_per_s": None, "cases_by_kind": {}, "cases_by_label": {}, "statuses": {},
            "top_rejections": [], "failures": [why] if crashes else [], "notes": [] if crashes else [why]}


def _run_jobs(jobs: list[tuple[str, list[str], Path]], parallel: int,
              echo: Callable[[str], None], deadline: float | None = None) -> dict[str, tuple[int, Path]]:
    pending = list(jobs)
    running: list[tuple[str, subprocess.Popen[str], Path]] = []
    done: dict[str, tuple[int, Path]] = {}
    import selectors
    import signal

    selector = selectors.DefaultSelector()
    stopping_since: float | None = None
    while pending or running:
        if deadline is not None and time.monotonic() > deadline:
            if stopping_since is None:
                stopping_since = time.monotonic()
                echo(f"fuzz: the run's time bound: {len(running)} running stop and report, "
                     f"{len(pending)} not started\n")
                for _, process, _ in running:
                    process.send_signal(signal.SIGTERM)
                for name, _, out in pending:
                    done[name] = (NOT_RUN, out)
                pending.clear()
            elif time.monotonic() - stopping_since > STOP_GRACE_S:
                for _, process, _ in running:
                    if process.poll() is None:
                        process.kill()
        while pending and len(running) < parallel:
            name, command_line, out = pending.pop(0)
            echo(f"fuzz: start {name}\n")
            # Progress on stdout; the services' own logs (every dead letter, every refusal) to a file beside it.
            log_file = open(out.with_suffix(".log"), "w")  # noqa: SIM115 - closed with the process
            process = subprocess.Popen(command_line, cwd=REPO, stdout=subprocess.PIPE, stderr=log_file,
                                       text=True, bufsize=1, env={**os.environ, "PYTHONPATH": str(REPO)})
            log_file.close()
            assert process.stdout is not None
            selector.register(process.stdout, selectors.EVENT_READ, name)
            running.append((name, process, out))
        for key, _ in selector.select(timeout=1.0):
            line = key.fileobj.readline()  # type: ignore[union-attr]
            if line:
                echo(line)
        for item in list(running):
            name, process, out = item
            if process.poll() is not None:
                assert process.stdout is not None
                for line in process.stdout:
                    echo(line)
                selector.unregister(process.stdout)
                if process.returncode != 0:
                    tail = out.with_suffix(".log").read_text(errors="replace").splitlines()[-15:]
                    echo("".join(f"    | {t}\n" for t in tail))
                running.remove(item)
                done[name] = (process.returncode, out)
                echo(f"fuzz: {name} done (exit {process.returncode})\n")
    return done


if __name__ == "__main__":
    sys.exit(main())
