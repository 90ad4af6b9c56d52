"""Reference compensated mass balance and statistical test in plain pandas/NumPy: the test oracle.

Same method as the numba kernel (see `services.leakdetect.domain`), written the obvious way: readings are
grouped into ticks with pandas, held forward, turned into block means of the cumulative net inflow and of the
line pack, and then the baseline, Page's CUSUM and the multi-window tests run over the blocks.

It assumes healthy instruments (no stale/flat/implausible logic) and readings that are not late; on such data
it must raise the same alarms at the same times as the kernel. It is also the speed baseline of
`make bench-detect`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.network.quality import QUALITY_BAD

from ..domain import layout as L
from ..domain.config import DetectorConfig, DetectorParams
from ..domain.kernels.balance import RAMP_HELD_SETTLE

Z_CLIP = 3.5
BIAS_ALLOWANCE = 2.0
SETTLE_BOXES = 4  # kernels.decision: the settling lead's boxes, weights exp(-box)
SETTLE_MIN_FLOW_FRAC = 0.01  # kernels.line_pack._settle_time's throughput floor, fraction of nominal flow


@dataclass
class ReferenceAlarm:
    segment: int
    time_us: int
    test: int  # window index or layout.TEST_CUSUM
    statistic: float


@dataclass
class ReferenceResult:
    alarms: list[ReferenceAlarm]
    mdlr_kg_per_s: npt.NDArray[np.float64]  # [n_segments, N_WINDOWS] after the last block
    blocks: dict[int, pd.DataFrame]  # per segment: one row per block (for plots and debugging)


def _tick_means(df: pd.DataFrame, cfg: DetectorConfig, tick_us: int) -> pd.DataFrame:
    slot = df["segment"].to_numpy() * L.N_ROLES + df["role"].to_numpy()
    sc = cfg.slot_cfg
    ok = (
        (df["quality"].to_numpy() != QUALITY_BAD)
        & np.isfinite(df["value"].to_numpy())
        & (df["value"].to_numpy() >= sc[slot, L.SC_RANGE_MIN])
        & (df["value"].to_numpy() <= sc[slot, L.SC_RANGE_MAX])
    )
    d = df[ok].assign(tick=lambda x: x["time_us"] // tick_us)
    return d.groupby(["segment", "tick", "role"])["value"].agg(["sum", "count"]).reset_index()


def _col(frame: pd.DataFrame, role: int) -> npt.NDArray[np.float64]:
    return frame[role].to_numpy() if role in frame else np.full(len(frame), np.nan)


def _var(cfg: DetectorConfig, seg: int, held: pd.DataFrame, counts: pd.DataFrame, role: int
         ) -> npt.NDArray[np.float64]:
    """Variance of each tick mean (sample and hold: a held value has the variance of one reading)."""
    slot = seg * L.N_ROLES + role
    v = _col(held, role)
    s2 = (cfg.slot_cfg[slot, L.SC_SIGMA_REL] * v) ** 2 + cfg.slot_cfg[slot, L.SC_SIGMA_ABS] ** 2
    n = _col(counts, role)
    return np.where(n > 0, s2 / np.maximum(n, 1), s2)


def _profile_p2(pu: npt.NDArray[np.float64], pd_: npt.NDArray[np.float64], q_in: npt.NDArray[np.float64],
                q_out: npt.NDArray[np.float64]
                ) -> tuple[npt.NDArray[np.bool_], list[tuple[float, npt.NDArray[np.float64]]]]:
    """p(x)^2 = pu^2 - (pu^2 - pd^2) F(x)/F(1), F(x) = int_0^x q^2, q linear from q_in to q_out, at the 5
    Gauss-Legendre points of the line (weight, p^2), and where that flow term applied (elsewhere, flows unusable or
    pu <= pd, the steady profile: p^2 linear in x)."""
    use = (q_in > 0) & (q_out > 0) & (pu > pd_)
    a = np.where(use, q_in, 1.0)
    d = np.where(use, q_out, 1.0) - a
    f1 = a * a + a * d + d * d / 3.0
    x, w = np.polynomial.legendre.leggauss(5)
    x, w = 0.5 * (x + 1.0), 0.5 * w
    points = []
    for xi, wi in zip(x, w, strict=True):
        share = np.where(use, (a * a * xi + a * d * xi**2 + d * d * xi**3 / 3.0) / f1, xi)
        points.append((float(wi), pu * pu - (pu * pu - pd_ * pd_) * share))
    return use, points


def _mean_pressure(pu: npt.NDArray[np.float64], pd_: npt.NDArray[np.float64], q_in: npt.NDArray[np.float64],
                   q_out: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Mean of p(x) over `_profile_p2`'s profile; the steady profile's closed form where the flows are unusable or
    pu <= pd."""
    steady = 2.0 / 3.0 * (pu + pd_ - pu * pd_ / (pu + pd_))
    use, points = _profile_p2(pu, pd_, q_in, q_out)
    pm = np.zeros_like(steady)
    for wi, p2 in points:
        pm = pm + wi * np.sqrt(np.where(use, p2, 1.0))
    return np.where(use, pm, steady)


