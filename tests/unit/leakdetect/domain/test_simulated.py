"""Kernel and reference on a simulated segment (services.gasflow + its SCADA layer): same alarms, leak found."""

from __future__ import annotations

import numpy as np
import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.detector import DetectorState, process_batch
from services.leakdetect.domain.network_config import config_from_network
from services.leakdetect.reference.balance import run_reference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def simulated():
    from services.gasflow import LeakSpec, Scenario, Simulator, daily_profile_schedule
    from services.gasflow.network_adapter import segment_network, tag_probes
    from services.gasflow.scada import ScadaConfig, instruments_from_tags, scada_readings
    from services.network import load_demo_network

    net = load_demo_network()
    sid = "TR-01"
    seg = net.segments[sid]
    spec = segment_network(net, sid, inlet_pressure_pa=1.6e6)
    duration = 2.5 * 3600
    onset = 5400.0
    leak_rate = 0.02 * seg.nominal_flow_kg_per_s
    probes = tag_probes(net, [sid])
    scen = Scenario(
        duration_s=duration,
        schedules={spec.nodes[1].node_id: daily_profile_schedule(0.7 * seg.nominal_flow_kg_per_s, duration,
                                                                 start_hour=10.0, noise_fraction=0.02, seed=4)},
        leaks=(LeakSpec(sid, 0.3 * seg.length_m, onset, rate_kg_per_s=leak_rate),),
        probes=probes,
        record_interval_s=0.1,
    )
    res = Simulator(spec).run(scen)
    insts = instruments_from_tags(net, [p.probe_id for p in probes])
    # no outages here: the reference assumes healthy instruments
    rd = scada_readings(res, insts, seed=11, config=ScadaConfig(outage_rate_per_hour=0.0, dropout_probability=0.0,
                                                                 bad_quality_probability=0.0))
    nc = config_from_network(net, segment_ids=[sid])
    seg_of, role_of = nc.index_arrays(list(rd.tag_ids))
    # the reference uses the network's gas temperature: leave the temperature tag out for both
    keep = role_of[rd.tag_index] != L.ROLE_TEMPERATURE
    readings = (seg_of[rd.tag_index][keep], role_of[rd.tag_index][keep], rd.time_unix_us[keep], rd.value_si[keep],
                rd.quality.astype(np.int64)[keep])
    onset_us = round((res.start_time_unix_s + onset) * 1e6)
    return nc.config, readings, onset_us, leak_rate


def test_kernel_and_reference_agree_on_a_simulated_leak(simulated):
    cfg, readings, onset_us, leak_rate = simulated
    state = DetectorState.new(cfg)
    ev = process_batch(state, *readings)
    ref = run_reference(*readings, cfg)
    got = [(int(e["segment"]), int(e["time_us"]), int(e["code"])) for e in ev[ev["kind"] == L.EV_LEAK]]
    assert got == [(a.segment, a.time_us, a.test) for a in ref.alarms]
    np.testing.assert_allclose(state.mdlr_kg_per_s(), ref.mdlr_kg_per_s, rtol=1e-9)
    assert len(got) == 1
    t_alarm = got[0][1]
    assert onset_us < t_alarm < onset_us + 15 * 60 * 1_000_000
    upd = ev[ev["kind"] == L.EV_LEAK_UPDATE]
    assert len(upd) == 1 and abs(upd[0]["value"] - leak_rate) < 0.3 * leak_rate
