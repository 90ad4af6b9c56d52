"""What the stated 15-min MDLR of the `mdlr_week` suite is made of, and whether it is honest (issue 24).

Re-runs the week of the given layouts exactly as `python -m benchmarks.detection --suites mdlr_week` does (the
same scenario draw, simulation, SCADA readings and detector; its figure is reproduced per layout), and at every
MDLR sample (10 min) records beside the 15-min window's stated MDLR:

- its terms, each as the 5-s.d. MDLR it alone would give (% of nominal flow): `gain` = var_g (q - q_bar)^2 (the
  learned gain's uncertainty times the window's throughput q away from the one the baseline is stated at),
  `level` = the baseline's level variance, `rest` = what is left (the meters' and the line pack's noise times
  kappa, the transient and settling allowances, the model floor);
- every window's statistic z = imbalance / stated s.d.: on a leak-free week these should scatter as N(0, 1);
  an s.d. of z over 1, or more than ~0.3 % of samples beyond 3, is a stated MDLR smaller than the actual error.

Printed per layout: the suite's figures (the week's p90 over the first day's median, and over its p90), per day
the throughput, the stated MDLR's median and p90 and its terms', the stated gain s.d. and kappa; the s.d. of z by
throughput band (the baseline's learning windows are quiet hours, so the day's peaks are where the stated line is
least tested); the alarms and the baselines learned and refused.

    python -m benchmarks.mdlr_week_calibration --layouts 3,5 --out /tmp/week_cal.json
    python -m benchmarks.mdlr_week_calibration --layouts 1 --days 2 --param relearn_every_s=7200

CPU: one week's simulation per layout (minutes each on a loaded core; `--cache DIR` keeps them as pickles for
re-runs of the detector alone, ~25 s a week).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import detector_params
from benchmarks import transient_suites as T

Q_BANDS = ((0.0, 0.6), (0.6, 0.85), (0.85, math.inf))  # throughput over nominal


def run_layout(li: int, days: float | None, overrides: dict[str, Any], cache: Path | None) -> dict[str, Any]:
    """One layout's week (the suite's scenario, `days` shortened if given): samples of the 15-min MDLR's terms
    and every window's z, the alarms and the learning events."""
    from services.gasflow.scada import instruments_from_tags, scada_readings
    from services.leakdetect.domain import Pipeline
    from services.leakdetect.domain import events as E
    from services.leakdetect.domain import layout as L

    sc = next(s for s in T.scenarios({"mdlr_week"}, quick=False) if s["layout"] == li)
    if days is not None:
        sc = dict(sc, days=days)
    layout = dataclasses.replace(T._layout(li), pressure_scan_s=T.WEEK_PRESSURE_SCAN_S)
    duration = sc["days"] * 86400.0
    demand, setpoint = T.week_schedules(layout, sc, duration)
    path = cache / f"week_{li}_{sc['days']:g}.pkl" if cache is not None else None
    if path is not None and path.exists():
        res = pickle.loads(path.read_bytes())
    else:
        res = T._simulate(layout, duration, demand, setpoint, (), record_s=T.WEEK_RECORD_S)
        if path is not None:
            path.write_bytes(pickle.dumps(res, protocol=5))
    params, _, _ = T._params(overrides, T.WEEK_RELEARN_EVERY_S)
    net = layout.network()
    rd = scada_readings(res, instruments_from_tags(net, list(res.probe_ids)), seed=sc["seed"])
    pipeline = Pipeline.from_network(net, [T.SEGMENT_ID], params=params)
    tag_idx = pipeline.tag_indices(np.array(rd.tag_ids)[rd.tag_index])
    t0 = res.start_time_unix_s
    cuts = [*(float(c) for c in np.arange(0.0, duration, T.MDLR_SAMPLE_S)[1:]), duration]
    edges = np.searchsorted(rd.time_unix_us, np.round((t0 + np.array([0.0, *cuts])) * 1e6))
    w15 = pipeline.params.window_index_for_minutes(15)
    nb15 = round(15 * 60.0 / pipeline.params.block_s)
    state = pipeline._state  # diagnosis only: the baseline's terms are not on the facade
    nom = layout.nominal_flow_kg_per_s
    rows: list[dict[str, Any]] = []
    learned, refused = 0, 0
    for cut_s, (a, b) in zip(cuts, itertools.pairwise(edges), strict=True):
        if b > a:
            pipeline.feed(tag=tag_idx[a:b], time_unix_us=rd.time_unix_us[a:b], value=rd.value_si[a:b],
                          quality=rd.quality[a:b], si_units=True)
            learned += sum(isinstance(e, E.BaselineLearned) for e in pipeline.last_events)
            refused += sum(isinstance(e, E.BaselineRejected) for e in pipeline.last_events)
        status = pipeline.status(T.SEGMENT_ID)
        thr = status.windows[w15].threshold_kg_per_s
        f, ring = state.seg_f[0], state.ring[0]
        pos = int(state.seg_i[0, L.GI_RING_POS])
        start = (pos - nb15) % ring.shape[0]
        span_s = (ring[pos, L.R_TIME] - ring[start, L.R_TIME]) * 1e-6
        if not math.isfinite(thr) or span_s <= 0.0:
            continue
        q = (ring[pos, L.R_Q] - ring[start, L.R_Q]) / span_s
        rows.append({"t_s": cut_s, "q_over_nominal": q / nom, "mdlr_pct": 100.0 * thr / nom,
                     "var_total": (thr / params.z_window) ** 2, "var_level": float(f[L.GF_BASE_VAR]),
                     "var_gain": float(f[L.GF_VAR_G]) * (q - float(f[L.GF_QBAR])) ** 2,
                     "gain_sd": math.sqrt(max(float(f[L.GF_VAR_G]), 0.0)), "kappa": float(f[L.GF_KAPPA]),
                     "latched": bool(state.seg_i[0, L.GI_LATCHED]),
                     "z": [float(w.statistic) for w in status.windows]})
    pipeline.advance_to(t0 + duration)
    alarms = [T._alarm_row(a, t0) for a in pipeline.alarms if a.kind != "methane"]
    return {"layout": li, "layout_id": layout.layout_id, "nominal_flow_kg_per_s": nom, "z_window": params.z_window,
            "window_s": [w.window_s for w in status.windows], "rows": rows, "alarms": alarms,
            "baselines_learned": learned, "baselines_refused": refused}