def _p_over_z(p: npt.NDArray[np.float64], zq: tuple[float, float, float]
              ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """p / Z(p), Z(p) = z0 + z1 p + z2 p^2, and d(p/Z)/dp = (z0 - z2 p^2) / Z^2 (kernels.common.p_over_z)."""
    z0, z1, z2 = zq
    z = z0 + z1 * p + z2 * p * p
    return p / z, (z0 - z2 * p * p) / (z * z)


def _mean_p_over_z(pu: npt.NDArray[np.float64], pd_: npt.NDArray[np.float64], q_in: npt.NDArray[np.float64],
                   q_out: npt.NDArray[np.float64], zq: tuple[float, float, float]
                   ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mean of p / Z(p) over `_profile_p2`'s profile, Z(p) = z0 + z1 p + z2 p^2 at each point, and the mean of
    d(p/Z)/dp (kernels.line_pack.mean_p_over_z)."""
    _, points = _profile_p2(pu, pd_, q_in, q_out)
    m = np.zeros(np.broadcast(pu, pd_).shape)
    dm = np.zeros_like(m)
    for wi, p2_point in points:
        # nan stays nan: a missing pressure gives a nan line pack
        pz, dpz = _p_over_z(np.sqrt(np.maximum(p2_point, 0.0)), zq)
        m = m + wi * pz
        dm = dm + wi * dpz
    return m, dm


SILENT_END_SCALE_SD = 0.1  # kernels.line_pack's: 1 s.d. of the friction model's predicted change, share of it
SILENT_END_K_SELF_REL_SD = 0.3  # and of k taken from the last tick with both ends (no prior, no calibration)


def silent_end_pressure(*, p_live: float, live_is_upstream: bool, d_held: float, phi_held: float, q_in: float,
                        q_out: float, k: float | None, var_k: float, elev: float,
                        var_last_reading: float) -> tuple[float, float]:
    """A silent end's pressure (Pa) and its systematic variance (Pa^2) for the line pack
    (kernels.line_pack._line_pack): the pressure that gives the friction drop of the last tick with both ends,
    d_held, moved by k times the change of the flow term since (k None: no prior or calibration, that tick's own
    d / phi); its uncertainty k's and SILENT_END_SCALE_SD of that change, carried to the pressure towards a larger
    drop, plus the silent transmitter's last reading's."""
    if k is None:
        k = d_held / phi_held if phi_held > 0.0 and d_held > 0.0 else 0.0
        var_k = (SILENT_END_K_SELF_REL_SD * k) ** 2
    if q_in > 0.0 and q_out > 0.0:
        phi = q_in**2 + q_in * (q_out - q_in) + (q_out - q_in) ** 2 / 3.0
    else:
        qm = 0.5 * (q_in + q_out)
        phi = qm * abs(qm)
    dphi = phi - phi_held
    d_now = d_held + k * dphi
    sd_d = math.sqrt(var_k * dphi**2 + (SILENT_END_SCALE_SD * k * dphi) ** 2)

    def solve(d: float) -> float:
        if live_is_upstream:
            p2 = (p_live**2 * (1.0 - 0.5 * elev) - d) / (1.0 + 0.5 * elev)
        else:
            p2 = (d + p_live**2 * (1.0 + 0.5 * elev)) / (1.0 - 0.5 * elev)
        return math.sqrt(p2) if p2 > 0.0 else math.nan

    p = solve(d_now)
    p_hi = solve(d_now + sd_d)
    dp = p_hi - p if math.isfinite(p_hi) else p
    return p, var_last_reading + dp * dp


def _settle_time(p: DetectorParams, gc: npt.NDArray[np.float64], pu: float, pd_: float, qin: float, qout: float,
                 lp: float) -> float:
    """The segment's settling time (s) at a block's last tick (kernels.line_pack._settle_time)."""
    tb = p.tick_s * p.block_ticks
    t_s = max(p.settle_wave_factor * gc[L.GC_LENGTH_M] / gc[L.GC_WAVE_SPEED], tb)
    if all(math.isfinite(v) for v in (pu, pd_, qin, qout, lp)):
        pm = 0.5 * (pu + pd_)
        q = max(0.5 * abs(qin + qout), SETTLE_MIN_FLOW_FRAC * gc[L.GC_NOMINAL_FLOW])
        if pm > 0.0 and q > 0.0:
            t_s = max(t_s, 8.0 / (math.pi * math.pi) * lp * abs(pu - pd_) / (pm * q))
    return min(t_s, max(p.settle_max_s, tb))


def _diffuse(lp: npt.NDArray[np.float64], p: DetectorParams, gc: npt.NDArray[np.float64],
             pu: npt.NDArray[np.float64], pd_: npt.NDArray[np.float64], qin: npt.NDArray[np.float64],
             qout: npt.NDArray[np.float64], dt: float) -> npt.NDArray[np.float64]:
    """Each tick's steady line pack lagged as the gas inside follows the ends (kernels.line_pack._diffuse): the
    step response 1 - sum over the first N_LPD odd n of 8 / (n^2 pi^2) exp(-n^2 t / tau_1), the rest of the weight
    at once, tau_1 = lp_diffusion times the tick's settling time; restarted after a tick without a line pack."""
    ns = 2.0 * np.arange(L.N_LPD) + 1.0
    w = 8.0 / (ns * ns * math.pi * math.pi)
    out = np.full(len(lp), np.nan)
    y: npt.NDArray[np.float64] | None = None
    for i in range(len(lp)):
        if not math.isfinite(lp[i]):
            y = None
            continue
        if y is None:
            y = np.full(L.N_LPD, lp[i])
            out[i] = lp[i]
            continue
        tau1 = p.lp_diffusion * _settle_time(p, gc, pu[i], pd_[i], qin[i], qout[i], lp[i])
        y = y + (1.0 - np.exp(-dt * ns * ns / tau1)) * (lp[i] - y)
        out[i] = float(np.sum(w * y)) + (1.0 - float(np.sum(w))) * lp[i]
    return out


def _matched_lag(lag: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_], blk_m: npt.NDArray[np.float64],
                 blk_q: npt.NDArray[np.float64], d_lp: npt.NDArray[np.float64], tb: float, learned_at: int,
                 base: tuple[float, float]) -> npt.NDArray[np.float64]:
    """Each block's R_RL with lp_diffusion_matched (kernels.balance._matched_lag): the block before's moved by the
    change of the block's mean lag where its line pack moved the way the net inflow after the baseline in use (none
    until the block after the one it was learned in) did; the whole lag after an invalid block, 0 in one."""
    rl = np.zeros(len(lag))
    prev = 0.0
    for i in range(len(lag)):
        if not valid[i]:
            prev = math.nan
            continue
        if not math.isfinite(prev) or i == 0:
            rl[i] = lag[i]
        else:
            aa, gg = base if i > learned_at else (0.0, 0.0)
            net = blk_m[i] - (aa * tb + gg * blk_q[i])
            rl[i] = rl[i - 1] + (lag[i] - prev) if net * d_lp[i] > 0.0 else rl[i - 1]
        prev = float(lag[i])
    return rl


def _inlet_held(u: npt.NDArray[np.float64], w: npt.NDArray[np.float64], tvals: npt.NDArray[np.float64], i: int,
                t_span: float, t_from: float, n_back: int, share: float) -> tuple[bool, float]:
    """(held, moved) at block i (kernels.balance._inlet_held): over the blocks i, i-1, ... (at most n_back of them)
    ending at or after t_from (us), whether the range of the inlet's block-mean p^2 (u) is at most `share` times the
    outlet's (w), there and over the blocks ending after t_span, and u's change, newest less oldest; blocks without
    location ticks (nan) skipped, none: held."""
    k = np.arange(i, i - n_back, -1)
    k = k[(k >= 0) & (tvals[np.maximum(k, 0)] >= t_from)]
    ok = np.isfinite(u[k]) & np.isfinite(w[k])
    if not ok.any():
        return True, 0.0
    k = k[ok]
    uk, wk = u[k], w[k]
    recent = tvals[k] > t_span
    span_ok = bool(np.ptp(uk[recent]) <= share * np.ptp(wk[recent])) if recent.any() else True
    return bool(np.ptp(uk) <= share * np.ptp(wk)) and span_ok, float(uk[0] - uk[-1])


def _ramp_lag(valid: npt.NDArray[np.bool_], invalid_cum: npt.NDArray[np.int64], cq: npt.NDArray[np.float64],
              tvals: npt.NDArray[np.float64], settle_s: npt.NDArray[np.float64], p: DetectorParams,
              ends_p2: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]], ring_len: int
              ) -> npt.NDArray[np.float64]:
    """Each block's quasi-steady lead over the gas inside while the throughput ramps (kernels.balance._ramp_lag):
    c T_s^2 times the throughput's rate, the block and the one before against the two before those; 0 unless the
    block and the three before it are valid, and with lp_ramp_lag_held > 0 unless the inlet was held against the
    outlet (`_inlet_held`) over RAMP_HELD_SETTLE settling times before the span. ends_p2 = each block's mean
    p^2 at the inlet and at the outlet (less and plus half the elevation term) over its location ticks."""
    c = p.lp_ramp_lag
    out = np.zeros(len(cq))
    for i in range(4, len(cq)):
        if not valid[i] or invalid_cum[i - 1] != invalid_cum[i - 4]:
            continue
        t_now, t2, t0 = tvals[i], tvals[i - 2], tvals[i - 4]
        if not (t_now > t2 > t0):
            continue
        q_new = (cq[i] - cq[i - 2]) / ((t_now - t2) * 1e-6)
        q_old = (cq[i - 2] - cq[i - 4]) / ((t2 - t0) * 1e-6)
        rate = (q_new - q_old) / (0.5 * (t_now - t0) * 1e-6)
        if p.lp_ramp_lag_held > 0.0:
            held, moved = _inlet_held(*ends_p2, tvals, i, t0, t0 - RAMP_HELD_SETTLE * settle_s[i] * 1e6,
                                      min(i, ring_len), p.lp_ramp_lag_held)
            if not held and not (p.lp_ramp_lag_surge != 0 and rate * moved > 0.0):
                continue
        out[i] = c * settle_s[i] ** 2 * rate
    return out


