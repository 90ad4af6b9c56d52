"""Daily demand profiles for city-gas offtakes, as simulator schedules.

The default profile is a typical residential/commercial winter-day shape (low at night, morning peak
around 07-08 h, evening peak 18-20 h) normalised to a mean of 1, after the load-curve shapes shown
in Osiadacz (1987) ch. 1 and common utility standard load profiles; any 24 hourly factors can be
given instead. Optional slow random fluctuation (an AR(1) process, seeded) makes no two days alike,
which is what a mass-balance detector's false-alarm test needs.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from .model import Schedule

# Hourly factors for hours 0..23 (value at the start of each hour), mean 1.0.
RESIDENTIAL_24H: tuple[float, ...] = (
    0.55, 0.50, 0.48, 0.48, 0.52, 0.65, 0.95, 1.35, 1.45, 1.25, 1.10, 1.05,
    1.05, 1.00, 0.95, 0.95, 1.05, 1.25, 1.45, 1.50, 1.40, 1.20, 0.95, 0.72,
)  # fmt: skip


def _normalised(profile: ArrayLike) -> np.ndarray:
    f = np.asarray(profile, dtype=np.float64)
    if f.shape != (24,) or not np.all(np.isfinite(f)) or np.any(f < 0.0) or f.sum() <= 0.0:
        raise ValueError("a daily profile needs 24 finite, non-negative hourly factors with a positive sum")
    return f / f.mean()


def daily_profile_schedule(
    mean_kg_per_s: float,
    duration_s: float,
    profile: ArrayLike = RESIDENTIAL_24H,
    start_hour: float = 0.0,
    step_s: float = 300.0,
    noise_fraction: float = 0.0,
    noise_correlation_s: float = 1800.0,
    seed: int | None = None,
) -> Schedule:
    """Demand schedule mean × profile(hour of day), piecewise linear, for t in [0, duration_s].

    noise_fraction adds a multiplicative AR(1) fluctuation with that standard deviation and the given
    correlation time (e.g. 0.03 for ±3 %), reproducible with ``seed``.
    """
    if not (math.isfinite(mean_kg_per_s) and math.isfinite(duration_s) and duration_s > 0.0):
        raise ValueError("mean_kg_per_s and duration_s must be finite, duration_s > 0")
    if not (math.isfinite(step_s) and step_s > 0.0):
        raise ValueError("step_s must be > 0")
    if not (math.isfinite(noise_fraction) and 0.0 <= noise_fraction < 0.5):
        raise ValueError("noise_fraction must be in [0, 0.5)")
    if not (math.isfinite(start_hour) and math.isfinite(noise_correlation_s) and noise_correlation_s > 0.0):
        raise ValueError("start_hour and noise_correlation_s must be finite, noise_correlation_s > 0")
    f = _normalised(profile)
    n = math.ceil(duration_s / step_s) + 1
    t = np.arange(n) * step_s
    hours = (start_hour + t / 3600.0) % 24.0
    h0 = np.floor(hours).astype(np.int64) % 24
    w = hours - np.floor(hours)
    shape = f[h0] * (1.0 - w) + f[(h0 + 1) % 24] * w
    if noise_fraction > 0.0:
        rng = np.random.default_rng(seed)
        phi = math.exp(-step_s / noise_correlation_s)
        e = rng.standard_normal(n) * noise_fraction * math.sqrt(1.0 - phi * phi)
        x = np.empty(n)
        x[0] = rng.standard_normal() * noise_fraction
        for i in range(1, n):
            x[i] = phi * x[i - 1] + e[i]
        shape = shape * (1.0 + x)
    return Schedule(t, mean_kg_per_s * np.maximum(shape, 0.0))
