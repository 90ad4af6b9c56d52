"""Replay one of the demo city's leak-free days (`python -m benchmarks.detection --suites demo`) block by block,
beside the simulator's truth: why a segment alarms. Diagnosis only: no detector reads the truth.

Re-simulates the day exactly as the demo suite does (same scenario draw, simulation and SCADA readings), feeds the
detector 30-s blocks and records after each block its line pack and the 1- and 2-min windows' imbalance and
threshold; prints, around each balance alarm, the metered end flows, the detector's and the simulator's line-pack
rate and the detector's line pack minus the truth's (its steady offset is the transmitters' bias; what matters is
how it moves), and the operations the day drew near it.

    python -m benchmarks.replay_demo_day 31 line_pack_estimator=1     # scenario index, DetectorParams overrides
    python -m benchmarks.replay_demo_day 31                            # the default detector

CPU: one 25-h simulation and one day's detection, about a minute or two.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys

import numpy as np

BLOCK_S = 30.0


def _bins(t_s: np.ndarray, v: np.ndarray, edges: np.ndarray) -> np.ndarray:
    i = np.searchsorted(edges, t_s, side="right") - 1
    ok = (i >= 0) & (i < len(edges) - 1)
    n = np.bincount(i[ok], minlength=len(edges) - 1)
    s = np.bincount(i[ok], weights=v[ok], minlength=len(edges) - 1)
    return s / np.maximum(n, 1)


def _operations(sc: dict, duration_s: float) -> list[str]:
    """The operations `detection._simulate` draws for a leak-free day (same generator, same order)."""
    from benchmarks import detection as D

    rng = np.random.default_rng(sc["seed"])
    out = []
    for _ in range(int(rng.integers(3, 7))):
        t0, f, ramp, hold = (rng.uniform(D.LEARN_S, duration_s - 3600), rng.uniform(0.6, 1.3),
                             rng.uniform(10, 120), rng.uniform(300, 2400))
        out.append(f"demand x{f:.2f} at {t0:.0f} s (ramp {ramp:.0f} s), back at {t0 + ramp + hold:.0f} s")
    for _ in range(int(rng.integers(1, 4))):
        t0, f, ramp, hold = (rng.uniform(D.LEARN_S, duration_s - 3600), rng.uniform(0.95, 1.05),
                             rng.uniform(60, 300), rng.uniform(1800, 5400))
        out.append(f"supply pressure x{f:.3f} at {t0:.0f} s (ramp {ramp:.0f} s), back at {t0 + ramp + hold:.0f}-"
                   f"{t0 + 2 * ramp + hold:.0f} s")
    for t0 in np.sort(rng.uniform(D.LEARN_S, duration_s - 3600, int(rng.integers(1, 4)))):
        out.append(f"upstream valve to {rng.uniform(0.15, 0.5):.2f} at {t0:.0f} s (ramp {rng.uniform(20, 120):.0f} "
                   f"s, hold {rng.uniform(300, 1500):.0f} s)")
    return out


N_DAYS = 32  # the demo suite's leak-free days (`detection.leak_free_scenarios(32, 24.0)`)


def _parse(argv: list[str]) -> tuple[int, dict[str, float]]:
    """The scenario index and the DetectorParams overrides (NAME=VALUE); garbage exits 2 with what is wrong."""
    from services.leakdetect.domain.config import DetectorParams

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", help=f"the leak-free day's index, 0..{N_DAYS - 1}")
    ap.add_argument("overrides", nargs="*", help="DetectorParams overrides, NAME=VALUE")
    args = ap.parse_args(argv)
    try:
        idx = int(args.scenario)
    except ValueError:
        ap.error(f"scenario: an integer 0..{N_DAYS - 1}, not {args.scenario!r}")
    if not 0 <= idx < N_DAYS:
        ap.error(f"scenario: an integer 0..{N_DAYS - 1}, not {idx}")
    fields = {f.name for f in dataclasses.fields(DetectorParams)}
    over: dict[str, float] = {}
    for item in args.overrides:
        name, eq, value = item.partition("=")
        if not eq or name not in fields:
            ap.error(f"override {item!r}: NAME=VALUE with NAME one of DetectorParams' fields")
        try:
            over[name] = float(value)
        except ValueError:
            ap.error(f"override {item!r}: the value is not a number")
        if not math.isfinite(over[name]):
            ap.error(f"override {item!r}: the value is not finite")
    return idx, over


def main(argv: list[str] | None = None) -> int:
    from benchmarks import detection as D
    from benchmarks import detector_params
    from services.gasflow.scada import instruments_from_tags, scada_readings
    from services.leakdetect.domain import Pipeline
    from services.leakdetect.domain import events as E
    from services.leakdetect.domain import layout as L

    idx, over = _parse(sys.argv[1:] if argv is None else argv)
    sc = next(s for s in D.leak_free_scenarios(N_DAYS, 24.0) if s["id"] == idx)
    duration = sc["hours"] * 3600.0 + D.LEARN_S
    res = D._simulate(sc, duration, (), np.random.default_rng(sc["seed"]))
    net = D._network()
    sid = sc["segment"]
    rd = scada_readings(res, instruments_from_tags(net, [p.probe_id for p in D.result_probes(res)]), seed=sc["seed"])
    params = detector_params.for_scenario(sc)
    params = dataclasses.replace(params, **{k: type(getattr(params, k))(v) for k, v in over.items()})
    pipeline = Pipeline.from_network(net, [sid], params=params)
    tag_idx = pipeline.tag_indices(list(rd.tag_ids))[rd.tag_index]
    t0 = res.start_time_unix_s
    edges = np.arange(math.ceil(t0 / BLOCK_S) * BLOCK_S, t0 + duration + BLOCK_S, BLOCK_S)
    cuts = np.searchsorted(rd.time_unix_us, np.round(edges * 1e6))
    state = pipeline._state  # diagnosis only: the block line pack is not on the facade
    rows: dict[int, tuple] = {}
    raised = []
    start = 0
    for b in cuts:
        if b <= start:
            continue
        pipeline.feed(tag=tag_idx[start:b], time_unix_us=rd.time_unix_us[start:b], value=rd.value_si[start:b],
                      quality=rd.quality[start:b], si_units=True)
        start = b
        raised += [e for e in pipeline.last_events if isinstance(e, E.LeakRaised)]
        if state.seg_i[0, L.GI_N_BLOCKS] == 0:
            continue
        pos = int(state.seg_i[0, L.GI_RING_POS])
        wt = pipeline.window_table()
        rows.setdefault(int(state.ring[0, pos, L.R_TIME]),
                        (float(state.ring[0, pos, L.R_LP]), wt["imbalance_kg_per_s"][0].copy(),
                         wt["threshold_kg_per_s"][0].copy()))
    keys = sorted(rows)
    t = np.array(keys) / 1e6 - t0
    lp = np.array([rows[k][0] for k in keys])
    imb = np.array([rows[k][1] for k in keys])
    thr = np.array([rows[k][2] for k in keys])
    e_rel = np.concatenate([[t[0] - BLOCK_S], t])
    lpt = _bins(res.time_s, np.asarray(res.pipe_line_pack_kg[:, res.pipe_ids.index(sid)]), e_rel)
    pid = list(res.probe_ids)
    q_in = _bins(res.time_s, np.asarray(res.probe_flow_kg_per_s[:, pid.index(f"{sid}-FT-UP")]), e_rel)
    q_out = _bins(res.time_s, np.asarray(res.probe_flow_kg_per_s[:, pid.index(f"{sid}-FT-DN")]), e_rel)
    print(f"scenario {idx}: {sid}, overrides {over or 'none'}; true line pack {np.nanmean(lpt):.0f} kg")
    for op in _operations(sc, duration):
        print("  " + op)
    for e in raised:
        ta = e.time_us / 1e6 - t0
        print(f"alarm at {ta:.0f} s, test {e.test}, rate {e.rate_kg_per_s:.4f} kg/s, z {e.statistic:.2f}")
        print("  block_end_s  q_in  q_out (true, kg/s)  dLP/dt detector  true  LP detector-true kg  "
              "1-min imb thr  2-min imb thr")
        i = int(np.searchsorted(t, ta - 1.0))
        for j in range(max(1, i - 14), min(len(t), i + 4)):
            print(f"  {t[j]:8.0f} {q_in[j]:+7.3f} {q_out[j]:+7.3f} {(lp[j] - lp[j - 1]) / BLOCK_S:+9.3f} "
                  f"{(lpt[j] - lpt[j - 1]) / BLOCK_S:+7.3f} {lp[j] - lpt[j]:+9.1f} {imb[j, 0]:+8.3f} {thr[j, 0]:.3f} "
                  f"{imb[j, 1]:+8.3f} {thr[j, 1]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
