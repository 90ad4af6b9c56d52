"""Kernel == reference for the methane detector (d) on a few scenarios: slow and fast rises, confined and open
ground, a gas cloud that comes and goes, noise around the thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from services.leakdetect.domain import events as E
from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorConfig
from services.leakdetect.domain.detector import DetectorState, decode_events, process_batch
from services.leakdetect.reference.methane import methane_events

from .conftest import T0_US


def _scenario(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    period = {"slow": 30.0, "fast": 1.0, "cloud": 5.0, "noisy": 10.0}[kind]
    t = np.arange(0.0, 4 * 3600.0, period)
    if kind == "slow":
        v = np.clip((t - 1800.0) / 3600.0 * 40.0, 0.0, 95.0)
    elif kind == "fast":
        v = np.where(t > 600.0, np.minimum((t - 600.0) * 0.5, 90.0), 0.0)
        v = np.where(t > 3600.0, np.maximum(90.0 - (t - 3600.0) * 0.2, 0.0), v)
    elif kind == "cloud":
        v = 60.0 * np.exp(-(((t - 7200.0) / 900.0) ** 2)) + 25.0 * np.exp(-(((t - 11000.0) / 300.0) ** 2))
    else:
        v = 20.0 + 6.0 * np.sin(t / 400.0)
    v = np.clip(v + rng.normal(0.0, 0.8, t.size), 0.0, 100.0)
    return T0_US + np.round(t * 1e6).astype(np.int64), v


@pytest.mark.parametrize("kind", ["slow", "fast", "cloud", "noisy"])
@pytest.mark.parametrize("confined", [True, False])
def test_kernel_equals_reference(kind: str, confined: bool) -> None:
    t, v = _scenario(kind, seed=len(kind) + confined)
    cfg = DetectorConfig.empty(1)
    cfg.set_segment(0, length_m=1000.0, inner_diameter_m=0.2, nominal_flow_kg_per_s=1.0, wave_speed_m_per_s=380.0)
    thresholds = (20.0, 40.0, 80.0 if confined else np.inf)
    cfg.set_instrument(0, L.ROLE_METHANE_0, sigma_abs=0.5, range_min=0.0, range_max=100.0, confined_space=confined,
                       lel_thresholds=thresholds)
    raw = process_batch(DetectorState.new(cfg), np.zeros(t.size), np.full(t.size, L.ROLE_METHANE_0), t, v)
    got = []
    for e in decode_events(raw):
        if isinstance(e, E.MethaneLevel):
            got.append(("level", e.time_us, e.level, e.lel_pct, e.rise_lel_pct_per_min, e.grade_hint))
            assert e.confined == confined
        elif isinstance(e, E.MethaneRise):
            got.append(("rise", e.time_us, 0, e.lel_pct, e.rise_lel_pct_per_min, e.grade_hint))
        elif isinstance(e, E.MethaneCleared):
            got.append(("cleared", e.time_us, 0, e.lel_pct, e.rise_lel_pct_per_min, 0))
    want = methane_events(t.tolist(), v.tolist(), thresholds, confined)
    assert len(want) >= 2  # each scenario raises something
    assert [(*g[:3], g[5]) for g in got] == [(*w[:3], w[5]) for w in want]
    for g, w in zip(got, want, strict=True):
        assert g[3] == w[3] and g[4] == pytest.approx(w[4], rel=1e-12, abs=1e-12)
