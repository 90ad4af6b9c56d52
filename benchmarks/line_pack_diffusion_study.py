"""Scratch study (issue 24): the line-pack models against the simulator's own line pack through the transient sample's
operations, fed the true end pressures and flows (no instrument noise), as `lp_diffusion` was measured.

For each of the first 14 transient_leaks layouts' supply-change (or demand-swing) 1 % scenario, simulated with and
without its leak (1-s records, cached in --cache): 10-s tick means, each model's line pack, 30-s blocks, and per
model the largest |imbalance| of the 2- and 4-min windows in the 30 min after the move's start in the leak-free run
(the model's error, in units of the 1 % leak), and the leak's signal 5 min after its onset (leak run less leak-free
run, share of the leak). Models: `qs` the detector's quasi-steady profile with the flow term (default), `qs_rl` the
same less the ramp lag (`lp_ramp_lag` 0.021), `steady` the steady profile, `S<f>` the steady profile lagged by the
diffusion's first three odd modes with tau_1 = f T_s (`kernels.line_pack._diffuse`), `F<f>` the profile with the
flow term lagged alike, `true` the simulator's own (the residual of the block averaging alone).

    python -m benchmarks.line_pack_diffusion_study supply_change --factors 0.15,0.25,0.35

Z and R T as the detector's configuration has them (`GC_Z_SLOPE`, design temperature); T_s from the true ends as
`kernels.line_pack._settle_time` (clipped to 30-1200 s). A calibration study only: no detector reads this.
"""

from __future__ import annotations

import argparse
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import transient_suites as T

GL_X = np.array([0.5 * (1 - 0.9061798459386640), 0.5 * (1 - 0.5384693101056831), 0.5,
                 0.5 * (1 + 0.5384693101056831), 0.5 * (1 + 0.9061798459386640)])
GL_W = np.array([0.5 * 0.2369268850561891, 0.5 * 0.4786286704993665, 0.5 * 0.5688888888888889,
                 0.5 * 0.4786286704993665, 0.5 * 0.2369268850561891])
TICK_S = 10.0
BLOCK_TICKS = 3
N_MODES = 3


def _sims(sc: dict[str, Any], cache: Path) -> dict[bool, dict[str, np.ndarray]]:
    from services.gasflow import LeakSpec

    layout = T._layout(sc["layout"])
    dur = sc["onset_s"] + T.AFTER_ONSET_S
    demand, setpoint = T.leak_schedules(layout, sc, dur)
    out = {}
    for leak in (False, True):
        path = cache / f"{sc['layout']}_{sc['condition']}_{int(leak)}.pkl"
        if path.exists():
            out[leak] = pickle.loads(path.read_bytes())
            continue
        leaks = (LeakSpec(T.SEGMENT_ID, sc["position_frac"] * layout.length_m, sc["onset_s"], kind="abrupt",
                          rate_kg_per_s=0.01 * layout.nominal_flow_kg_per_s),) if leak else ()
        res = T._simulate(layout, dur, demand, setpoint, leaks, record_s=1.0)
        k = res.pipe_ids.index(T.SEGMENT_ID)
        d = {"t": np.asarray(res.time_s), "pu": np.asarray(res.probe_pressure_pa[:, res.probe("L01-PT-IN")]),
             "pd": np.asarray(res.probe_pressure_pa[:, res.probe("L01-PT-OUT")]),
             "qi": np.asarray(res.probe_flow_kg_per_s[:, res.probe("L01-FT-IN")]),
             "qo": np.asarray(res.probe_flow_kg_per_s[:, res.probe("L01-FT-OUT")]),
             "lp": np.asarray(res.pipe_line_pack_kg[:, k])}
        path.write_bytes(pickle.dumps(d))
        out[leak] = d
    return out


def mean_pressure(pu: np.ndarray, pd: np.ndarray, qi: np.ndarray, qo: np.ndarray, flows: bool = True) -> np.ndarray:
    """kernels.line_pack.mean_pressure, vectorised (flows=False: the steady profile)."""
    steady = 2.0 / 3.0 * (pu + pd - pu * pd / (pu + pd))
    if not flows:
        return steady
    ok = (qi > 0) & (qo > 0) & (pu > pd)
    d = qo - qi
    f1 = qi * qi + qi * d + d * d / 3.0
    k = (pu * pu - pd * pd) / np.where(ok, f1, 1.0)
    pm = np.zeros_like(pu)
    for x, w in zip(GL_X, GL_W, strict=True):
        f = qi * qi * x + qi * d * x * x + d * d * x**3 / 3.0
        pm += w * np.sqrt(np.maximum(pu * pu - k * f, 1.0))
    return np.where(ok, pm, steady)


def diffuse(x: np.ndarray, tau1: np.ndarray) -> np.ndarray:
    """kernels.line_pack._diffuse over a tick series."""
    ns = [2 * i + 1 for i in range(N_MODES)]
    w = [8.0 / (n * n * math.pi**2) for n in ns]
    ys = [np.empty_like(x) for _ in ns]
    st = [float(x[0])] * len(ns)
    for i in range(len(x)):
        for j, n in enumerate(ns):
            st[j] += (1.0 - math.exp(-TICK_S * n * n / tau1[i])) * (x[i] - st[j])
            ys[j][i] = st[j]
    return (1.0 - sum(w)) * x + sum(wj * yj for wj, yj in zip(w, ys, strict=True))


