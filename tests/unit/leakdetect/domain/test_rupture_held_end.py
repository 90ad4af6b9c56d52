"""Ruptures on a line whose upstream pressure is held (issue 19 item 3), through the facade on the project's simulator:
the long-line fixture (28 km below a pressure regulator, tests/fixtures/networks/long_line.yaml). A rupture is decided
within 10 s of its first wave reaching any of the line's meters (mid-line ones included), computed here from the
simulation's truth (the break's position, the meters' positions, the gas's wave speed there); the detector reads only
the SCADA readings. A demand step of +30 % at the outlet and regulator set-point moves of -5 % (a step and a 1-min
ramp) and +5 % (a 1-min ramp) raise nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.gasflow import LeakSpec, Scenario, Schedule, Simulator
from services.gasflow.network_adapter import gas_spec, network_spec, tag_probes
from services.gasflow.physics import wave_speed
from services.gasflow.scada import instruments_from_tags, scada_readings
from services.leakdetect.domain import Pipeline
from services.leakdetect.domain import events as E
from services.leakdetect.domain import layout as L
from services.network import TagKind, load_network

NETWORK = Path(__file__).parents[3] / "fixtures" / "networks" / "long_line.yaml"
ONSET_S = 180.0  # the slow references (1 min) have settled
AFTER_S = 240.0
SET_POINT_PA = 4.0e6
DEMAND_KG_PER_S = 18.0


def _run(leaks: tuple[LeakSpec, ...] = (), schedules: dict[str, Schedule] | None = None, seed: int = 1
         ) -> tuple[list[E.Rupture], list[str], float, object]:
    net = load_network(NETWORK)
    probes = tag_probes(net)
    res = Simulator(network_spec(net)).run(Scenario(duration_s=ONSET_S + AFTER_S, probes=probes, leaks=leaks,
                                                    schedules=schedules or {}, record_interval_s=0.5))
    rd = scada_readings(res, instruments_from_tags(net, [p.probe_id for p in probes]), seed=seed)
    pipeline = Pipeline.from_network(net)
    names = np.array(rd.tag_ids)[rd.tag_index]
    ruptures: list[E.Rupture] = []
    for a in range(0, names.size, 4000):  # batches of a few seconds, as a stream would bring them
        b = a + 4000
        pipeline.feed(tag=pipeline.tag_indices(names[a:b]), time_unix_us=rd.time_unix_us[a:b], value=rd.value_si[a:b],
                      quality=rd.quality[a:b], si_units=True)
        ruptures += [e for e in pipeline.last_events if isinstance(e, E.Rupture)]
    return ruptures, [a.kind for a in pipeline.alarms], res.start_time_unix_s, res


def _first_arrival_s(res: object, x_m: float) -> float:
    """The break's first wave at the nearest of the line's pressure and flow meters, from the truth: distance over the
    gas's wave speed at the break's pressure before it (the simulator's gas model)."""
    net = load_network(NETWORK)
    meters = [t.position_m for t in net.tags.values() if t.kind in (TagKind.PRESSURE, TagKind.FLOW)]
    pos = np.asarray(res.probe_position_m)  # type: ignore[attr-defined]
    p = np.asarray(res.probe_pressure_pa[0])  # type: ignore[attr-defined]
    order = np.argsort(pos)
    c = float(wave_speed(float(np.interp(x_m, pos[order], p[order])), net.gas.temperature_k, gas_spec(net)))
    return min(abs(m - x_m) for m in meters) / c


@pytest.mark.parametrize(("x_m", "orifice_m", "evidence"), [
    (1500.0, 0.038, L.RUP_FLOW),  # 21 % of nominal flow, 1.5 km below the regulator: the inflow's jump
    (26_000.0, 0.05, L.RUP_PRESSURE),  # 35 %, 2 km above the offtake: the outlet's collapse, its flow unchanged
])
def test_rupture_below_a_regulator_within_10_s_of_the_first_wave(x_m: float, orifice_m: float, evidence: int) -> None:
    leak = LeakSpec("L-01", position_m=x_m, onset_time_s=ONSET_S, kind="rupture", orifice_diameter_m=orifice_m)
    ruptures, kinds, t0, res = _run((leak,))
    k = int(np.searchsorted(res.time_s, ONSET_S + 1.0))  # type: ignore[attr-defined]
    assert res.leak_outflow_kg_per_s[k, 0] >= 0.2 * 25.0  # type: ignore[attr-defined]  # a rupture by its size
    assert len(ruptures) == 1 and kinds == ["rupture"]
    (rup,) = ruptures
    after_wave_s = rup.time_us / 1e6 - t0 - ONSET_S - _first_arrival_s(res, x_m)
    assert 0.0 < after_wave_s <= 10.0
    assert rup.evidence == evidence


@pytest.mark.parametrize(("what", "schedules"), [
    ("demand +30 % step at the outlet", {"STN-S": Schedule([0.0, ONSET_S, ONSET_S],
                                                          [DEMAND_KG_PER_S, DEMAND_KG_PER_S, 1.3 * DEMAND_KG_PER_S])}),
    ("set-point -5 % step", {"REG": Schedule([0.0, ONSET_S, ONSET_S],
                                             [SET_POINT_PA, SET_POINT_PA, 0.95 * SET_POINT_PA])}),
    ("set-point -5 % over 1 min", {"REG": Schedule([0.0, ONSET_S, ONSET_S + 60.0],
                                                   [SET_POINT_PA, SET_POINT_PA, 0.95 * SET_POINT_PA])}),
    ("set-point +5 % over 1 min", {"REG": Schedule([0.0, ONSET_S, ONSET_S + 60.0],
                                                   [SET_POINT_PA, SET_POINT_PA, 1.05 * SET_POINT_PA])}),
])
def test_operations_at_a_regulated_line_raise_no_rupture(what: str, schedules: dict[str, Schedule]) -> None:
    ruptures, kinds, _, _ = _run(schedules=schedules)
    assert ruptures == [] and kinds == [], what
