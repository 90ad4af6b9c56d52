"""Small synthetic segment for unit tests: a lumped gas line with demand swings, a leak, noisy meters.

Not a physical simulator (that is `services.gasflow`): mass is conserved exactly in a single control volume
(line pack = V * p_mean / (Z R T)), the supply end regulates pressure, the inflow follows the line pack
deficit with a lag, and every meter has a fixed bias plus white noise. Good enough to test that the kernel and
the reference agree and that a leak of known size is found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..domain import layout as L
from ..domain.config import DEFAULT_R_SPECIFIC, DEFAULT_TEMPERATURE_K, DetectorConfig

R_SPECIFIC = DEFAULT_R_SPECIFIC
T_GAS = DEFAULT_TEMPERATURE_K


@dataclass
class SyntheticSegment:
    length_m: float = 10_000.0
    diameter_m: float = 0.3
    nominal_flow: float = 10.0  # kg/s
    p_supply: float = 1.0e6  # Pa
    dp_nominal: float = 50e3  # end-to-end drop at nominal flow, Pa
    wave_speed: float = 380.0
    flow_noise_rel: float = 0.005
    flow_bias_rel: tuple[float, float] = (0.006, -0.004)
    p_noise_pa: float = 300.0  # random error per reading
    p_bias_pa: tuple[float, float] = (400.0, -250.0)
    p_span_pa: float = 2.0e6

    @property
    def volume(self) -> float:
        return float(np.pi * self.diameter_m**2 / 4 * self.length_m)

    def configure(self, cfg: DetectorConfig, seg: int, pressure_scan_s: float = 1.0, flow_scan_s: float = 1.0
                  ) -> None:
        cfg.set_segment(seg, length_m=self.length_m, inner_diameter_m=self.diameter_m,
                        nominal_flow_kg_per_s=self.nominal_flow, wave_speed_m_per_s=self.wave_speed,
                        r_specific=R_SPECIFIC, temperature_k=T_GAS)
        for role in (L.ROLE_FLOW_IN, L.ROLE_FLOW_OUT):
            cfg.set_instrument(seg, role, sigma_rel=self.flow_noise_rel, sigma_abs=0.001, range_min=-1.0,
                               range_max=20 * self.nominal_flow, max_rate_per_s=5 * self.nominal_flow,
                               scan_period_s=flow_scan_s)
        for role in (L.ROLE_PRESSURE_UP, L.ROLE_PRESSURE_DOWN):
            cfg.set_instrument(seg, role, sigma_abs=self.p_noise_pa, range_min=0.0, range_max=self.p_span_pa,
                               max_rate_per_s=0.5 * self.p_span_pa, scan_period_s=pressure_scan_s)

    def simulate(
        self,
        seconds: float,
        seed: int,
        leak_kg_per_s: float = 0.0,
        leak_start_s: float = np.inf,
        leak_ramp_s: float = 0.0,
        swing_frac: float = 0.2,
        swing_period_s: float = 3600.0,
        demand_step_frac: float = 0.0,
        demand_step_s: float = np.inf,
        t0_us: int = 1_700_000_000_000_000,
        dt: float = 1.0,
    ) -> dict[str, npt.NDArray]:
        """Truth and noisy 1 Hz readings of flow in/out and end pressures."""
        rng = np.random.default_rng(seed)
        n = int(seconds / dt)
        t = np.arange(n) * dt
        demand = self.nominal_flow * (1.0 + swing_frac * np.sin(2 * np.pi * t / swing_period_s)
                                      + 0.03 * np.sin(2 * np.pi * t / 613.0 + 1.0)
                                      + np.where(t >= demand_step_s, demand_step_frac, 0.0))
        leak = np.where(t >= leak_start_s, leak_kg_per_s, 0.0)
        if leak_ramp_s > 0:
            leak = leak * np.clip((t - leak_start_s) / leak_ramp_s, 0.0, 1.0)
        k_drop = self.dp_nominal / self.nominal_flow**2
        lp_coef = self.volume / (R_SPECIFIC * T_GAS)
        p_up = np.empty(n)
        p_dn = np.empty(n)
        q_in = np.empty(n)
        # start in steady state
        q = demand[0]
        pu = self.p_supply
        pd = pu - k_drop * q * q
        lp = lp_coef * 2 / 3 * (pu + pd - pu * pd / (pu + pd))
        tau = 120.0
        for i in range(n):
            # inflow relaxes towards the demand plus what refills the line pack (supply regulator)
            pd_target = pu - k_drop * demand[i] ** 2
            lp_target = lp_coef * 2 / 3 * (pu + pd_target - pu * pd_target / (pu + pd_target))
            q = q + dt / 30.0 * (demand[i] + leak[i] + (lp_target - lp) / tau - q)
            lp = lp + dt * (q - demand[i] - leak[i])
            # invert the mean-pressure formula for p_down given p_up and line pack
            pm = lp / lp_coef
            lo, hi = 0.3 * pu, pu
            for _ in range(40):
                mid = 0.5 * (lo + hi)
                f = 2 / 3 * (pu + mid - pu * mid / (pu + mid))
                if f > pm:
                    hi = mid
                else:
                    lo = mid
            p_up[i] = pu
            p_dn[i] = 0.5 * (lo + hi)
            q_in[i] = q
        time_us = t0_us + (t * 1e6).astype(np.int64)
        bi, bo = self.flow_bias_rel
        pbu, pbd = self.p_bias_pa
        return {
            "t_s": t,
            "time_us": time_us,
            "q_in_true": q_in,
            "q_out_true": demand,
            "leak_true": leak,
            "q_in": q_in * (1 + bi) * (1 + self.flow_noise_rel * rng.standard_normal(n)),
            "q_out": demand * (1 + bo) * (1 + self.flow_noise_rel * rng.standard_normal(n)),
            "p_up": p_up + pbu + self.p_noise_pa * rng.standard_normal(n),
            "p_down": p_dn + pbd + self.p_noise_pa * rng.standard_normal(n),
        }


def readings_of(sim: dict[str, npt.NDArray], seg: int) -> tuple[npt.NDArray, ...]:
    """Flatten a simulation into (segment_idx, role_idx, time_us, value_si, quality), sorted by time."""
    parts = [
        (L.ROLE_FLOW_IN, sim["q_in"]),
        (L.ROLE_FLOW_OUT, sim["q_out"]),
        (L.ROLE_PRESSURE_UP, sim["p_up"]),
        (L.ROLE_PRESSURE_DOWN, sim["p_down"]),
    ]
    n = sim["time_us"].shape[0]
    roles = np.concatenate([np.full(n, r) for r, _ in parts])
    values = np.concatenate([v for _, v in parts])
    times = np.tile(sim["time_us"], len(parts))
    order = np.argsort(times, kind="stable")
    return (np.full(roles.shape[0], seg, dtype=np.int64)[order], roles[order].astype(np.int64), times[order],
            values[order], np.ones(roles.shape[0], dtype=np.int64))
