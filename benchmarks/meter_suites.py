"""Issue 19's redundant meters and mid-line flow meters on random layouts (`benchmarks.layouts`).

One simulation per layout (`LAYOUT_SEED`, the detection benchmark's), with probes at every meter: the ends, the
mid-line station (pressure and flow) and a second (third on odd layouts) inflow meter in the inflow's redundancy
group. After the detectors learned (`LEARN_S`), one of the redundant inflow meters fails (`FAULT_AFTER_S` later:
drifting to 3x its stated accuracy over 10 min, stuck, or 6x noisier, in turn), and a leak of `LEAK_PCT` % of
nominal flow starts `LEAK_AFTER_S` after the learning at a random position. The same SCADA readings go to four
pipelines:

- `vote`: the redundancy group (the vote outvotes the failed member);
- `no_vote`: the failed meter as the segment's only inflow meter (what a single meter does);
- `midline`: healthy inflow meter, mid-line pressure meter (today's mid-line figure);
- `midline_flow`: the same with the mid-line flow meter (sub-segment balances bracket the leak).

Scored: false alarms before the leak's onset, the leak found within 15 min (PD), the failed member named in sensor
health (and no other), and for the mid-line variants the balance location error, the 95 % interval's half width
(% of length), its coverage and whether the bracket holds the leak.

    nice -n 19 .venv/bin/python -m benchmarks.meter_suites --layouts 8

writes reports/detection_meters.json and reports/detection_meters.png. Single process (the machine is shared).

The same runs are suites of `make bench-detect` (`python -m benchmarks.detection --suites meters,meters_heldout`):
`meters` on layouts 0..29 and `meters_heldout` on layouts 100..129 (`scenarios`, `run_one`, `score_suites`); their
figures go to reports/detection.json under `meters_*` and `meters_held_out_*`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import detector_params
from benchmarks.layouts import OFFTAKE, SEGMENT_ID, SUPPLY, Layout, draw_layout

LAYOUT_SEED = 2026_19  # the detection benchmark's random layouts
BENCH_SEED = 2026_1990
LEARN_S = 4200.0  # as benchmarks.detection
FAULT_AFTER_S = 300.0
LEAK_AFTER_S = 1800.0
AFTER_LEAK_S = 1800.0
LEAK_PCT = 2.0
PD_WITHIN_S = 900.0
DEMAND_OF_NOMINAL = 0.7
FAULTS = ("drift", "stuck", "noisy")
INFLOW = "L01-FT-IN"
VARIANTS = ("vote", "no_vote", "midline", "midline_flow")
CHUNK_S = 30.0
# The suites of `benchmarks.detection` (make bench-detect): (first layout, layouts (quick, full)) each
SUITES = ("meters", "meters_heldout")
SUITE_LAYOUTS = {"meters": (0, (2, 30)), "meters_heldout": (100, (2, 30))}


def _member_ids(n: int) -> list[str]:
    return [INFLOW] + [f"{INFLOW}-{'BC'[k]}" for k in range(n - 1)]


def _document(layout: Layout, members: int, midline: bool, midline_flow: bool) -> dict[str, Any]:
    doc = layout.network_document(midline=midline, midline_flow=midline_flow)
    if members > 1:
        base = next(t for t in doc["tags"] if t["id"] == INFLOW)
        base["redundancy_group"] = "inflow"
        doc["tags"] += [{**base, "id": tid} for tid in _member_ids(members)[1:]]
    return doc


def _network(layout: Layout, members: int, midline: bool, midline_flow: bool) -> Any:
    from services.network import parse_network

    return parse_network(_document(layout, members, midline, midline_flow), f"<layout {layout.layout_id}>")


def _simulate(layout: Layout, members: int, duration_s: float, leak: Any, seed: int) -> tuple[Any, Any]:
    from benchmarks.operations import demand_values
    from services.gasflow import Scenario, Schedule, Simulator
    from services.gasflow.network_adapter import network_spec, tag_probes
    from services.gasflow.scada import instruments_from_tags, scada_readings

    net = _network(layout, members, True, True)  # probes at every meter; each pipeline reads its own
    demand = demand_values(DEMAND_OF_NOMINAL * layout.nominal_flow_kg_per_s, duration_s, float(seed % 24), seed)
    schedules = {OFFTAKE: Schedule(*demand), layout.inlet_node: Schedule.constant(layout.inlet_pressure_pa)}
    if layout.regulated:
        schedules[SUPPLY] = Schedule.constant(layout.supply_pressure_pa)
    record_s = min(max(layout.pressure_scan_s / 2.0, 0.1), 0.5)
    scen = Scenario(duration_s=duration_s, schedules=schedules, leaks=(leak,),
                    probes=tag_probes(net, [SEGMENT_ID]), record_interval_s=record_s)
    res = Simulator(network_spec(net)).run(scen)
    return res, scada_readings(res, instruments_from_tags(net, list(res.probe_ids)), seed=seed)


def _inject(layout: Layout, rd: Any, tag: str, mode: str, t_fault_us: int, rng: np.random.Generator) -> np.ndarray:
    """The readings' values with `tag` failing from t_fault_us on (SI)."""
    v = rd.value_si.copy()
    k = list(rd.tag_ids).index(tag)
    sel = (rd.tag_index == k) & (rd.time_unix_us >= t_fault_us)
    stated = layout.flow_accuracy_pct_of_reading / 100.0  # 95 % bound, share of the reading
    if mode == "drift":
        ramp = np.clip((rd.time_unix_us[sel] - t_fault_us) / 600e6, 0.0, 1.0)
        v[sel] = v[sel] * (1.0 + 3.0 * stated * ramp)
    elif mode == "stuck":
        v[sel] = v[sel][0] if sel.any() else v[sel]
    else:
        v[sel] = v[sel] + 6.0 * 0.5 * stated * np.abs(v[sel]) * rng.standard_normal(int(sel.sum()))
    return v