def summary(run: dict[str, Any]) -> dict[str, Any]:
    """The suite's figures, the terms by day and the calibration of z by throughput band, from `run_layout`'s
    samples."""
    rows = run["rows"]
    z_thr = run["z_window"]
    nom = run["nominal_flow_kg_per_s"]

    def as_mdlr(var: np.ndarray) -> np.ndarray:  # a variance as the 5-s.d. MDLR it alone gives, % of nominal
        return 100.0 * z_thr * np.sqrt(np.maximum(var, 0.0)) / nom

    t = np.array([r["t_s"] for r in rows])
    m = np.array([r["mdlr_pct"] for r in rows])
    terms = {"gain": np.array([r["var_gain"] for r in rows]), "level": np.array([r["var_level"] for r in rows])}
    terms["rest"] = np.array([r["var_total"] for r in rows]) - terms["gain"] - terms["level"]
    out: dict[str, Any] = {"layout_id": run["layout_id"], **T.week_ratio(list(zip(t, m, strict=True))),
                           "alarms": len(run["alarms"]), "days": []}
    for day in range(math.ceil(t.max() / 86400.0) if len(t) else 0):
        k = (t > day * 86400.0) & (t <= (day + 1) * 86400.0)
        if not k.any():
            continue
        d = {"day": day, "q_over_nominal": float(np.mean([rows[i]["q_over_nominal"] for i in np.flatnonzero(k)])),
             "mdlr_median_pct": float(np.median(m[k])), "mdlr_p90_pct": float(np.percentile(m[k], 90)),
             "gain_sd_median": float(np.median([rows[i]["gain_sd"] for i in np.flatnonzero(k)])),
             "kappa_median": float(np.median([rows[i]["kappa"] for i in np.flatnonzero(k)]))}
        for name, var in terms.items():
            d[f"{name}_median_pct"] = float(np.median(as_mdlr(var[k])))
            d[f"{name}_p90_pct"] = float(np.percentile(as_mdlr(var[k]), 90))
        out["days"].append(d)
    free = [r for r in rows if not r["latched"]]  # a latched alarm's samples are not leak-free statistics
    z = np.array([r["z"] for r in free], dtype=float).reshape(len(free), -1)
    q = np.array([r["q_over_nominal"] for r in free])
    out["z_by_throughput"] = []
    for lo, hi in Q_BANDS:
        k = (q >= lo) & (q < hi)
        if k.sum() < 5:
            continue
        out["z_by_throughput"].append({
            "q_over_nominal": [lo, hi], "samples": int(k.sum()),
            "z_sd": [round(float(v), 3) for v in np.nanstd(z[k], axis=0)],
            "z_mean": [round(float(v), 3) for v in np.nanmean(z[k], axis=0)],
            "beyond_3": [round(float(v), 4) for v in np.nanmean(np.abs(z[k]) > 3.0, axis=0)]})
    return out