def _ramp_lag_var(rl: npt.NDArray[np.float64], tvals: npt.NDArray[np.float64], i: int, nb: int, ne: int,
                  share: float) -> float:
    """Variance ((kg/s)^2) of the window of nb blocks ending at block i, each end the mean of ne blocks, from the
    ramp-lag correction: `share` of its change between the ends (kernels.decision._ramp_lag_var)."""
    if not share > 0.0:
        return 0.0
    j = i - nb
    d_rl = sum(float(rl[i - u] - rl[j - u]) for u in range(ne))
    ws = sum(float(tvals[i - u] - tvals[j - u]) for u in range(ne)) * 1e-6
    return (share * d_rl / ws) ** 2


def _box_move(cum_a: npt.NDArray[np.float64], lpv: npt.NDArray[np.float64], lpvar: npt.NDArray[np.float64], a: int,
              b: int, p: DetectorParams) -> float:
    """Line-pack movement between blocks b and a: beyond noise block by block, or the net change beyond noise if
    larger (kernels.decision._box_move)."""
    net = abs(float(lpv[a] - lpv[b])) - p.lp_noise_k * math.sqrt(float(lpvar[a] + lpvar[b]))
    return max(float(cum_a[a] - cum_a[b]), net)


def _box_opposed(lpv: npt.NDArray[np.float64], lpvar: npt.NDArray[np.float64], a: int, b: int, p: DetectorParams,
                 flows: tuple[npt.NDArray[np.float64], ...], base: tuple[float, float]) -> float:
    """Line-pack movement between blocks b and a that the ends' net inflow after the baseline matched (moving the
    same way), beyond noise; 0 where they move apart (kernels.settle._box_opposed). flows = (mb, cq, cv, tvals)."""
    mb, cq, cv, tvals = flows
    inflow = float(mb[a] - mb[b]) - (base[0] * (tvals[a] - tvals[b]) * 1e-6 + base[1] * float(cq[a] - cq[b]))
    moved = float(lpv[a] - lpv[b])
    if not inflow * moved > 0.0:
        return 0.0
    noise = p.lp_noise_k * math.sqrt(max(float(cv[a] - cv[b]), 0.0) + float(lpvar[a] + lpvar[b]))
    return max(min(abs(inflow), abs(moved)) - noise, 0.0)


def _settle_sd(cum_a: npt.NDArray[np.float64], lpv: npt.NDArray[np.float64], lpvar: npt.NDArray[np.float64],
               invalid_cum: npt.NDArray[np.int64], i: int, k: int, nsb: int, p: DetectorParams,
               eps: float | None = None, flows: tuple[npt.NDArray[np.float64], ...] | None = None,
               base: tuple[float, float] = (0.0, 0.0), opposed: bool | None = None) -> float:
    """1 s.d. (kg) of the quasi-steady line pack's lead at block k as block i's decision sees it, with i's settling
    time of nsb blocks (kernels.decision._settle_sd): settle_eps of the movement before k in boxes of nsb blocks
    weighted exp(-box), as far as the ring and the valid blocks reach; where they do not reach 4 boxes back, the
    movement after k too."""
    eps = p.settle_eps if eps is None else eps
    if not eps > 0.0:
        return 0.0

    def move(a: int, b: int) -> float:
        if p.settle_opposed if opposed is None else opposed:
            assert flows is not None, "settle_opposed needs the flows"
            return _box_opposed(lpv, lpvar, a, b, p, flows, base)
        return _box_move(cum_a, lpv, lpvar, a, b, p)

    age = i - k
    n_back = min(i + 1, p.ring_len) - 1 - age
    m = 0.0
    cut = n_back < SETTLE_BOXES * nsb
    wgt, hi = 1.0, 0
    for box in range(SETTLE_BOXES):
        lo = min((box + 1) * nsb, n_back)
        if lo > hi:
            if invalid_cum[k - hi] != invalid_cum[k - lo]:
                cut = True
                break
            m += wgt * move(k - hi, k - lo)
        hi = lo
        wgt *= math.exp(-1.0)
    ahead = min(nsb, age)
    if cut and ahead > 0 and invalid_cum[k + ahead] == invalid_cum[k]:
        m += move(k + ahead, k)
    return eps * m


