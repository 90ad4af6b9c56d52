"""Transient isothermal gas flow in pipe networks: a staggered finite-volume scheme in numba.

Equations (1-D, isothermal, per pipe; Osiadacz 1987 ch. 3, Wylie & Streeter 1993 ch. 15)::

    A ∂ρ/∂t + ∂m/∂x = -q_leak δ(x - x_leak)                                  (continuity)
    ∂m/∂t + A ∂p/∂x = -f(Re) m|m| / (2 D ρ A) - A ρ g dz/dx                    (momentum)
    p = ρ Z(p) R T / M,  Z(p) ≈ 1 + a p + b p² (least-squares fit of DAK at the pipe's T)

m is the mass flow (kg/s), A the area, f the Darcy factor (Swamee-Jain from roughness, 64/Re
laminar; or the pipe's fixed ``darcy_friction_factor``). Options for published cases, all public:
``GasSpec(equation_of_state="ideal")`` (Z = 1; per pipe ``PipeSpec(equation_of_state=...)``),
``PipeSpec(wave_speed_m_per_s=c)`` (p = c² ρ in that
pipe) and ``PipeSpec(darcy_friction_factor=f)``; benchmarks/simulator_validation.py checks them on
Gyrya & Zlotnik's (2019) fast transient. The convective term ∂(m²/ρA)/∂x is dropped (Mach < 0.05 in
gas networks; Osiadacz, Kiuchi 1994); the inertia ∂m/∂t is kept, so pressure waves travel at
c = sqrt(dp/dρ) (~330-420 m/s).

Scheme: staggered grid. Each pipe of length L is cut into n cells of dx = L/n (n from dx_target_m,
default 100 m, or the pipe's n_cells). Densities and pressures live on "points" at x = 0, dx, ...,
L — the interior ones own the control volume A·dx around them, the two end points are network nodes
whose control volume is the half cells of every pipe meeting there — and mass flows live on "links"
(cell faces) at the mid-points between consecutive points. One time step is a forward-backward
(symplectic Euler) update: (1) every link's m from the pressure difference and gravity of the
current densities, with the friction (and any valve loss) solved implicitly and exactly from the
quadratic m + dt(r1 + r2|m|)m = b — stable for any resistance, e.g. a closing valve; (2) every
point's ρ from the new link flows, conservative to round-off, with sinks (demands, leaks) implicit
in ρ so that no point can be emptied; (3) p from ρ in closed form (a quadratic, thanks to the
polynomial Z). Stable for c dt/dx <= 1 (dt = cfl·dx/c, default cfl 0.8, rounded down so that the
record interval is a whole number of steps); non-dissipative for waves, so a small numerical
viscosity ν = α c dx (α default 0.05) acts on m to damp grid-scale ringing behind sharp fronts; it
vanishes in steady states and as dx -> 0. Overall first order in dx (viscosity, time stepping), and
in steady state the discrete momentum balance with ρ̄ = (ρ_a+ρ_b)/2 telescopes to exactly the
isothermal flow equation p1² - p2² = f c² m² L / (D A²) for constant Z.

Boundaries: "pressure" nodes (city gate, regulator outlet) are Dirichlet — ρ set from the
scheduled pressure, the supply flow is whatever balances the point; "flow" nodes withdraw the
scheduled mass flow (daily demand profiles, see profiles.py); valves add K(θ) = K_open/θ² on a pipe's
first or last face (θ = 0 closes the face). Leaks are sinks split linearly between the two points
around x_leak: a fixed rate, or an orifice with choked/subsonic compressible discharge to atmosphere
(a rupture is a full-bore orifice), abrupt or ramped, optionally ending.

Probes: pressure is interpolated between points, flow between links. In the half cell next to a pipe
end (x < dx/2 or x > L - dx/2) a probe reads the mass-consistent flow at its exact position — the end
link's flow plus the storage rate A·|x - x_link|·dρ/dt of the end point over the last step (carried
over to a continued run) — so probes at x = 0 and x = L meter exactly the change of the pipe's line
pack, half cells at its end nodes included.

Initial state: the discrete steady state for the boundary values at t = 0 (trees with one pressure
node: solved directly link by link; other networks: a spin-up run with frozen boundary values).

References: A.J. Osiadacz, "Simulation and Analysis of Gas Networks", 1987; A.R.D. Thorley,
C.H. Tiley, "Unsteady and transient flow of compressible fluids in pipelines — a review of
theoretical and some experimental studies", Int. J. Heat Fluid Flow 8(1), 1987; T. Kiuchi, "An
implicit method for transient gas flows in pipe networks", Int. J. Heat Fluid Flow 15(5), 1994;
E.B. Wylie, V.L. Streeter, "Fluid Transients in Systems", 1993; P.K. Swamee, A.K. Jain, 1976.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _kernel
from .model import FloatArray, LeakSpec, NetworkSpec, Scenario, Schedule, SimulationResult
from .physics import STANDARD_ATMOSPHERE_PA, fit_z_polynomial

IntArray = NDArray[np.int64]

DEFAULT_DX_TARGET_M = 100.0
DEFAULT_CFL = 0.8
DEFAULT_NUMERICAL_VISCOSITY = 0.05
DEFAULT_FRICTION_EVERY = 8
MAX_RECORDS = 20_000_000  # records × items guard against a run that would exhaust memory


@dataclass(frozen=True, eq=False)
class _Grid:
    n_pts: int
    n_links: int
    vol: FloatArray
    kcoef: FloatArray
    za: FloatArray
    zb: FloatArray
    point_pipe: IntArray
    point_x: FloatArray
    point_node: tuple[str, ...]
    node_point: dict[str, int]
    l_from: IntArray
    l_to: IntArray
    l_dx: FloatArray
    l_area: FloatArray
    l_diam: FloatArray
    l_rough: FloatArray
    l_ffix: FloatArray  # fixed Darcy factor, 0 = from roughness
    l_dz: FloatArray
    l_prev: IntArray
    l_next: IntArray
    l_pipe: IntArray
    l_x: FloatArray
    pipe_links: tuple[IntArray, ...]  # link indices of each pipe, from its start to its end
    pipe_points: tuple[IntArray, ...]  # point indices of each pipe, n+1 of them, start node first
    lp_point: IntArray
    lp_pipe: IntArray
    lp_vol: FloatArray
    c_max: float
    fit_error: float


class Simulator:
    """A network discretised once; :meth:`run` simulates one Scenario (the batch-friendly entry).

    dx_target_m sets the cell size where a pipe does not fix n_cells; cfl the time step
    (dt = cfl·min dx / c_max); numerical_viscosity α; pressure_max_pa the upper end of the Z fit
    (default 1.3 × the highest node pressure in the network, at least 2 bar); friction_every how
    often (in steps) the Darcy factor of a turbulent link is re-evaluated (Re moves slowly; the
    log/pow of Swamee-Jain dominate a step's cost).
    """

    def __init__(
        self,
        network: NetworkSpec,
        dx_target_m: float = DEFAULT_DX_TARGET_M,
        cfl: float = DEFAULT_CFL,
        numerical_viscosity: float = DEFAULT_NUMERICAL_VISCOSITY,
        pressure_max_pa: float | None = None,
        friction_every: int = DEFAULT_FRICTION_EVERY,
    ) -> None:
        if not (math.isfinite(dx_target_m) and dx_target_m > 0.0):
            raise ValueError(f"dx_target_m must be > 0, got {dx_target_m}")
        if not (math.isfinite(cfl) and 0.0 < cfl <= 1.0):
            raise ValueError(f"cfl must be in (0, 1], got {cfl}")
        if not (math.isfinite(numerical_viscosity) and 0.0 <= numerical_viscosity <= 0.5):
            raise ValueError(f"numerical_viscosity must be in [0, 0.5], got {numerical_viscosity}")
        if not (isinstance(friction_every, int) and friction_every >= 1):
            raise ValueError(f"friction_every must be a positive int, got {friction_every!r}")
        self.friction_every = friction_every
        self.network = network
        self.dx_target_m = dx_target_m
        self.cfl = cfl
        self.numerical_viscosity = numerical_viscosity
        if pressure_max_pa is None:
            pmax = max((n.value for n in network.nodes if n.kind == "pressure"), default=2e5)
            pressure_max_pa = max(1.3 * pmax, 2e5)
        if not (math.isfinite(pressure_max_pa) and pressure_max_pa > 0.0):
            raise ValueError("pressure_max_pa must be > 0")
        self.pressure_max_pa = pressure_max_pa
        self.grid = self._discretise()

    # ----------------------------------------------------------------------------------- grid
    def _discretise(self) -> _Grid:
        net = self.network
        gas = net.gas
        fits: dict[tuple[float, str], tuple[float, float, float]] = {}
        for p in net.pipes:
            key = (p.temperature_k, p.equation_of_state or gas.equation_of_state)
            if key not in fits:
                fits[key] = fit_z_polynomial(
                    p.temperature_k, self.pressure_max_pa, replace(gas, equation_of_state=key[1])
                )
        node_ids = [n.node_id for n in net.nodes]
        node_point = {nid: i for i, nid in enumerate(node_ids)}
        vol: list[float] = [0.0] * len(node_ids)
        kw: list[float] = [0.0] * len(node_ids)  # volume-weighted sums for the node points
        aw: list[float] = [0.0] * len(node_ids)
        bw: list[float] = [0.0] * len(node_ids)
        point_pipe: list[int] = [-1] * len(node_ids)
        point_x: list[float] = [0.0] * len(node_ids)
        point_node: list[str] = list(node_ids)
        links: list[tuple[int, int, float, float, float, float, float, int, float, float]] = []
        pipe_links: list[IntArray] = []
        pipe_points: list[IntArray] = []
        lp: list[tuple[int, int, float]] = []
        rgas = gas.specific_gas_constant
        for ip, pipe in enumerate(net.pipes):
            n = pipe.n_cells or max(1, round(pipe.length_m / self.dx_target_m))
            dx = pipe.length_m / n
            area = pipe.area_m2
            if pipe.wave_speed_m_per_s is not None:
                # p = c² ρ: the ideal-gas form with c² for Z R T / M
                k, a, b = pipe.wave_speed_m_per_s**2, 0.0, 0.0
            else:
                k = rgas * pipe.temperature_k
                a, b, _ = fits[(pipe.temperature_k, pipe.equation_of_state or gas.equation_of_state)]
            pts = [node_point[pipe.from_node]]
            for c in range(1, n):
                pts.append(len(vol))
                vol.append(area * dx)
                kw.append(k * area * dx)
                aw.append(a * area * dx)
                bw.append(b * area * dx)
                point_pipe.append(ip)
                point_x.append(c * dx)
                point_node.append("")
                lp.append((pts[-1], ip, area * dx))
            pts.append(node_point[pipe.to_node])
            for end in (pts[0], pts[-1]):
                half = 0.5 * area * dx
                vol[end] += half
                kw[end] += k * half
                aw[end] += a * half
                bw[end] += b * half
                lp.append((end, ip, half))
            ids = []
            for c in range(n):
                ids.append(len(links))
                links.append(
                    (
                        pts[c],
                        pts[c + 1],
                        dx,
                        area,
                        pipe.diameter_m,
                        pipe.roughness_m,
                        pipe.elevation_change_m / n,
                        ip,
                        (c + 0.5) * dx,
                        pipe.darcy_friction_factor or 0.0,
                    )
                )
            pipe_links.append(np.array(ids, dtype=np.int64))
            pipe_points.append(np.array(pts, dtype=np.int64))
        vol_a = np.array(vol)
        kcoef = np.array(kw) / vol_a
        za = np.array(aw) / vol_a
        zb = np.array(bw) / vol_a
        l_arr = np.array([lk[:7] for lk in links], dtype=np.float64)
        l_prev = np.full(len(links), -1, dtype=np.int64)
        l_next = np.full(len(links), -1, dtype=np.int64)
        for ids_arr in pipe_links:
            l_prev[ids_arr[1:]] = ids_arr[:-1]
            l_next[ids_arr[:-1]] = ids_arr[1:]
        # fastest wave: c² = k Z² / (1 - b p²) is largest at low pressure for natural gas
        pp = np.linspace(1e4, self.pressure_max_pa, 32)
        c2 = [
            kcoef[i] * (1 + za[i] * pp + zb[i] * pp * pp) ** 2 / np.maximum(1 - zb[i] * pp * pp, 1e-3)
            for i in range(len(vol))
        ]
        c_max = float(math.sqrt(max(float(np.max(c)) for c in c2)))
        return _Grid(
            n_pts=len(vol),
            n_links=len(links),
            vol=vol_a,
            kcoef=kcoef,
            za=za,
            zb=zb,
            point_pipe=np.array(point_pipe, dtype=np.int64),
            point_x=np.array(point_x),
            point_node=tuple(point_node),
            node_point=node_point,
            l_from=l_arr[:, 0].astype(np.int64),
            l_to=l_arr[:, 1].astype(np.int64),
            l_dx=l_arr[:, 2].copy(),
            l_area=l_arr[:, 3].copy(),
            l_diam=l_arr[:, 4].copy(),
            l_rough=l_arr[:, 5].copy(),
            l_ffix=np.array([lk[9] for lk in links], dtype=np.float64),
            l_dz=l_arr[:, 6].copy(),
            l_prev=l_prev,
            l_next=l_next,
            l_pipe=np.array([lk[7] for lk in links], dtype=np.int64),
            l_x=np.array([lk[8] for lk in links]),
            pipe_links=tuple(pipe_links),
            pipe_points=tuple(pipe_points),
            lp_point=np.array([e[0] for e in lp], dtype=np.int64),
            lp_pipe=np.array([e[1] for e in lp], dtype=np.int64),
            lp_vol=np.array([e[2] for e in lp]),
            c_max=c_max,
            fit_error=max(f[2] for f in fits.values()),
        )

    @property
    def dt_max_s(self) -> float:
        """The largest stable time step (before rounding to the record interval)."""
        return self.cfl * float(np.min(self.grid.l_dx)) / self.grid.c_max

    # ------------------------------------------------------------------------------- helpers
    def _pipe_index(self, pipe_id: str) -> int:
        for i, p in enumerate(self.network.pipes):
            if p.pipe_id == pipe_id:
                return i
        raise ValueError(f"unknown pipe {pipe_id!r}")

    def _locate_points(self, pipe_id: str, x: float, what: str) -> tuple[int, int, float]:
        ip = self._pipe_index(pipe_id)
        pipe = self.network.pipes[ip]
        if not (math.isfinite(x) and -1e-9 <= x <= pipe.length_m + 1e-9):
            raise ValueError(f"{what} at {x} m is outside pipe {pipe_id} (0..{pipe.length_m} m)")
        pts = self.grid.pipe_points[ip]
        n = len(pts) - 1
        dx = pipe.length_m / n
        s = min(max(x / dx, 0.0), float(n))
        c = min(int(s), n - 1)
        return int(pts[c]), int(pts[c + 1]), s - c

    def _locate_links(self, pipe_id: str, x: float) -> tuple[int, int, float]:
        ip = self._pipe_index(pipe_id)
        pipe = self.network.pipes[ip]
        ids = self.grid.pipe_links[ip]
        n = len(ids)
        dx = pipe.length_m / n
        s = x / dx - 0.5
        if s <= 0.0:
            return int(ids[0]), int(ids[0]), 0.0
        if s >= n - 1:
            return int(ids[-1]), int(ids[-1]), 0.0
        c = int(s)
        return int(ids[c]), int(ids[c + 1]), s - c

    def _end_half_cell(self, pipe_id: str, x: float) -> tuple[int, float]:
        """(end point, signed volume) for a flow probe in the half cell next to a pipe end, else (-1, 0).

        The probe's flow is the nearest link's plus volume × dρ/dt of that end point (continuity over
        the part of the half cell between the probe and the link): positive volume A (dx/2 - x) at the
        start, negative A (x - (L - dx/2)) at the end (flows are positive from -> to).
        """
        ip = self._pipe_index(pipe_id)
        pipe = self.network.pipes[ip]
        pts = self.grid.pipe_points[ip]
        n = len(pts) - 1
        dx = pipe.length_m / n
        x = min(max(x, 0.0), pipe.length_m)
        if x < 0.5 * dx:
            return int(pts[0]), pipe.area_m2 * (0.5 * dx - x)
        if x > pipe.length_m - 0.5 * dx:
            return int(pts[-1]), -pipe.area_m2 * (x - (pipe.length_m - 0.5 * dx))
        return -1, 0.0

    def _boundary_schedules(self, scenario: Scenario) -> tuple[list[str], list[Schedule]]:
        ids: list[str] = []
        scheds: list[Schedule] = []
        for node in self.network.nodes:
            if node.kind == "junction":
                if node.node_id in scenario.schedules:
                    raise ValueError(f"node {node.node_id} is a junction: it takes no schedule")
                continue
            if node.regulator_outlet is not None and node.node_id in scenario.schedules:
                raise ValueError(f"node {node.node_id} is a regulator inlet: its flow follows its outlet")
            s = scenario.schedules.get(node.node_id, Schedule.constant(node.value))
            if node.kind == "pressure" and np.any(s.values <= 0.0):
                raise ValueError(f"pressure schedule of node {node.node_id} must stay > 0 Pa absolute")
            if node.kind == "pressure" and np.any(s.values > 1.5 * self.pressure_max_pa):
                raise ValueError(
                    f"pressure schedule of node {node.node_id} exceeds the simulator's Z-fit "
                    f"range; build the Simulator with a larger pressure_max_pa"
                )
            ids.append(node.node_id)
            scheds.append(s)
        unknown = set(scenario.schedules) - {n.node_id for n in self.network.nodes}
        if unknown:
            raise ValueError(f"schedules for unknown nodes: {sorted(unknown)}")
        return ids, scheds

    # -------------------------------------------------------------------------- steady state
    def steady_state(self, scenario: Scenario) -> tuple[FloatArray, FloatArray]:
        """(ρ per point, m per link) in steady state for the boundary values at t = 0.

        Networks whose parts between pressure nodes are trees with one pressure node each (regulators
        joining them) are solved directly; anything else (loops, two pressure nodes in one part) by a
        spin-up run with the boundary values frozen.
        """
        bnd_ids, scheds = self._boundary_schedules(scenario)
        values = {nid: float(s(0.0)) for nid, s in zip(bnd_ids, scheds, strict=True)}
        try:
            return self._steady_forest(values, self._valve_k_at_zero(scenario))
        except _NotAForest:
            return self._spin_up(scenario)

    def _valve_k_at_zero(self, scenario: Scenario) -> dict[int, float]:
        out: dict[int, float] = {}
        for v in scenario.valves:
            ip = self._pipe_index(v.pipe_id)
            ids = self.grid.pipe_links[ip]
            j = int(ids[0] if v.at == "start" else ids[-1])
            th = float(v.opening(0.0))
            out[j] = math.inf if th <= 1e-9 else v.loss_coefficient_open / th**2
        return out

    def _steady_forest(self, values: dict[str, float], valve_k: dict[int, float]) -> tuple[FloatArray, FloatArray]:
        g = self.grid
        nodes = {n.node_id: n for n in self.network.nodes}
        adj: list[list[int]] = [[] for _ in range(g.n_pts)]
        for j in range(g.n_links):
            adj[int(g.l_from[j])].append(j)
            adj[int(g.l_to[j])].append(j)
        # connected parts, each must be a tree holding exactly one pressure node
        comp = np.full(g.n_pts, -1, dtype=np.int64)
        parts: list[list[int]] = []
        for start in range(g.n_pts):
            if comp[start] >= 0:
                continue
            members = [start]
            comp[start] = len(parts)
            queue = deque([start])
            while queue:
                i = queue.popleft()
                for j in adj[i]:
                    other = int(g.l_to[j]) if int(g.l_from[j]) == i else int(g.l_from[j])
                    if comp[other] < 0:
                        comp[other] = len(parts)
                        members.append(other)
                        queue.append(other)
            parts.append(members)
        roots: list[str] = []
        for members in parts:
            n_links = sum(len(adj[i]) for i in members) // 2
            if n_links != len(members) - 1:
                raise _NotAForest
            press = [g.point_node[i] for i in members if g.point_node[i] and nodes[g.point_node[i]].kind == "pressure"]
            if len(press) != 1:
                raise _NotAForest
            roots.append(press[0])
        # demand of every flow node; a regulator inlet draws its outlet's part's total demand
        supplied: dict[str, float] = {}
        remaining = list(range(len(parts)))
        rho = np.zeros(g.n_pts)
        m = np.zeros(g.n_links)
        while remaining:
            progress = False
            for c in list(remaining):
                demand = np.zeros(g.n_pts)
                ready = True
                for i in parts[c]:
                    nid = g.point_node[i]
                    if not nid or nodes[nid].kind != "flow":
                        continue
                    outlet = nodes[nid].regulator_outlet
                    if outlet is None:
                        demand[i] = values[nid]
                    elif outlet in supplied:
                        demand[i] = supplied[outlet]
                    else:
                        ready = False
                if not ready:
                    continue
                root = g.node_point[roots[c]]
                supplied[roots[c]] = self._steady_tree(root, values[roots[c]], demand, adj, valve_k, rho, m)
                remaining.remove(c)
                progress = True
            if not progress:
                raise _NotAForest  # regulators feeding each other in a cycle
        return rho, m

    def _steady_tree(
        self,
        root: int,
        root_pressure: float,
        demand: FloatArray,
        adj: list[list[int]],
        valve_k: dict[int, float],
        rho: FloatArray,
        m: FloatArray,
    ) -> float:
        """Fill rho and m of the tree hanging from root; returns the root's supply in kg/s."""
        g = self.grid
        parent_link = {root: -1}
        order = [root]
        queue = deque([root])
        while queue:
            i = queue.popleft()
            for j in adj[i]:
                other = int(g.l_to[j]) if int(g.l_from[j]) == i else int(g.l_from[j])
                if other not in parent_link:
                    parent_link[other] = j
                    order.append(other)
                    queue.append(other)
        sub = {i: float(demand[i]) for i in order}
        for i in reversed(order[1:]):
            j = parent_link[i]
            parent = int(g.l_from[j]) if int(g.l_to[j]) == i else int(g.l_to[j])
            m[j] = sub[i] if int(g.l_to[j]) == i else -sub[i]
            sub[parent] += sub[i]
        p = {root: root_pressure}
        mu = self.network.gas.viscosity_pa_s
        for i in order[1:]:
            j = parent_link[i]
            kval = valve_k.get(j, 0.0)
            if math.isinf(kval):
                if m[j] != 0.0:
                    raise ValueError("a valve shut at t = 0 cuts off a demand: no steady state")
                kval = 0.0
            known = int(g.l_from[j]) if int(g.l_to[j]) == i else int(g.l_to[j])
            p[i] = _solve_downstream(p[known], m[j], j, g, mu, kval, i, known, int(g.l_to[j]) == i)
        for i in order:
            rho[i] = _kernel.density_from_pressure(p[i], g.kcoef[i], g.za[i], g.zb[i])
        return sub[root]

    def _spin_up(self, scenario: Scenario, seconds: float = 3600.0) -> tuple[FloatArray, FloatArray]:
        bnd_ids, scheds = self._boundary_schedules(scenario)
        frozen = Scenario(
            duration_s=seconds,
            schedules={nid: Schedule.constant(float(s(0.0))) for nid, s in zip(bnd_ids, scheds, strict=True)},
            valves=[
                type(v)(v.valve_id, v.pipe_id, v.at, Schedule.constant(float(v.opening(0.0))), v.loss_coefficient_open)
                for v in scenario.valves
            ],
            record_interval_s=seconds,
        )
        kinds = {n.node_id: n.kind for n in self.network.nodes}
        p0 = float(np.mean([float(s(0.0)) for nid, s in zip(bnd_ids, scheds, strict=True) if kinds[nid] == "pressure"]))
        g = self.grid
        rho = np.array([_kernel.density_from_pressure(p0, g.kcoef[i], g.za[i], g.zb[i]) for i in range(g.n_pts)])
        m = np.zeros(g.n_links)
        _, state = self._run(frozen, rho, m, record=False)
        return state

    # ---------------------------------------------------------------------------------- run
    def run(self, scenario: Scenario, initial_state: SimulationResult | None = None) -> SimulationResult:
        """Simulate the scenario from the steady state of its boundary values at t = 0, or from the
        final state of an earlier run on this Simulator (to continue a long simulation in chunks;
        the scenario's times then count from the end of that run)."""
        rate: FloatArray | None = None
        if initial_state is None:
            rho, m = self.steady_state(scenario)
        else:
            rho, m = initial_state.final_density_kg_per_m3, initial_state.final_flow_kg_per_s
            rate = initial_state.final_density_rate_kg_per_m3_s
            if rho.shape != (self.grid.n_pts,) or m.shape != (self.grid.n_links,) or rate.shape != rho.shape:
                raise ValueError("initial_state comes from a different network or discretisation")
        result, _ = self._run(scenario, rho, m, record=True, rate0=rate)
        assert result is not None
        return result

    def run_many(self, scenarios: Iterable[Scenario]) -> Iterator[SimulationResult]:
        """Run scenarios one after the other on this discretisation (results are independent).

        For several cores, give each worker process its own Simulator (the numba kernel is compiled
        once and cached on disk, so workers start fast).
        """
        for scenario in scenarios:
            yield self.run(scenario)

    def _run(
        self, scenario: Scenario, rho: FloatArray, m: FloatArray, record: bool, rate0: FloatArray | None = None
    ) -> tuple[SimulationResult | None, tuple[FloatArray, FloatArray]]:
        """rate0: dρ/dt per point at the start (a continued run; zero from a steady state)."""
        g = self.grid
        net = self.network
        gas = net.gas
        bnd_ids, scheds = self._boundary_schedules(scenario)
        kinds = {n.node_id: n.kind for n in net.nodes}
        # ---- time step: a whole number of steps per record interval
        dt_max = self.dt_max_s
        rec_dt = scenario.record_interval_s
        if rec_dt > scenario.duration_s:
            raise ValueError("record_interval_s exceeds duration_s")
        rec_every = max(1, math.ceil(rec_dt / dt_max - 1e-9))
        dt = rec_dt / rec_every
        n_steps = round(scenario.duration_s / dt)
        n_rec = n_steps // rec_every + 1
        field_every = 0
        n_field = 0
        if record and scenario.field_interval_s is not None:
            field_every = rec_every * max(1, round(scenario.field_interval_s / rec_dt))
            n_field = n_steps // field_every + 1
        # ---- schedules, concatenated
        sched_t: list[FloatArray] = []
        sched_v: list[FloatArray] = []
        offs: list[int] = []
        lens: list[int] = []
        pos = 0

        def add(s: Schedule) -> None:
            nonlocal pos
            sched_t.append(s.times_s)
            sched_v.append(s.values)
            offs.append(pos)
            lens.append(len(s.times_s))
            pos += len(s.times_s)

        for s in scheds:
            add(s)
        valve_links = np.full(g.n_links, -1, dtype=np.int64)
        valve_k = []
        for iv, v in enumerate(scenario.valves):
            ip = self._pipe_index(v.pipe_id)
            ids = g.pipe_links[ip]
            j = int(ids[0] if v.at == "start" else ids[-1])
            if valve_links[j] >= 0:
                raise ValueError(f"two valves on the same pipe end ({v.pipe_id} {v.at})")
            valve_links[j] = iv
            valve_k.append(v.loss_coefficient_open)
            add(v.opening)
        n_b = len(bnd_ids)
        bnd_off = np.array(offs[:n_b], dtype=np.int64)
        bnd_len = np.array(lens[:n_b], dtype=np.int64)
        valve_off = np.array(offs[n_b:], dtype=np.int64)
        valve_len = np.array(lens[n_b:], dtype=np.int64)
        bnd_point = np.array([g.node_point[nid] for nid in bnd_ids], dtype=np.int64)
        bnd_kind = np.array([0 if kinds[nid] == "pressure" else 1 for nid in bnd_ids], dtype=np.int64)
        outlet_of = {n.node_id: n.regulator_outlet for n in net.nodes}
        bnd_src = np.array(
            [bnd_ids.index(o) if (o := outlet_of[nid]) is not None else -1 for nid in bnd_ids], dtype=np.int64
        )
        point_bnd = np.full(g.n_pts, -1, dtype=np.int64)
        point_bnd[bnd_point] = np.arange(n_b)
        # ---- leaks
        leaks = tuple(scenario.leaks)
        nl = len(leaks)
        leak_i0 = np.zeros(nl, dtype=np.int64)
        leak_i1 = np.zeros(nl, dtype=np.int64)
        leak_w1 = np.zeros(nl)
        leak_orif = np.zeros(nl, dtype=np.bool_)
        leak_mag = np.zeros(nl)
        for k, lk in enumerate(leaks):
            leak_i0[k], leak_i1[k], leak_w1[k] = self._locate_points(lk.pipe_id, lk.position_m, "leak")
            if lk.rate_kg_per_s is not None:
                leak_mag[k] = lk.rate_kg_per_s
            else:
                d = lk.orifice_diameter_m or net.pipe(lk.pipe_id).diameter_m
                if d > net.pipe(lk.pipe_id).diameter_m * 1.0000001:
                    raise ValueError("leak orifice_diameter_m exceeds the pipe diameter")
                leak_orif[k] = True
                leak_mag[k] = lk.discharge_coefficient * math.pi * d * d / 4.0
        # ---- probes
        probes = tuple(scenario.probes)
        npr = len(probes)
        pr = np.zeros((npr, 3))
        fl = np.zeros((npr, 3))
        fc_point = np.full(npr, -1, dtype=np.int64)
        fc_vol = np.zeros(npr)
        for q, pb in enumerate(probes):
            pr[q] = self._locate_points(pb.pipe_id, pb.position_m, f"probe {pb.probe_id}")
            fl[q] = self._locate_links(pb.pipe_id, pb.position_m)
            fc_point[q], fc_vol[q] = self._end_half_cell(pb.pipe_id, pb.position_m)
        n_items = n_rec * (2 * npr + 2 * n_b + 2 * nl + 1 + len(net.pipes)) + n_field * (g.n_pts + g.n_links)
        if record and n_items > MAX_RECORDS * 8:
            raise ValueError(f"the run would record {n_items} values: raise record_interval_s or field_interval_s")
        if not record:
            n_rec = 1
        shape_r = n_rec if record else 1
        out_p = np.zeros((shape_r, npr))
        out_m = np.zeros((shape_r, npr))
        out_inj = np.zeros((shape_r, n_b))
        out_cum_inj = np.zeros((shape_r, n_b))
        out_leak = np.zeros((shape_r, nl))
        out_cum_leak = np.zeros((shape_r, nl))
        out_lp = np.zeros(shape_r)
        out_pipe_lp = np.zeros((shape_r, len(net.pipes)))
        out_field_p = np.zeros((n_field, g.n_pts))
        out_field_m = np.zeros((n_field, g.n_links))
        out_rate = np.zeros(g.n_pts)
        rate_start = np.zeros(g.n_pts) if rate0 is None else np.asarray(rate0, dtype=np.float64)
        rho = rho.copy()
        m = m.copy()
        p = np.array([_kernel.pressure_from_density(rho[i], g.kcoef[i], g.za[i], g.zb[i]) for i in range(g.n_pts)])
        visc = self.numerical_viscosity * g.c_max * g.l_dx
        _kernel.run(
            rho,
            m,
            p,
            g.vol,
            g.kcoef,
            g.za,
            g.zb,
            point_bnd,
            g.l_from,
            g.l_to,
            g.l_dx,
            g.l_area,
            g.l_diam,
            g.l_rough,
            g.l_dz,
            g.l_prev,
            g.l_next,
            valve_links,
            visc,
            g.l_ffix,
            bnd_point,
            bnd_kind,
            bnd_src,
            bnd_off,
            bnd_len,
            valve_off,
            valve_len,
            np.array(valve_k, dtype=np.float64),
            np.concatenate(sched_t),
            np.concatenate(sched_v),
            leak_i0,
            leak_i1,
            leak_w1,
            leak_orif,
            leak_mag,
            np.array([lk.onset_time_s for lk in leaks], dtype=np.float64),
            np.array([lk.ramp_s for lk in leaks], dtype=np.float64),
            np.array([lk.end_time_s for lk in leaks], dtype=np.float64),
            gas.viscosity_pa_s,
            gas.heat_capacity_ratio,
            STANDARD_ATMOSPHERE_PA,
            dt,
            n_steps,
            0.0,
            self.friction_every,
            rec_every if record else n_steps + 1,
            field_every,
            pr[:, 0].astype(np.int64),
            pr[:, 1].astype(np.int64),
            pr[:, 2].copy(),
            fl[:, 0].astype(np.int64),
            fl[:, 1].astype(np.int64),
            fl[:, 2].copy(),
            fc_point,
            fc_vol,
            rate_start,
            g.lp_point,
            g.lp_pipe,
            g.lp_vol,
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
        )
        if not (np.all(np.isfinite(rho)) and np.all(np.isfinite(m))):
            raise FloatingPointError("simulation diverged (non-finite state)")
        if not record:
            return None, (rho, m)
        temps = np.array([net.pipe(pb.pipe_id).temperature_k for pb in probes], dtype=np.float64)
        result = SimulationResult(
            time_s=np.arange(n_rec, dtype=np.float64) * rec_dt,
            dt_s=dt,
            start_time_unix_s=scenario.start_time_unix_s,
            probe_ids=tuple(pb.probe_id for pb in probes),
            probe_pipe_ids=tuple(pb.pipe_id for pb in probes),
            probe_position_m=np.array([pb.position_m for pb in probes], dtype=np.float64),
            probe_temperature_k=temps,
            probe_pressure_pa=out_p,
            probe_flow_kg_per_s=out_m,
            boundary_node_ids=tuple(bnd_ids),
            node_injection_kg_per_s=out_inj,
            cumulative_injection_kg=out_cum_inj,
            leaks=leaks,
            leak_outflow_kg_per_s=out_leak,
            cumulative_leak_kg=out_cum_leak,
            pipe_ids=tuple(pp.pipe_id for pp in net.pipes),
            line_pack_kg=out_lp,
            pipe_line_pack_kg=out_pipe_lp,
            field_time_s=np.arange(n_field, dtype=np.float64) * (field_every * dt),
            point_pipe_index=g.point_pipe,
            point_position_m=g.point_x,
            point_node_id=g.point_node,
            field_pressure_pa=out_field_p,
            link_pipe_index=g.l_pipe,
            link_position_m=g.l_x,
            field_flow_kg_per_s=out_field_m,
            final_density_kg_per_m3=rho,
            final_flow_kg_per_s=m,
            final_density_rate_kg_per_m3_s=out_rate,
        )
        return result, (rho, m)


class _NotAForest(Exception):
    pass


def _solve_downstream(
    p_known: float,
    m: float,
    j: int,
    g: _Grid,
    mu: float,
    k_valve: float,
    i_unknown: int,
    i_known: int,
    unknown_is_to: bool,
) -> float:
    """Pressure at the unknown end of link j such that the discrete steady momentum balance holds."""
    dx = float(g.l_dx[j])
    area = float(g.l_area[j])
    diam = float(g.l_diam[j])
    rough = float(g.l_rough[j])
    dz = float(g.l_dz[j])
    ku, au, bu = float(g.kcoef[i_unknown]), float(g.za[i_unknown]), float(g.zb[i_unknown])
    rho_k = _kernel.density_from_pressure(p_known, g.kcoef[i_known], g.za[i_known], g.zb[i_known])

    def residual(pu: float) -> float:
        rho_u = _kernel.density_from_pressure(pu, ku, au, bu)
        rho_bar = 0.5 * (rho_k + rho_u)
        p_from, p_to = (p_known, pu) if unknown_is_to else (pu, p_known)
        if g.l_ffix[j] > 0.0:
            r_lin, r_quad = 0.0, float(g.l_ffix[j]) / (2.0 * diam * rho_bar * area)
        else:
            r_lin, r_quad = _kernel.resistance(m, rho_bar, diam, area, rough, mu)
        r_quad += k_valve / (2.0 * rho_bar * area * dx)
        return float(
            -area * ((p_to - p_from) / dx + rho_bar * _kernel.GRAVITY * dz / dx) - (r_lin + r_quad * abs(m)) * m
        )

    pu = p_known
    for _ in range(60):
        r0 = residual(pu)
        h = max(1e-6 * pu, 1e-3)
        dr = (residual(pu + h) - r0) / h
        if dr == 0.0:
            break
        step = r0 / dr
        pu -= step
        if pu <= 0.0:
            raise ValueError("no steady state: the demand is too large for the supply pressure")
        if abs(step) < 1e-10 * pu:
            break
    return pu


def simulate(network: NetworkSpec, scenario: Scenario, **simulator_options: Any) -> SimulationResult:
    """One-shot convenience: discretise ``network`` and run ``scenario``. For batches build a
    :class:`Simulator` once and call :meth:`Simulator.run` per scenario."""
    return Simulator(network, **simulator_options).run(scenario)


def leak_total_kg(result: SimulationResult) -> FloatArray:
    """Mass lost through each leak over the whole run."""
    return result.cumulative_leak_kg[-1] if result.cumulative_leak_kg.size else np.zeros(0)


__all__ = ["LeakSpec", "Simulator", "leak_total_kg", "simulate"]
