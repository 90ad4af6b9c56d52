"""Numba kernels of the transient simulator (see services.gasflow.simulator for the design note).

The grid is a graph: "points" carry density/pressure (cell centres and network nodes), "links" carry
mass flow (cell faces) between two points. Arrays only, no Python objects; the state (rho, m) is
updated in place.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

GRAVITY = 9.80665
RE_LAMINAR = 2000.0
RE_TURBULENT = 4000.0


@njit(cache=True)
def friction_factor(reynolds: float, rel_roughness: float) -> float:
    """Darcy friction factor: 64/Re laminar, Swamee-Jain turbulent, linear blend 2000-4000."""
    if reynolds < RE_LAMINAR:
        return 64.0 / max(reynolds, 1e-12)
    lt = math.log10(rel_roughness / 3.7 + 5.74 / RE_TURBULENT**0.9)
    f_turb_4000 = 0.25 / (lt * lt)
    if reynolds < RE_TURBULENT:
        w = (reynolds - RE_LAMINAR) / (RE_TURBULENT - RE_LAMINAR)
        return (1.0 - w) * (64.0 / RE_LAMINAR) + w * f_turb_4000
    lt = math.log10(rel_roughness / 3.7 + 5.74 / reynolds**0.9)
    return 0.25 / (lt * lt)


@njit(cache=True)
def resistance(m: float, rho_bar: float, diam: float, area: float, rough: float, mu: float) -> tuple:
    """(r_lin, r_quad) with friction deceleration dm/dt = -(r_lin + r_quad |m|) m."""
    re = abs(m) * diam / (area * mu)
    if re < RE_LAMINAR:
        return 32.0 * mu / (diam * diam * rho_bar), 0.0
    f = friction_factor(re, rough / diam)
    return 0.0, f / (2.0 * diam * rho_bar * area)


@njit(cache=True)
def solve_implicit_friction(b: float, dt: float, r_lin: float, r_quad: float) -> float:
    """m with m + dt (r_lin + r_quad |m|) m = b (exact root; no oscillation for huge resistance)."""
    c1 = 1.0 + dt * r_lin
    ab = abs(b)
    mag = 2.0 * ab / (c1 + math.sqrt(c1 * c1 + 4.0 * dt * r_quad * ab))
    return mag if b >= 0.0 else -mag


@njit(cache=True)
def pressure_from_density(rho: float, k: float, za: float, zb: float) -> float:
    """Invert ρ = p / (k (1 + a p + b p²)) (k = RT/M) for p: a quadratic, stable root."""
    s = k * rho
    c = 1.0 - za * s
    disc = c * c - 4.0 * zb * s * s
    if disc < 0.0:
        disc = 0.0
    return 2.0 * s / (c + math.sqrt(disc))


@njit(cache=True)
def density_from_pressure(p: float, k: float, za: float, zb: float) -> float:
    return p / (k * (1.0 + za * p + zb * p * p))


@njit(cache=True)
def orifice_flow(p: float, rho: float, cd_area: float, gamma: float, p_atm: float) -> float:
    """Compressible orifice discharge to atmosphere, choked or subsonic (ideal-gas isentropic)."""
    if p <= p_atm or cd_area <= 0.0:
        return 0.0
    r = p_atm / p
    r_crit = (2.0 / (gamma + 1.0)) ** (gamma / (gamma - 1.0))
    if r <= r_crit:
        return cd_area * math.sqrt(gamma * p * rho * (2.0 / (gamma + 1.0)) ** ((gamma + 1.0) / (gamma - 1.0)))
    term = r ** (2.0 / gamma) - r ** ((gamma + 1.0) / gamma)
    return cd_area * math.sqrt(max(2.0 * p * rho * gamma / (gamma - 1.0) * term, 0.0))


@njit(cache=True)
def schedule_value(
    t: float, times: np.ndarray, values: np.ndarray, off: int, n: int, cursor: np.ndarray, idx: int
) -> float:
    """Piecewise-linear value at t of the schedule stored at [off, off+n); cursor[idx] only moves forward."""
    c = cursor[idx]
    while c < n - 1 and t >= times[off + c + 1]:
        c += 1
    cursor[idx] = c
    if t <= times[off] or c >= n - 1:
        return values[off + c] if t > times[off] else values[off]
    t0 = times[off + c]
    t1 = times[off + c + 1]
    if t1 <= t0:
        return values[off + c + 1]
    w = (t - t0) / (t1 - t0)
    return values[off + c] * (1.0 - w) + values[off + c + 1] * w


@njit(cache=True)
def leak_factor(t: float, onset: float, ramp: float, end: float) -> float:
    if t < onset or t >= end:
        return 0.0
    if ramp <= 0.0:
        return 1.0
    return min(1.0, (t - onset) / ramp)


@njit(cache=True)
def run(
    # state, updated in place
    rho,
    m,
    p,
    # points
    vol,
    kcoef,
    za,
    zb,
    point_bnd,
    # links
    l_from,
    l_to,
    l_dx,
    l_area,
    l_diam,
    l_rough,
    l_dz,
    l_prev,
    l_next,
    l_valve,
    l_visc,
    l_ffix,  # fixed Darcy factor per link, 0 = from Re and roughness
    # boundary nodes (kind 0 = pressure, 1 = flow offtake; bnd_src >= 0: offtake = that pressure
    # node's supply, a regulator inlet) and valves; schedules concatenated
    bnd_point,
    bnd_kind,
    bnd_src,
    bnd_off,
    bnd_len,
    valve_off,
    valve_len,
    valve_k_open,
    sched_t,
    sched_v,
    # leaks
    leak_i0,
    leak_i1,
    leak_w1,
    leak_is_orifice,
    leak_mag,
    leak_onset,
    leak_ramp,
    leak_end,
    # gas and numerics
    mu,
    gamma,
    p_atm,
    dt,
    n_steps,
    t0,
    friction_every,
    # recording
    rec_every,
    field_every,
    pr_i0,
    pr_i1,
    pr_w1,
    fl_j0,
    fl_j1,
    fl_w1,
    fc_point,
    fc_vol,
    rate0,
    lp_point,
    lp_pipe,
    lp_vol,
    out_p,
    out_m,
    out_inj,
    out_cum_inj,
    out_leak,
    out_cum_leak,
    out_lp,
    out_pipe_lp,
    out_field_p,
    out_field_m,
    out_rate,
):
    n_pts = rho.shape[0]
    n_links = m.shape[0]
    n_bnd = bnd_point.shape[0]
    n_leak = leak_i0.shape[0]
    n_valve = valve_off.shape[0]
    net = np.zeros(n_pts)
    sink = np.zeros(n_pts)
    m_new = np.zeros(n_links)
    # Darcy factor per link, refreshed every friction_every steps: log10/pow are most of a step's cost
    # and Re moves slowly; a laminar link (f = 64/Re) is re-evaluated every step.
    f_cache = np.zeros(n_links)
    bnd_val = np.zeros(n_bnd)
    inj = np.zeros(n_bnd)
    cum_inj = np.zeros(n_bnd)
    leak_q = np.zeros(n_leak)
    leak_act = np.zeros(n_leak)
    cum_leak = np.zeros(n_leak)
    opening = np.ones(max(n_valve, 1))
    cursor_b = np.zeros(max(n_bnd, 1), dtype=np.int64)
    cursor_v = np.zeros(max(n_valve, 1), dtype=np.int64)
    n_probe = fl_j0.shape[0]
    fc_rho_old = np.zeros(max(n_probe, 1))  # a probe's end-point density before a recorded step
    for i in range(n_pts):
        out_rate[i] = rate0[i]
    rec = 0
    frec = 0
    # initial boundary injections = steady values: demands at t0, pressure nodes balance their links
    for b in range(n_bnd):
        bnd_val[b] = schedule_value(t0, sched_t, sched_v, bnd_off[b], bnd_len[b], cursor_b, b)
    for b in range(n_bnd):
        i = bnd_point[b]
        q = 0.0
        for j in range(n_links):
            if l_from[j] == i:
                q += m[j]
            elif l_to[j] == i:
                q -= m[j]
        inj[b] = q
    # leaks already running at t0 (a continued run) show in the first record
    for k in range(n_leak):
        f = leak_factor(t0, leak_onset[k], leak_ramp[k], leak_end[k])
        if f > 0.0:
            pl = (1.0 - leak_w1[k]) * p[leak_i0[k]] + leak_w1[k] * p[leak_i1[k]]
            rl = (1.0 - leak_w1[k]) * rho[leak_i0[k]] + leak_w1[k] * rho[leak_i1[k]]
            if leak_is_orifice[k]:
                leak_act[k] = orifice_flow(pl, rl, f * leak_mag[k], gamma, p_atm)
            else:
                leak_act[k] = f * leak_mag[k]
    for step in range(n_steps + 1):
        t = t0 + step * dt
        if step > 0:
            # densities before the step: dρ/dt of the end points for probes in an end half cell,
            # and of every point after the last step (for a continued run)
            if step % rec_every == 0:
                for q in range(n_probe):
                    if fc_point[q] >= 0:
                        fc_rho_old[q] = rho[fc_point[q]]
            if step == n_steps:
                for i in range(n_pts):
                    out_rate[i] = rho[i]
            # boundary values and valve openings at the new time level
            for b in range(n_bnd):
                if bnd_src[b] >= 0:
                    # a regulator's inlet draws what its outlet supplied in the previous step
                    bnd_val[b] = max(inj[bnd_src[b]], 0.0)
                else:
                    bnd_val[b] = schedule_value(t, sched_t, sched_v, bnd_off[b], bnd_len[b], cursor_b, b)
            for v in range(n_valve):
                opening[v] = schedule_value(t, sched_t, sched_v, valve_off[v], valve_len[v], cursor_v, v)
            # momentum on every face: pressure gradient, gravity, numerical viscosity, implicit friction
            for j in range(n_links):
                a = l_from[j]
                bb = l_to[j]
                dx = l_dx[j]
                area = l_area[j]
                rho_bar = 0.5 * (rho[a] + rho[bb])
                force = -area * ((p[bb] - p[a]) / dx + rho_bar * GRAVITY * l_dz[j] / dx)
                if l_visc[j] > 0.0:
                    mp = m[l_prev[j]] if l_prev[j] >= 0 else m[j]
                    mn = m[l_next[j]] if l_next[j] >= 0 else m[j]
                    force += l_visc[j] * (mp - 2.0 * m[j] + mn) / (dx * dx)
                if l_ffix[j] > 0.0:
                    f_cache[j] = l_ffix[j]
                elif f_cache[j] <= 0.0 or (step - 1) % friction_every == 0:
                    re = abs(m[j]) * l_diam[j] / (area * mu)
                    f_cache[j] = friction_factor(re, l_rough[j] / l_diam[j]) if re >= RE_LAMINAR else 0.0
                if f_cache[j] > 0.0:
                    r_lin = 0.0
                    r_quad = f_cache[j] / (2.0 * l_diam[j] * rho_bar * area)
                else:
                    r_lin, r_quad = resistance(m[j], rho_bar, l_diam[j], area, l_rough[j], mu)
                v = l_valve[j]
                if v >= 0:
                    th = opening[v]
                    if th <= 1e-9:
                        m_new[j] = 0.0
                        continue
                    r_quad += valve_k_open[v] / (th * th) / (2.0 * rho_bar * area * dx)
                m_new[j] = solve_implicit_friction(m[j] + dt * force, dt, r_lin, r_quad)
            for j in range(n_links):
                m[j] = m_new[j]
            # continuity on every point
            for i in range(n_pts):
                net[i] = 0.0
                sink[i] = 0.0
            for j in range(n_links):
                net[l_to[j]] += m[j]
                net[l_from[j]] -= m[j]
            for k in range(n_leak):
                f = leak_factor(t, leak_onset[k], leak_ramp[k], leak_end[k])
                if f <= 0.0:
                    leak_q[k] = 0.0
                    continue
                i0 = leak_i0[k]
                i1 = leak_i1[k]
                w1 = leak_w1[k]
                if leak_is_orifice[k]:
                    pl = (1.0 - w1) * p[i0] + w1 * p[i1]
                    rl = (1.0 - w1) * rho[i0] + w1 * rho[i1]
                    leak_q[k] = orifice_flow(pl, rl, f * leak_mag[k], gamma, p_atm)
                else:
                    leak_q[k] = f * leak_mag[k]
                sink[i0] += (1.0 - w1) * leak_q[k]
                sink[i1] += w1 * leak_q[k]
            for b in range(n_bnd):
                if bnd_kind[b] == 1:
                    sink[bnd_point[b]] += bnd_val[b]
            # sinks are implicit in the density (q -> q ρ_new/ρ_old) so no point can be emptied
            for k in range(n_leak):
                leak_act[k] = 0.0
            for i in range(n_pts):
                if point_bnd[i] >= 0 and bnd_kind[point_bnd[i]] == 0:
                    continue
                s = sink[i]
                if s > 0.0:
                    lam = s / max(rho[i], 1e-12)
                    rho_new = (rho[i] * vol[i] + dt * net[i]) / (vol[i] + dt * lam)
                    if rho_new < 1e-9:
                        rho_new = 1e-9
                    scale = rho_new / max(rho[i], 1e-12)
                else:
                    rho_new = rho[i] + dt * (net[i] - s) / vol[i]
                    if rho_new < 1e-9:
                        rho_new = 1e-9
                    scale = 1.0
                # bookkeeping: actual (scaled) sinks, so that mass balances to round-off
                actual_total = (rho[i] * vol[i] + dt * net[i] - rho_new * vol[i]) / dt
                ratio = actual_total / s if s != 0.0 else scale
                rho[i] = rho_new
                p[i] = pressure_from_density(rho_new, kcoef[i], za[i], zb[i])
                if s != 0.0:
                    for k in range(n_leak):
                        if leak_i0[k] == i:
                            leak_act[k] += (1.0 - leak_w1[k]) * leak_q[k] * ratio
                        if leak_i1[k] == i:
                            leak_act[k] += leak_w1[k] * leak_q[k] * ratio
                    bi = point_bnd[i]
                    if bi >= 0:
                        inj[bi] = -bnd_val[bi] * ratio
                elif point_bnd[i] >= 0:
                    inj[point_bnd[i]] = -bnd_val[point_bnd[i]]
            for b in range(n_bnd):
                if bnd_kind[b] == 0:
                    i = bnd_point[b]
                    rho_new = density_from_pressure(bnd_val[b], kcoef[i], za[i], zb[i])
                    # the supply also feeds a leak sitting on the node itself
                    inj[b] = (rho_new - rho[i]) * vol[i] / dt - net[i] + sink[i]
                    rho[i] = rho_new
                    p[i] = bnd_val[b]
                    if sink[i] != 0.0:
                        for k in range(n_leak):
                            if leak_i0[k] == i:
                                leak_act[k] += (1.0 - leak_w1[k]) * leak_q[k]
                            if leak_i1[k] == i:
                                leak_act[k] += leak_w1[k] * leak_q[k]
            for b in range(n_bnd):
                cum_inj[b] += dt * inj[b]
            for k in range(n_leak):
                cum_leak[k] += dt * leak_act[k]
            if step == n_steps:
                for i in range(n_pts):
                    out_rate[i] = (rho[i] - out_rate[i]) / dt
        if step % rec_every == 0:
            for q in range(pr_i0.shape[0]):
                out_p[rec, q] = (1.0 - pr_w1[q]) * p[pr_i0[q]] + pr_w1[q] * p[pr_i1[q]]
                mq = (1.0 - fl_w1[q]) * m[fl_j0[q]] + fl_w1[q] * m[fl_j1[q]]
                ic = fc_point[q]
                if ic >= 0:
                    # mass-consistent flow in an end half cell: link flow plus the storage rate of
                    # the (signed) volume between the probe and that link
                    if step == 0:
                        mq += fc_vol[q] * rate0[ic]
                    else:
                        mq += fc_vol[q] * (rho[ic] - fc_rho_old[q]) / dt
                out_m[rec, q] = mq
            for b in range(n_bnd):
                out_inj[rec, b] = inj[b]
                out_cum_inj[rec, b] = cum_inj[b]
            for k in range(n_leak):
                out_leak[rec, k] = leak_act[k]
                out_cum_leak[rec, k] = cum_leak[k]
            tot = 0.0
            for i in range(n_pts):
                tot += rho[i] * vol[i]
            out_lp[rec] = tot
            for s in range(lp_point.shape[0]):
                out_pipe_lp[rec, lp_pipe[s]] += rho[lp_point[s]] * lp_vol[s]
            if field_every > 0 and step % field_every == 0 and frec < out_field_p.shape[0]:
                for i in range(n_pts):
                    out_field_p[frec, i] = p[i]
                for j in range(n_links):
                    out_field_m[frec, j] = m[j]
                frec += 1
            rec += 1
    return rec
