"""Why the mass balance raises false alarms on the random leak-free layouts (`benchmarks.layout_suites`).

Re-runs the leak-free runs of the given layouts exactly as `python -m benchmarks.detection --suites leak_free`
does (same scenario draw: start hour and seed per layout index, the same simulation and SCADA readings, the
end-meters pipeline), but feeds the detector block by block (30 s) and records, per block, every window's
imbalance and threshold (`Pipeline.window_table`), the detector's line pack and learned baseline, beside the
simulation's truth (the segment's true line pack and end flows). For every false alarm it then reports:

- the layout's parameters, the time after start, the window (or test) that fired, imbalance vs threshold (for a
  step test, the plain window of the same length: the step test compares it with the window before it);
- the decomposition of that window's imbalance (1 block at each end; the detector may have used end means) into
  * `baseline_error`: measured net inflow minus the true net inflow minus the learned baseline a + g q, i.e. the
    flow meters' biases at today's throughput that the baseline (learned once, in the first hour) does not remove;
  * `line_pack_error`: the detector's line-pack change minus the true one, per second (negative sign: a line pack
    the detector sees falling too fast reads as a leak);
  * `simulator_residual`: true net inflow minus the true line-pack change (should be ~0);
- the flow meters' simulated errors (bias and noise, fitted from readings against the truth) against the
  accuracy the layout's network document states (the detector's sigma is half of that 95 % bound);
- the throughput at learning against the throughput at the alarm.

Writes `reports/false_alarm_diagnosis.json` and `reports/false_alarm_diagnosis.png` (imbalance vs threshold of
the window that fired, the decomposition and the throughput around each false alarm).

    python -m benchmarks.diagnose_false_alarms                      # the layouts that alarmed in the full run
    python -m benchmarks.diagnose_false_alarms --layouts 0,16 --suite transients --hours 6

CPU: one ~25-h simulation per layout (about a minute or two on one core each); run a handful only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# the layouts that raised leak-free false alarms in the full run of 2026-12-06 (seed LAYOUT_SEED)
DEFAULT_LAYOUTS = (0, 11, 13, 14, 16, 22, 25, 27)
BLOCK_S = 30.0
PLOT_SPAN_S = 1.5 * 3600.0  # either side of the alarm


def _scenario(suite: str, layout_index: int, hours: float | None) -> dict[str, Any]:
    from benchmarks.layout_suites import scenarios

    for sc in scenarios({suite}, quick=False):
        if sc["suite"] == suite and sc["layout"] == layout_index:
            if hours is not None:
                sc = {**sc, "hours": hours}
            return sc
    raise SystemExit(f"error: layout index {layout_index} is not in the {suite} suite (0..27)")


def _bins(t_s: np.ndarray, v: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of v per [edges[i], edges[i+1]) bin (nan where empty)."""
    idx = np.searchsorted(edges, t_s, side="right") - 1
    ok = (idx >= 0) & (idx < len(edges) - 1)
    n = np.bincount(idx[ok], minlength=len(edges) - 1).astype(float)
    s = np.bincount(idx[ok], weights=v[ok], minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / n


def _meter_errors(layout: Any, res: Any, rd: Any) -> dict[str, Any]:
    """Fitted bias and noise of each end meter (reading = truth (1 + b_rel) + b_abs + noise) against what the
    network document states (95 % bound) and what the detector takes as 1 s.d."""
    from services.network.quality import QUALITY_GOOD

    net = layout.network(midline=False)
    out: dict[str, Any] = {}
    for tag_id in net.tags:
        if tag_id not in rd.tag_ids:
            continue
        t_us, v, q = rd.of_tag(tag_id)
        good = q == QUALITY_GOOD
        t_rel = t_us[good] / 1e6 - res.start_time_unix_s
        truth = np.interp(t_rel, res.time_s, _truth_series(res, tag_id))
        v = v[good]
        tag = net.tags[tag_id]
        kind = str(tag.kind.value)
        row: dict[str, Any] = {"kind": kind, "stated_accuracy": {k: val for k, val in
                                                                  (("basis", str(tag.accuracy.basis.value)),
                                                                   ("value", tag.accuracy.value))}}
        if kind == "flow":
            a_mat = np.column_stack([truth, np.ones_like(truth)])
            coef, *_ = np.linalg.lstsq(a_mat, v - truth, rcond=None)
            resid = v - truth - a_mat @ coef
            row.update(bias_rel=float(coef[0]), bias_abs_kg_per_s=float(coef[1]),
                       noise_sd_kg_per_s=float(np.std(resid)),
                       noise_sd_rel_of_mean_flow=float(np.std(resid) / max(np.mean(np.abs(truth)), 1e-12)),
                       stated_sigma_rel=layout.flow_accuracy_pct_of_reading / 200.0)
        else:
            err = v - truth
            row.update(bias_si=float(np.mean(err)), noise_sd_si=float(np.std(err)))
        out[tag_id] = row
    return out


def _gaps_near(rd: Any, tag_ids: list[str], t_alarm: float, t0: float, span_s: float = 900.0
               ) -> dict[str, list[list[float]]]:
    """Silences of each tag (over 3 scan periods and 10 s) that overlap the span_s before the alarm, as [start,
    end] in h after start: communication outages, during which the detector marks the tag stale and (a pressure
    transmitter) falls back to a one-ended line pack."""
    out: dict[str, list[list[float]]] = {}
    for tag_id in tag_ids:
        t_us, _, _ = rd.of_tag(tag_id)
        t = t_us / 1e6
        if t.size < 3:
            continue
        d = np.diff(t)
        limit = max(10.0, 3.0 * float(np.median(d)))
        big = np.flatnonzero((d > limit) & (t[1:] >= t_alarm - span_s) & (t[:-1] <= t_alarm))
        if big.size:
            out[tag_id] = [[(t[k] - t0) / 3600.0, (t[k + 1] - t0) / 3600.0] for k in big]
    return out


def _truth_series(res: Any, tag_id: str) -> np.ndarray:
    k = res.probe(tag_id)
    if "-FT-" in tag_id:
        return np.asarray(res.probe_flow_kg_per_s[:, k])
    if "-TT-" in tag_id:
        return np.full(res.time_s.shape, float(res.probe_temperature_k[k]))
    return np.asarray(res.probe_pressure_pa[:, k])


def run_layout(layout_index: int, seed: int, suite: str, hours: float | None, log: Any) -> dict[str, Any]:
    from benchmarks import layout_suites as LS
    from benchmarks.layouts import SEGMENT_ID, draw_layout
    from services.leakdetect.domain import Pipeline
    from services.leakdetect.domain import events as E
    from services.leakdetect.domain import layout as L

    learn_s, _, _ = LS._constants()
    sc = _scenario(suite, layout_index, hours)
    layout = draw_layout(seed, layout_index)
    duration = sc["hours"] * 3600.0 + learn_s
    t_start = time.monotonic()
    log(f"layout {layout.layout_id}: {layout.length_km} km, DN {layout.inner_diameter_mm} mm, nominal "
        f"{layout.nominal_flow_kg_per_s} kg/s, {'regulated' if layout.regulated else 'unregulated'}; "
        f"simulating {duration / 3600:.1f} h ...")
    res, drawn = LS._simulate(layout, sc, duration, (), transients=suite == "transients")
    rd = LS._readings(layout, res, sc["seed"])
    log(f"  simulated in {time.monotonic() - t_start:.0f} s; feeding the detector block by block ...")
    t0 = res.start_time_unix_s
    net = layout.network(midline=False)
    pipeline = Pipeline.from_network(net, [SEGMENT_ID])
    known = np.array([t in net.tags for t in rd.tag_ids])
    sel = known[rd.tag_index]
    names = np.array(rd.tag_ids)[rd.tag_index[sel]]
    tag_idx = pipeline.tag_indices(names)
    t_us, v, q = rd.time_unix_us[sel], rd.value_si[sel], rd.quality[sel]
    first_edge = math.ceil(t0 / BLOCK_S) * BLOCK_S
    edges_s = np.arange(first_edge, t0 + duration + BLOCK_S, BLOCK_S)
    cuts = np.searchsorted(t_us, np.round(edges_s * 1e6))
    n_win = len(pipeline.params.windows_blocks)
    rows: dict[int, dict[str, Any]] = {}  # block end (us) -> the detector's view after that block
    raised: list[dict[str, Any]] = []
    learned: dict[str, float] | None = None
    state = pipeline._state  # diagnosis only: the learned baseline and line pack are not on the facade
    start = 0
    for b in cuts:
        if b <= start:
            continue
        pipeline.feed(tag=tag_idx[start:b], time_unix_us=t_us[start:b], value=v[start:b], quality=q[start:b],
                      si_units=True)
        start = b
        for e in pipeline.last_events:
            if isinstance(e, E.LeakRaised):
                raised.append({"time_us": e.time_us, "onset_us": e.onset_us, "test": e.test,
                               "rate_kg_per_s": e.rate_kg_per_s, "statistic": e.statistic})
            elif isinstance(e, E.BaselineLearned) and learned is None:
                learned = {"time_s": e.time_us / 1e6 - t0, "offset_kg_per_s": e.offset_kg_per_s,
                           "offset_sd_kg_per_s": e.offset_sd_kg_per_s, "gain": e.gain, "kappa": e.kappa}
        pos = int(state.seg_i[0, L.GI_RING_POS])
        if state.seg_i[0, L.GI_N_BLOCKS] == 0:
            continue
        blk_us = int(state.ring[0, pos, L.R_TIME])
        if blk_us in rows:
            continue
        wt = pipeline.window_table()
        sf = state.seg_f[0]
        rows[blk_us] = {"imb": wt["imbalance_kg_per_s"][0].copy(), "thr": wt["threshold_kg_per_s"][0].copy(),
                        "lp": float(state.ring[0, pos, L.R_LP]), "a": float(sf[L.GF_BASE_A]),
                        "g": float(sf[L.GF_BASE_G]), "qbar": float(sf[L.GF_QBAR]), "var_g": float(sf[L.GF_VAR_G]),
                        "kappa": float(sf[L.GF_KAPPA]), "base_var": float(sf[L.GF_BASE_VAR]),
                        "learned": int(state.seg_i[0, L.GI_LEARNED])}
    log(f"  fed in {time.monotonic() - t_start:.0f} s; {len(raised)} balance alarm(s)")
    # per-block series (block ending at t): detector and truth
    blk_end_s = np.array(sorted(rows)) / 1e6
    det = [rows[k] for k in sorted(rows)]
    imb = np.array([r["imb"] for r in det])
    thr = np.array([r["thr"] for r in det])
    lp_det = np.array([r["lp"] for r in det])
    seg_k = res.pipe_ids.index(SEGMENT_ID)
    t_rel = res.time_s
    lp_true_rec = np.asarray(res.pipe_line_pack_kg[:, seg_k])
    qin_true = np.asarray(res.probe_flow_kg_per_s[:, res.probe("L01-FT-IN")])
    qout_true = np.asarray(res.probe_flow_kg_per_s[:, res.probe("L01-FT-OUT")])
    edges_rel = np.concatenate([[blk_end_s[0] - BLOCK_S], blk_end_s]) - t0
    lp_true = _bins(t_rel, lp_true_rec, edges_rel)
    net_true = _bins(t_rel, qin_true - qout_true, edges_rel)
    thru_true = _bins(t_rel, 0.5 * (qin_true + qout_true), edges_rel)
    from services.network.quality import QUALITY_GOOD

    tin, vin, qin_q = rd.of_tag("L01-FT-IN")
    tout, vout, qout_q = rd.of_tag("L01-FT-OUT")
    gi, go = qin_q == QUALITY_GOOD, qout_q == QUALITY_GOOD
    min_ = _bins(tin[gi] / 1e6 - t0, vin[gi], edges_rel)
    mout = _bins(tout[go] / 1e6 - t0, vout[go], edges_rel)
    net_meas = min_ - mout
    meters = _meter_errors(layout, res, rd)
    g_true = meters["L01-FT-IN"]["bias_rel"] - meters["L01-FT-OUT"]["bias_rel"]
    a_true = meters["L01-FT-IN"]["bias_abs_kg_per_s"] - meters["L01-FT-OUT"]["bias_abs_kg_per_s"]
    windows = pipeline.params.windows_blocks
    alarms_out: list[dict[str, Any]] = []
    for al in raised:
        t_alarm = al["time_us"] / 1e6
        i = int(np.searchsorted(blk_end_s, t_alarm))
        i = min(i, len(blk_end_s) - 1)
        test = al["test"]
        if test < n_win:
            wi, test_name = test, f"window {windows[test] * BLOCK_S / 60:g} min"
        elif test >= L.TEST_STEP0:
            wi = test - L.TEST_STEP0
            test_name = f"step test, window {windows[wi] * BLOCK_S / 60:g} min"
        else:
            wi, test_name = None, "CUSUM"
        r = det[i]
        # outages anywhere in the fired window (or the hour, for the CUSUM) and 5 min before it
        span = (windows[wi] if wi is not None else 120) * BLOCK_S + 300.0
        gaps = _gaps_near(rd, [t for t in net.tags if t in rd.tag_ids], t_alarm, t0, span_s=max(span, 900.0))
        entry: dict[str, Any] = {"time_after_start_h": (t_alarm - t0) / 3600.0, "test": test_name,
                                 "reading_gaps_near_alarm": gaps,
                                 "statistic_at_raise": al["statistic"],  # z of the test that fired (threshold 5)
                                 "rate_kg_per_s": al["rate_kg_per_s"],
                                 "rate_pct_of_nominal": 100.0 * al["rate_kg_per_s"] / layout.nominal_flow_kg_per_s,
                                 "onset_after_start_h": (al["onset_us"] / 1e6 - t0) / 3600.0,
                                 "throughput_at_learning_kg_per_s": r["qbar"],
                                 "throughput_at_alarm_kg_per_s": float(thru_true[i]),
                                 "learned_gain": r["g"], "true_gain": g_true,
                                 "learned_offset_kg_per_s": r["a"], "true_offset_kg_per_s": a_true,
                                 "gain_sd_stated": math.sqrt(max(r["var_g"], 0.0)), "kappa": r["kappa"]}
        # baseline error at this throughput: what the meters do minus what the baseline removes
        entry["baseline_error_now_kg_per_s"] = (a_true + g_true * thru_true[i]) - (r["a"] + r["g"] * thru_true[i])
        for wj in ([wi] if wi is not None else range(n_win)):
            nb = windows[wj]
            if i - nb < 0:
                continue
            sl = slice(i - nb + 1, i + 1)
            tw = nb * BLOCK_S
            d = _decompose(net_meas[sl], net_true[sl], thru_true[sl], lp_det[i] - lp_det[i - nb],
                           lp_true[i] - lp_true[i - nb], tw, r["a"], r["g"])
            entry[f"window_{nb * BLOCK_S / 60:g}min"] = {
                "imbalance_kg_per_s": float(imb[i, wj]), "threshold_kg_per_s": float(thr[i, wj]),
                "imbalance_pct_of_nominal": 100.0 * float(imb[i, wj]) / layout.nominal_flow_kg_per_s,
                "threshold_pct_of_nominal": 100.0 * float(thr[i, wj]) / layout.nominal_flow_kg_per_s,
                **d}
        entry["cause"] = _cause(entry, float(lp_true[i]))
        if drawn:
            entry["operating_moves_within_15min"] = _moves_near(drawn, t_alarm - t0)
        alarms_out.append(entry)
    lp_mean = float(np.nanmean(lp_true))
    out = {
        "layout": layout.summary(), "scenario": {k: sc[k] for k in ("suite", "layout", "hours", "start_hour", "seed")},
        "line_pack_kg_mean": lp_mean,
        "line_pack_hours_of_nominal_flow": lp_mean / layout.nominal_flow_kg_per_s / 3600.0,
        "throughput_kg_per_s": {"min": float(np.nanmin(thru_true)), "max": float(np.nanmax(thru_true)),
                                "mean": float(np.nanmean(thru_true))},
        "baseline_learned": learned, "meters": meters, "false_alarms": alarms_out,
        "worker_seconds": time.monotonic() - t_start,
    }
    series = {"t_h": (blk_end_s - t0) / 3600.0, "imb": imb, "thr": thr, "lp_det": lp_det, "lp_true": lp_true,
              "net_meas": net_meas, "net_true": net_true, "thru": thru_true, "a": np.array([r["a"] for r in det]),
              "g": np.array([r["g"] for r in det]), "learned": np.array([r["learned"] for r in det])}
    return {"report": out, "series": series, "raised": raised}


def _decompose(net_meas: np.ndarray, net_true: np.ndarray, thru: np.ndarray, d_lp_det: float, d_lp_true: float,
               tw: float, a: float, g: float) -> dict[str, float]:
    """A window's imbalance split into what the meters' uncorrected biases, the line-pack model and the simulator
    each contribute (kg/s; 1 block at each end)."""
    meas = float(np.nanmean(net_meas))
    true = float(np.nanmean(net_true))
    q = float(np.nanmean(thru))
    baseline_error = meas - true - (a + g * q)
    lp_error = -(d_lp_det - d_lp_true) / tw
    sim_resid = true - d_lp_true / tw
    return {"baseline_error_kg_per_s": baseline_error, "line_pack_error_kg_per_s": lp_error,
            "simulator_residual_kg_per_s": sim_resid,
            "sum_kg_per_s": baseline_error + lp_error + sim_resid,
            "line_pack_change_detector_kg": d_lp_det, "line_pack_change_true_kg": d_lp_true}


def _moves_near(drawn: dict[str, Any], t_s: float, before_s: float = 900.0) -> list[dict[str, Any]]:
    """The drawn set-point and demand moves (`benchmarks.operations.operating_transients`) that were under way or
    ended within before_s of t_s (s after start)."""
    out = []
    for kind in ("setpoint_moves", "demand_moves"):
        for m in drawn.get(kind, []):
            if m["start_s"] <= t_s and m["start_s"] + m["ramp_s"] >= t_s - before_s:
                out.append({"kind": kind.removesuffix("_moves"), "start_h": m["start_s"] / 3600.0,
                            "ramp_min": m["ramp_s"] / 60.0, "change_pct": 100.0 * m["change"]})
    return out


def _cause(entry: dict[str, Any], lp_kg: float) -> str:
    """The dominant term of the fired window's imbalance, named (with the outage that explains it, if any)."""
    win = next((v for k, v in entry.items() if k.startswith("window_")), None)
    if win is None:
        return "unexplained (CUSUM)"
    terms = {"line_pack_error": win["line_pack_error_kg_per_s"], "baseline_error": win["baseline_error_kg_per_s"],
             "simulator_residual": win["simulator_residual_kg_per_s"]}
    main = max(terms, key=lambda k: abs(terms[k]) if math.isfinite(terms[k]) else -1.0)
    share = terms[main] / win["imbalance_kg_per_s"] if win["imbalance_kg_per_s"] else math.nan
    pt_out = [t for t in entry["reading_gaps_near_alarm"] if "-PT-" in t]
    step = win["line_pack_change_detector_kg"] - win["line_pack_change_true_kg"]
    text = f"{main} ({share:.0%} of the imbalance)"
    if main == "line_pack_error" and pt_out:
        text += (f"; pressure transmitter outage {', '.join(pt_out)}: the line pack through it erred by "
                 f"{100.0 * step / lp_kg:+.1f} % of the line pack")
    return text


def _rolling(x: np.ndarray, nb: int) -> np.ndarray:
    """Mean over the last nb blocks (nan-aware)."""
    out = np.full_like(x, np.nan, dtype=float)
    c = np.nancumsum(np.nan_to_num(x))
    out[nb:] = (c[nb:] - c[:-nb]) / nb
    return out


def plot(results: list[dict[str, Any]], path: Path, windows: tuple[int, ...]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(r, a) for r in results for a in r["report"]["false_alarms"]]
    if not panels:
        return
    fig, axes = plt.subplots(len(panels), 2, figsize=(14, 3.2 * len(panels)), squeeze=False)
    for row, (r, a) in enumerate(panels):
        s, rep = r["series"], r["report"]
        lay = rep["layout"]
        t_a = a["time_after_start_h"]
        sel = np.abs(s["t_h"] - t_a) <= PLOT_SPAN_S / 3600.0
        ax = axes[row, 0]
        key = next((k for k in a if k.startswith("window_")), None)
        nb_list = [nb for nb in windows if key == f"window_{nb * BLOCK_S / 60:g}min"] or [windows[-2]]
        nb = nb_list[0]
        wi = windows.index(nb)
        ax.plot(s["t_h"][sel], s["imb"][sel, wi], label=f"imbalance, {nb * BLOCK_S / 60:g}-min window")
        ax.plot(s["t_h"][sel], s["thr"][sel, wi], "k--", lw=0.8, label="threshold (stated MDLR)")
        tw = nb * BLOCK_S
        lp_err = -((s["lp_det"] - np.roll(s["lp_det"], nb)) - (s["lp_true"] - np.roll(s["lp_true"], nb))) / tw
        lp_err[:nb] = np.nan
        base_err = _rolling(s["net_meas"] - s["net_true"], nb) - (s["a"] + s["g"] * _rolling(s["thru"], nb))
        base_err[s["learned"] == 0] = np.nan
        ax.plot(s["t_h"][sel], lp_err[sel], lw=0.8, label="line-pack model error")
        ax.plot(s["t_h"][sel], base_err[sel], lw=0.8, label="meters minus baseline")
        ax.axvline(t_a, color="r", lw=0.8)
        for tag_id, spans in a["reading_gaps_near_alarm"].items():
            for g0, g1 in spans:
                ax.axvspan(g0, g1, color="0.85" if "-PT-" in tag_id else "0.93", zorder=0)
        ax.set_ylabel("kg/s")
        ax.set_title(f"{lay['layout_id']} {lay['length_km']} km DN{lay['inner_diameter_mm']:.0f} "
                     f"{'reg' if lay['regulated'] else 'unreg'}, nominal {lay['nominal_flow_kg_per_s']} kg/s: "
                     f"{a['test']} at {t_a:.2f} h (grey: silent tags)", fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[row, 1]
        ax.plot(s["t_h"][sel], s["thru"][sel], label="throughput (true)")
        ax.axhline(a["throughput_at_learning_kg_per_s"], color="k", ls=":", lw=0.8, label="at learning")
        ax.axvline(t_a, color="r", lw=0.8)
        ax2 = ax.twinx()
        ax2.plot(s["t_h"][sel], s["lp_true"][sel] - np.nanmean(s["lp_true"][sel]), "C2", lw=0.8,
                 label="true line pack - mean (kg)")
        ax2.plot(s["t_h"][sel], s["lp_det"][sel] - np.nanmean(s["lp_det"][sel]), "C3", lw=0.8,
                 label="detector line pack - mean (kg)")
        ax.set_ylabel("kg/s")
        ax2.set_ylabel("kg")
        ax.legend(fontsize=7, loc="upper left")
        ax2.legend(fontsize=7, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("hours after start")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.layout_suites import LAYOUT_SEED

    ap = argparse.ArgumentParser(prog="python -m benchmarks.diagnose_false_alarms", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=LAYOUT_SEED, help="layout seed (default: the suites')")
    ap.add_argument("--layouts", default=",".join(map(str, DEFAULT_LAYOUTS)),
                    help="comma-separated layout indices (0-27)")
    ap.add_argument("--suite", choices=("leak_free", "transients"), default="leak_free")
    ap.add_argument("--hours", type=float, default=None, help="monitored hours (default: the suite's, 24)")
    ap.add_argument("--out", default="reports/false_alarm_diagnosis.json")
    args = ap.parse_args(argv)
    try:
        idx = [int(x) for x in args.layouts.split(",") if x.strip()]
    except ValueError:
        print(f"error: --layouts must be comma-separated integers, got {args.layouts!r}", file=sys.stderr)
        return 2
    if not idx or any(not 0 <= i < 28 for i in idx):
        print(f"error: --layouts must name indices 0..27, got {args.layouts!r}", file=sys.stderr)
        return 2
    if args.hours is not None and not (math.isfinite(args.hours) and 0.5 <= args.hours <= 48):
        print(f"error: --hours must be within 0.5..48, got {args.hours}", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    from services.leakdetect.domain.config import DetectorParams

    results = [run_layout(i, args.seed, args.suite, args.hours, log) for i in idx]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    causes = [a["cause"] for r in results for a in r["report"]["false_alarms"]]
    report = {"suite": args.suite, "seed": args.seed,
              "summary": {"false_alarms": len(causes),
                          "after_pressure_transmitter_outage": sum("outage" in c for c in causes),
                          "dominant_term": {k: sum(c.startswith(k) for c in causes)
                                            for k in ("line_pack_error", "baseline_error", "simulator_residual")}},
              "layouts": [r["report"] for r in results]}
    out.write_text(json.dumps(report, indent=2, default=float))
    png = out.with_suffix(".png")
    plot(results, png, DetectorParams().windows_blocks)
    log(f"wrote {out} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