def _detect(net: Any, rd: Any, values: np.ndarray, t0_s: float, end_s: float, rename: dict[str, str] | None = None,
            params: Any = None) -> dict[str, Any]:
    from services.leakdetect.domain import Pipeline
    from services.leakdetect.domain import events as E

    pipeline = Pipeline.from_network(net, [SEGMENT_ID], params=params)
    names = np.array(rd.tag_ids, dtype=object)
    if rename:
        names = np.array([rename.get(t, t if t not in rename.values() else "") for t in names], dtype=object)
    known = np.array([t in net.tags for t in names])
    sel = known[rd.tag_index]
    tag_idx = pipeline.tag_indices(names[rd.tag_index[sel]])
    t_us, v, q = rd.time_unix_us[sel], values[sel], rd.quality[sel]
    health: list[tuple[float, str, int]] = []
    edges = np.searchsorted(t_us, np.round((t0_s + np.arange(0.0, end_s + CHUNK_S, CHUNK_S)) * 1e6))
    for a, b in itertools.pairwise(edges):
        if b > a:
            pipeline.feed(tag=tag_idx[a:b], time_unix_us=t_us[a:b], value=v[a:b], quality=q[a:b], si_units=True)
            health += [(e.time_us / 1e6, e.tag_id, e.health) for e in pipeline.last_events
                       if isinstance(e, E.SensorHealthChanged) and e.tag_id]
    pipeline.advance_to(t0_s + end_s)
    return {"alarms": pipeline.alarms, "health": health}