def _settle_lead(lpv: npt.NDArray[np.float64], lpvar: npt.NDArray[np.float64], k: int, reach: int, nsb: int,
                 p: DetectorParams, eps: float, flows: tuple[npt.NDArray[np.float64], ...],
                 base: tuple[float, float]) -> float:
    """The signed settling lead (kg) at block k over `reach` blocks back (kernels.settle._settle_lead): eps of the
    signed movement before k (the line pack's net change beyond noise, or what the net inflow matched) in the
    boxes of `_settle_sd`."""
    if not eps > 0.0 or reach <= 0:
        return 0.0

    def move(a: int, b: int) -> float:
        moved = float(lpv[a] - lpv[b])
        if p.settle_opposed:
            m = _box_opposed(lpv, lpvar, a, b, p, flows, base)
        else:
            m = max(abs(moved) - p.lp_noise_k * math.sqrt(float(lpvar[a] + lpvar[b])), 0.0)
        return m if moved >= 0.0 else -m

    m = 0.0
    wgt, hi = 1.0, 0
    for box in range(SETTLE_BOXES):
        lo = min((box + 1) * nsb, reach)
        if lo > hi:
            m += wgt * move(k - hi, k - lo)
        hi = lo
        wgt *= math.exp(-1.0)
    return eps * m


def _end_blocks(nb: int, p: DetectorParams) -> int:
    """Blocks averaged at each end of a window of nb blocks (kernels.decision._end_blocks)."""
    ne = nb // p.end_avg_div if p.end_avg_div > 0 else 1
    return max(1, min(ne, p.ring_len - nb - 2))


def _window(*, i: int, nb: int, ne: int, tvals: npt.NDArray[np.float64], mb: npt.NDArray[np.float64],
            lpv: npt.NDArray[np.float64], cq: npt.NDArray[np.float64], cv: npt.NDArray[np.float64],
            lpvar: npt.NDArray[np.float64], cum_a: npt.NDArray[np.float64], ahead: npt.NDArray[np.float64],
            invalid_cum: npt.NDArray[np.int64],
            p: DetectorParams, base: tuple[float, float], kap: float,
            floors: tuple[float, float, float, float, float], nsb: int, eps_settle: float,
            signed: bool = False) -> tuple[float, float]:
    """Imbalance after the baseline over the window of nb blocks ending at block i, each end the mean of ne
    blocks, and its variance; (nan, inf) where the ring would not hold it or a block is invalid. With `signed`
    the settling allowance is the change of the signed lead between the ends (kernels.decision._window)."""
    j = i - nb
    if not (j - ne + 1 >= 0 and nb + ne - 1 < p.ring_len and invalid_cum[i] == invalid_cum[j - ne + 1]):
        return math.nan, math.inf
    aa, gg = base
    sig_floor, bv, vg, q_bar, model_var = floors
    ends = [(i - u, j - u) for u in range(ne)]
    ws = sum(tvals[e] - tvals[b] for e, b in ends) * 1e-6 / ne
    d_m = sum(mb[e] - mb[b] for e, b in ends) / ne
    d_lp = sum(lpv[e] - lpv[b] for e, b in ends) / ne
    d_q = sum(cq[e] - cq[b] for e, b in ends) / ne
    d_v = sum(cv[e] - cv[b] for e, b in ends) / ne
    lp_var = sum(lpvar[e] + lpvar[b] for e, b in ends) / (ne * ne)
    imb = (d_m - d_lp) / ws - (aa + gg * d_q / ws)
    tr = _transient_sd(cum_a, ahead, lpv, i, nb, p, ne) / ws
    fl = (mb, cq, cv, tvals)
    if signed:
        # the history the two ends share: back to the newest invalid block before the oldest start block
        reach = min(min(i + 1, p.ring_len) - nb - ne, SETTLE_BOXES * nsb)
        old = j - ne + 1
        r = 0
        while r < reach and invalid_cum[old - r - 1] == invalid_cum[old]:
            r += 1
        if r > 0 and eps_settle > 0:
            st = (sum(_settle_lead(lpv, lpvar, e, r, nsb, p, eps_settle, fl, base) for e, _ in ends)
                  - sum(_settle_lead(lpv, lpvar, b, r, nsb, p, eps_settle, fl, base) for _, b in ends)) / ne
            tr = math.sqrt(tr**2 + st**2 / ws**2)
    else:
        st_end = sum(_settle_sd(cum_a, lpv, lpvar, invalid_cum, i, e, nsb, p, eps_settle, fl, base)
                     for e, _ in ends) / ne
        st_start = sum(_settle_sd(cum_a, lpv, lpvar, invalid_cum, i, b, nsb, p, eps_settle, fl, base)
                       for _, b in ends) / ne
        if st_end > 0 or st_start > 0:
            tr = math.sqrt(tr**2 + (st_end**2 + st_start**2) / ws**2)
    if tr > 0 and sig_floor > 0:
        tr = math.sqrt(tr**2 + sig_floor**2)
    var_w = kap**2 * (d_v + lp_var) / ws**2 + tr**2 + bv + vg * (d_q / ws - q_bar) ** 2 + model_var
    return float(imb), float(var_w)


