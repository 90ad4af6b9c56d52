"""Operations on a simulated transmission segment: the line-pack model's error, and a flow reversal.

What `eps_lp` is calibrated on, and what the balance does when a supply cut unpacks the line back through the
inlet meter: with a bidirectional meter (the demo network's transmission stations) it keeps going, silent; with
a one-way meter the reading leaves the range and the balance is suspended rather than alarming.

The mass balance allows, over a window, `eps_lp` (one s.d.) of the line-pack movement through the blocks at each
of its ends for the quasi-steady profile's error while the line packs or unpacks (`kernels.decision._transient_sd`).
Here the profile is fed the simulator's exact end pressures and flows (no instrument noise: that has terms of
its own) through supply set-point moves, demand steps and a flow reversal at the inlet, and its error over
every window is compared with that allowance.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorParams
from services.leakdetect.domain.detector import DetectorState, advance_to, process_batch
from services.leakdetect.domain.kernels.line_pack import mean_pressure
from services.leakdetect.domain.network_config import config_from_network

pytestmark = pytest.mark.slow

TICK_S = 10.0
BLOCK_TICKS = 6
RECORD_S = 0.1


@functools.cache
def _operations_run(segment_id: str):
    from services.gasflow import Scenario, Schedule, Simulator
    from services.gasflow.network_adapter import segment_network, tag_probes
    from services.network import load_demo_network

    net = load_demo_network()
    seg = net.segments[segment_id]
    spec = segment_network(net, segment_id, inlet_pressure_pa=1.6e6,
                           outlet_flow_kg_per_s=0.7 * seg.nominal_flow_kg_per_s)
    inlet, outlet = spec.nodes[0].node_id, spec.nodes[1].node_id
    p0, q0 = spec.nodes[0].value, spec.nodes[1].value
    # supply set point -4 % in 2 min (the line unpacks back through the inlet meter), demand +20 % in 1 min,
    # supply back up, demand back down; an hour of steady flow first
    supply = Schedule([0, 3600, 3720, 5400, 5520, 9000], [p0, p0, 0.96 * p0, 0.96 * p0, p0, p0])
    demand = Schedule([0, 4500, 4560, 6300, 6360, 9000], [q0, q0, 1.2 * q0, 1.2 * q0, q0, q0])
    scen = Scenario(duration_s=9000.0, schedules={inlet: supply, outlet: demand},
                    probes=tag_probes(net, [segment_id]), record_interval_s=RECORD_S)
    return net, Simulator(spec).run(scen)


def _block_means(x: np.ndarray, per_block: int) -> np.ndarray:
    n = x.size // per_block
    return x[: n * per_block].reshape(n, per_block).mean(axis=1)


@pytest.mark.parametrize("segment_id", ["TR-01", "TR-02", "TR-03", "TR-04"])
def test_quasi_steady_line_pack_error_is_within_the_transient_allowance(segment_id: str) -> None:
    net, res = _operations_run(segment_id)
    ids = list(res.probe_ids)

    def probe(kind: str, end: str) -> np.ndarray:
        series = res.probe_pressure_pa if kind == "PT" else res.probe_flow_kg_per_s
        return _block_means(series[:, ids.index(f"{segment_id}-{kind}-{end}")], round(TICK_S / RECORD_S))

    pu, pd, q_in, q_out = probe("PT", "UP"), probe("PT", "DN"), probe("FT", "UP"), probe("FT", "DN")
    assert q_in.min() < 0.0  # the supply cut reverses the inlet flow: the profile's fallback is exercised too
    true_tick = _block_means(res.pipe_line_pack_kg[:, res.pipe_ids.index(segment_id)], round(TICK_S / RECORD_S))
    g = config_from_network(net, segment_ids=[segment_id]).config.seg_cfg[0]
    pm = np.array([mean_pressure(*args) for args in zip(pu, pd, q_in, q_out, strict=True)])
    temp = float(res.probe_temperature_k[ids.index(f"{segment_id}-TT-UP")])
    model_tick = g[L.GC_VOLUME_M3] * pm / ((1.0 + g[L.GC_Z_SLOPE] * pm) * g[L.GC_R_SPECIFIC] * temp)

    err = _block_means(model_tick - true_tick, BLOCK_TICKS)
    model_lp = _block_means(model_tick, BLOCK_TICKS)
    # as the ring keeps them: the cumulative movement from block mean to block mean, and the movement a block
    # ahead at the rate of each block's last ticks (R_X)
    moved = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(model_lp)))])
    last_ticks = model_tick[: err.size * BLOCK_TICKS].reshape(err.size, BLOCK_TICKS)
    ahead = np.abs(last_ticks[:, -1] - last_ticks[:, -1 - L.RATE_TICKS]) * BLOCK_TICKS / L.RATE_TICKS
    eps = DetectorParams().eps_lp
    ratios = []
    for nb in (1, 5, 15):
        for pos in range(60, err.size):
            j = pos - nb
            # the movement kernels.decision._transient_sd scales: through the blocks at each end of the window, and
            # after its newest block at the rate of that block's last ticks
            a_end = moved[pos] - moved[pos - 1] + ahead[pos]
            a_start = moved[j + 1] - moved[j - 1]
            allowance = np.hypot(a_end, a_start)
            if allowance > 20.0:  # kg: an operation, not the daily drift
                ratios.append(abs(err[pos] - err[j]) / allowance)
    r = np.array(ratios)
    assert r.size > 30
    # eps_lp is one standard deviation: the RMS error is within it, and no window errs by more than 5 of them
    # (the balance's z threshold), so a transient alone never alarms
    rms = float(np.sqrt(np.mean(r**2)))
    print(f"{segment_id}: rms {rms:.4f} max {r.max():.4f} of the movement over {r.size} windows")
    assert rms <= eps
    assert r.max() < DetectorParams().z_window * eps


@pytest.mark.parametrize("one_way", [False, True])
def test_supply_cut_reversing_the_inlet_flow(one_way: bool) -> None:
    from services.gasflow.scada import ScadaConfig, instruments_from_tags, scada_readings

    net, res = _operations_run("TR-04")
    rd = scada_readings(res, instruments_from_tags(net, list(res.probe_ids)), seed=7,
                        config=ScadaConfig(outage_rate_per_hour=0.0, dropout_probability=0.0,
                                           bad_quality_probability=0.0))
    nc = config_from_network(net, segment_ids=["TR-04"])
    flow_in = nc.config.slot_cfg[L.ROLE_FLOW_IN]
    assert flow_in[L.SC_RANGE_MIN] < 0.0  # the demo network's transmission meters measure both ways
    if one_way:
        flow_in[L.SC_RANGE_MIN] = -0.01 * flow_in[L.SC_RANGE_MAX]
    seg_of, role_of = nc.index_arrays(list(rd.tag_ids))
    state = DetectorState.new(nc.config)
    ev = process_batch(state, seg_of[rd.tag_index], role_of[rd.tag_index], rd.time_unix_us, rd.value_si,
                       rd.quality.astype(np.int64))
    ev = np.concatenate([ev, advance_to(state, round((res.start_time_unix_s + res.time_s[-1]) * 1e6))])
    assert np.any(ev["kind"] == L.EV_BASELINE_LEARNED)
    assert not np.any(ev["kind"] == L.EV_LEAK)
    assert np.any(ev["kind"] == L.EV_BALANCE_SUSPENDED) == one_way
