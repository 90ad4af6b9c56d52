"""Checkpoints (serialise / restore gives identical results) and garbage inputs (clear errors or counted drops)."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorConfig, DetectorParams
from services.leakdetect.domain.detector import _MAGIC, CheckpointError, DetectorState, process_batch

from .conftest import T0_US


def test_checkpoint_round_trip_gives_identical_results(balance_case):
    cfg, readings, _ = balance_case
    n = len(readings[0])
    cut = n // 2 + 12345
    first = tuple(c[:cut] for c in readings)
    rest = tuple(c[cut:] for c in readings)
    live = DetectorState.new(cfg)
    process_batch(live, *first)
    blob = live.to_bytes()
    restored = DetectorState.from_bytes(blob, cfg)
    assert restored.to_bytes() == blob
    ev_live = process_batch(live, *rest)
    ev_restored = process_batch(restored, *rest)
    np.testing.assert_array_equal(ev_live, ev_restored)
    assert np.any(ev_live["kind"] == L.EV_LEAK)
    for name in ("slot_f", "slot_i", "seg_f", "seg_i", "ring", "hist_t", "hist_v", "counters"):
        np.testing.assert_array_equal(getattr(live, name), getattr(restored, name))


def test_checkpoint_of_another_configuration_or_damaged_is_refused(balance_case):
    cfg, readings, _ = balance_case
    state = DetectorState.new(cfg)
    process_batch(state, *(c[:5000] for c in readings))
    blob = state.to_bytes()
    other = DetectorConfig.empty(3)
    with pytest.raises(CheckpointError):
        DetectorState.from_bytes(blob, other)
    with pytest.raises(CheckpointError):
        DetectorState.from_bytes(blob, cfg, DetectorParams(cusum_h=12.0))
    with pytest.raises(CheckpointError):
        DetectorState.from_bytes(b"garbage", cfg)
    with pytest.raises(CheckpointError):
        DetectorState.from_bytes(blob[: len(blob) // 2], cfg)



def test_checkpoint_header_names_the_parameters_each_checkpoint_was_taken_with(balance_case):
    # The parameters' part of the header is cached per parameter set; a checkpoint must still carry its own.
    cfg, _, _ = balance_case
    for params in (DetectorParams(), DetectorParams(cusum_h=12.0)):
        blob = DetectorState.new(cfg, params).to_bytes()
        n = int.from_bytes(blob[len(_MAGIC) : len(_MAGIC) + 4], "big")
        header = json.loads(blob[len(_MAGIC) + 4 : len(_MAGIC) + 4 + n])
        assert header == {"fingerprint": cfg.fingerprint(params), "params": json.loads(json.dumps(asdict(params)))}
        assert DetectorState.from_bytes(blob, cfg, params).params_obj == params

def _one_segment() -> DetectorConfig:
    cfg = DetectorConfig.empty(2)
    for s in range(2):
        cfg.set_segment(s, length_m=1000.0, inner_diameter_m=0.2, nominal_flow_kg_per_s=1.0,
                        wave_speed_m_per_s=380.0)
        cfg.set_instrument(s, L.ROLE_FLOW_IN, sigma_rel=0.005, range_min=0.0, range_max=10.0)
        cfg.set_instrument(s, L.ROLE_PRESSURE_UP, sigma_abs=100.0, range_min=0.0, range_max=1e6)
    return cfg


def test_garbage_readings_are_dropped_and_counted():
    state = DetectorState.new(_one_segment())
    seg = [0, -1, 7, 0, 0, 0, 0, 0, 0, 1, 0]
    role = [0, 0, 0, 99, L.ROLE_FLOW_OUT, 0, 0, 0, 0, 0, 0]
    t = [T0_US + k * 1_000_000 for k in (1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 3)]
    v = [1.0, 1.0, 1.0, 1.0, 1.0, np.nan, 1.0, 50.0, 1.0, np.inf, 1.0]
    q = [1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1]
    process_batch(state, seg, role, t, v, q)
    c = state.counter_dict()
    # -1, 7, role 99 and an unconfigured role are unknown slots
    assert c["unknown_slot"] == 4
    assert c["nonfinite"] == 2
    assert c["out_of_range"] == 1
    assert c["bad_quality"] == 1
    # the batch is sorted first: t=3 s comes before t=6 s; the second reading at t=6 s is a duplicate
    assert c["out_of_order_or_duplicate"] == 1
    assert c["accepted"] == 2


def test_replayed_batch_is_idempotent():
    cfg = _one_segment()
    state = DetectorState.new(cfg)
    n = 300
    t = T0_US + np.arange(n) * 1_000_000
    args = (np.zeros(n), np.zeros(n), t, np.full(n, 1.0) + 0.01 * np.sin(np.arange(n)))
    process_batch(state, *args)
    snapshot = state.to_bytes()
    process_batch(state, *args)  # a gateway retry delivers the same batch again
    assert state.counters[L.C_OUT_OF_ORDER] == n
    fresh = DetectorState.from_bytes(snapshot, cfg)
    np.testing.assert_array_equal(fresh.slot_f, state.slot_f)


def test_unsorted_batch_gives_the_same_result_as_sorted(balance_case):
    cfg, readings, _ = balance_case
    chunk = tuple(c[:40000] for c in readings)
    perm = np.random.default_rng(1).permutation(40000)
    a = process_batch(DetectorState.new(cfg), *chunk)
    b = process_batch(DetectorState.new(cfg), *(c[perm] for c in chunk))
    sa, sb = DetectorState.new(cfg), DetectorState.new(cfg)
    process_batch(sa, *chunk)
    process_batch(sb, *(c[perm] for c in chunk))
    assert len(a) == len(b)
    np.testing.assert_allclose(sa.seg_f, sb.seg_f, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "bad",
    [
        dict(role_idx=[0, 0]),
        dict(time_us=[[1, 2, 3]]),
        dict(value_si=["a", "b", "c"]),
        dict(quality=[1]),
    ],
)
def test_malformed_arrays_raise_clear_errors(bad):
    state = DetectorState.new(_one_segment())
    args = dict(segment_idx=[0, 0, 0], role_idx=[0, 0, 0], time_us=[1, 2, 3], value_si=[1.0, 1.0, 1.0],
                quality=[1, 1, 1])
    args.update(bad)
    with pytest.raises(ValueError):
        process_batch(state, **args)


def test_empty_batch_is_fine():
    state = DetectorState.new(_one_segment())
    ev = process_batch(state, [], [], [], [], [])
    assert len(ev) == 0


def test_long_silence_restarts_the_balance_without_replaying_every_tick():
    cfg = _one_segment()
    state = DetectorState.new(cfg)
    process_batch(state, [0], [0], [T0_US], [1.0])
    # a reading a year later must not close three million empty ticks
    process_batch(state, [0], [0], [T0_US + 365 * 86400 * 1_000_000], [1.0])
    assert state.seg_i[0, L.GI_TICK] >= (T0_US + 365 * 86400 * 1_000_000) // 10_000_000 - 10