def _transient_sd(cum_a: npt.NDArray[np.float64], ahead: npt.NDArray[np.float64], lp: npt.NDArray[np.float64],
                  i: int, nb: int, p: DetectorParams, ne: int = 1, newest: int | None = None) -> float:
    """Line-pack model error (kg) over the window of nb blocks ending at block i, its ends the means of ne
    blocks; after the newest block (i unless given) its last ticks' rate stands for the movement
    (kernels.decision._transient_sd)."""
    newest = i if newest is None else newest
    if i - nb - ne < 0:
        if i <= 0:
            return 0.0
        return (p.eps_lp * float(cum_a[i] - cum_a[0] + ahead[i])
                + p.lp_scale_err * abs(float(lp[i] - lp[max(i - nb, 0)])))
    j = i - nb
    after_end = ahead[i] if i == newest else cum_a[i + 1] - cum_a[i]
    a_end = cum_a[i] - cum_a[i - ne] + after_end
    a_start = cum_a[j + 1] - cum_a[j - ne]
    return math.sqrt((p.eps_lp * a_end) ** 2 + (p.eps_lp * a_start) ** 2 + (p.lp_scale_err * (lp[i] - lp[j])) ** 2)


def run_reference(
    segment_idx: npt.ArrayLike,
    role_idx: npt.ArrayLike,
    time_us: npt.ArrayLike,
    value_si: npt.ArrayLike,
    quality: npt.ArrayLike,
    cfg: DetectorConfig,
    params: DetectorParams | None = None,
) -> ReferenceResult:
    p = params or DetectorParams()
    tick_us = round(p.tick_s * 1e6)
    dt = tick_us * 1e-6
    bt = p.block_ticks
    tb = bt * dt
    df = pd.DataFrame(
        {"segment": np.asarray(segment_idx), "role": np.asarray(role_idx), "time_us": np.asarray(time_us),
         "value": np.asarray(value_si, dtype=float), "quality": np.asarray(quality)}
    )
    df = df[(df["segment"] >= 0) & (df["segment"] < cfg.n_segments) & (df["role"] >= 0)
            & (df["role"] < L.N_ROLES)]
    df = df[cfg.slot_cfg[df["segment"] * L.N_ROLES + df["role"], L.SC_PRESENT] != 0]
    # a reading not after the previous one of its tag is a duplicate
    df = df.sort_values("time_us", kind="stable")
    df = df[df.groupby(["segment", "role"])["time_us"].diff().fillna(1) > 0]
    ticks = _tick_means(df, cfg, tick_us)
    alarms: list[ReferenceAlarm] = []
    mdlr = np.full((cfg.n_segments, L.N_WINDOWS), np.inf)
    blocks: dict[int, pd.DataFrame] = {}
    last_tick = df.groupby("segment")["time_us"].max() // tick_us
    first_us = df.groupby("segment")["time_us"].min()
    for seg, g in ticks.groupby("segment"):
        seg = int(seg)
        k0 = int(g["tick"].min())
        k_last = int(last_tick[seg]) - 2  # the kernel closes tick k once a reading of tick k+2 has arrived
        if k_last < k0:
            continue
        idx = pd.RangeIndex(k0, k_last + 1)
        means = (g.assign(mean=g["sum"] / g["count"]).pivot(index="tick", columns="role", values="mean")
                 .reindex(idx))
        counts = g.pivot(index="tick", columns="role", values="count").reindex(idx).fillna(0.0)
        held = means.ffill()

        def col(role: int) -> npt.NDArray[np.float64]:
            return _col(held, role)  # noqa: B023 - used inside this iteration only

        def var_of(role: int) -> npt.NDArray[np.float64]:
            return _var(cfg, seg, held, counts, role)  # noqa: B023 - used inside this iteration only

        qin, qout = col(L.ROLE_FLOW_IN), col(L.ROLE_FLOW_OUT)
        pu, pd_ = col(L.ROLE_PRESSURE_UP), col(L.ROLE_PRESSURE_DOWN)
        bal_ok = np.isfinite(qin) & np.isfinite(qout)
        net = np.where(bal_ok, qin - qout, 0.0)
        cum_m = np.cumsum(net * dt)
        c_prev = np.concatenate([[0.0], cum_m[:-1]])
        cum_q = np.cumsum(np.where(bal_ok, 0.5 * (qin + qout), 0.0) * dt)
        cum_v = np.cumsum(np.where(bal_ok, var_of(L.ROLE_FLOW_IN) + var_of(L.ROLE_FLOW_OUT), 0.0) * dt * dt)
        # line pack of every tick from the mean pressure of the quasi-steady profile with the flow varying
        # linearly between the meters (steady profile when the flows are unusable)
        # (the steady profile where the diffusion lag follows, below)
        gc = cfg.seg_cfg[seg]
        # and the gas's Z(p) at each of its points
        flow_term = bal_ok & (p.lp_diffusion == 0.0)
        p_over_z, dp_over_z = _mean_p_over_z(pu, pd_, np.where(flow_term, qin, 0.0), np.where(flow_term, qout, 0.0),
                                             (gc[L.GC_Z_Q0], gc[L.GC_Z_Q1], gc[L.GC_Z_Q2]))
        var_p = 0.25 * (var_of(L.ROLE_PRESSURE_UP) + var_of(L.ROLE_PRESSURE_DOWN))
        rt = gc[L.GC_R_SPECIFIC] * gc[L.GC_TEMPERATURE_K]
        lp = gc[L.GC_VOLUME_M3] * p_over_z / rt
        lp_var = (gc[L.GC_VOLUME_M3] * dp_over_z / rt) ** 2 * var_p
        lag_t = np.zeros(len(lp))  # the diffusion lag taken off each tick's steady line pack
        if p.lp_diffusion > 0.0:
            lagged = _diffuse(lp, p, gc, pu, pd_, np.where(bal_ok, qin, np.nan), np.where(bal_ok, qout, np.nan), dt)
            lag_t = lp - lagged
            lp = lagged
        # the movement a block ahead at the rate of the last RATE_TICKS ticks, beyond pressure noise
        k_r = L.RATE_TICKS
        lp_back = np.concatenate([np.full(k_r, np.nan), lp[:-k_r]])
        var_back = np.concatenate([np.zeros(k_r), lp_var[:-k_r]])
        rate_move = np.abs(lp - lp_back) - p.lp_noise_k * np.sqrt(lp_var + var_back)
        ahead_t = np.where(np.isfinite(rate_move), np.maximum(rate_move, 0.0), 0.0) * bt / k_r
        settle_t = np.array([_settle_time(p, gc, *v) for v in zip(pu, pd_, np.where(bal_ok, qin, np.nan),
                                                                    np.where(bal_ok, qout, np.nan), lp, strict=True)])
        # the ends' p^2 less / plus half the elevation term over the location's ticks (kernels.location._loc_tick:
        # both end pressures and the inflow usable and positive), for the ramp lag's check of a held inlet
        with np.errstate(invalid="ignore"):
            loc_ok = (pu > 0.0) & (pd_ > 0.0) & (qin > 0.0)
        pp_t = 0.5 * (pu * pu + pd_ * pd_)
        hd_t = 0.5 * (pu * pu - pd_ * pd_ - gc[L.GC_LOC_ELEV] * pp_t)
        t = pd.DataFrame({"tick": idx, "block": idx // bt, "bal_ok": bal_ok, "mbar": 0.5 * (c_prev + cum_m),
                          "cum_q": cum_q, "cum_v": cum_v, "lp": lp, "lp_var": lp_var, "lp_ok": np.isfinite(lp),
                          "ahead": ahead_t, "settle_s": settle_t, "loc_n": loc_ok.astype(float), "lag": lag_t,
                          "p2_up": np.where(loc_ok, pp_t + hd_t, 0.0), "p2_down": np.where(loc_ok, pp_t - hd_t, 0.0)})
        b = t.groupby("block").agg(
            n=("tick", "size"), bal_ok=("bal_ok", "all"), mbar=("mbar", "mean"), cum_q=("cum_q", "last"),
            cum_v=("cum_v", "last"), lp=("lp", "mean"), lp_var=("lp_var", "sum"), lp_n=("lp_ok", "sum"),
            ahead=("ahead", "last"), settle_s=("settle_s", "last"), loc_n=("loc_n", "sum"), p2_up=("p2_up", "sum"),
            lag=("lag", "mean"),
            p2_down=("p2_down", "sum"),
        )
        for col_name in ("p2_up", "p2_down"):
            b[col_name] = np.where(b["loc_n"] > 0, b[col_name] / b["loc_n"].clip(lower=1), np.nan)
        b["lp_var"] = b["lp_var"] / b["lp_n"].clip(lower=1) ** 2  # independent tick errors
        b = b[(b.index + 1) * bt - 1 <= k_last]  # only blocks whose last tick closed
        b["t_end"] = (b.index + 1) * bt * tick_us
        b.loc[b.index[0], "bal_ok"] = False  # the first block is partial
        lp_ok = (b["lp_n"] == bt).to_numpy()
        blk_ok = b["bal_ok"].to_numpy() & (b["n"] == bt).to_numpy()
        lp_valid = lp_ok & blk_ok  # usable as the previous block's line pack
        prev_ok = np.concatenate([[False], lp_valid[:-1]])
        valid = blk_ok & lp_ok & prev_ok
        lpv = b["lp"].to_numpy()
        invalid_cum = np.cumsum(~valid)
        cq = b["cum_q"].to_numpy()
        tvals = b["t_end"].to_numpy()
        rl = np.zeros(len(lpv))  # the ramp-lag correction taken off each block's line pack
        if p.lp_diffusion > 0.0:
            # the diffusion lag is the correction (kernels.balance._close_block), already off the line pack
            rl = np.where(valid, b["lag"].to_numpy(), 0.0)
        elif p.lp_ramp_lag > 0.0 and not p.line_pack_estimator:
            rl = _ramp_lag(valid, invalid_cum, cq, tvals, b["settle_s"].to_numpy(), p,
                           (b["p2_up"].to_numpy(), b["p2_down"].to_numpy()), p.ring_len)
            lpv = lpv - rl
        d_lp = np.concatenate([[0.0], np.diff(lpv)])
        lpvar0 = b["lp_var"].to_numpy()
        # a block's line pack is the previous one's only after a valid block (as the kernel keeps it)
        prev_var = np.concatenate([[0.0], np.where(lp_valid[:-1], lpvar0[:-1], 0.0)])
        moved = np.maximum(np.abs(d_lp) - p.lp_noise_k * np.sqrt(lpvar0 + prev_var), 0.0)
        cum_a = np.cumsum(np.where(lp_ok & prev_ok, moved, 0.0))
        ahead = b["ahead"].to_numpy()
        mb = b["mbar"].to_numpy()
        blk_m = np.concatenate([[0.0], np.diff(mb)])
        cv = b["cum_v"].to_numpy()
        lpvar = b["lp_var"].to_numpy()
        blk_q = np.concatenate([[cq[0]], np.diff(cq)])
        blk_v = np.concatenate([[cv[0]], np.diff(cv)])
        r = (blk_m - d_lp) / tb
        q = blk_q / tb
        var_b = (blk_v + lpvar + np.concatenate([[0.0], lpvar[:-1]])) / tb**2
        nblk = len(b)
        trans0 = np.array([_transient_sd(cum_a, ahead, lpv, i, 1, p) for i in range(nblk)]) / tb
        # each block's settling time (in blocks) and the settling allowance's share of the movement
        nsbs = np.maximum(1, (b["settle_s"].to_numpy() / tb + 0.5).astype(np.int64))
        eps_s = p.settle_eps * np.minimum(1.0, b["settle_s"].to_numpy() / p.settle_ref_s)
        sig_floor = p.lp_trans_floor
        model_var = (p.model_floor_frac * gc[L.GC_NOMINAL_FLOW]) ** 2
        # baseline: least squares of r on throughput over the first learn_blocks valid blocks, in groups of
        # consecutive blocks (learn_group_s); a gap drops the open group, as in the kernel
        vi = np.flatnonzero(valid)
        # not from the first minutes after the segment's first reading (the gas temperature is settling)
        warm = b["t_end"].to_numpy() - first_us[seg] >= p.learn_after_s * 1e6
        m = p.learn_group_blocks
        groups: list[list[int]] = []  # block indices of each complete group
        run_starts: list[int] = []  # first blocks of the groups that start a run of consecutive blocks
        open_group: list[int] = []
        starts_run = True
        last = -2
        learned_at = len(b) + 1
        # issue 24: blocks of a transient are not learned from (kernels.learning._block_is_quiet): the line-pack
        # model's error (eps_lp of the movement through the block before, the block and at its end's rate) over
        # the s.d. its meters explain, or inside a settling time after an operation, or a line-pack variance far
        # over its running mean
        lpv_ew = 0.0
        for i in vi[warm[vi]]:
            moving = (p.eps_lp * float(cum_a[i] - cum_a[i - 2] + ahead[i]) / tb) if i >= 2 else np.inf
            sd_meters = np.sqrt(max(float(blk_v[i] + lpvar[i] + lpvar[i - 1]), 0.0)) / tb
            # ... or a settling line: the settling allowance over the settling time before the block's end
            settling = _settle_sd(cum_a, lpv, lpvar, invalid_cum, int(i), int(i), int(nsbs[i]), p,
                                  float(eps_s[i]), (mb, cq, cv, tvals), opposed=True) / tb if i >= 2 else np.inf
            # ... or of the block before, whose line pack this block's change starts from (one-ended after an end's
            # silence); the running mean takes each block at most at that limit
            lim = p.learn_lp_var_ratio * lpv_ew
            quiet = (moving <= p.learn_transient_ratio * sd_meters and settling <= p.learn_settle_ratio * sd_meters
                     and not (lpv_ew > 0.0 and (lpvar[i] > lim or lpvar[i - 1] > lim)))
            lpv_ew = float(lpvar[i]) if lpv_ew <= 0.0 else lpv_ew + (min(float(lpvar[i]), lim) - lpv_ew) / 120.0
            if not quiet:
                continue
            if i != last + 1:
                open_group, starts_run = [], True
            last = int(i)
            open_group.append(int(i))
            if len(open_group) == m:
                groups.append(open_group)
                if starts_run:
                    run_starts.append(open_group[0])
                open_group, starts_run = [], False
                if len(groups) * m >= p.learn_window_blocks:
                    learned_at = int(i)
                    break
        a = g_ = base_var = var_g = q_bar = 0.0
        kappa = 1.0
        if learned_at <= len(b):
            # ordinary least squares (equal weights: line-pack noise cancels between consecutive blocks)
            n = len(groups)
            gi = np.array(groups)
            learn = gi.ravel()
            rg, qg = r[gi].mean(axis=1), q[gi].mean(axis=1)
            prev_lp_var = np.concatenate([[0.0], lpvar[:-1]])
            var_bg = (blk_v[gi].sum(axis=1) + lpvar[gi[:, -1]] + prev_lp_var[gi[:, 0]]) / (m * tb) ** 2
            qm, rm = qg.mean(), rg.mean()
            sqq = max(float((qg**2).mean() - qm**2), 0.0)
            sqr = float((qg * rg).mean() - qm * rm)
            rel = max(cfg.slot_cfg[seg * L.N_ROLES + L.ROLE_FLOW_IN, L.SC_SIGMA_REL],
                      cfg.slot_cfg[seg * L.N_ROLES + L.ROLE_FLOW_OUT, L.SC_SIGMA_REL])
            var_g0 = max(2.0 * (p.gain_prior * rel) ** 2, 1e-12)
            # uncertainty of the mean: flow noise plus two unmatched line packs per run of consecutive blocks
            t_learn = len(learn) * tb
            mean_var = max((float(blk_v[learn].sum()) + 2.0 * float(prev_lp_var[run_starts].sum()))
                           / t_learn**2, 1e-30)
            mean_vb = max(float(var_bg.mean()), 1e-30)
            g_ = sqr / (sqq + mean_vb / (n * var_g0))
            a = rm - g_ * qm
            ss = float(((rg - a - g_ * qg) ** 2).sum())
            kappa = max(p.kappa_min, math.sqrt(max(ss, 0.0) / max(n - 2, 1) / mean_vb))
            base_var = kappa**2 * mean_var
            var_g = 1.0 / (n * sqq / (kappa**2 * mean_vb) + 1.0 / var_g0)
            q_bar = qm
        if p.lp_diffusion > 0.0 and p.lp_diffusion_matched:
            rl = _matched_lag(b["lag"].to_numpy(), valid, blk_m, blk_q, d_lp, tb, learned_at, (a, g_))
        # the ramp-lag correction's change from the block before (kernels.decision._decide)
        trans = np.sqrt(trans0**2 + (p.lp_ramp_lag_sd * np.concatenate([[0.0], np.diff(rl)]) / tb) ** 2)
        if sig_floor > 0:
            trans = np.where(trans > 0, np.sqrt(trans**2 + sig_floor**2), trans)
        rows = []
        cusum = 0.0
        latched = False
        clear_run = 0
        persist = np.zeros(L.N_WINDOWS, dtype=int)
        step_persist = np.zeros(L.N_WINDOWS, dtype=int)
        prev_i = -2
        for i in vi:
            if i != prev_i + 1:  # an invalid block in between resets the tests, as in the kernel
                cusum = 0.0
                persist[:] = 0
                step_persist[:] = 0
            prev_i = int(i)
            is_learned = i > learned_at
            kap = kappa if is_learned else 1.0
            aa, gg, bv, vg = (a, g_, base_var, var_g) if is_learned else (0.0, 0.0, 0.0, 0.0)
            if i == learned_at:  # the kernel learns within this block and uses the fit at once
                aa, gg, bv, kap = a, g_, base_var, kappa
            e = r[i] - (aa + gg * q[i])
            sig_e = math.sqrt(kap**2 * var_b[i] + trans[i] ** 2 + bv + vg * (q[i] - q_bar) ** 2 + model_var)
            zs = np.full(L.N_WINDOWS, np.nan)
            md = np.full(L.N_WINDOWS, np.inf)
            for wi, nb in enumerate(p.windows_blocks):
                # the settling allowance: the shortest settle_windows, and (settle_short_windows) any window shorter
                # than the settling time (3: every window), each end's lead or (2, 3) the signed lead's change
                short = wi >= p.settle_windows and (p.settle_short_windows == 3
                                                    or (p.settle_short_windows != 0 and nb < nsbs[i]))
                settles = wi < p.settle_windows or short
                # one block at each end or the mean of ne: the smaller stated uncertainty, as in the kernel
                win = functools.partial(_window, i=int(i), nb=nb, tvals=tvals, mb=mb, lpv=lpv, cq=cq, cv=cv,
                                        lpvar=lpvar, cum_a=cum_a, ahead=ahead, invalid_cum=invalid_cum, p=p,
                                        base=(aa, gg), kap=kap, floors=(sig_floor, bv, vg, q_bar, model_var),
                                        nsb=int(nsbs[i]),
                                        eps_settle=float(eps_s[i]) if settles else 0.0,
                                        signed=short and p.settle_short_windows >= 2)
                imb, var_w = win(ne=1)
                if var_w < math.inf:
                    var_w += _ramp_lag_var(rl, tvals, int(i), nb, 1, p.lp_ramp_lag_sd)
                ne = _end_blocks(nb, p)
                if ne > 1:
                    imb_e, var_e = win(ne=ne)
                    if var_e < math.inf:
                        var_e += _ramp_lag_var(rl, tvals, int(i), nb, ne, p.lp_ramp_lag_sd)
                    if var_e < var_w:
                        imb, var_w = imb_e, var_e
                if var_w < math.inf:
                    zs[wi] = imb / math.sqrt(var_w)
                    md[wi] = p.z_window * math.sqrt(var_w)
            persist = np.where(zs > p.z_window, persist + 1, 0)
            # step tests: the window against the reference window of step_ref_factor times its length before it
            szs = np.full(L.N_WINDOWS, np.nan)
            for wi, nb in enumerate(p.windows_blocks):
                n_ref = int(p.step_ref_factor * nb + 0.5)
                j, k = i - nb, i - nb - n_ref
                if n_ref >= 1 and nb + n_ref < p.ring_len and k >= 0 and invalid_cum[i] == invalid_cum[k]:
                    ws, wr = (tvals[i] - tvals[j]) * 1e-6, (tvals[j] - tvals[k]) * 1e-6
                    q_w, q_r = (cq[i] - cq[j]) / ws, (cq[j] - cq[k]) / wr
                    imb_w = (mb[i] - mb[j] - (lpv[i] - lpv[j])) / ws
                    imb_r = (mb[j] - mb[k] - (lpv[j] - lpv[k])) / wr
                    tr = (_transient_sd(cum_a, ahead, lpv, int(i), nb, p) / ws
                          + _transient_sd(cum_a, ahead, lpv, int(j), n_ref, p, newest=int(i)) / wr)
                    nsb_i, eps_i = int(nsbs[i]), float(eps_s[i])
                    fl = (mb, cq, cv, tvals)
                    st = ((_settle_sd(cum_a, lpv, lpvar, invalid_cum, int(i), int(i), nsb_i, p, eps_i, fl, (aa, gg))
                           / ws) ** 2
                          + (_settle_sd(cum_a, lpv, lpvar, invalid_cum, int(i), int(j), nsb_i, p, eps_i, fl, (aa, gg))
                             * (1 / ws + 1 / wr)) ** 2
                          + (_settle_sd(cum_a, lpv, lpvar, invalid_cum, int(i), int(k), nsb_i, p, eps_i, fl, (aa, gg))
                             / wr) ** 2)
                    if st > 0:
                        tr = math.sqrt(tr**2 + st)
                    # the ramp-lag correction's change over the window less over the reference (_ramp_lag_var)
                    rl_sd = p.lp_ramp_lag_sd * ((rl[i] - rl[j]) / ws - (rl[j] - rl[k]) / wr)
                    if rl_sd != 0.0:
                        tr = math.sqrt(tr**2 + rl_sd**2)
                    if tr > 0 and sig_floor > 0:
                        tr = math.sqrt(tr**2 + sig_floor**2)
                    var_d = (kap**2 * ((cv[i] - cv[j]) / ws**2 + (cv[j] - cv[k]) / wr**2 + lpvar[i] / ws**2
                                       + lpvar[j] * (1 / ws + 1 / wr) ** 2 + lpvar[k] / wr**2)
                             + tr**2 + vg * (q_w - q_r) ** 2 + model_var)
                    szs[wi] = (imb_w - imb_r - gg * (q_w - q_r)) / math.sqrt(var_d)
            step_persist = np.where(szs > p.z_window, step_persist + 1, 0)
            rows.append((i, e, sig_e, *zs))
            mdlr[seg] = md
            if i <= learned_at:
                persist[:] = 0
                step_persist[:] = 0
                continue
            bias_sd = math.sqrt(bv + vg * (q[i] - q_bar) ** 2 + model_var)
            noise_sd = math.sqrt(kap**2 * var_b[i] + trans[i] ** 2)
            e_adj = math.copysign(max(abs(e) - BIAS_ALLOWANCE * bias_sd, 0.0), e)
            zb = min(e_adj / noise_sd, Z_CLIP)
            cusum = max(0.0, cusum + zb - p.cusum_k)
            fired = [wi for wi in range(L.N_WINDOWS) if persist[wi] >= p.persist_blocks]
            step_fired = [wi for wi in range(L.N_WINDOWS) if step_persist[wi] >= p.persist_blocks]
            trig = cusum > p.cusum_h or bool(fired) or bool(step_fired)
            if trig and not latched:
                if fired:
                    test, stat = fired[0], zs[fired[0]]
                elif cusum > p.cusum_h:
                    test, stat = L.TEST_CUSUM, cusum
                else:
                    test, stat = L.TEST_STEP0 + step_fired[0], szs[step_fired[0]]
                alarms.append(ReferenceAlarm(seg, int(tvals[i]), test, float(stat)))
                latched, clear_run = True, 0
            elif latched:
                quiet = cusum == 0.0 and not np.any(zs > 2.0)
                clear_run = clear_run + 1 if quiet else 0
                if clear_run >= p.clear_blocks:
                    latched, clear_run = False, 0
        blocks[seg] = b.assign(valid=valid, r=r, q=q)
        if rows:
            extra = pd.DataFrame(rows, columns=["i", "e", "sigma", *[f"z{w}" for w in range(L.N_WINDOWS)]])
            blocks[seg] = blocks[seg].reset_index().join(extra.set_index("i"), how="left")
    return ReferenceResult(alarms, mdlr, blocks)
