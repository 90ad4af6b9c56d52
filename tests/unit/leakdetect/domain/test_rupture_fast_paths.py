"""The rupture detector's per-reading shortcuts decide as the full computation does (issue 19's speed goal).

- The collapse threshold (`rupture._pressure_threshold`) takes a square root only where the drop passes the
  smallest rupture's Joukowsky front (`_rupture_front`, computed once per segment's readings): every drop is on the
  same side of it as of the full threshold, and where the drop passes the front the threshold is the full one.
- A flow reading within the fixed shares of nominal flow (`_rupture_flow`; an outflow within half the dip's share,
  no dip armed, takes no s.d. either) leaves the state as the full path does: the kernel against the reference
  (`reference.pressure`) on readings that cross those shares both ways.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorParams
from services.leakdetect.domain.kernels.rupture import _pressure_threshold, _rupture_front
from tests.unit.leakdetect.domain.conftest import T0_US, merged, pressure_config
from tests.unit.leakdetect.domain.test_pressure_reference import RUPTURE_FAR_BREAK, _check, _with_flow_meters


def _full_threshold(s: int, slot: int, ref: float, params: np.ndarray, seg_cfg: np.ndarray,
                    slot_cfg: np.ndarray) -> float:
    """The threshold as computed before the shortcut: the front per reading, the s.d. always."""
    thr = params[L.P_RUP_FRAC] * ref
    area = seg_cfg[s, L.GC_AREA_M2]
    if area > 0.0:
        front = seg_cfg[s, L.GC_WAVE_SPEED] * params[L.P_RUP_MIN_FLOW] * seg_cfg[s, L.GC_NOMINAL_FLOW] / (2.0 * area)
        if 0.0 < front < thr:
            r = slot_cfg[slot, L.SC_SIGMA_REL] * ref
            a = slot_cfg[slot, L.SC_SIGMA_ABS]
            thr = max(front, min(thr, 4.0 * math.sqrt(r * r + a * a)))
    return float(thr)


@pytest.mark.parametrize("sigma_abs", [30.0, 2_000.0])  # the s.d. under the front, and between it and 1.5 %
@pytest.mark.parametrize("area", [0.126, 0.0])  # the front below 1.5 % of the pressure; no area known
def test_collapse_threshold_decides_every_drop_as_the_full_computation(sigma_abs: float, area: float) -> None:
    cfg = pressure_config()
    cfg.seg_cfg[0, L.GC_AREA_M2] = area
    slot = L.ROLE_PRESSURE_DOWN
    cfg.slot_cfg[slot, L.SC_SIGMA_ABS] = sigma_abs
    params = DetectorParams().to_array()
    front = _rupture_front(0, params, cfg.seg_cfg)
    assert (front > 0.0) == (area > 0.0)
    rng = np.random.default_rng(3)
    for ref in (1.5e6, 2.0e5, 5.0e4):
        full = _full_threshold(0, slot, ref, params, cfg.seg_cfg, cfg.slot_cfg)
        for drop in np.concatenate([rng.uniform(-2.0 * full, 2.0 * full, 400),
                                    [full, np.nextafter(full, np.inf), front, np.nextafter(front, np.inf)]]):
            thr = _pressure_threshold(0, slot, ref, drop, front, params, cfg.slot_cfg)
            assert (drop > thr) == (drop > full)
            if drop > front or not front > 0.0:
                assert thr == full


def _flow_steps(role: int, levels: tuple[float, ...], seconds: float = 300.0) -> tuple[np.ndarray, ...]:
    """A flow meter at `role` scanning each second, stepping through `levels` (kg/s) in equal spans (10 mkg/s
    noise), and the end pressures steady (30 Pa noise)."""
    rng = np.random.default_rng(5)
    ts = np.arange(0.0, seconds, 1.0) + 0.37
    q = np.asarray(levels)[np.minimum((ts / seconds * len(levels)).astype(np.int64), len(levels) - 1)]
    q = q + 0.01 * rng.standard_normal(ts.shape)
    out = [(np.zeros(ts.size, dtype=np.int64), np.full(ts.size, role, dtype=np.int64),
            T0_US + np.round(ts * 1e6).astype(np.int64), q, np.ones(ts.size, dtype=np.int64))]
    other = L.ROLE_FLOW_OUT if role == L.ROLE_FLOW_IN else L.ROLE_FLOW_IN
    out.append((np.zeros(ts.size, dtype=np.int64), np.full(ts.size, other, dtype=np.int64),
                T0_US + np.round((ts + 0.21) * 1e6).astype(np.int64), 10.0 + 0.01 * rng.standard_normal(ts.shape),
                np.ones(ts.size, dtype=np.int64)))
    for prole, p0 in ((L.ROLE_PRESSURE_UP, 1.5e6), (L.ROLE_PRESSURE_DOWN, 1.45e6)):
        tp = ts + 0.53
        out.append((np.zeros(tp.size, dtype=np.int64), np.full(tp.size, prole, dtype=np.int64),
                    T0_US + np.round(tp * 1e6).astype(np.int64), p0 + 30.0 * rng.standard_normal(tp.shape),
                    np.ones(tp.size, dtype=np.int64)))
    return merged(out)


@pytest.mark.parametrize("opt_in", [False, True])
@pytest.mark.parametrize("role", [L.ROLE_FLOW_IN, L.ROLE_FLOW_OUT])
def test_flow_readings_near_and_beyond_the_fixed_shares_match_the_reference(role: int, opt_in: bool) -> None:
    # nominal 10 kg/s: the operation's share is 0.5 kg/s, a quarter of the jump's threshold far below it; steps
    # down and up by less and by more than each, and back
    cfg = _with_flow_meters(pressure_config())
    _check(cfg, [_flow_steps(role, (10.0, 10.1, 9.8, 10.0, 9.3, 10.0, 10.8, 10.0, 12.0, 10.0))],
           params=RUPTURE_FAR_BREAK if opt_in else None)


def _full_trail(a: float, noise_var: float, ref: float, ref2: float) -> float:
    """`rupture._trail_of` as computed before its shortcut: the square root always."""
    sd_ref = math.sqrt(noise_var * a / (2.0 - a)) if 0.0 < a < 1.0 else 0.0
    return max(ref2 - ref - 3.0 * sd_ref, 0.0)


def test_trend_trail_within_three_sd_is_zero_as_the_full_computation() -> None:
    # `_trail_of` returns 0 without its square root where the trail is within 3 s.d.: on every side of that bound,
    # at it, one float either side of it, and with a NaN or an unset weight, the same number as the full formula
    from services.leakdetect.domain.kernels.rupture import _trail_of

    rng = np.random.default_rng(11)
    slot_f = np.zeros((1, L.N_SF))
    for a in (0.09, 0.5, 0.999, 0.0, 1.0, np.nan):
        for noise_var in (900.0, 1.0e-6, 0.0, np.nan):
            sd = math.sqrt(noise_var * a / (2.0 - a)) if 0.0 < a < 1.0 and noise_var == noise_var else 1.0
            bound = 3.0 * sd
            xs = np.concatenate([rng.uniform(-5.0 * sd, 5.0 * sd, 200), [0.0, -0.0, bound, np.nextafter(bound, np.inf),
                                 np.nextafter(bound, -np.inf), np.nan]])
            for x in xs:
                ref = 1.0e6 if x == x else np.nan
                slot_f[0, L.SF_A_REF] = a
                slot_f[0, L.SF_NOISE_VAR] = noise_var
                slot_f[0, L.SF_EW_REF] = ref
                slot_f[0, L.SF_RUP_REF2] = ref + x
                got = _trail_of(0, slot_f)
                want = _full_trail(a, noise_var, ref, ref + x)
                assert (got == want) or (got != got and want != want), (a, noise_var, x, got, want)