def _layout_list(text: str) -> list[int]:
    """--layouts: indices of the suite's own week layouts, refused before anything is simulated."""
    known = sorted({s["layout"] for s in T.scenarios({"mdlr_week"}, quick=False)})
    try:
        layouts = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants comma-separated integers, got {text!r}") from None
    unknown = [li for li in layouts if li not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"{unknown} not among the mdlr_week suite's layouts {known}")
    return layouts


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants a number of days, got {text!r}") from None
    if not (0.0 < days <= 30.0):
        raise argparse.ArgumentTypeError(f"must be in (0, 30], got {text!r}")
    return days


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.mdlr_week_calibration", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layouts", type=_layout_list, default="0,1,2,3,4,5",
                    help="the suite's layout indices, comma-separated")
    ap.add_argument("--days", type=_days, default=None, help="shorter than the suite's week")
    ap.add_argument("--param", action="append", type=detector_params.parse, default=[], metavar="NAME=VALUE",
                    help="a DetectorParams override (repeatable)")
    ap.add_argument("--cache", type=Path, default=None, help="a directory to keep the simulations in")
    ap.add_argument("--out", type=Path, required=True, help="the samples and summaries, JSON")
    args = ap.parse_args(argv)
    overrides: dict[str, Any] = dict(args.param)
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
    report = []
    for li in args.layouts:
        run = run_layout(li, args.days, overrides, args.cache)
        s = summary(run)
        report.append({"summary": s, "run": run})
        print(f"{s['layout_id']}: p90 over first day's median {s['mdlr_week_p90_over_first_day']:.2f}, over its p90 "
              f"{s['mdlr_week_p90_over_first_day_p90']:.2f}; {s['alarms']} alarms; baselines learned "
              f"{run['baselines_learned']}, refused {run['baselines_refused']}")
        for d in s["days"]:
            print(f"  day {d['day']}: q/nominal {d['q_over_nominal']:.2f}; MDLR % median {d['mdlr_median_pct']:.3f} "
                  f"p90 {d['mdlr_p90_pct']:.3f}; terms median/p90: gain {d['gain_median_pct']:.3f}/"
                  f"{d['gain_p90_pct']:.3f} level {d['level_median_pct']:.3f}/{d['level_p90_pct']:.3f} rest "
                  f"{d['rest_median_pct']:.3f}/{d['rest_p90_pct']:.3f}; gain s.d. {d['gain_sd_median']:.5f}, "
                  f"kappa {d['kappa_median']:.2f}")
        for b in s["z_by_throughput"]:
            print(f"  q/nominal {b['q_over_nominal'][0]:g}-{b['q_over_nominal'][1]:g} ({b['samples']} samples): "
                  f"z s.d. by window {b['z_sd']}, beyond 3 {b['beyond_3']}")
        for a in run["alarms"]:
            print(f"  alarm {a}")
        sys.stdout.flush()
    args.out.write_text(json.dumps(report, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
