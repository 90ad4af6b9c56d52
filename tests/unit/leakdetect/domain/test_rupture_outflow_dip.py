"""A far break's front at the downstream end (issue 19: ruptures within 10 s of the first wave): friction spreads it,
so the outlet pressure never stands the collapse threshold below its 10-s reference, but the outflow dips sharply
(the offtake beyond draws its set flow from the tail) while the pressure falls with it. An offtake's own dip raises
the pressure instead, and an operation at the upstream end (its inflow fell first) sends the same front as a break.
Kernel against the reference (`reference.pressure`)."""

from __future__ import annotations

import numpy as np

from services.leakdetect.domain import layout as L
from tests.unit.leakdetect.domain.test_pressure_reference import (
    FLOW_TIMES_S,
    LENGTH,
    RUPTURE_FAR_BREAK,
    T0_US,
    Batch,
    C,
    _check,
    _pressures,
    _ruptures,
    _with_flow_meters,
    flow_readings,
    merged,
    pressure_config,
)

ON = RUPTURE_FAR_BREAK
T_FRONT_S = 70.0  # the front reaches the outlet
SECONDS = 150.0


def _flows(t_in_s: float, inflow_after: float, dip: float, held_dip: float) -> Batch:
    """1 Hz flows at 10 kg/s (nominal 10 kg/s); the inflow steps to inflow_after at t_in_s; the outflow dips by
    `dip` for 5 s from T_FRONT_S, then stays `held_dip` below (the tail's reflection returns the offtake's flow)."""
    t = np.arange(0.0, SECONDS, 1.0) + FLOW_TIMES_S
    inflow = np.where(t >= t_in_s, inflow_after, 10.0)
    outflow = 10.0 - np.where(t >= T_FRONT_S, np.where(t < T_FRONT_S + 5.0, dip, held_dip), 0.0)
    return flow_readings(t, inflow, outflow, seed=11)


def test_a_spread_front_at_the_outlet_is_a_rupture_within_10_s() -> None:
    # the outlet pressure falls 4 kPa over 8 s: its 10-s reference follows (the collapse threshold here is 3 kPa,
    # the Joukowsky front of the smallest rupture), so only the outflow's dip with the pressure falling tells it
    cfg = _with_flow_meters(pressure_config(LENGTH, C, 0.1))
    r = merged([_pressures(1e9, T_FRONT_S, 0.0, 4000.0, seconds=SECONDS, rise_s=8.0),
                _flows(1e9, 10.0, 0.6, 0.2)])
    (rup,) = _ruptures(_check(cfg, [r], params=ON))
    assert rup.role == L.ROLE_FLOW_OUT and rup.evidence == L.RUP_FLOW
    assert 0.0 < (rup.time_us - T0_US) / 1e6 - T_FRONT_S <= 10.0
    # decided when the fall from the pressure before the front reaches the smallest rupture's Joukowsky front (3 kPa
    # here); the flow is the outflow's dip then (the tail's reflection has returned part of it)
    assert rup.drop_pa > 3000.0 and 0.1 < rup.flow_jump_kg_per_s < 0.7


def test_the_offtake_drawing_less_is_no_rupture() -> None:
    # the same dip, held, with the outlet pressure rising by c dq / A (its wave comes from downstream)
    cfg = _with_flow_meters(pressure_config(LENGTH, C, 0.1))
    r = merged([_pressures(1e9, T_FRONT_S, 0.0, -1800.0, seconds=SECONDS, rise_s=2.0),
                _flows(1e9, 10.0, 0.6, 0.6)])
    assert _ruptures(_check(cfg, [r], params=ON)) == []


def test_the_front_of_a_supply_cut_upstream_is_no_rupture() -> None:
    # the inflow fell by 1 kg/s one travel time before (an operation at the upstream end): its front, not a break's
    cfg = _with_flow_meters(pressure_config(LENGTH, C, 0.1))
    r = merged([_pressures(1e9, T_FRONT_S, 0.0, 4000.0, seconds=SECONDS, rise_s=8.0),
                _flows(T_FRONT_S - LENGTH / C, 9.0, 0.6, 0.2)])
    assert _ruptures(_check(cfg, [r], params=ON)) == []


def test_a_leak_of_12_pct_next_to_the_outlet_is_no_rupture() -> None:
    # its front (1.2 kg/s drawn, half from each side: 1.8 kPa, the flow dipping 0.6 kg/s) is under the smallest
    # rupture's (3 kPa), and the line drains slowly after it
    cfg = _with_flow_meters(pressure_config(LENGTH, C, 0.1))
    r = merged([_pressures(1e9, T_FRONT_S, 0.0, 1800.0, seconds=SECONDS, rise_s=0.5),
                _flows(1e9, 10.0, 0.6, 0.6)])
    assert _ruptures(_check(cfg, [r], params=ON)) == []


def test_a_dip_without_the_pressure_following_is_no_rupture() -> None:
    cfg = _with_flow_meters(pressure_config(LENGTH, C, 0.1))
    r = merged([_pressures(1e9, 1e9, 0.0, 0.0, seconds=SECONDS), _flows(1e9, 10.0, 0.6, 0.2)])
    assert _ruptures(_check(cfg, [r], params=ON)) == []
