"""Mid-line pressure meters in the negative-pressure-wave pairing and the rupture check, kernel == reference
(`reference.pressure`) on synthetic fronts: the two meters that bracket the source pair (its first arrivals) and
the later arrivals at the others are the same wave; a mid-line meter's collapse is a rupture unless an end marked
an operation whose wave it is."""

from __future__ import annotations

import numpy as np
import pytest

from services.leakdetect.domain import events as E
from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorConfig

from .conftest import T0_US, merged, pressure_config
from .test_pressure_reference import _check, _flows, _kinds, _with_flow_meters

LENGTH, C, P0 = 20_000.0, 380.0, 1.5e6


def _config(mids: tuple[float, ...], scan_s: float = 0.1) -> DetectorConfig:
    cfg = pressure_config(LENGTH, C, scan_s)
    for j, x in enumerate(mids):
        cfg.set_instrument(0, L.ROLE_PRESSURE_MID0 + j, sigma_abs=100.0, range_min=0.0, range_max=3e6,
                           max_rate_per_s=1e6, scan_period_s=scan_s)
        cfg.seg_cfg[0, L.GC_PMID_X0 + j] = x / LENGTH
    return cfg


def _fronts(arrivals: dict[int, float], drop_pa: float, seconds: float = 150.0, scan_s: float = 0.1,
            rise_s: float = 0.3, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Pressure at each transmitter (role -> arrival time s): a drop of drop_pa with a linear rise."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, seconds, scan_s)
    out = []
    for role, ta in arrivals.items():
        ts = t + rng.uniform(0, scan_s)
        frac = np.clip((ts - ta) / rise_s, 0.0, 1.0)
        p = P0 - drop_pa * frac + 30.0 * rng.standard_normal(ts.shape)
        out.append((np.zeros(ts.size, dtype=np.int64), np.full(ts.size, role, dtype=np.int64),
                    T0_US + np.round(ts * 1e6).astype(np.int64), p, np.ones(ts.size, dtype=np.int64)))
    return merged(out)


def _arrivals(x_m: float, mids: tuple[float, ...], t0: float = 50.0) -> dict[int, float]:
    out = {L.ROLE_PRESSURE_UP: t0 + x_m / C, L.ROLE_PRESSURE_DOWN: t0 + (LENGTH - x_m) / C}
    out.update({L.ROLE_PRESSURE_MID0 + j: t0 + abs(x_m - m) / C for j, m in enumerate(mids)})
    return out


@pytest.mark.parametrize(("x_m", "mids"), [(3000.0, (8000.0,)), (12_000.0, (8000.0,)), (9000.0, (6000.0, 14_000.0)),
                                           (17_000.0, (6000.0, 14_000.0))])
def test_the_bracketing_meters_pair_and_the_wave_is_located_once(x_m: float, mids: tuple[float, ...]) -> None:
    got = _check(_config(mids), [_fronts(_arrivals(x_m, mids), 3000.0, seed=int(x_m))], T0_US + int(400e6))
    (leak,) = got  # the later arrivals at the other meters are the same wave: no unpaired front, no second pair
    assert isinstance(leak, E.PressureWaveLeak)
    assert abs(leak.position_m - x_m) < 0.01 * LENGTH


def test_a_wave_entering_at_the_upstream_end_is_an_operation_with_a_mid_line_meter() -> None:
    arrivals = {L.ROLE_PRESSURE_UP: 40.0, L.ROLE_PRESSURE_MID0: 40.0 + 8000.0 / C,
                L.ROLE_PRESSURE_DOWN: 40.0 + LENGTH / C}
    got = _check(_config((8000.0,)), [_fronts(arrivals, 3000.0)], T0_US + int(400e6))
    (op,) = got
    assert isinstance(op, E.PressureWaveOperation) and op.where == 1


def test_without_mid_line_meters_the_pairing_is_the_ends_as_before() -> None:
    got = _check(_config(()), [_fronts(_arrivals(6000.0, ()), 3000.0, seed=2)], T0_US + int(400e6))
    (leak,) = got
    assert isinstance(leak, E.PressureWaveLeak) and abs(leak.position_m - 6000.0) < 0.01 * LENGTH


def test_a_mid_line_collapse_is_decided_before_the_ends_see_the_wave() -> None:
    """A break 1 km from the mid-line meter: its collapse decides the rupture; the ends' fronts come 20 s later."""
    x_m, mids = 9000.0, (10_000.0,)
    arrivals = _arrivals(x_m, mids, t0=80.0)
    cfg = _with_flow_meters(_config(mids))
    p = _fronts(arrivals, 0.05 * P0, seconds=200.0, rise_s=2.0)
    got = _check(cfg, [merged([p, _flows(80.0 + x_m / C, 25.0, 2.0)])])
    rup = [e for e in got if isinstance(e, E.Rupture)]
    assert len(rup) == 1 and rup[0].role == L.ROLE_PRESSURE_MID0
    assert (rup[0].time_us - T0_US) / 1e6 < 80.0 + x_m / C  # before the first end sees the wave


def test_a_mid_line_collapse_from_an_operation_at_an_end_is_no_rupture() -> None:
    """A supply cut at the upstream end: the inflow falls (the end marks an operation), its wave then passes the
    mid-line meter and the outlet."""
    mids = (8000.0,)
    arrivals = {L.ROLE_PRESSURE_UP: 80.0, L.ROLE_PRESSURE_MID0: 80.0 + 8000.0 / C,
                L.ROLE_PRESSURE_DOWN: 80.0 + LENGTH / C}
    cfg = _with_flow_meters(_config(mids))
    p = _fronts(arrivals, 0.05 * P0, seconds=200.0, rise_s=2.0)
    got = _check(cfg, [merged([p, _flows(80.0, 2.0, 10.0)])])
    assert "Rupture" not in _kinds(got)
