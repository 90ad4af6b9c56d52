"""Sub-segment balances (issue 19): a flow meter along a segment splits it into sub-segments, each with its own
balance; the one whose balance goes out when a leak is raised holds the leak (domain brief, "Leak location").

`subsegment_kernel` takes, per segment with mid-line flow meters, the readings of its end flows, end and mid-line
pressures and mid-line flows (channels `CH_*`, SI, in time order) and keeps, per block of `block_s`, each
sub-segment's residual r_i = (block-mean flow in at its upstream end - out at its downstream end) - (change of its
line pack between consecutive blocks) / block_s, in a ring. The line pack of a sub-segment comes from the pressures
at the points along the line (ends, mid-line transmitters; a flow station without a transmitter gets the
steady profile's pressure, p^2 interpolated linearly in x between its neighbours), piece by piece with the steady
profile (p^2 linear in x) and the gas's Z(p) along it (`line_pack.mean_p_over_z`, as the balance's line pack).
Fixed meter biases cancel in the test.

`bracket` (numpy, on the ring): when a balance alarm is raised (its onset known), each sub-segment's residual
after the onset (skipping `settle_s`) against the reference window before it: d_i and its standard error from
the blocks' scatter. The sub-segment with the largest d_i holds the leak when d_i is `Z_BRACKET` s.e. from zero
and `Z_APART` s.e. above every other sub-segment's; else no bracket (the evidence does not decide). The facade
(`_pipeline`) narrows the alarm's location to it (`events.LeakLocated.bracket_*`): the gradient's point moved into
the bracket and its interval clamped to it (or, not located by the gradient, the bracket itself). Oracle:
`reference.subsegment`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ..layout import GC_AREA_M2, GC_LENGTH_M, GC_R_SPECIFIC, GC_TEMPERATURE_K, GC_Z_Q0, GC_Z_Q1, GC_Z_Q2, N_PMID
from .common import _jit
from .line_pack import mean_p_over_z

N_FMID = 2  # mid-line flow meters per segment at most
N_SUB = N_FMID + 1
# channels of a segment's readings
CH_QIN, CH_QOUT, CH_PUP, CH_PDN = range(4)
CH_PMID0 = 4  # N_PMID mid-line pressures
CH_QMID0 = CH_PMID0 + N_PMID  # N_FMID mid-line flows, in order of position
N_CH = CH_QMID0 + N_FMID
# per-segment configuration (float): mid-line flow meters and their positions (fraction of the length, nan: none);
# mid-line pressure positions (nan: none)
SS_NF = 0
SS_XF0 = 1
SS_XP0 = SS_XF0 + N_FMID
N_SS = SS_XP0 + N_PMID
# per-segment state (float): the open block's sums and counts per channel, the last closed block's line pack per
# sub-segment (nan: not valid), the open block's index, ring position and count
SF_SUM0 = 0
SF_CNT0 = SF_SUM0 + N_CH
SF_LP0 = SF_CNT0 + N_CH
SF_BLOCK = SF_LP0 + N_SUB  # open block index (-1: none yet)
SF_RPOS = SF_BLOCK + 1
SF_RN = SF_RPOS + 1
N_SSF = SF_RN + 1
# ring columns: block end (us as float), residual per sub-segment (kg/s; nan: not valid)
RG_T = 0
RG_R0 = 1
N_RG = RG_R0 + N_SUB

N_PTS = 2 + N_PMID + N_FMID  # pressure points along the line at most
N_SCRATCH = N_CH + 2 * N_PTS + 2 * (N_FMID + 2)

Z_BRACKET = 3.0
Z_APART = 2.0


@_jit
def _close_block(s, block_us, seg_cfg, ss_cfg, ss_f, ring, scratch):
    """The open block's residuals per sub-segment into the ring (nan where a channel had no reading). `scratch`:
    N_SCRATCH floats of the caller's (no allocation: compiled without numba's runtime)."""
    f = ss_f[s]
    nf = int(ss_cfg[s, SS_NF])
    mean = scratch[:N_CH]
    xs = scratch[N_CH:N_CH + N_PTS]
    ps = scratch[N_CH + N_PTS:N_CH + 2 * N_PTS]
    bounds = scratch[N_CH + 2 * N_PTS:N_CH + 2 * N_PTS + N_FMID + 2]
    flows = scratch[N_CH + 2 * N_PTS + N_FMID + 2:N_SCRATCH]
    for c in range(N_CH):
        mean[c] = f[SF_SUM0 + c] / f[SF_CNT0 + c] if f[SF_CNT0 + c] > 0.0 else np.nan
        f[SF_SUM0 + c] = 0.0
        f[SF_CNT0 + c] = 0.0
    # the pressure points along the line: ends and mid-line transmitters (x fraction, p)
    n = 0
    xs[n], ps[n] = 0.0, mean[CH_PUP]
    n += 1
    for j in range(N_PMID):
        x = ss_cfg[s, SS_XP0 + j]
        if x == x and mean[CH_PMID0 + j] == mean[CH_PMID0 + j]:
            xs[n], ps[n] = x, mean[CH_PMID0 + j]
            n += 1
    xs[n], ps[n] = 1.0, mean[CH_PDN]
    n += 1
    # flow stations without a transmitter: the steady profile between their neighbours (p^2 linear in x)
    for j in range(nf):
        x = ss_cfg[s, SS_XF0 + j]
        near = False
        for i in range(n):
            if abs(xs[i] - x) < 1e-9:
                near = True
        if near:
            continue
        lo, hi = 0, n - 1
        for i in range(n):
            if xs[i] <= x and xs[i] >= xs[lo]:
                lo = i
            if xs[i] >= x and xs[i] <= xs[hi]:
                hi = i
        w = (x - xs[lo]) / (xs[hi] - xs[lo]) if xs[hi] > xs[lo] else 0.0
        p2 = ps[lo] * ps[lo] + w * (ps[hi] * ps[hi] - ps[lo] * ps[lo])
        xs[n], ps[n] = x, math.sqrt(p2) if p2 > 0.0 else math.nan
        n += 1
    # in order along the line (insertion sort: a handful of points)
    for i in range(1, n):
        xi, pi = xs[i], ps[i]
        j = i - 1
        while j >= 0 and xs[j] > xi:
            xs[j + 1], ps[j + 1] = xs[j], ps[j]
            j -= 1
        xs[j + 1], ps[j + 1] = xi, pi
    xo = xs
    po = ps
    rt = seg_cfg[s, GC_R_SPECIFIC] * seg_cfg[s, GC_TEMPERATURE_K]
    vol_per_frac = seg_cfg[s, GC_AREA_M2] * seg_cfg[s, GC_LENGTH_M]
    k = f[SF_RPOS]
    kk = int(k)
    ring[s, kk, RG_T] = float(int(f[SF_BLOCK]) + 1) * block_us
    bounds[0] = 0.0
    for j in range(nf):
        bounds[1 + j] = ss_cfg[s, SS_XF0 + j]
    bounds[nf + 1] = 1.0
    flows[0] = mean[CH_QIN]
    for j in range(nf):
        flows[1 + j] = mean[CH_QMID0 + j]
    flows[nf + 1] = mean[CH_QOUT]
    for i in range(N_SUB):
        ring[s, kk, RG_R0 + i] = np.nan
    for i in range(nf + 1):
        a, b = bounds[i], bounds[i + 1]
        lp = 0.0
        for p in range(n - 1):
            if xo[p] >= a - 1e-12 and xo[p + 1] <= b + 1e-12 and xo[p + 1] > xo[p]:
                pz, _ = mean_p_over_z(po[p], po[p + 1], 0.0, 0.0, seg_cfg[s, GC_Z_Q0], seg_cfg[s, GC_Z_Q1],
                                      seg_cfg[s, GC_Z_Q2])
                lp += vol_per_frac * (xo[p + 1] - xo[p]) * pz / rt
        prev = f[SF_LP0 + i]
        f[SF_LP0 + i] = lp  # nan when a pressure was missing
        ring[s, kk, RG_R0 + i] = flows[i] - flows[i + 1] - (lp - prev) / (block_us * 1e-6)
    f[SF_RPOS] = float((kk + 1) % ring.shape[1])
    f[SF_RN] += 1.0


@_jit
def subsegment_kernel(seg, ch, time_us, value, block_us, seg_cfg, ss_cfg, ss_f, ring, scratch):
    """Readings (segment, channel, time us, SI value) in time order, of segments with mid-line flow meters;
    `scratch`: N_SCRATCH floats of the caller's."""
    for r in range(seg.shape[0]):
        s = seg[r]
        c = ch[r]
        v = value[r]
        if s < 0 or s >= ss_cfg.shape[0] or c < 0 or c >= N_CH or ss_cfg[s, SS_NF] < 1.0 or not math.isfinite(v):
            continue
        f = ss_f[s]
        t = time_us[r]
        # most readings fall in the open block: no 64-bit division for them
        k_open = np.int64(f[SF_BLOCK])
        t_open = k_open * block_us
        if f[SF_BLOCK] >= 0.0 and t_open <= t < t_open + block_us:
            f[SF_SUM0 + c] += v
            f[SF_CNT0 + c] += 1.0
            continue
        b = t // block_us
        if f[SF_BLOCK] < 0.0:
            f[SF_BLOCK] = float(b)
        elif b > int(f[SF_BLOCK]):
            _close_block(s, block_us, seg_cfg, ss_cfg, ss_f, ring, scratch)
            if b > int(f[SF_BLOCK]) + 1:  # a gap: the next block's line-pack change has no predecessor
                for i in range(N_SUB):
                    f[SF_LP0 + i] = np.nan
            f[SF_BLOCK] = float(b)
        elif b < int(f[SF_BLOCK]):
            continue  # late for a closed block
        f[SF_SUM0 + c] += v
        f[SF_CNT0 + c] += 1.0


