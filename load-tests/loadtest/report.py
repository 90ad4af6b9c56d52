"""The report of a run: reports/loadtest.json (one per run, overwritten) and a copy under
reports/loadtest/<profile>-<time>/ with report.md and PNG plots (throughput and latency over time, the
latency histogram, lag over time)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

REQUIRED = ("profile", "target", "passed", "slos", "offered_readings_per_s", "achieved_readings_per_s",
            "ack_latency_ms", "errors_by_status", "leakdetect_max_lag_s", "leak_to_workorder_s", "ghz", "processes")


def write(report: dict[str, Any], reports_dir: Path, histogram_ms: list[tuple[float, int]] | None = None,
          stamp: str | None = None) -> Path:
    """Write the JSON, Markdown and plots; returns the run's directory."""
    missing = [k for k in REQUIRED if k not in report]
    if missing:
        raise ValueError(f"report lacks {', '.join(missing)}")
    stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run_dir = reports_dir / "loadtest" / f"{report['profile']}-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=str) + "\n"
    (reports_dir / "loadtest.json").write_text(text)
    (run_dir / "loadtest.json").write_text(text)
    plots = _plots(report, run_dir, histogram_ms or [])
    (run_dir / "report.md").write_text(markdown(report, plots))
    return run_dir


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def markdown(report: dict[str, Any], plots: list[str]) -> str:
    verdict = "PASS" if report["passed"] else "FAIL"
    lines = [f"# Load test `{report['profile']}` against {report['target'].get('name')}: **{verdict}**", ""]
    lines += [f"Started {report.get('started_utc', '-')}, {report.get('duration_s', '-')} s of load, "
              f"{report['target'].get('gateways', '-')} gateway tokens, "
              f"network `{report['target'].get('network')}`.", ""]
    lines += ["## SLOs", "", "| SLO | threshold | measured | verdict |", "|---|---|---|---|"]
    for s in report["slos"]:
        ok = "not measured" if s["ok"] is None else ("ok" if s["ok"] else "**BROKEN**")
        lines.append(f"| {s['name']} ({s.get('description', '')}) | {s.get('sense', '')} {_fmt(s['threshold'])} "
                     f"{s.get('unit', '')} | {_fmt(s['measured'])} | {ok} |")
    lat = report["ack_latency_ms"]
    lines += ["", "## Throughput and latency", "",
              f"- offered {_fmt(report['offered_readings_per_s'])} readings/s, achieved "
              f"{_fmt(report['achieved_readings_per_s'])} readings/s",
              "- ack latency ms: " + ", ".join(f"{k} {_fmt(lat.get(k))}" for k in ("p50", "p95", "p99", "p999", "max")),
              "- of which telemetry's own (batch received -> ack, from its /metrics) p99 "
              f"{_fmt((report.get('server_ack_latency_ms') or {}).get('p99_ms'))} ms; the load generator's loop lag "
              f"p99 {_fmt((report.get('generator_loop_lag_ms') or {}).get('p99'))} ms",
              f"- errors by gRPC status: {report['errors_by_status'] or 'none'}",
              f"- leakdetect max lag: {_fmt(report['leakdetect_max_lag_s'])} s"]
    leak = report["leak_to_workorder_s"]
    lines += [f"- leak onset -> work order: p50 {_fmt(leak.get('p50'))} s, p99 {_fmt(leak.get('p99'))} s, "
              f"n = {leak.get('n')}"]
    for item in report.get("leaks", []):
        lines.append(f"  - {item.get('segment')}: time to detect {_fmt(item.get('time_to_detect_s'))} s, work order "
                     f"{_fmt(item.get('workorder_after_detecting_data_s'))} s after the detecting data was sent, "
                     f"alarm -> Watch {_fmt(item.get('alarm_to_watch_s'))} s {item.get('note') or ''}")
    if report.get("leak_not_injected"):
        lines.append(f"  - no leak injected: {report['leak_not_injected']}")
    g = report["ghz"]
    lines += ["", "## Cross-checks", "",
              f"- ghz on PublishBatch: {_fmt(g.get('rps'))} calls/s = {_fmt(g.get('readings_per_s'))} readings/s, "
              f"p99 {_fmt(g.get('p99_ms'))} ms, errors {_fmt(g.get('errors'))}"
              + (f" (missing: {g['missing']})" if g.get("missing") else "")]
    if "knee_readings_per_s" in report:
        lines += [f"- knee: {_fmt(report['knee_readings_per_s'])} readings/s; Kafka ProducerPerformance on the "
                  f"same broker {_fmt(report.get('kafka_producer_perf_readings_per_s'))} records/s; ratio "
                  f"{_fmt(report.get('knee_ratio_to_kafka_perf'))}", "",
                  "| step | offered/s | achieved/s | p99 ms | errors | lag s | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for i, step in enumerate(report.get("steps", [])):
            verdict = "ok" if step["ok"] else "broken: " + ", ".join(step["broken"])
            lines.append(f"| {i + 1} | {_fmt(step['offered_readings_per_s'])} | {_fmt(step['achieved_readings_per_s'])}"
                         f" | {_fmt(step['ack_latency_ms'].get('p99'))} | {step['errors']} | "
                         f"{_fmt(step.get('max_lag_s'))} | {verdict} |")
    lines += ["", "## Processes", "", "| process | CPU s | RSS MB (max) | RSS MB first -> last sample |",
              "|---|---|---|---|"]
    lines += [f"| {p['name']} | {_fmt(p['cpu_s'])} | {_fmt(p['rss_mb'])} | {_fmt(p.get('rss_first_mb'))} -> "
              f"{_fmt(p.get('rss_last_mb'))} |" for p in report["processes"]]
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def preload() -> None:
    """Import the plotting library now (seconds on a loaded machine): a run calls this while it waits for the
    leak replay's physics anyway, not after the load, where it would lengthen the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot


def _plots(report: dict[str, Any], run_dir: Path, histogram_ms: list[tuple[float, int]]) -> list[str]:
    preload()
    import matplotlib.pyplot as plt

    out = []
    series = report.get("series", [])
    if series:
        t = [s["t_s"] for s in series]
        fig, (a, b) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
        a.plot(t, [s["offered_readings_per_s"] for s in series], label="offered")
        a.plot(t, [s["achieved_readings_per_s"] for s in series], label="achieved (acked)")
        a.set_ylabel("readings/s")
        a.legend()
        a.set_title(f"{report['profile']}: throughput and ack latency")
        for key in ("ack_p50_ms", "ack_p99_ms", "ack_max_ms"):
            b.plot(t, [s.get(key) for s in series], label=key.removeprefix("ack_").removesuffix("_ms"))
        b.set_ylabel("ack latency ms")
        b.set_xlabel("s")
        b.set_yscale("log")
        b.legend()
        fig.tight_layout()
        fig.savefig(run_dir / "throughput_latency.png")
        plt.close(fig)
        out.append("throughput_latency.png")
    if histogram_ms:
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.bar([x for x, _ in histogram_ms], [n for _, n in histogram_ms],
               width=[max(0.01, x * 0.05) for x, _ in histogram_ms])
        ax.set_xscale("log")
        ax.set_xlabel("ack latency ms")
        ax.set_ylabel("batches")
        ax.set_title("ack latency histogram (HDR)")
        fig.tight_layout()
        fig.savefig(run_dir / "latency_histogram.png")
        plt.close(fig)
        out.append("latency_histogram.png")
    lag = report.get("lag_series", [])
    if lag:
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.plot([s["t_s"] for s in lag], [s["lag_s"] for s in lag], label="lag s")
        ax.set_ylabel("leakdetect lag s")
        ax2 = ax.twinx()
        ax2.plot([s["t_s"] for s in lag], [s["lag_records"] for s in lag], color="gray", alpha=0.5)
        ax2.set_ylabel("records behind")
        ax.set_xlabel("s")
        ax.set_title("leakdetect consumer lag (Kafka group offsets)")
        fig.tight_layout()
        fig.savefig(run_dir / "lag.png")
        plt.close(fig)
        out.append("lag.png")
    rss = report.get("rss_series", [])
    if rss:
        fig, ax = plt.subplots(figsize=(9, 4))
        for name in sorted({k for row in rss for k in row if k != "t_s"}):
            ax.plot([r["t_s"] for r in rss if name in r], [r[name] for r in rss if name in r], label=name)
        ax.set_ylabel("RSS MB")
        ax.set_xlabel("s")
        ax.set_title("resident memory per process (and its children)")
        ax.legend(fontsize="small", ncol=2)
        fig.tight_layout()
        fig.savefig(run_dir / "rss.png")
        plt.close(fig)
        out.append("rss.png")
    return out
