"""A redundant temperature pair (issue 19): the segment's other temperature transmitter is the pair's witness. Gas
along a buried line relaxes to the ground's temperature, so the downstream end follows the inlet late and damped and
the two ends differ by an amount that changes over hours; a member drifting to 3x its stated accuracy within 10
minutes shows against the witness, is outvoted and named. A stuck (flat) and a noisy member are named by their own
behaviour. Without a witness a drifting pair stays undecided. The kernel against its numpy oracle on the same
streams."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from services.leakdetect.domain import Pipeline
from services.leakdetect.domain import events as E
from services.leakdetect.domain import layout as L
from services.leakdetect.domain.kernels import redundancy as R
from services.leakdetect.domain.network_config import config_from_network
from services.leakdetect.reference.redundancy import vote
from services.network import Network
from services.network.quality import QUALITY_GOOD

from .scenario import NET0, SEG, T0_S, member_ids, network

TT_UP, TT_DN = "TR-01-TT-UP", "TR-01-TT-DN"
SCAN_S = 10.0  # the demo's temperature transmitters
# learning (LEARN_N readings), a model window (REF_MAX_S) for each member and for the model's scatter, before the fault
FAULT_S = R.LEARN_N * SCAN_S + 2.0 * R.REF_MAX_S + 1000.0
SECONDS = FAULT_S + 3 * 3600.0
STATED_K = 0.5  # the demo's temperature transmitters: +-0.5 K (95 %)
NOISE_K = 0.03
GROUND_K = 281.0


def _truth(t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inlet, outlet) gas temperature, K: the inlet swings slowly (a station's half-day cycle), the outlet follows
    it 30 min late and damped toward the ground's temperature."""
    inlet = 284.0 + 0.5 * np.sin(2 * np.pi * t_s / 43_200.0)
    outlet = GROUND_K + 0.35 * (284.0 + 0.5 * np.sin(2 * np.pi * (t_s - 1800.0) / 43_200.0) - GROUND_K)
    return inlet, outlet