def new_state(n_seg: int, ring_len: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    ss_f = np.zeros((n_seg, N_SSF))
    ss_f[:, SF_BLOCK] = -1.0
    ss_f[:, SF_LP0:SF_LP0 + N_SUB] = np.nan
    ring = np.full((n_seg, ring_len, N_RG), np.nan)
    return ss_f, ring


def bracket(ring_s: npt.NDArray[np.float64], n_sub: int, onset_us: float, now_us: float, ref_s: float,
            settle_s: float) -> tuple[int, list[float], list[float]]:
    """(sub-segment holding the leak or -1, d_i per sub-segment (kg/s), its standard error) from one segment's
    ring: blocks ending in (onset + settle, now] against those ending in (onset - ref, onset]."""
    t = ring_s[:, RG_T]
    after = (t > onset_us + settle_s * 1e6) & (t <= now_us)
    ref = (t > onset_us - ref_s * 1e6) & (t <= onset_us)
    d, se = [], []
    for i in range(n_sub):
        r = ring_s[:, RG_R0 + i]
        ra, rr = r[after & np.isfinite(r)], r[ref & np.isfinite(r)]
        if ra.size < 2 or rr.size < 2:
            d.append(math.nan)
            se.append(math.inf)
            continue
        d.append(float(ra.mean() - rr.mean()))
        se.append(math.sqrt(float(ra.var(ddof=1)) / ra.size + float(rr.var(ddof=1)) / rr.size))
    if not all(math.isfinite(x) for x in d):
        return -1, d, se
    best = int(np.argmax(d))
    if d[best] < Z_BRACKET * se[best]:
        return -1, d, se
    for j in range(n_sub):
        if j != best and d[best] - d[j] < Z_APART * math.hypot(se[best], se[j]):
            return -1, d, se
    return best, d, se