def run_layout(i: int, params: Any = None) -> dict[str, Any]:
    """One layout's four runs; `params`: the detectors' DetectorParams (None: the defaults)."""
    from services.gasflow import LeakSpec

    layout = draw_layout(LAYOUT_SEED, i)
    rng = np.random.default_rng([BENCH_SEED, i])
    members = 2 + i % 2
    mode = FAULTS[i % len(FAULTS)]
    failed = _member_ids(members)[1 + int(rng.integers(members - 1))] if mode != "noisy" else INFLOW
    x = float(rng.uniform(0.05, 0.95)) * layout.length_m
    onset_s = LEARN_S + LEAK_AFTER_S
    leak = LeakSpec(SEGMENT_ID, x, onset_s, kind="abrupt", rate_kg_per_s=LEAK_PCT / 100 * layout.nominal_flow_kg_per_s)
    duration = onset_s + AFTER_LEAK_S
    res, rd = _simulate(layout, members, duration, leak, int(rng.integers(1 << 30)))
    t0 = res.start_time_unix_s
    onset = t0 + onset_s
    fault_us = round((t0 + LEARN_S + FAULT_AFTER_S) * 1e6)
    faulty = _inject(layout, rd, failed, mode, fault_us, rng)
    out: dict[str, Any] = {"layout": layout.layout_id, "length_m": layout.length_m, "regulated": layout.regulated,
                           "members": members, "fault": mode, "failed_tag": failed, "leak_position_m": x,
                           "midline_position_m": layout.midline_position_m}
    runs = {
        "vote": (_network(layout, members, False, False), faulty, None),
        "no_vote": (_network(layout, 1, False, False), faulty, {failed: INFLOW}),
        "midline": (_network(layout, 1, True, False), rd.value_si, None),
        "midline_flow": (_network(layout, 1, True, True), rd.value_si, None),
    }
    for variant, (net, values, rename) in runs.items():
        d = _detect(net, rd, values, t0, duration, rename, params)
        before = [a for a in d["alarms"] if a.decided_unix_s < onset and a.kind != "methane"]
        after = [a for a in d["alarms"] if a.decided_unix_s >= onset and a.kind != "methane"]
        r: dict[str, Any] = {"false_alarms": len(before),
                             "detected_15min": any(a.decided_unix_s - onset <= PD_WITHIN_S for a in after)}
        if variant == "vote":
            named = sorted({tag for _, tag, h in d["health"] if h != 1})
            r["named"] = named
            r["named_right"] = named == [failed]
            r["named_after_fault_s"] = min((t - fault_us / 1e6 for t, tag, h in d["health"] if tag == failed),
                                           default=None)
        balance = [a for a in after if "mass_balance" in a.methods]
        if variant.startswith("midline") and balance:
            a = balance[0]
            ev = a.evidence
            located = a.position_m is not None and ev.get("position_method") != "none"
            r["balance_located"] = located
            if located and a.position_interval_m is not None:
                lo, hi = a.position_interval_m
                r["error_pct"] = abs(a.position_m - x) / layout.length_m * 100
                r["half_width_pct"] = (hi - lo) / 2 / layout.length_m * 100
                r["covered"] = bool(lo <= x <= hi)
            if "position_bracket_lo_m" in ev:
                blo, bhi = float(ev["position_bracket_lo_m"]), float(ev["position_bracket_hi_m"])
                r["bracket_m"] = [blo, bhi]
                r["bracket_right"] = bool(blo <= x <= bhi)
        out[variant] = r
    return out


def scenarios(suites: set[str] | frozenset[str], quick: bool) -> list[dict[str, Any]]:
    """The meter suites' scenarios for `benchmarks.detection`'s pool: one per layout (plain dicts)."""
    out: list[dict[str, Any]] = []
    for suite in SUITES:
        if suite not in suites:
            continue
        first, counts = SUITE_LAYOUTS[suite]
        n = counts[0 if quick else 1]
        out += [{"suite": suite, "kind": "meters", "layout": i} for i in range(first, first + n)]
    return out


def cost_s(sc: dict[str, Any]) -> float:
    """A rough cost (simulated seconds x km, four pipelines) to start the longest first."""
    layout = draw_layout(LAYOUT_SEED, sc["layout"])
    return (LEARN_S + LEAK_AFTER_S + AFTER_LEAK_S) * (layout.length_km + 5.0) * 2.0


def run_one(sc: dict[str, Any]) -> dict[str, Any]:
    """One scenario of a meter suite in a worker of `benchmarks.detection`."""
    return {**{k: sc[k] for k in ("suite", "kind", "id") if k in sc}, "layout_index": sc["layout"],
            **run_layout(int(sc["layout"]), detector_params.for_scenario(sc))}


def score_suites(results: list[dict[str, Any]]) -> dict[str, Any]:
    """detection.json's keys of the meter suites: `meters` (tuning layouts) and `meters_held_out`, each the
    `score` of its runs, and the headline figures beside them."""
    out: dict[str, Any] = {}
    for suite, key in (("meters", "meters"), ("meters_heldout", "meters_held_out")):
        rs = [r for r in results if r.get("suite") == suite]
        if not rs:
            continue
        sc = score(rs)
        out[key] = sc
        out[f"{key}_redundant_failed_member_named"] = {"named": sc["redundancy_vote"]["failed_member_named_right"],
                                                       "runs": sc["layouts"]}
        out[f"{key}_redundant_false_alarms"] = {"vote": sc["redundancy_vote"]["false_alarms"],
                                                "no_vote": sc["redundancy_no_vote"]["false_alarms"]}
        out[f"{key}_midline_flow_location_error_pct_median"] = sc["location_midline_flow"]["error_pct_median"]
        out[f"{key}_midline_flow_bracket_right"] = {"right": sc["location_midline_flow"]["bracket_right"],
                                                    "bracketed": sc["location_midline_flow"]["bracketed"]}
    return out


def _median(a: list[float]) -> float | None:
    return float(np.median(a)) if a else None


def _share(a: list[bool]) -> float | None:
    return sum(a) / len(a) if a else None


