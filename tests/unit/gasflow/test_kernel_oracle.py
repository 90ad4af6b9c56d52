"""The numba kernel against a small, obvious pure-Python implementation of the same scheme."""

from __future__ import annotations

import math

import numpy as np

from services.gasflow import LeakSpec, NetworkSpec, NodeSpec, PipeSpec, Probe, Scenario, Schedule, Simulator

G = 9.80665


def darcy(re: float, rel: float) -> float:
    if re < 2000.0:
        return 64.0 / max(re, 1e-12)
    sj = lambda r: 0.25 / math.log10(rel / 3.7 + 5.74 / r**0.9) ** 2  # noqa: E731
    if re < 4000.0:
        w = (re - 2000.0) / 2000.0
        return (1 - w) * 0.032 + w * sj(4000.0)
    return sj(re)


def reference(
    sim: Simulator,
    p_in: Schedule,
    demand: Schedule,
    leak_point: int,
    leak_rate: float,
    leak_onset: float,
    dt: float,
    n_steps: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Forward-backward staggered scheme on one pipe written out plainly (friction every step)."""
    g = sim.grid
    mu = sim.network.gas.viscosity_pa_s
    rho, m = sim.steady_state(Scenario(duration_s=1.0, schedules={"IN": p_in, "OUT": demand}))
    rho, m = rho.copy(), m.copy()

    def p_of(i: int, r: float) -> float:
        s = g.kcoef[i] * r
        c = 1 - g.za[i] * s
        return 2 * s / (c + math.sqrt(max(c * c - 4 * g.zb[i] * s * s, 0.0)))

    p = np.array([p_of(i, rho[i]) for i in range(g.n_pts)])
    inlet, outlet = g.node_point["IN"], g.node_point["OUT"]
    visc = sim.numerical_viscosity * g.c_max * g.l_dx
    for step in range(1, n_steps + 1):
        t = step * dt
        m_old = m.copy()
        for j in range(g.n_links):
            a, b = g.l_from[j], g.l_to[j]
            dx, area, d = g.l_dx[j], g.l_area[j], g.l_diam[j]
            rb = 0.5 * (rho[a] + rho[b])
            force = -area * ((p[b] - p[a]) / dx + rb * G * g.l_dz[j] / dx)
            mp = m_old[g.l_prev[j]] if g.l_prev[j] >= 0 else m_old[j]
            mn = m_old[g.l_next[j]] if g.l_next[j] >= 0 else m_old[j]
            force += visc[j] * (mp - 2 * m_old[j] + mn) / dx**2
            re = abs(m_old[j]) * d / (area * mu)
            if re < 2000.0:
                r1, r2 = 32 * mu / (d * d * rb), 0.0
            else:
                r1, r2 = 0.0, darcy(re, g.l_rough[j] / d) / (2 * d * rb * area)
            bb = m_old[j] + dt * force
            # m + dt (r1 + r2 |m|) m = bb
            if r2 == 0.0:
                m[j] = bb / (1 + dt * r1)
            else:
                mag = (-(1 + dt * r1) + math.sqrt((1 + dt * r1) ** 2 + 4 * dt * r2 * abs(bb))) / (2 * dt * r2)
                m[j] = math.copysign(mag, bb)
        net = np.zeros(g.n_pts)
        for j in range(g.n_links):
            net[g.l_to[j]] += m[j]
            net[g.l_from[j]] -= m[j]
        sink = np.zeros(g.n_pts)
        sink[outlet] += float(demand(t))
        if t >= leak_onset:
            sink[leak_point] += leak_rate
        for i in range(g.n_pts):
            if i == inlet:
                continue
            if sink[i] > 0:
                rho[i] = (rho[i] * g.vol[i] + dt * net[i]) / (g.vol[i] + dt * sink[i] / rho[i])
            else:
                rho[i] = rho[i] + dt * net[i] / g.vol[i]
            p[i] = p_of(i, rho[i])
        p[inlet] = float(p_in(t))
        rho[inlet] = p[inlet] / (g.kcoef[inlet] * (1 + g.za[inlet] * p[inlet] + g.zb[inlet] * p[inlet] ** 2))
    return p, m


def test_kernel_matches_reference_implementation() -> None:
    net = NetworkSpec(
        pipes=(PipeSpec("P", "IN", "OUT", 2000.0, 0.25, elevation_change_m=15.0, n_cells=20),),
        nodes=(NodeSpec("IN", "pressure", 4e5), NodeSpec("OUT", "flow", 1.5)),
    )
    sim = Simulator(net, friction_every=1)
    p_in = Schedule([0, 5, 6], [4e5, 4e5, 4.1e5])
    demand = Schedule([0, 10, 20], [1.5, 1.5, 2.5])
    x_leak = 700.0  # exactly on a grid point (dx = 100 m)
    duration = 60.0
    sc = Scenario(
        duration_s=duration,
        schedules={"IN": p_in, "OUT": demand},
        leaks=(LeakSpec("P", x_leak, 15.0, rate_kg_per_s=0.2),),
        probes=tuple(Probe(f"x{i}", "P", 100.0 * i) for i in range(21)),
        record_interval_s=duration,
    )
    r = sim.run(sc)
    leak_point = int(sim.grid.pipe_points[0][7])
    p_ref, m_ref = reference(sim, p_in, demand, leak_point, 0.2, 15.0, r.dt_s, round(duration / r.dt_s))
    p_sim = r.probe_pressure_pa[-1]
    p_ref_along = p_ref[sim.grid.pipe_points[0]]
    assert np.allclose(p_sim, p_ref_along, rtol=1e-11, atol=0.0)
    assert np.isclose(r.probe_flow_kg_per_s[-1, 0], m_ref[sim.grid.pipe_links[0][0]], rtol=1e-10)
