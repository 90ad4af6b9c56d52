"""Shared helpers for the leak-detection kernel tests: synthetic segments and pressure fronts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorConfig, DetectorParams
from services.leakdetect.domain.detector import DetectorState
from services.leakdetect.reference.synthetic import SyntheticSegment, readings_of

T0_US = 1_700_000_000_000_000


def merged(parts: Sequence[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    cols = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    order = np.argsort(cols[2], kind="stable")
    return tuple(c[order] for c in cols)


@pytest.fixture(scope="session")
def balance_case() -> tuple[DetectorConfig, tuple[np.ndarray, ...], dict[int, float]]:
    """Three segments, 3 h: no leak, a 0.5 % leak and a 3 % leak starting at 2 h."""
    seg = SyntheticSegment()
    leaks = {0: 0.0, 1: 0.05, 2: 0.3}
    cfg = DetectorConfig.empty(3)
    parts = []
    for s, leak in leaks.items():
        seg.configure(cfg, s)
        sim = seg.simulate(3 * 3600, seed=s, leak_kg_per_s=leak, leak_start_s=2 * 3600, t0_us=T0_US)
        parts.append(readings_of(sim, s))
    return cfg, merged(parts), leaks


def pressure_config(length_m: float = 10_000.0, c: float = 380.0, scan_s: float = 0.1) -> DetectorConfig:
    cfg = DetectorConfig.empty(1)
    cfg.set_segment(0, length_m=length_m, inner_diameter_m=0.4, nominal_flow_kg_per_s=10.0,
                    wave_speed_m_per_s=c)
    for role in (L.ROLE_PRESSURE_UP, L.ROLE_PRESSURE_DOWN):
        cfg.set_instrument(0, role, sigma_abs=100.0, range_min=0.0, range_max=3e6, max_rate_per_s=1e6,
                           scan_period_s=scan_s)
    return cfg


def front_readings(t_up_s: float, t_dn_s: float, drop_pa: float, seconds: float = 120.0, scan_s: float = 0.1,
                   noise_pa: float = 30.0, rise_s: float = 0.3, seed: int = 0, p0: float = 1.5e6
                   ) -> tuple[np.ndarray, ...]:
    """Pressure at both ends: a drop of drop_pa arriving at t_up_s / t_dn_s with a linear rise of rise_s."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, seconds, scan_s)
    out = []
    for role, ta in ((L.ROLE_PRESSURE_UP, t_up_s), (L.ROLE_PRESSURE_DOWN, t_dn_s)):
        ts = t + rng.uniform(0, scan_s)  # each RTU samples with its own phase
        frac = np.clip((ts - ta) / rise_s, 0.0, 1.0)
        p = p0 - drop_pa * frac + noise_pa * rng.standard_normal(ts.shape)
        out.append((np.zeros(ts.size, dtype=np.int64), np.full(ts.size, role, dtype=np.int64),
                    T0_US + np.round(ts * 1e6).astype(np.int64), p, np.ones(ts.size, dtype=np.int64)))
    return merged(out)


def still_line_state(block_rates: np.ndarray, run_blocks: int, n_blocks: int = 200,
                     block_s: float = 30.0) -> tuple[DetectorState, int]:
    """One 30-km segment on a still line (flows and line pack constant, baseline zero) whose newest n_blocks blocks
    had the net inflows block_rates (kg/s, oldest first; zero before), with meter and line-pack noise far below a
    leak's; Page's run holds the last run_blocks blocks. Returns the state and the ring position of the newest block:
    the decision's rate tests call its kernels on it."""
    cfg = DetectorConfig.empty(1)
    cfg.set_segment(0, length_m=30_000.0, inner_diameter_m=0.4, nominal_flow_kg_per_s=20.0,
                    wave_speed_m_per_s=380.0)
    st = DetectorState.new(cfg, DetectorParams())
    ring = st.ring
    nr = ring.shape[1]
    rates = np.concatenate([np.zeros(n_blocks - len(block_rates)), block_rates])
    m = 0.0
    for b in range(n_blocks):
        pos = b % nr
        m += rates[b] * block_s
        ring[0, pos, L.R_TIME] = float(b * block_s * 1e6)
        ring[0, pos, L.R_M] = m
        ring[0, pos, L.R_Q] = 20.0 * block_s * b
        ring[0, pos, L.R_V] = 1e-6 * b
        ring[0, pos, L.R_LP] = 50_000.0
        ring[0, pos, L.R_LP_VAR] = 1e-4
    pos = (n_blocks - 1) % nr
    st.seg_i[0, L.GI_RING_POS] = pos
    st.seg_i[0, L.GI_N_BLOCKS] = n_blocks
    st.seg_i[0, L.GI_CUSUM_N] = run_blocks
    st.seg_i[0, L.GI_CUSUM_ONSET] = int((n_blocks - 1 - run_blocks) * block_s * 1e6)
    st.seg_f[0, L.GF_CUSUM_SUM_E] = float(np.sum(rates[n_blocks - run_blocks:]))
    st.seg_f[0, L.GF_CUSUM_SUM_V] = 1e-6 * run_blocks
    st.seg_f[0, L.GF_MDLR0:L.GF_MDLR0 + L.N_WINDOWS] = 0.05
    return st, pos
