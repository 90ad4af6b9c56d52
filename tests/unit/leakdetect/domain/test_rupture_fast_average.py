"""A collapse near the per-reading threshold is judged on the 1-s average against the measured noise (issue 19's
layout 16: a 5-8 kPa drop at a mid-line meter against 4 stated s.d. of one reading, 6.1 kPa, decided 54 s after
the wave because every reading back above the threshold restarted the confirmation). Kernel against the reference
(`reference.pressure`)."""

from __future__ import annotations

import pytest

from services.leakdetect.domain import layout as L
from tests.unit.leakdetect.domain.test_pressure_reference import (
    LENGTH,
    RUPTURE_FRONT_PA,
    T0_US,
    C,
    _check,
    _ruptures,
    front_readings,
    pressure_config,
)

STATED_SD_PA = 1500.0  # 4 s.d. = 6 kPa, over the smallest rupture's front (3.0 kPa): a line of small flow
NOISE_PA = 1000.0  # what the transmitters read with (the stated accuracy includes a bias)


def _noisy_config(scan_period_s: float = 0.1):  # type: ignore[no-untyped-def]
    cfg = pressure_config(LENGTH, C, 0.1)
    for role in (L.ROLE_PRESSURE_UP, L.ROLE_PRESSURE_DOWN):
        cfg.set_instrument(0, role, sigma_abs=STATED_SD_PA, range_min=0.0, range_max=3e6, max_rate_per_s=1e6,
                           scan_period_s=scan_period_s)
    return cfg


@pytest.mark.parametrize("seed", range(3))
def test_a_collapse_within_the_reading_noise_is_decided_on_its_1s_average(seed: int) -> None:
    # 5.5 kPa, as layout 16's: a reading passes 6 kPa one time in three, and the 1-s average stands 3/4 of the step
    # below the 10-s reference (which follows the readings until they pass) 2-3 s after it, 4 kPa
    r = front_readings(50.0, 60.0, 5500.0, seconds=120.0, noise_pa=NOISE_PA, seed=seed)
    got = _ruptures(_check(_noisy_config(), [r]))
    assert len(got) == 1
    assert got[0].role == L.ROLE_PRESSURE_UP
    assert (got[0].time_us - T0_US) * 1e-6 < 50.0 + 3.0  # the goal: within 10 s of the wave


@pytest.mark.parametrize("seed", range(3))
def test_a_drop_under_the_front_is_still_no_collapse(seed: int) -> None:
    r = front_readings(50.0, 60.0, 0.85 * RUPTURE_FRONT_PA, seconds=200.0, noise_pa=NOISE_PA, seed=seed)
    assert _ruptures(_check(_noisy_config(), [r])) == []
    quiet = front_readings(1e9, 1e9, 0.0, seconds=300.0, noise_pa=NOISE_PA, seed=seed)
    assert _ruptures(_check(_noisy_config(), [quiet])) == []


def _restarts(seconds: float, noise_pa: float, seed: int, every_s: float = 60.0, silent_s: float = 35.0):  # type: ignore[no-untyped-def]
    """Both ends at 1-s scans, silent for silent_s (more than RUPTURE_GAP_S) every every_s: the collapse reference
    restarts after each silence, the readings steady but for their white noise."""
    r = front_readings(1e9, 1e9, 0.0, seconds=seconds, scan_s=1.0, noise_pa=noise_pa, seed=seed)
    rel_s = (r[2] - T0_US) * 1e-6
    keep = (rel_s % every_s) >= silent_s
    return tuple(col[keep] for col in r)


@pytest.mark.parametrize("seed", range(2))
def test_steady_noise_after_restarts_is_no_collapse(seed: int) -> None:
    # issue 19's demo city: the reference restarted from one reading carries that reading's whole noise for a few
    # seconds, twice the steady difference's variance at 1-s scans; judged against the steady share, the outlets'
    # 1-s averages read it as a collapse 2-3 s after start-up. The threshold counts the shares the two averages
    # carry since the restart (`_fast_threshold`), and the reference restarts at the 1-s average
    r = _restarts(6000.0, STATED_SD_PA, seed)
    assert _ruptures(_check(_noisy_config(scan_period_s=1.0), [r])) == []