def _readings(fault: tuple[str, str] | None, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tag, time_us, value K) of the pair and the witness, 10-s scans, 0.01-K resolution, each member's fixed bias
    within its stated accuracy; `fault` (tag, 'drift' | 'stuck' | 'noisy') from FAULT_S on."""
    rng = np.random.default_rng(seed)
    ts = np.arange(0.0, SECONDS, SCAN_S)
    inlet, outlet = _truth(ts)
    series = {}
    for k, (tid, truth) in enumerate([(t, inlet) for t in member_ids(TT_UP, 2)] + [(TT_DN, outlet)]):
        v = truth + rng.uniform(-0.6, 0.6) * STATED_K + NOISE_K * rng.standard_normal(ts.size)
        if fault is not None and fault[0] == tid:
            after = ts >= FAULT_S
            if fault[1] == "drift":  # to 3x its stated accuracy over 10 minutes
                v = v + 3.0 * STATED_K * np.clip((ts - FAULT_S) / 600.0, 0.0, 1.0)
            elif fault[1] == "stuck":
                v[after] = v[np.argmax(after)]
            else:  # noisy: scatter twice its stated 1 s.d. error
                v = v + np.where(after, STATED_K * rng.standard_normal(ts.size), 0.0)
        series[tid] = (ts + 0.003 * k, np.round(v, 2))
    tag = np.concatenate([np.full(t.size, tid, dtype=object) for tid, (t, _) in series.items()])
    t_us = np.concatenate([np.round((T0_S + t) * 1e6).astype(np.int64) for t, _ in series.values()])
    val = np.concatenate([v for _, v in series.values()])
    order = np.argsort(t_us, kind="stable")
    return tag[order], t_us[order], val[order]


def _without_witness(net: Network) -> Network:
    tags = {tid: t for tid, t in net.tags.items() if tid != TT_DN}
    return Network(net.name, net.gas, net.nodes, net.segments, net.gateways, tags)


def _run(net: Network, fault: tuple[str, str] | None) -> list[E.SensorHealthChanged]:
    tag, t, v = _readings(fault)
    keep = np.isin(tag, list(net.tags))
    tag, t, v = tag[keep], t[keep], v[keep]
    p = Pipeline.from_network(net, [SEG])
    health: list[E.SensorHealthChanged] = []
    edges = np.searchsorted(t, t[0] + np.arange(0, SECONDS + 600, 600) * 1_000_000)
    for a, b in itertools.pairwise(edges):
        p.feed(tag=tag[a:b], time_unix_us=t[a:b], value=v[a:b], si_units=True)
        health += [e for e in p.last_events if isinstance(e, E.SensorHealthChanged) and e.tag_id]
    return health


def test_the_witness_is_the_segments_other_temperature_transmitter() -> None:
    built = config_from_network(network({TT_UP: 2}), segment_ids=[SEG])
    (grp,) = built.groups
    assert grp.role == L.ROLE_TEMPERATURE and grp.reference == R.REF_WITNESS
    assert grp.witness == TT_DN and grp.witness_scan_s == NET0.tags[TT_DN].scan_period_s
    alone = config_from_network(_without_witness(network({TT_UP: 2})), segment_ids=[SEG])
    assert alone.groups[0].reference == R.REF_NONE and alone.groups[0].witness is None


@pytest.mark.parametrize(("failed", "mode", "code", "words"), [
    (TT_UP, "drift", L.HEALTH_OUTVOTED, "other temperature transmitter sided with its partner"),
    ("TR-01-TT-UP-B", "drift", L.HEALTH_OUTVOTED, "other temperature transmitter sided with its partner"),
    ("TR-01-TT-UP-B", "stuck", L.HEALTH_FLATLINED, "same value"),
    (TT_UP, "noisy", L.HEALTH_OUTVOTED, "scatter"),
])
def test_a_failed_member_of_a_temperature_pair_is_outvoted_and_named(failed: str, mode: str, code: int,
                                                                     words: str) -> None:
    health = _run(network({TT_UP: 2}), (failed, mode))
    assert [(e.tag_id, e.health) for e in health] == [(failed, code)]
    (event,) = health
    assert FAULT_S <= event.time_us / 1e6 - T0_S < FAULT_S + 3600 and words in event.cause


def test_a_healthy_temperature_pair_is_left_alone() -> None:
    assert _run(network({TT_UP: 2}), None) == []


def test_without_a_witness_a_drifting_temperature_pair_stays_undecided() -> None:
    assert _run(_without_witness(network({TT_UP: 2})), (TT_UP, "drift")) == []


@pytest.mark.parametrize(("failed", "mode"), [(TT_UP, "drift"), ("TR-01-TT-UP-B", "stuck"), (TT_UP, "noisy")])
def test_kernel_equals_reference_with_a_witness(failed: str, mode: str) -> None:
    built = config_from_network(network({TT_UP: 2}), segment_ids=[SEG])
    tag, t, v = _readings((failed, mode))
    member = {**built.tag_member, TT_DN: (0, R.WITNESS)}
    gm = np.array([member.get(x, (-1, -1)) for x in tag])
    g, m = gm[:, 0], gm[:, 1]
    q = np.full(t.size, QUALITY_GOOD, np.int64)
    grp_cfg, mem_cfg = built.group_arrays()
    grp_f, mem_f, mem_i = R.new_state(1)
    n = t.size
    out_seg, out_role, out_t, out_v = (np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64),
                                       np.zeros(n))
    ev_i, ev_f, n_ev = np.zeros((16, R.N_RV), np.int64), np.zeros((16, R.N_RVF)), np.zeros(1, np.int64)
    k = R.vote_kernel(g, m, t, v, q, grp_cfg, mem_cfg, grp_f, mem_f, mem_i, np.zeros((L.N_ROLES, L.N_SF)),
                      np.zeros((1, L.N_GF)), 10.0, out_seg, out_role, out_t, out_v, ev_i, ev_f, n_ev,
                      np.empty(R.MAXM + 1))
    want, want_events = vote(built.groups, [{}], g, m, t, v, q)
    assert k == len(want) > 0
    np.testing.assert_array_equal(out_t[:k], [w[2] for w in want])
    np.testing.assert_allclose(out_v[:k], [w[3] for w in want], rtol=1e-12)
    events = [(*ev_i[i].tolist(), *ev_f[i].tolist()) for i in range(int(n_ev[0]))]
    assert [list(e[:5]) for e in events] == [list(w[:5]) for w in want_events]
    assert [built.groups[0].tag_ids[e[1]] for e in events] == [failed]