def score(results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    out: dict[str, Any] = {"layouts": n, "leak_pct_of_nominal": LEAK_PCT}
    for v in ("vote", "no_vote"):
        out[f"redundancy_{v}"] = {
            "false_alarms": sum(r[v]["false_alarms"] for r in results),
            "runs_with_false_alarms": sum(1 for r in results if r[v]["false_alarms"]),
            "pd_15min": sum(r[v]["detected_15min"] for r in results) / n if n else None,
        }
    out["redundancy_vote"]["failed_member_named_right"] = sum(r["vote"]["named_right"] for r in results)
    out["redundancy_vote"]["named_after_fault_s_median"] = _median(
        [r["vote"]["named_after_fault_s"] for r in results if r["vote"]["named_after_fault_s"] is not None])
    out["redundancy_by_fault"] = {f: {"runs": sum(1 for r in results if r["fault"] == f),
                                      "named_right": sum(r["vote"]["named_right"] for r in results if r["fault"] == f),
                                      "false_alarms_vote": sum(r["vote"]["false_alarms"] for r in results
                                                               if r["fault"] == f),
                                      "false_alarms_no_vote": sum(r["no_vote"]["false_alarms"] for r in results
                                                                  if r["fault"] == f)} for f in FAULTS}
    for v in ("midline", "midline_flow"):
        rs = [r[v] for r in results]
        out[f"location_{v}"] = {
            "balance_found": sum(1 for r in rs if "balance_located" in r),
            "located": sum(1 for r in rs if "error_pct" in r),
            "error_pct_median": _median([r["error_pct"] for r in rs if "error_pct" in r]),
            "half_width_pct_median": _median([r["half_width_pct"] for r in rs if "half_width_pct" in r]),
            "coverage": _share([r["covered"] for r in rs if "covered" in r]),
            "bracketed": sum(1 for r in rs if "bracket_m" in r),
            "bracket_right": sum(1 for r in rs if r.get("bracket_right")),
            "false_alarms": sum(r["false_alarms"] for r in rs),
        }
    return out


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    faults = list(FAULTS)
    w = 0.38
    for k, (v, col) in enumerate((("no_vote", "C3"), ("vote", "C0"))):
        fa = [sum(r[v]["false_alarms"] for r in results if r["fault"] == f) for f in faults]
        ax1.bar(np.arange(len(faults)) + (k - 0.5) * w, fa, w, color=col, label=v.replace("_", " "))
    ax1.set_xticks(range(len(faults)), faults)
    ax1.set_ylabel("false alarms before the leak")
    ax1.set_title("a redundant inflow meter fails mid-run")
    ax1.legend()
    for v, col, mk in (("midline", "C2", "o"), ("midline_flow", "C1", "s")):
        pts = [(r[v]["error_pct"], r[v]["half_width_pct"]) for r in results if "error_pct" in r[v]]
        if pts:
            e, h = zip(*pts, strict=True)
            ax2.scatter(h, e, color=col, marker=mk, label=f"{v.replace('_', ' + ')} ({len(pts)})")
    ax2.set_xlabel("95 % interval half width, % of length")
    ax2.set_ylabel("location error, % of length")
    ax2.set_title(f"balance location, {LEAK_PCT:g} % leaks")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layouts", type=int, default=8, help="random layouts (default 8)")
    ap.add_argument("--first", type=int, default=0, help="first layout index")
    ap.add_argument("--out", default="reports/detection_meters.json")
    args = ap.parse_args(argv)
    if not 1 <= args.layouts <= 200 or args.first < 0:
        print("meter_suites: --layouts must be 1..200 and --first >= 0", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    t_start = time.time()
    for n, i in enumerate(range(args.first, args.first + args.layouts)):
        t = time.time()
        r = run_layout(i)
        results.append(r)
        print(f"[{n + 1}/{args.layouts}] {r['layout']} {r['length_m'] / 1000:.1f} km {r['fault']} of {r['members']}: "
              f"vote FA {r['vote']['false_alarms']} named {r['vote']['named']}, no vote FA "
              f"{r['no_vote']['false_alarms']}; bracket {r['midline_flow'].get('bracket_right')} "
              f"({time.time() - t:.0f} s)", flush=True)
    report = {**score(results), "wall_s": round(time.time() - t_start, 1), "layout_seed": LAYOUT_SEED,
              "first_layout": args.first, "command": " ".join(["python -m benchmarks.meter_suites", *sys.argv[1:]]),
              "runs": results}
    out.write_text(json.dumps(report, indent=1, default=lambda o: None if isinstance(o, float) and math.isnan(o)
                              else str(o)))
    plot(results, out.with_suffix(".png"))
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
