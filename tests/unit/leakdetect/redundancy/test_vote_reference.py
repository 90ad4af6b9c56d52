"""The vote's numba kernel against its numpy reference (`reference.redundancy`): the same voted readings and the
same member events on streams with a stuck, a drifting and a noisy member, bad readings and duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.kernels import redundancy as R
from services.leakdetect.domain.network_config import config_from_network
from services.leakdetect.reference.redundancy import vote
from services.network.quality import QUALITY_BAD, QUALITY_GOOD

from .scenario import FT_UP, NET0, PT_UP, SEG, network, readings

GROUPS = {FT_UP: 3, PT_UP: 2}


@pytest.mark.parametrize(("failed", "mode"), [("TR-01-FT-UP-B", "drift"), ("TR-01-FT-UP-C", "stuck"),
                                              (FT_UP, "noisy"), (PT_UP, "drift"), ("TR-01-PT-UP-B", "stuck")])
def test_kernel_equals_reference(failed: str, mode: str) -> None:
    net = network(GROUPS)
    built = config_from_network(net, segment_ids=[SEG])
    assert [g.tag_ids for g in built.groups] == [(FT_UP, "TR-01-FT-UP-B", "TR-01-FT-UP-C"), (PT_UP, "TR-01-PT-UP-B")]
    tag, t, v = readings(1500, GROUPS, (failed, mode, 700.0), leak_frac=0.0)
    member = np.array([built.tag_member.get(x, (-1, -1)) for x in tag])
    sel = member[:, 0] >= 0
    g, m, t, v = member[sel, 0], member[sel, 1], t[sel], v[sel]
    rng = np.random.default_rng(1)
    q = np.where(rng.random(t.size) < 0.01, QUALITY_BAD, QUALITY_GOOD).astype(np.int64)
    v[rng.random(t.size) < 0.005] = np.nan
    dup = rng.random(t.size) < 0.01  # gateway retries: the same reading twice
    g, m, t, v, q = (np.concatenate([a, a[dup]]) for a in (g, m, t, v, q))
    order = np.argsort(t, kind="stable")
    g, m, t, v, q = g[order], m[order], t[order], v[order], q[order]
    seg = NET0.segments[SEG]
    p_up = 0.85 * seg.max_operating_pressure_pa
    held = {-1: 0.004, L.ROLE_FLOW_IN: 4.51, L.ROLE_FLOW_OUT: 4.49, L.ROLE_PRESSURE_UP: p_up,
            L.ROLE_PRESSURE_DOWN: p_up - 40_000.0}
    slot_f = np.zeros((L.N_ROLES, L.N_SF))
    for role, value in held.items():
        if role >= 0:
            slot_f[role, L.SF_HELD] = value
    seg_f = np.zeros((1, L.N_GF))
    seg_f[0, L.GF_TLP1], seg_f[0, L.GF_TLP2] = 12_000.04, 12_000.0  # 0.004 kg/s over a 10-s tick
    grp_cfg, mem_cfg = built.group_arrays()
    grp_f, mem_f, mem_i = R.new_state(len(built.groups))
    n = t.size
    out_seg, out_role, out_t, out_v = (np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64),
                                       np.zeros(n))
    ev_i, ev_f, n_ev = np.zeros((256, R.N_RV), np.int64), np.zeros((256, R.N_RVF)), np.zeros(1, np.int64)
    k = R.vote_kernel(g, m, t, v, q, grp_cfg, mem_cfg, grp_f, mem_f, mem_i, slot_f, seg_f, 10.0, out_seg, out_role,
                      out_t, out_v, ev_i, ev_f, n_ev, np.empty(R.MAXM + 1))
    want, want_events = vote(built.groups, [held], g, m, t, v, q)
    assert k == len(want) > 0.8 * np.count_nonzero(m == 0)
    got = np.array([out_seg[:k], out_role[:k], out_t[:k]]).T
    np.testing.assert_array_equal(got, np.array([w[:3] for w in want]))
    np.testing.assert_allclose(out_v[:k], [w[3] for w in want], rtol=1e-12)
    events = [(*ev_i[i].tolist(), *ev_f[i].tolist()) for i in range(int(n_ev[0]))]
    assert len(events) == len(want_events) >= 1
    for e, w in zip(events, want_events, strict=True):
        assert list(e[:5]) == list(w[:5]) and e[7] == w[7]
        np.testing.assert_allclose(e[5:7], w[5:7], rtol=1e-9)
    # the failed member is the one named
    names = {(gi, mi): tid for tid, (gi, mi) in built.tag_member.items()}
    assert {names[(e[0], e[1])] for e in events} == {failed}
