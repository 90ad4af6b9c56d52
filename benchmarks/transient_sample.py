"""Issue 24's sample figures from a bench-detect report of the transient suites (a subset run with
`--transient-subset`): PD within 5 min at 1 % by condition, false alarms per segment-day, each false alarm's test
and the operations under way, the rate errors at the raise and in the update. Reproduces the figures the design
note quotes for each setting tried:

    nice -n 19 .venv/bin/python -m benchmarks.detection --suites transient_leaks,transient_free --workers 1 \\
        --transient-subset 14,12 --out /tmp/sample/detection.json [--param NAME=VALUE ...]
    .venv/bin/python -m benchmarks.transient_sample /tmp/sample/detection.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.transient_suites import CONDITIONS, GOAL_PCT, PD_WITHIN_S, before_first_wave, operation_alarm


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The sample's figures, from the report's own scored keys and its scenarios."""
    rows = report.get("transient_scenarios") or []
    free = [r for r in rows if r.get("suite") == "transient_free"]
    alarms = [{"layout_id": a.get("layout_id"), "time_s": round(a["time_s"]), "test": a.get("test"),
               "methods": a.get("methods"), "operations": [f"{o['operation']} {o['change_pct']:+.0f} % "
                                                           f"{o['started_s_before']:.0f} s before"
                                                           for o in a.get("operations", [])[:2]]}
              for r in free for a in r.get("alarms", [])]
    leaks = [r for r in rows if r.get("suite") == "transient_leaks"]
    return {
        "param_overrides": report.get("detector_param_overrides"),
        "subset": report.get("transient_subset"),
        "pd_within_5min_at_1pct_abrupt": report.get("pd_within_5min_at_1pct_abrupt"),
        "by_condition": report.get("pd_within_5min_at_1pct_abrupt_by_condition"),
        "leaks": len(leaks),
        # detections sooner than the leak's wave could reach an end meter: the operation's alarm, not the leak's
        "pd_after_first_wave_by_condition": {
            c: round(sum(1 for r in rs if r.get("detected") and r["ttd_s"] <= PD_WITHIN_S
                         and not before_first_wave(r)) / len(rs), 3)
            for c in CONDITIONS if (rs := [r for r in leaks if r.get("pct") == GOAL_PCT and r.get("condition") == c])},
        "alarms_before_first_wave": sum(1 for r in leaks if before_first_wave(r)),
        # detections where the same operation without the leak (the paired control run) alarms within 5 min too
        "pd_where_the_operation_alone_is_quiet_by_condition": {
            c: round(sum(1 for r in rs if r.get("detected") and r["ttd_s"] <= PD_WITHIN_S
                         and not operation_alarm(r)) / len(rs), 3)
            for c in CONDITIONS if (rs := [r for r in leaks if r.get("pct") == GOAL_PCT and r.get("condition") == c])},
        "operation_alone_alarms_within_5min": sum(1 for r in leaks if operation_alarm(r)),
        "false_alarms_before_onset_in_leak_runs": sum(r.get("false_alarms_before_onset") or 0 for r in leaks),
        "leak_free_segment_days": round(sum(r.get("monitored_days", 0.0) for r in free), 2),
        "false_alarms": len(alarms),
        # which test raised them: the mass balance's window or CUSUM (kernels.decision), or another method
        "false_alarms_by_test": dict(sorted(Counter(a["test"] or "+".join(a["methods"] or ["?"])
                                                    for a in alarms).items())),
        "false_alarms_per_segment_day_transient_free": report.get("false_alarms_per_segment_day_transient_free"),
        "rate_error_pct_at_raise_median": (report.get("leak_rate_error_pct_at_raise") or {}).get("median"),
        "rate_error_pct_at_raise_ramp_median": (report.get("leak_rate_error_pct_at_raise_ramp") or {}).get("median"),
        "rate_error_pct_update_median": (report.get("leak_rate_error_pct_update") or {}).get("median"),
        # the rate's stated 95 % interval: share holding the true rate, and its median width relative to it
        **{f"rate_interval_{k}_{f}": (report.get(f"transient_leak_rate_interval{s}") or {}).get(f)
           for k, s in (("at_raise", ""), ("update", "_update")) for f in ("coverage", "median_relative_width")},
        "alarms": alarms,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="a bench-detect report (detection.json) with the transient suites")
    args = ap.parse_args(argv)
    try:
        report = json.loads(Path(args.report).read_text())
    except (OSError, ValueError) as exc:
        print(f"transient_sample: cannot read the report {args.report!r}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(report, dict) or not report.get("transient_scenarios"):
        print(f"transient_sample: {args.report!r} holds no transient suites' scenarios", file=sys.stderr)
        return 2
    print(json.dumps(summary(report), indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
