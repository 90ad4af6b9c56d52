"""Reference line-pack state estimator in plain NumPy: the test oracle of `domain.kernels.estimator`.

The same extended Kalman filter (see the kernel's docstring for the model and why), written the obvious way:
dense Jacobian, `np.linalg.solve`, explicit matrices for F, the noise and the measurement update. Slow (a few
hundred microseconds a tick) and allocating; the kernel must match it to round-off on any trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..domain.layout import EST_N_PTS, EST_NEWTON

F64 = npt.NDArray[np.float64]


def _weights(n: int) -> F64:
    w = np.full(n, 1.0 / (n - 1))
    w[0] = w[-1] = 0.5 / (n - 1)
    return w


@dataclass
class ReferenceEstimator:
    """One segment's filter. vol m^3, rt = R T J/kg, zs the linear Z slope 1/Pa, elev the elevation's share of
    p^2 (GC_LOC_ELEV); k, c0 the friction model (p_u^2 - p_d^2 - elevation = c0 + k q|q|)."""

    vol: float
    rt: float
    zs: float
    elev: float
    k: float
    c0: float = 0.0
    n: int = EST_N_PTS
    p: F64 = field(default_factory=lambda: np.zeros(0))
    cov: F64 = field(default_factory=lambda: np.zeros((0, 0)))
    started: bool = False

    def start(self, pu: float, var_pu: float, pd: float, var_pd: float) -> None:
        x = np.arange(self.n) / (self.n - 1.0)
        self.p = np.sqrt(np.maximum(pu * pu - (pu * pu - pd * pd) * x, 1e6))
        self.cov = np.eye(self.n) * ((0.1 * (pu - pd)) ** 2 + max(var_pu, var_pd))
        self.started = True

    # --- the model ------------------------------------------------------------------------------------------
    def mass(self, p: F64) -> F64:
        return _weights(self.n) * self.vol * p / (self.rt * (1.0 + self.zs * p))

    def dmass(self, p: F64) -> F64:
        return _weights(self.n) * self.vol / (self.rt * (1.0 + self.zs * p) ** 2)

    def link_flows(self, p: F64, q_reg: float) -> tuple[F64, F64, F64]:
        """Flow in every link and its derivatives in the upstream and downstream pressure."""
        nl = self.n - 1.0
        kl, el, cl = self.k / nl, self.elev / nl, self.c0 / nl
        d0 = kl * q_reg * q_reg
        pa, pb = p[:-1], p[1:]
        d = pa**2 - pb**2 - 0.5 * el * (pa**2 + pb**2) - cl
        s = d**2 + d0**2
        m = d / np.sqrt(kl * np.sqrt(s))
        dm_dd = (1.0 - d**2 / (2.0 * s)) / np.sqrt(kl * np.sqrt(s))
        return m, dm_dd * pa * (2.0 - el), -dm_dd * pb * (2.0 + el)

    def net(self, p: F64, q_in: float, q_out: float, q_reg: float) -> F64:
        m, _, _ = self.link_flows(p, q_reg)
        net = np.zeros(self.n)
        net[:-1] -= m
        net[1:] += m
        net[0] += q_in
        net[-1] -= q_out
        return net

    def jacobian(self, p: F64, dt: float, q_reg: float) -> F64:
        """d/dp+ of M(p+) - M(p) - dt net(p+), dense."""
        _, a, b = self.link_flows(p, q_reg)
        dnet = np.zeros((self.n, self.n))
        for j in range(self.n - 1):
            dnet[j, j] -= a[j]
            dnet[j, j + 1] -= b[j]
            dnet[j + 1, j] += a[j]
            dnet[j + 1, j + 1] += b[j]
        return np.diag(self.dmass(p)) - dt * dnet

    # --- one tick -------------------------------------------------------------------------------------------
    def tick(self, dt: float, q_in: float, var_qin: float, q_out: float, var_qout: float,
             pu: float | None, var_pu: float, pd: float | None, var_pd: float,
             sink_var: float, fric_sd: float, q_reg: float) -> None:
        p_old = self.p.copy()
        p = p_old.copy()
        for _ in range(EST_NEWTON):
            g = self.mass(p) - self.mass(p_old) - dt * self.net(p, q_in, q_out, q_reg)
            p = np.maximum(p + np.linalg.solve(self.jacobian(p, dt, q_reg), -g), 1e3)
        jac = self.jacobian(p, dt, q_reg)
        f = np.linalg.solve(jac, np.diag(self.dmass(p_old)))  # dp+/dp
        src = np.linalg.inv(jac) * dt  # dp+/d(mass source at each point, kg/s)
        d = sink_var * _weights(self.n)
        d[0] += var_qin
        d[-1] += var_qout
        m, _, _ = self.link_flows(p, q_reg)
        dnet_dlnk = np.zeros(self.n)
        dnet_dlnk[:-1] += 0.5 * m
        dnet_dlnk[1:] -= 0.5 * m
        g_f = np.linalg.solve(jac, dt * dnet_dlnk)
        cov = f @ self.cov @ f.T + src @ np.diag(d) @ src.T
        cov = 0.5 * (cov + cov.T) + fric_sd**2 * np.outer(g_f, g_f)
        self.p = p
        for idx, z, var_z in ((0, pu, var_pu), (self.n - 1, pd, var_pd)):
            if z is None:
                continue
            h = np.zeros(self.n)
            h[idx] = 1.0
            s = h @ cov @ h + var_z
            gain = cov @ h / s
            self.p = self.p + gain * (z - h @ self.p)
            cov = cov - np.outer(gain, h @ cov)
        self.cov = cov

    def line_pack(self) -> tuple[float, float]:
        c = self.dmass(self.p)
        return float(self.mass(self.p).sum()), float(c @ self.cov @ c)

    def end_flow(self, upstream: bool, q_reg: float) -> float:
        m, _, _ = self.link_flows(self.p, q_reg)
        return float(m[0] if upstream else m[-1])


def steady_k(pu: float, pd: float, q: float, elev: float = 0.0) -> float:
    """k of p_u^2 - p_d^2 - elev (p_u^2 + p_d^2) / 2 = k q|q| (no offset), from one steady state."""
    return (pu * pu - pd * pd - 0.5 * elev * (pu * pu + pd * pd)) / (q * abs(q)) if q != 0.0 else math.nan
