"""Scratch study (issue 24): the state estimator's line-pack change through a supply set-point move against the
simulator's own line pack, and what its error comes from. Diagnosis only: no detector reads the simulator's truth.

For one of the transient sample's supply-change scenarios (its leak-free control: the same day and move without the
leak; or, with --free AT, the sample's transient_free run on that layout, the window starting at AT s) it feeds the
layout's pipeline the run's SCADA readings with `line_pack_estimator=1` and records the line pack of each 30-s block
and the friction model (k, c0) the estimator uses; then it runs the filter offline on the simulator's true end
values (10-s tick means, no instrument noise) with one candidate source changed at a time. Per model: the largest
|error| of the line pack's change over 2- and 4-min windows in the 30 min from the move's start, against the
simulator's, in units of a 1 % leak over the window (what the balance would read as a leak), and the movement
over those 30 min relative to the simulator's.

    python -m benchmarks.estimator_move_study 10              # transient_leaks layout 10's supply-change control
    python -m benchmarks.estimator_move_study 4 --free 9764   # transient_free's run on layout 4, from 9764 s
    python -m benchmarks.estimator_move_study 6 --cells 8,16,32

Models: the kernel as the detector has it (truth in), with the detector's older linear Z, the friction k/c0 fitted
to the truth over the hour before the move (or k alone, or the pipe's prior), R T 1 % higher, the sink's s.d.
(est_sink_frac) / 4 and x 4, fric_sd 0 and x 4, a full tick every tick; and the numpy oracle on `--cells` uniform
cells (the grid).
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

import numpy as np

from benchmarks import transient_suites as T

BLOCK_S = 30.0
N_SAMPLE_LAYOUTS = 14  # the sample's layouts (`--transient-subset 14,12`)
TICK_S = 10.0
VAR_P_PA2 = 30.0**2  # the offline filter's end pressures: the truth's tick means, nearly exact
SIGMA_Q_REL = 1e-3


def _scenario(layout_index: int, free_at_s: float | None) -> tuple[Any, float, Any, Any, dict[str, Any], float]:
    layout = T._layout(layout_index)
    if free_at_s is None:
        sc = next(s for s in T.scenarios({"transient_leaks"}, False, (14, 12))
                  if s["condition"] == "supply_change" and s["layout"] == layout_index)
        dur = sc["onset_s"] + T.AFTER_ONSET_S
        demand, setpoint = T.leak_schedules(layout, sc, dur)
        return layout, dur, demand, setpoint, sc, float(sc["ramp_start_s"])
    from benchmarks.operations import operating_transients

    sc = next(s for s in T.scenarios({"transient_free"}, False, (14, 12)) if s["layout"] == layout_index)
    dur = sc["hours"] * 3600.0 + T.LEARN_S
    demand, setpoint = T._base_schedules(layout, sc, dur)
    demand, setpoint, _ = operating_transients(
        np.random.default_rng(sc["seed"] + 1), T.LEARN_S, dur, demand, layout.inlet_pressure_pa,
        setpoint_changes_per_day=T.FREE_SETPOINT_PER_DAY, demand_changes_per_day=T.FREE_DEMAND_PER_DAY)
    return layout, dur, demand, setpoint, sc, free_at_s


def _bins(t: np.ndarray, v: np.ndarray, edges: np.ndarray) -> np.ndarray:
    i = np.searchsorted(edges, t, side="right") - 1
    ok = (i >= 0) & (i < len(edges) - 1) & (t > edges[0])
    return np.bincount(i[ok], v[ok], len(edges) - 1) / np.maximum(np.bincount(i[ok], None, len(edges) - 1), 1)


def main(argv: list[str] | None = None) -> int:
    from services.gasflow.scada import instruments_from_tags, scada_readings
    from services.leakdetect.domain import Pipeline
    from services.leakdetect.domain import layout as L
    from services.leakdetect.domain.config import DetectorParams
    from services.leakdetect.domain.kernels.estimator import est_init, est_line_pack, est_tick
    from services.leakdetect.domain.kernels.line_pack import mean_p_over_z
    from services.leakdetect.reference.estimator import ReferenceEstimator

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("layout", type=int, help="transient sample layout index")
    ap.add_argument("--free", type=float, default=None, help="the transient_free run instead, window from this s")
    ap.add_argument("--cells", default="8,32", help="the oracle's grids, comma-separated")
    args = ap.parse_args(argv)
    if not 0 <= args.layout < N_SAMPLE_LAYOUTS:
        ap.error(f"layout: an index 0..{N_SAMPLE_LAYOUTS - 1} of the sample's supply-change runs, not {args.layout}")
    if args.free is not None and not (args.free >= 0.0 and np.isfinite(args.free)):
        ap.error(f"--free: a time in s >= 0, not {args.free}")
    try:
        cells = [int(c) for c in args.cells.split(",")]
    except ValueError:
        ap.error(f"--cells: comma-separated integers, not {args.cells!r}")
    if not cells or min(cells) < 2:
        ap.error(f"--cells: grids of at least 2 cells, not {args.cells!r}")
    try:
        layout, dur, demand, setpoint, sc, move_s = _scenario(args.layout, args.free)
    except StopIteration:
        kind = "leak-free" if args.free is not None else "supply-change"
        ap.error(f"layout {args.layout}: the sample has no such {kind} run")
    res = T._simulate(layout, dur, demand, setpoint, ())
    net = layout.network()
    params = DetectorParams(line_pack_estimator=1)
    rd = scada_readings(res, instruments_from_tags(net, list(res.probe_ids)), seed=sc["seed"])
    pipe = Pipeline.from_network(net, [T.SEGMENT_ID], params=params)
    tag_idx = pipe.tag_indices(np.array(rd.tag_ids)[rd.tag_index])
    t0 = res.start_time_unix_s
    state = pipe._state  # diagnosis only: the line pack and the friction model are not on the facade
    cfg = state.config.seg_cfg[0]
    cuts = np.searchsorted(rd.time_unix_us, np.round((t0 + np.arange(0.0, dur + 1.0, BLOCK_S)) * 1e6))
    rows: dict[float, tuple[float, float, float]] = {}
    for a, b in itertools.pairwise(cuts):
        if b > a:
            pipe.feed(tag=tag_idx[a:b], time_unix_us=rd.time_unix_us[a:b], value=rd.value_si[a:b],
                      quality=rd.quality[a:b], si_units=True)
        if state.seg_i[0, L.GI_N_BLOCKS] == 0:
            continue
        pos = int(state.seg_i[0, L.GI_RING_POS])
        t_blk = float(state.ring[0, pos, L.R_TIME] / 1e6 - t0)
        sf = state.seg_f[0]
        rows.setdefault(t_blk, (float(state.ring[0, pos, L.R_LP]), float(sf[L.GF_EST0 + L.ES_K]),
                                float(sf[L.GF_EST0 + L.ES_C0])))
    t_det = np.array(sorted(rows))
    lp_det = np.array([rows[k][0] for k in t_det])
    _, k_det, c0_det = rows[float(t_det[t_det <= move_s][-1])]

    ts = np.asarray(res.time_s)
    k_seg = res.pipe_ids.index(T.SEGMENT_ID)
    lp_sim = np.asarray(res.pipe_line_pack_kg[:, k_seg])
    leak = 0.01 * layout.nominal_flow_kg_per_s

    def report(lp_b: np.ndarray, t_b: np.ndarray, label: str) -> None:
        truth = _bins(ts, lp_sim, np.concatenate([[t_b[0] - BLOCK_S], t_b]))
        out = []
        for w in (4, 8):
            err = ((lp_b[w:] - lp_b[:-w]) - (truth[w:] - truth[:-w])) / (w * BLOCK_S) / leak
            tt = t_b[w:]
            sel = (tt >= move_s) & (tt <= move_s + 1800.0)
            j = int(np.argmax(np.abs(err[sel])))
            out.append(f"{w * BLOCK_S / 60:g} min {err[sel][j]:+6.2f} at +{tt[sel][j] - move_s:4.0f} s")
        i0 = int(np.searchsorted(t_b, move_s))
        i1 = min(int(np.searchsorted(t_b, move_s + 1800.0)), len(t_b) - 1)
        mv = (lp_b[i1] - lp_b[i0]) / (truth[i1] - truth[i0]) - 1.0
        print(f"  {label:30s} {'; '.join(out)}; movement {100 * mv:+.2f} % of {truth[i1] - truth[i0]:.0f} kg",
              flush=True)

    print(f"layout {args.layout}: {layout.length_km:.1f} km, nominal {layout.nominal_flow_kg_per_s:.1f} kg/s, "
          f"window from {move_s:.0f} s; worst error of the line pack's change (x a 1 % leak over the window)")
    report(lp_det, t_det, "detector (its meters)")

    n = int(dur // TICK_S)
    edges = np.arange(n + 1) * TICK_S
    t_end = edges[1:]

    def probe(name: str, pressure: bool) -> np.ndarray:
        arr = res.probe_pressure_pa if pressure else res.probe_flow_kg_per_s
        return _bins(ts, np.asarray(arr[:, res.probe(name)]), edges)

    pu, pd = probe("L01-PT-IN", True), probe("L01-PT-OUT", True)
    qi, qo = probe("L01-FT-IN", False), probe("L01-FT-OUT", False)
    vol, length, elev = cfg[L.GC_VOLUME_M3], cfg[L.GC_LENGTH_M], cfg[L.GC_LOC_ELEV]
    rt0 = cfg[L.GC_R_SPECIFIC] * cfg[L.GC_TEMPERATURE_K]
    zq = (float(cfg[L.GC_Z_Q0]), float(cfg[L.GC_Z_Q1]), float(cfg[L.GC_Z_Q2]))
    q_nom = layout.nominal_flow_kg_per_s
    q_reg = params.est_qreg_frac * q_nom
    # the friction the truth shows over the hour before the move (p_u^2 - p_d^2 - elevation = c0 + k q|q|)
    sel = (t_end > 600.0) & (t_end < move_s)
    qm = 0.5 * (qi + qo)
    drop = pu**2 - pd**2 - 0.5 * elev * (pu**2 + pd**2)
    a_mat = np.column_stack([qm[sel] * np.abs(qm[sel]), np.ones(int(sel.sum()))])
    (k_fit, c0_fit), *_ = np.linalg.lstsq(a_mat, drop[sel], rcond=None)
    k_alone = float(np.sum(drop[sel] * a_mat[:, 0]) / np.sum(a_mat[:, 0] ** 2))
    print(f"  friction: the detector's k {k_det:.4g} c0 {c0_det:.4g}; fitted to the truth k {k_fit:.4g} "
          f"c0 {c0_fit:.4g} (k alone {k_alone:.4g}); the pipe's prior k {cfg[L.GC_LOC_K0]:.4g}")

    def blocks(lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nb = n // 3
        return lp[: nb * 3].reshape(nb, 3).mean(1), t_end[2 : nb * 3 : 3]

    def kernel(z: tuple[float, float, float] = zq, k: float = k_det, c0: float = c0_det, rt: float = rt0,
               sink: float = params.est_sink_frac, fric: float = params.est_friction_sd,
               full_every: int = params.est_full_every) -> np.ndarray:
        st = np.zeros((1, L.N_ES))
        est_init(st, 0, 0, pu[0], VAR_P_PA2, pd[0], VAR_P_PA2, k, c0, q_reg)
        lp = np.zeros(n)
        for i in range(n):
            est_tick(st, 0, 0, TICK_S, qi[i], (SIGMA_Q_REL * qi[i]) ** 2, qo[i], (SIGMA_Q_REL * qo[i]) ** 2, pu[i],
                     VAR_P_PA2, True, pd[i], VAR_P_PA2, True, vol, length, rt, *z, elev, (sink * q_nom) ** 2, fric,
                     q_reg, full_every, params.est_move_frac * q_nom, (-1.0, -1.0), (0.0, 0.0), (0.0, 0.0))
            lp[i] = est_line_pack(st, 0, 0, vol, rt, *z)[0]
        return lp

    def oracle(cells: int) -> np.ndarray:
        e = ReferenceEstimator(vol=vol, length=length, rt=rt0, zq=zq, elev=elev, k=k_det, c0=c0_det, cells=cells)
        e.start(pu[0], VAR_P_PA2, pd[0], VAR_P_PA2, q_reg)
        lp = np.zeros(n)
        for i in range(n):
            e.tick(TICK_S, qi[i], (SIGMA_Q_REL * qi[i]) ** 2, qo[i], (SIGMA_Q_REL * qo[i]) ** 2, pu[i], VAR_P_PA2,
                   pd[i], VAR_P_PA2, (params.est_sink_frac * q_nom) ** 2, params.est_friction_sd, q_reg, 1, 0.0)
            lp[i] = e.line_pack()[0]
        return lp

    qs = np.array([vol / rt0 * mean_p_over_z(pu[i], pd[i], qi[i], qo[i], *zq)[0] for i in range(n)])
    report(*blocks(qs), "quasi-steady (truth in)")
    sink, fric = params.est_sink_frac, params.est_friction_sd
    for label, kw in (("estimator (truth in)", {}), ("linear Z", {"z": (1.0, float(cfg[L.GC_Z_SLOPE]), 0.0)}),
                      ("k, c0 fitted to the truth", {"k": k_fit, "c0": c0_fit}),
                      ("k alone fitted, c0 0", {"k": k_alone, "c0": 0.0}),
                      ("the prior's k, c0 0", {"k": cfg[L.GC_LOC_K0], "c0": 0.0}), ("R T + 1 %", {"rt": 1.01 * rt0}),
                      ("sink s.d. / 4", {"sink": sink / 4.0}), ("sink s.d. x 4", {"sink": sink * 4.0}),
                      ("fric_sd 0", {"fric": 0.0}), ("fric_sd x 4", {"fric": fric * 4.0}),
                      ("a full tick every tick", {"full_every": 1})):
        report(*blocks(kernel(**kw)), label)  # type: ignore[arg-type]
    for n_cells in cells:
        report(*blocks(oracle(n_cells)), f"oracle, {n_cells} cells")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
