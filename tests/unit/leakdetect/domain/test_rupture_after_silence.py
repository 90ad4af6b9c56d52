"""A pressure transmitter back from a silence (a SCADA outage) is no collapse against its reference from before it:
on the demo city's leak-free days a valve closed upstream during a 4-min outage of the outlet transmitter was read
as a 41-kPa collapse when it spoke again. Kernel against the reference (`reference.pressure`)."""

from __future__ import annotations

import pytest

from services.leakdetect.domain import layout as L
from tests.unit.leakdetect.domain.test_pressure_reference import (
    LENGTH,
    C,
    _check,
    _flows,
    _pressures,
    _ruptures,
    _with_flow_meters,
    front_readings,
    merged,
    pressure_config,
)

SECONDS = 400.0


def _outlet_silent(t_from_s: float, t_to_s: float, drop_pa: float):  # type: ignore[no-untyped-def]
    up = front_readings(1e9, 1e9, 0.0, seconds=SECONDS, seed=1)
    dn = front_readings(1e9, 150.0, drop_pa, seconds=SECONDS, rise_s=5.0, seed=2)
    keep_up = up[1] == L.ROLE_PRESSURE_UP
    t_s = (dn[2] - dn[2][0]) / 1e6
    keep_dn = (dn[1] == L.ROLE_PRESSURE_DOWN) & ((t_s < t_from_s) | (t_s >= t_to_s))
    return merged([tuple(c[keep_up] for c in up), tuple(c[keep_dn] for c in dn)])


def test_a_pressure_that_fell_while_its_transmitter_was_silent_is_no_collapse() -> None:
    cfg = _with_flow_meters(pressure_config(LENGTH, C, 0.1))
    r = merged([_outlet_silent(100.0, 340.0, 40_000.0), _flows(1e9, 10.0, 10.0, seconds=SECONDS)])
    assert _ruptures(_check(cfg, [r])) == []


def test_the_same_fall_seen_as_it_happens_is_still_judged() -> None:
    # the control: the transmitter speaking through it, the same 40 kPa at the outlet with the outflow unchanged is a
    # collapse (an offtake drawing a set flow), so the silence is what the first test is about
    cfg = _with_flow_meters(pressure_config(LENGTH, C, 0.1))
    r = merged([_outlet_silent(1e9, 1e9, 40_000.0), _flows(1e9, 10.0, 10.0, seconds=SECONDS)])
    assert [e.role for e in _ruptures(_check(cfg, [r]))] == [L.ROLE_PRESSURE_DOWN]


def test_an_inflow_jump_with_the_inlet_pressure_rising_past_its_noise_is_a_valve_not_a_break() -> None:
    # a valve reopened below the supply: the inflow jumps 40 % and the inlet pressure rises 200 Pa over 4 s, under
    # the Joukowsky rise of that flow (~6 kPa) and the stated s.d. of a reading (3 x 100 Pa: the older tolerance),
    # but well over 3 s.d. of its 1-s average (30 Pa of measured noise per reading)
    cfg = _with_flow_meters(pressure_config(LENGTH, C, 0.1))
    r = merged([_pressures(70.0, 1e9, -200.0, 0.0, rise_s=4.0), _flows(70.0, 14.0, 10.0)])
    assert _ruptures(_check(cfg, [r])) == []
    held = merged([_pressures(1e9, 1e9, 0.0, 0.0), _flows(70.0, 14.0, 10.0)])
    assert [e.role for e in _ruptures(_check(cfg, [held]))] == [L.ROLE_FLOW_IN]  # the same jump, pressure held


def test_the_rupture_evidence_switches_refuse_anything_but_0_or_1() -> None:
    from services.leakdetect.domain.config import DetectorParams

    assert DetectorParams().to_array()[L.P_RUP_SPREAD] == 1.0  # on unless a user turns it off (issue 19)
    for name in ("rupture_spread_front", "rupture_outflow_dip"):
        for bad in (2, -1, 0.5):
            with pytest.raises(ValueError, match=f"{name} must be 0 or 1"):
                DetectorParams(**{name: bad}).to_array()  # type: ignore[arg-type]
