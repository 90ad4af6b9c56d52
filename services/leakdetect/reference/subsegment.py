"""Reference (test oracle) of `kernels.subsegment.subsegment_kernel`: the sub-segment residuals of one segment
computed from whole arrays (block means by grouping, the line pack of each piece between pressure points), not
reading by reading."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt

from ..domain.kernels import subsegment as S
from .balance import _mean_p_over_z


def residuals(ch: npt.NDArray[np.int64], time_us: npt.NDArray[np.int64], value: npt.NDArray[np.float64],
              block_us: int, x_flow: list[float], x_pressure: list[float | None], volume_m3: float,
              r_specific: float, temperature_k: float, z_quadratic: tuple[float, float, float]
              ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(block ends us, residual per sub-segment [blocks, len(x_flow) + 1]) of the closed blocks, for one segment's
    readings in time order (channels `S.CH_*`); x_* fractions of the length (None: no such mid-line pressure);
    z_quadratic the gas's Z(p) = z0 + z1 p + z2 p^2 (the line pack of each piece: `balance._mean_p_over_z` on the
    steady profile)."""
    ok = np.isfinite(value)
    ch, time_us, value = ch[ok], time_us[ok], value[ok]
    blocks = time_us // block_us
    first, last = int(blocks.min()), int(blocks.max())  # the last block is still open
    n_b = last - first
    mean = np.full((n_b, S.N_CH), np.nan)
    for c in range(S.N_CH):
        sel = (ch == c) & (blocks < last)
        if sel.any():
            b = blocks[sel] - first
            sums = np.bincount(b, weights=value[sel], minlength=n_b)
            cnt = np.bincount(b, minlength=n_b)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean[:, c] = np.where(cnt > 0, sums / cnt, np.nan)
    nf = len(x_flow)
    bounds = [0.0, *x_flow, 1.0]
    lp = np.full((n_b, nf + 1), np.nan)
    for k in range(n_b):
        pts = [(0.0, mean[k, S.CH_PUP]), (1.0, mean[k, S.CH_PDN])]
        pts += [(x, mean[k, S.CH_PMID0 + j]) for j, x in enumerate(x_pressure)
                if x is not None and not math.isnan(mean[k, S.CH_PMID0 + j])]
        pts.sort()
        xs = [p[0] for p in pts]
        for xf in x_flow:
            if not any(abs(x - xf) < 1e-9 for x in xs):
                lo = max(p for p in pts if p[0] <= xf)
                hi = min(p for p in pts if p[0] >= xf)
                w = (xf - lo[0]) / (hi[0] - lo[0])
                p2 = lo[1] ** 2 + w * (hi[1] ** 2 - lo[1] ** 2)
                pts.append((xf, math.sqrt(p2) if p2 > 0 else math.nan))
        pts.sort()
        for i in range(nf + 1):
            total = 0.0
            for (xa, pa), (xb, pb) in itertools.pairwise(pts):
                if xa >= bounds[i] - 1e-12 and xb <= bounds[i + 1] + 1e-12 and xb > xa:
                    pz, _ = _mean_p_over_z(np.array(pa), np.array(pb), np.array(0.0), np.array(0.0), z_quadratic)
                    total += volume_m3 * (xb - xa) * float(pz) / (r_specific * temperature_k)
            lp[k, i] = total
    flows = np.column_stack([mean[:, S.CH_QIN], *(mean[:, S.CH_QMID0 + j] for j in range(nf)), mean[:, S.CH_QOUT]])
    res = np.full((n_b, nf + 1), np.nan)
    # a block's line-pack change needs the block before it (a block without readings breaks the chain)
    have = np.isin(np.arange(n_b) + first, blocks)
    for k in range(1, n_b):
        if have[k] and have[k - 1]:
            res[k] = flows[k, :-1] - flows[k, 1:] - (lp[k] - lp[k - 1]) / (block_us * 1e-6)
    ends = (np.arange(n_b) + first + 1).astype(float) * block_us
    return ends[have], res[have]