def _blocks(v: np.ndarray) -> np.ndarray:
    n = len(v) // BLOCK_TICKS
    return v[: n * BLOCK_TICKS].reshape(n, BLOCK_TICKS).mean(1)


def models(d: dict[str, np.ndarray], cfg: tuple[float, float, float], factors: list[float]) -> dict[str, Any]:
    t = d["t"]
    n = int((t[-1] - t[0]) // TICK_S)
    idx = ((t - t[0]) // TICK_S).astype(int)
    m = idx < n

    def tick(v: np.ndarray) -> np.ndarray:
        return np.bincount(idx[m], v[m], n) / np.bincount(idx[m], None, n)

    pu, pd, qi, qo, lp = (tick(d[k]) for k in ("pu", "pd", "qi", "qo", "lp"))
    vol, zs, rt = cfg

    def line_pack(pm: np.ndarray) -> np.ndarray:
        return vol * pm / ((1.0 + zs * pm) * rt)

    qs = line_pack(mean_pressure(pu, pd, qi, qo))
    steady = line_pack(mean_pressure(pu, pd, qi, qo, flows=False))
    q = np.maximum(0.5 * np.abs(qi + qo), 0.01)
    ts = np.clip(8.0 / math.pi**2 * qs * np.abs(pu - pd) / (0.5 * (pu + pd) * q), 30.0, 1200.0)
    mm = {"qs": qs, "steady": steady}
    for f in factors:
        mm[f"S{f:g}"] = diffuse(steady, f * ts)
        mm[f"F{f:g}"] = diffuse(qs, f * ts)
    out = {k: _blocks(v) for k, v in mm.items()}
    tb = TICK_S * BLOCK_TICKS
    qb, tsb = _blocks(0.5 * (qi + qo)), _blocks(ts)
    rate = np.zeros_like(qb)
    rate[3:] = ((qb[3:] + qb[2:-1]) - (qb[1:-2] + qb[:-3])) / 2.0 / (2.0 * tb)
    out["qs_rl"] = out["qs"] - 0.021 * tsb**2 * rate
    out["true"] = _blocks(lp)
    out["_cum"] = _blocks(np.cumsum((qi - qo) * TICK_S))
    out["_t"] = (np.arange(len(out["true"])) + 1) * tb
    return out


def main(argv: list[str] | None = None) -> int:
    from services.leakdetect.domain import Pipeline
    from services.leakdetect.domain import layout as L

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("condition", choices=("supply_change", "demand_swing"))
    ap.add_argument("--factors", default="0.25", help="tau_1 / T_s of the diffusion lag, comma-separated")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/line_pack_diffusion_study"))
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    factors = [float(x) for x in args.factors.split(",")]
    scs = [s for s in T.scenarios({"transient_leaks"}, quick=False, subset=(14, 12))
           if s["condition"] == args.condition]
    rows: dict[str, list[tuple[int, float, float]]] = {}
    for sc in scs:
        layout = T._layout(sc["layout"])
        c = Pipeline.from_network(layout.network(), [T.SEGMENT_ID])._state.config.seg_cfg[0]
        cfg = (c[L.GC_VOLUME_M3], c[L.GC_Z_SLOPE], c[L.GC_R_SPECIFIC] * c[L.GC_TEMPERATURE_K])
        leak = 0.01 * layout.nominal_flow_kg_per_s
        ds = _sims(sc, args.cache)
        free, leaky = models(ds[False], cfg, factors), models(ds[True], cfg, factors)
        t = free["_t"]
        line = []
        for name in (k for k in free if not k.startswith("_")):
            for w in (4, 8):
                def imb(mo: dict[str, Any], w: int = w, name: str = name, leak: float = leak) -> np.ndarray:
                    return ((mo["_cum"][w:] - mo["_cum"][:-w]) - (mo[name][w:] - mo[name][:-w])) / (w * 30.0) / leak
                tt = t[w:]
                sel = (tt >= sc["ramp_start_s"]) & (tt <= sc["ramp_start_s"] + 1800.0)
                err = float(np.max(np.abs(imb(free)[sel])))
                j = int(np.searchsorted(tt, sc["onset_s"] + 300.0))
                sig = float(imb(leaky)[j] - imb(free)[j])
                rows.setdefault(name, []).append((w, err, sig))
                line.append(f"{name} w{w // 2}min {err:.1f}/{sig:.2f}")
        print(f"layout {sc['layout']} {layout.length_km:.1f} km:", "; ".join(line), flush=True)
    print("model: 2-min error median / mean (x 1 % leak), signal at 5 min; 4-min error median, signal")
    for name, v in rows.items():
        a = np.array(v)
        two, four = a[a[:, 0] == 4], a[a[:, 0] == 8]
        print(f"{name:8s} {np.median(two[:, 1]):7.2f} / {np.mean(two[:, 1]):7.2f}  {np.median(two[:, 2]):5.2f}   "
              f"{np.median(four[:, 1]):7.2f}  {np.median(four[:, 2]):5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
