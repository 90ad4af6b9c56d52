"""Reference line-pack state estimator in plain NumPy: the test oracle of `domain.kernels.estimator`.

The same extended Kalman filter (see the kernel's docstring for the model and why), written the obvious way:
pressures and flows as separate vectors, the residual of the implicit step as two equations, its Jacobian as a
dense matrix, `np.linalg.solve` / `inv`, explicit F, noise and measurement matrices. Slow (a few hundred
microseconds a tick) and allocating; the kernel must match it to round-off on any trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..domain.kernels.estimator import GAIN_SETTLED_REL, OFFSET_TAU_S
from ..domain.layout import EST_N_CELLS, N_PMID
from .balance import _p_over_z

F64 = npt.NDArray[np.float64]


@dataclass
class ReferenceEstimator:
    """One segment's filter. vol m^3, length m, rt = R T J/kg, zq the gas's Z(p) = z0 + z1 p + z2 p^2 (z0, z1 1/Pa,
    z2 1/Pa^2: GC_Z_Q0..2), elev the elevation's share of p^2 (GC_LOC_ELEV); k, c0 the friction model
    (p_u^2 - p_d^2 - elevation = c0 + k q|q|). The state is `p` (cells + 1 pressures) and `m` (cells link flows);
    `cov` their covariance, ordered (p_0, m_0, p_1, ...)."""

    vol: float
    length: float
    rt: float
    zq: tuple[float, float, float]
    elev: float
    k: float
    c0: float = 0.0
    cells: int = EST_N_CELLS
    p: F64 = field(default_factory=lambda: np.zeros(0))
    m: F64 = field(default_factory=lambda: np.zeros(0))
    cov: F64 = field(default_factory=lambda: np.zeros((0, 0)))
    # the last full tick (covariance propagated): ticks since (inf: the next tick is a full one), its end flows,
    # which pressures, their gains, its Jacobian and the line pack's variance
    skipped: float = math.inf
    q_ref: tuple[float, float] = (0.0, 0.0)
    ok_ref: tuple[bool, bool] = (False, False)
    gains: dict[int, F64] = field(default_factory=dict)
    # the mid-line transmitters' positions used at the last full tick (-1: not used) and their gains
    mid_ref: tuple[float, ...] = (-1.0,) * N_PMID
    mid_gains: list[F64] = field(default_factory=list)
    jac: F64 = field(default_factory=lambda: np.zeros((0, 0)))
    lp_var: float = math.nan
    dt: float = math.nan
    # each end pressure's mean innovation against the predicted state while both ends are measured, and the ticks
    # it has seen (the kernel's `_track_offsets`: a lone end is taken less its offset)
    offset: tuple[float, float] = (0.0, 0.0)
    offset_n: int = 0

    @property
    def n(self) -> int:
        return 2 * self.cells + 1

    @property
    def weights(self) -> F64:
        w = np.full(self.cells + 1, 1.0 / self.cells)
        w[0] = w[-1] = 0.5 / self.cells
        return w

    def _order(self, p: F64, m: F64) -> F64:
        x = np.zeros(self.n)
        x[0::2] = p
        x[1::2] = m
        return x

    def start(self, pu: float, var_pu: float, pd: float, var_pd: float, q_reg: float) -> None:
        x = np.arange(self.cells + 1) / self.cells
        self.p = np.sqrt(np.maximum(pu * pu - (pu * pu - pd * pd) * x, 1e6))
        d = pu * pu - pd * pd - self.c0
        q = math.copysign(math.sqrt(abs(d) / self.k), d)
        self.m = np.full(self.cells, q)
        var = self._order(np.full(self.cells + 1, (0.1 * (pu - pd)) ** 2 + max(var_pu, var_pd)),
                          np.full(self.cells, (0.1 * abs(q) + q_reg) ** 2))
        self.cov = np.diag(var)
        self.skipped = math.inf
        self.gains = {0: np.zeros(self.n), self.n - 1: np.zeros(self.n)}
        self.mid_ref = (-1.0,) * N_PMID
        self.mid_gains = [np.zeros(self.n) for _ in range(N_PMID)]
        self.offset = (0.0, 0.0)
        self.offset_n = 0

    # --- the model ------------------------------------------------------------------------------------------
    def mass(self, p: F64) -> F64:
        return self.weights * self.vol / self.rt * _p_over_z(p, self.zq)[0]

    def dmass(self, p: F64) -> F64:
        return self.weights * self.vol / self.rt * _p_over_z(p, self.zq)[1]

    def _terms(self, p: F64, m: F64, q_reg: float) -> tuple[F64, F64, F64, F64]:
        """Per link: h = (D - k/N m sqrt(m^2 + q_reg^2)) / (p_a + p_b), the friction term, dD/dp_a, dD/dp_b."""
        nc = float(self.cells)
        el = self.elev / nc
        pa, pb = p[:-1], p[1:]
        d = pa**2 - pb**2 - 0.5 * el * (pa**2 + pb**2) - self.c0 / nc
        fr = (self.k / nc) * m * np.sqrt(m * m + q_reg * q_reg)
        return (d - fr) / (pa + pb), fr, pa * (2.0 - el), -pb * (2.0 + el)

    def residual(self, p: F64, m: F64, p_old: F64, m_old: F64, dt: float, q_in: float, q_out: float,
                 q_reg: float) -> tuple[F64, F64]:
        """Continuity at the points and momentum on the links, backward Euler."""
        net = np.zeros(self.cells + 1)
        net[:-1] -= m
        net[1:] += m
        net[0] += q_in
        net[-1] -= q_out
        a_dx = self.vol / self.length / (self.length / self.cells)
        h, _, _, _ = self._terms(p, m, q_reg)
        return self.mass(p) - self.mass(p_old) - dt * net, m - m_old - dt * a_dx * h

    def jacobian(self, p: F64, m: F64, dt: float, q_reg: float) -> F64:
        """d(residual)/d(p+, m+), dense, in the interleaved order."""
        nc = self.cells
        a_dx = self.vol / self.length / (self.length / nc)
        h, _, dd_a, dd_b = self._terms(p, m, q_reg)
        ps = p[:-1] + p[1:]
        r = np.sqrt(m * m + q_reg * q_reg)
        dfr = (self.k / nc) * (r + m * m / r)
        jac = np.zeros((self.n, self.n))
        for i in range(nc + 1):
            jac[2 * i, 2 * i] = self.dmass(p)[i]
            if i > 0:
                jac[2 * i, 2 * i - 1] = -dt  # inflow from the link before
            if i < nc:
                jac[2 * i, 2 * i + 1] = dt  # outflow to the link after
        for j in range(nc):
            row = 2 * j + 1
            jac[row, row] = 1.0 + dt * a_dx * dfr[j] / ps[j]
            jac[row, row - 1] = -dt * a_dx * (dd_a[j] - h[j]) / ps[j]
            jac[row, row + 1] = -dt * a_dx * (dd_b[j] - h[j]) / ps[j]
        return jac

    def mid_h(self, p: F64, x_frac: float) -> tuple[float, F64]:
        """A mid-line pressure at x_frac as a function of the state: p^2 linear in x between the grid points beside
        it; its value and its gradient (H) in the interleaved order."""
        pos = min(max(x_frac, 0.0), 1.0) * self.cells
        i0 = min(int(pos), self.cells - 1)
        fr = pos - i0
        h = math.sqrt(max((1.0 - fr) * p[i0] ** 2 + fr * p[i0 + 1] ** 2, 1.0))
        grad = np.zeros(self.n)
        grad[2 * i0] = (1.0 - fr) * p[i0] / h
        grad[2 * i0 + 2] = fr * p[i0 + 1] / h
        return h, grad

    # --- one tick -------------------------------------------------------------------------------------------
    def tick(self, dt: float, q_in: float, var_qin: float, q_out: float, var_qout: float,
             pu: float | None, var_pu: float, pd: float | None, var_pd: float,
             sink_var: float, fric_sd: float, q_reg: float, full_every: int = 1, move: float = 0.0,
             mids: tuple[tuple[float, float | None, float], ...] = ()) -> None:
        """A full tick while the gains have not settled, when an end flow moved more than `move` or an end
        pressure (or a mid-line one) came or went since the last full tick, and every `full_every` ticks; otherwise a
        kept tick: the step with the last full tick's Jacobian, the measurements with its gains. mids: each mid-line
        transmitter's (position as a fraction of the length, pressure or None when silent, its variance), in order."""
        ok = (pu is not None, pd is not None)
        mids = tuple(mids) + ((math.nan, None, 0.0),) * (N_PMID - len(mids))
        mid_x = tuple(x if (z is not None and 0.0 < x < 1.0) else -1.0 for x, z, _ in mids)
        full = (mid_x != self.mid_ref or self.skipped + 1 >= full_every or not all(ok)
                or abs(q_in - self.q_ref[0]) > move or abs(q_out - self.q_ref[1]) > move or ok != self.ok_ref)
        p_old, m_old = self.p.copy(), self.m.copy()
        if full:
            self.jac = self.jacobian(p_old, m_old, dt, q_reg)
        # the implicit step, one Newton iteration from the current state (a linearly implicit Euler step)
        gp, gm = self.residual(p_old, m_old, p_old, m_old, dt, q_in, q_out, q_reg)
        step = np.linalg.solve(self.jac, -self._order(gp, gm))
        x = self._order(np.maximum(p_old + step[0::2], 1e3), m_old + step[1::2])
        if pu is not None and pd is not None:
            self.offset_n += 1
            a = max(dt / OFFSET_TAU_S, 1.0 / self.offset_n)
            self.offset = (self.offset[0] + a * (pu - x[0] - self.offset[0]),
                           self.offset[1] + a * (pd - x[-1] - self.offset[1]))
        if not full:  # the steady-state filter of the last full tick: its gains; the covariance stays
            for idx, z in ((0, pu), (self.n - 1, pd)):
                if z is not None:
                    x = x + self.gains[idx] * (z - x[idx])
            for j, (xm, (_, zm, _)) in enumerate(zip(mid_x, mids, strict=True)):
                if xm >= 0.0 and zm is not None:
                    x = x + self.mid_gains[j] * (zm - self.mid_h(x[0::2], xm)[0])
            self.p, self.m = x[0::2].copy(), x[1::2].copy()
            self.skipped += 1
            return
        self.q_ref, self.ok_ref = (q_in, q_out), ok
        jac = self.jac
        f = np.linalg.solve(jac, np.diag(self._order(self.dmass(p_old), np.ones(self.cells))))  # dx+/dx
        src = np.linalg.inv(jac) * dt  # dx+/d(source in each equation)
        d_p = sink_var * self.weights
        d_p[0] += var_qin
        d_p[-1] += var_qout
        d = self._order(d_p, np.zeros(self.cells))
        _, fr, _, _ = self._terms(p_old, m_old, q_reg)
        a_dx = self.vol / self.length / (self.length / self.cells)
        dg_dlnk = self._order(np.zeros(self.cells + 1), dt * a_dx * fr / (p_old[:-1] + p_old[1:]))
        g_f = -np.linalg.solve(jac, dg_dlnk)
        cov = f @ self.cov @ f.T + src @ np.diag(d) @ src.T
        cov = 0.5 * (cov + cov.T) + fric_sd**2 * np.outer(g_f, g_f)
        settled = True
        for idx, z, var_z, off in ((0, pu, var_pu, self.offset[0]), (self.n - 1, pd, var_pd, self.offset[1])):
            if z is None:
                continue
            if not all(ok):  # a lone end, less its offset from the model, as uncertain as the model's drop
                z = z - off
                var_z = var_z + (self.offset[0] - self.offset[1]) ** 2
            h = np.zeros(self.n)
            h[idx] = 1.0
            s = h @ cov @ h + var_z
            gain = cov @ h / s
            x = x + gain * (z - h @ x)
            cov = cov - np.outer(gain, h @ cov)
            for rows in (slice(0, None, 2), slice(1, None, 2)):  # pressure rows, flow rows
                moved = np.abs(gain[rows] - self.gains[idx][rows]).max()
                settled = settled and bool(moved <= GAIN_SETTLED_REL * np.abs(gain[rows]).max())
            self.gains[idx] = gain
        for j, (xm, (_, zm, var_m)) in enumerate(zip(mid_x, mids, strict=True)):
            if xm < 0.0 or zm is None:
                continue
            hv, hm = self.mid_h(x[0::2], xm)
            s = hm @ cov @ hm + var_m
            gain = cov @ hm / s
            x = x + gain * (zm - hv)
            cov = cov - np.outer(gain, hm @ cov)
            for rows in (slice(0, None, 2), slice(1, None, 2)):
                moved = np.abs(gain[rows] - self.mid_gains[j][rows]).max()
                settled = settled and bool(moved <= GAIN_SETTLED_REL * np.abs(gain[rows]).max())
            self.mid_gains[j] = gain
        self.mid_ref = mid_x
        self.p, self.m, self.cov = x[0::2].copy(), x[1::2].copy(), cov
        self.skipped = 0 if settled else math.inf
        self.dt = dt
        c = self._order(self.dmass(self.p), np.zeros(self.cells))
        self.lp_var = float(c @ self.cov @ c)

    def line_pack(self) -> tuple[float, float]:
        """The line pack and its variance (that of the last full tick, as its covariance)."""
        return float(self.mass(self.p).sum()), self.lp_var

    def leak_response(self, n_ticks: int, x_frac: float) -> float:
        """The kernel's est_leak_response: the steady-state filter of the last full tick (its Jacobian, gains and
        ends, over its tick) driven by a unit point sink at x_frac; the mean over n_ticks of the residual it shows."""
        return float(self.leak_response_cum(n_ticks, x_frac)[-1] / n_ticks)

    def leak_response_cum(self, n_ticks: int, x_frac: float) -> np.ndarray:
        """The kernel's est_leak_response_cum: that residual summed over the first k + 1 ticks, k < n_ticks."""
        n, dt = self.n, self.dt
        pos = min(max(x_frac, 0.0), 1.0) * self.cells
        i0 = min(int(pos), self.cells - 1)
        sink = np.zeros(self.cells + 1)
        sink[i0] = 1.0 - (pos - i0)
        sink[i0 + 1] += pos - i0
        c = np.diag(self._order(self.dmass(self.p), np.ones(self.cells)))
        a = np.linalg.solve(self.jac, c)
        b = -np.linalg.solve(self.jac, dt * self._order(sink, np.zeros(self.cells)))
        weight = self._order(self.dmass(self.p), np.zeros(self.cells))
        x, xh = np.zeros(n), np.zeros(n)
        out = np.empty(n_ticks)
        for k in range(n_ticks):
            x_prev = x
            x = a @ x + b
            xh = a @ xh
            # the readings are tick means: of the true pressures, the mean of the tick's start and end
            y = 0.5 * (x + x_prev)
            for idx, used in ((0, self.ok_ref[0]), (n - 1, self.ok_ref[1])):
                if used:
                    xh = xh + self.gains[idx] * (y[idx] - xh[idx])
            for j, xm in enumerate(self.mid_ref):
                if xm >= 0.0:
                    _, hm = self.mid_h(self.p, xm)
                    xh = xh + self.mid_gains[j] * (hm @ y - hm @ xh)
            out[k] = -(weight @ xh) / dt
        return out

    def end_flow(self, upstream: bool) -> float:
        return float(self.m[0] if upstream else self.m[-1])
