"""Sub-segment balances from mid-line flow meters (issue 19): the kernel against its reference, the bracket's
decision, and through the facade: a leak upstream or downstream of the flow station is bracketed to its
sub-segment and the alarm's position and interval narrowed to it."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from services.leakdetect.domain import Pipeline
from services.leakdetect.domain import events as E
from services.leakdetect.domain import layout as L
from services.leakdetect.domain.kernels import subsegment as S
from services.leakdetect.domain.network_config import config_from_network
from services.leakdetect.reference.subsegment import residuals
from tests.unit.leakdetect.redundancy.scenario import FT_MID, NET0, SEG, T0_S, network, readings

MID_M = 3100.0
LENGTH_M = NET0.segments[SEG].length_m


def test_a_midline_flow_meter_splits_the_segment() -> None:
    built = config_from_network(network({}, midflow_m=MID_M), segment_ids=[SEG])
    assert built.midline_flows == {0: [(FT_MID, MID_M)]} and FT_MID not in built.unmapped_tags
    ss = built.subsegment_config()
    assert ss[0, S.SS_NF] == 1 and ss[0, S.SS_XF0] == pytest.approx(0.5)
    assert math.isnan(ss[0, S.SS_XF0 + 1]) and math.isnan(ss[0, S.SS_XP0])
    assert config_from_network(NET0, segment_ids=[SEG]).midline_flows == {}


@pytest.mark.parametrize("with_mid_pressure", [False, True])
def test_kernel_equals_reference(with_mid_pressure: bool) -> None:
    rng = np.random.default_rng(5)
    n = 3600
    t_s = np.arange(n, dtype=float)
    q = 4.5 * (1 + 0.05 * np.sin(2 * np.pi * t_s / 1800))
    p_up = 1.45e6 + 2e4 * np.sin(2 * np.pi * t_s / 2400)
    p_dn = p_up - 4e4
    chans = {S.CH_QIN: q + 0.01 * rng.standard_normal(n), S.CH_QOUT: q + 0.01 * rng.standard_normal(n),
             S.CH_QMID0: q + 0.01 * rng.standard_normal(n), S.CH_PUP: p_up + 300 * rng.standard_normal(n),
             S.CH_PDN: p_dn + 300 * rng.standard_normal(n)}
    if with_mid_pressure:
        chans[S.CH_PMID0] = np.sqrt(p_up**2 - 0.3 * (p_up**2 - p_dn**2)) + 300 * rng.standard_normal(n)
    ch = np.concatenate([np.full(n, c) for c in chans])
    t_us = np.concatenate([np.round((T0_S + t_s + 0.01 * c) * 1e6).astype(np.int64) for c in chans])
    v = np.concatenate(list(chans.values()))
    gap = (t_us > (T0_S + 1500) * 1e6) & (t_us < (T0_S + 1700) * 1e6)  # an outage of every meter
    v[rng.random(v.size) < 0.002] = np.nan
    ch, t_us, v = ch[~gap], t_us[~gap], v[~gap]
    order = np.argsort(t_us, kind="stable")
    ch, t_us, v = ch[order], t_us[order], v[order]
    seg_cfg = np.zeros((1, L.N_GC))
    zq = (1.001, -1.6e-7, 4e-15)  # Z(p) of a gas at 10-20 bar, with curvature
    seg_cfg[0, [L.GC_LENGTH_M, L.GC_AREA_M2, L.GC_R_SPECIFIC, L.GC_TEMPERATURE_K, L.GC_Z_Q0, L.GC_Z_Q1, L.GC_Z_Q2]] = (
        6200.0, 0.07, 490.0, 281.0, *zq)
    ss_cfg = np.full((1, S.N_SS), np.nan)
    ss_cfg[0, S.SS_NF], ss_cfg[0, S.SS_XF0] = 1, 0.55
    if with_mid_pressure:
        ss_cfg[0, S.SS_XP0] = 0.3
    ss_f, ring = S.new_state(1, 240)
    S.subsegment_kernel(np.zeros(ch.size, np.int64), ch, t_us, v, 60_000_000, seg_cfg, ss_cfg, ss_f, ring,
                        np.empty(S.N_SCRATCH))
    k = int(ss_f[0, S.SF_RN])
    ends, res = residuals(ch, t_us, v, 60_000_000, [0.55], [0.3 if with_mid_pressure else None], 6200.0 * 0.07,
                          490.0, 281.0, zq)
    np.testing.assert_array_equal(ring[0, :k, S.RG_T], ends)
    np.testing.assert_allclose(ring[0, :k, S.RG_R0:S.RG_R0 + 2], res, rtol=1e-9, atol=1e-9)
    assert np.isfinite(res).sum() > 100 and np.isnan(ring[0, :k, S.RG_R0 + 2]).all()
    # flows balance: the residuals scatter around zero by the meters' noise and the line pack's
    assert abs(float(np.nanmean(res))) < 0.01


def _ring(d_before: list[float], d_after: list[float], sd: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ring = np.full((240, S.N_RG), np.nan)
    for k in range(60):
        ring[k, S.RG_T] = (k + 1) * 60e6
        for i, (b, a) in enumerate(zip(d_before, d_after, strict=True)):
            ring[k, S.RG_R0 + i] = (b if k < 30 else a) + sd * rng.standard_normal()
    return ring


def test_the_bracket_decides_only_on_clear_evidence() -> None:
    onset, now = 30 * 60e6, 60 * 60e6
    assert S.bracket(_ring([0.0, 0.0], [0.0, 0.1], 0.01), 2, onset, now, 1800.0, 60.0)[0] == 1
    assert S.bracket(_ring([0.02, -0.01], [0.12, -0.01], 0.01), 2, onset, now, 1800.0, 60.0)[0] == 0
    # the leak's gas shared between both (a station at the leak): no bracket; nothing out: none either
    assert S.bracket(_ring([0.0, 0.0], [0.05, 0.05], 0.01), 2, onset, now, 1800.0, 60.0)[0] == -1
    assert S.bracket(_ring([0.0, 0.0], [0.0, 0.0], 0.01), 2, onset, now, 1800.0, 60.0)[0] == -1
    assert S.bracket(_ring([0.0, 0.0], [0.0, 0.1], 0.01), 2, onset, onset + 30e6, 1800.0, 60.0)[0] == -1


@pytest.mark.parametrize("leak_m", [1200.0, 2500.0, 4500.0, 5800.0])
def test_the_leak_is_bracketed_to_its_sub_segment(leak_m: float) -> None:
    tag, t, v = readings(5400, {}, None, leak_frac=0.02, leak_start_s=4200, midflow_m=MID_M, leak_m=leak_m)
    p = Pipeline.from_network(network({}, midflow_m=MID_M), [SEG])
    located: list[E.LeakLocated] = []
    edges = np.searchsorted(t, t[0] + np.arange(0, 5410, 10) * 1_000_000)
    for a, b in itertools.pairwise(edges):
        p.feed(tag=tag[a:b], time_unix_us=t[a:b], value=v[a:b], si_units=True)
        located += [e for e in p.last_events if isinstance(e, E.LeakLocated)]
    (alarm,) = p.alarms
    assert alarm.onset_unix_s - T0_S == pytest.approx(4200, abs=60)
    lo, hi = (0.0, MID_M) if leak_m < MID_M else (MID_M, LENGTH_M)
    bracketed = [e for e in located if math.isfinite(e.bracket_lo_m)]
    assert bracketed and all((e.bracket_lo_m, e.bracket_hi_m) == (lo, hi) for e in bracketed)
    assert bracketed[0].time_us / 1e6 - T0_S <= 4200 + 600  # within 10 min of the onset
    assert alarm.position_interval_m is not None and alarm.position_m is not None
    assert lo <= alarm.position_interval_m[0] <= alarm.position_m <= alarm.position_interval_m[1] <= hi
    assert alarm.evidence["position_bracket_lo_m"] == lo


def test_without_the_midline_meter_no_bracket() -> None:
    tag, t, v = readings(5400, {}, None, leak_frac=0.02, leak_start_s=4200)
    p = Pipeline.from_network(network({}), [SEG])
    p.feed(tag=tag, time_unix_us=t, value=v, si_units=True)
    (alarm,) = p.alarms
    assert "position_bracket_lo_m" not in alarm.evidence
