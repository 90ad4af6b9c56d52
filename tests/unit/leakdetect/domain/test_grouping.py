"""The batch is grouped by segment into compact records before the kernel runs: nothing may change by that."""

from __future__ import annotations

import itertools

import numpy as np

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorConfig
from services.leakdetect.domain.detector import DetectorState, process_batch
from services.network import quality as Q

from .conftest import T0_US


def _config() -> DetectorConfig:
    cfg = DetectorConfig.empty(2)
    for s in range(2):
        cfg.set_segment(s, length_m=1000.0, inner_diameter_m=0.2, nominal_flow_kg_per_s=1.0,
                        wave_speed_m_per_s=380.0)
        cfg.set_instrument(s, L.ROLE_FLOW_IN, sigma_rel=0.005, range_min=0.0, range_max=10.0)
        cfg.set_instrument(s, L.ROLE_PRESSURE_UP, sigma_abs=100.0, range_min=0.0, range_max=1e6)
    return cfg


def test_roles_and_qualities_beyond_int32_are_not_wrapped_into_valid_ones():
    state = DetectorState.new(_config())
    seg = [0, 0, 0, 0, 1, 2**32]
    role = [2**32 + L.ROLE_FLOW_IN, -(2**32) + L.ROLE_PRESSURE_UP, L.ROLE_FLOW_IN, L.ROLE_PRESSURE_UP,
            L.ROLE_FLOW_IN, L.ROLE_FLOW_IN]
    t = [T0_US + k * 1_000_000 for k in range(6)]
    q = [Q.QUALITY_GOOD, Q.QUALITY_GOOD, 2**32 + Q.QUALITY_BAD, -(2**32) + Q.QUALITY_UNCERTAIN, 17,
         Q.QUALITY_GOOD]
    process_batch(state, seg, role, t, [1.0, 5e5, 1.0, 5e5, 1.0, 1.0], q)
    c = state.counter_dict()
    assert c["unknown_slot"] == 3
    assert c["bad_quality"] == 0
    assert c["accepted"] == 3


def test_chunks_that_start_inside_a_segment_give_the_same_state(balance_case):
    cfg, readings, _ = balance_case
    # a small event buffer makes process_batch run the kernel on many chunks of the grouped batch
    big, small = DetectorState.new(cfg), DetectorState.new(cfg, event_capacity=1000)
    ev_big = process_batch(big, *readings)
    ev_small = process_batch(small, *readings)
    np.testing.assert_array_equal(ev_big, ev_small)
    for name in ("slot_f", "slot_i", "seg_f", "seg_i", "ring", "hist_t", "hist_v", "counters"):
        np.testing.assert_array_equal(getattr(big, name), getattr(small, name))
    assert len(ev_big) > 0 and np.all(np.diff(ev_big["segment"]) >= 0)  # events come segment by segment


def test_batches_of_changing_sizes_through_the_kept_grouping_buffer_give_the_same_state(balance_case):
    cfg, readings, _ = balance_case
    n = len(readings[0])
    # big, small, big again: the buffer kept from a bigger batch holds the last one's records beyond n
    cuts = [0, n // 2, n // 2 + 997, n]
    kept, fresh = DetectorState.new(cfg), DetectorState.new(cfg)
    ev_kept, ev_fresh = [], []
    for a, b in itertools.pairwise(cuts):
        part = tuple(np.asarray(col)[a:b] for col in readings)
        ev_kept.append(process_batch(kept, *part))
        fresh.group_buf = np.empty(0, dtype=fresh.group_buf.dtype)  # as a new state would have it
        ev_fresh.append(process_batch(fresh, *part))
    assert kept.group_buf.shape[0] == n // 2  # the first, largest batch's buffer was kept, not re-made
    np.testing.assert_array_equal(np.concatenate(ev_kept), np.concatenate(ev_fresh))
    for name in ("slot_f", "slot_i", "seg_f", "seg_i", "ring", "hist_t", "hist_v", "counters"):
        np.testing.assert_array_equal(getattr(kept, name), getattr(fresh, name))
    assert sum(len(e) for e in ev_kept) > 0


def test_grouping_is_a_stable_sort_by_segment_with_unknown_segments_last():
    # the records must be those of a plain stable sort, to the last one, and their keys give back each reading's
    # time, role and quality as the kernel reads them
    from services.leakdetect.domain.detector import READING_DTYPE
    from services.leakdetect.domain.kernels import group_by_segment
    from services.leakdetect.domain.kernels.driver import KEY_QUALITY_BITS, KEY_ROLE_BITS, KEY_TIME_SHIFT

    rng = np.random.default_rng(5)
    for n_seg, n in ((1, 7), (3, 1), (40, 5_000), (700, 20_001)):
        seg = rng.integers(-2, n_seg + 2, n)
        role = rng.integers(-1, L.N_ROLES + 1, n)
        t, v, q = rng.integers(0, 10**12, n), rng.normal(size=n), rng.integers(-1, Q.QUALITY_MAX + 2, n)
        t0 = int(t.min())
        starts, out = np.empty(n_seg + 2, np.int64), np.empty(n, READING_DTYPE)
        group_by_segment(seg, role, t, v, q, n_seg, t0, starts, out)
        bucket = np.where((seg >= 0) & (seg < n_seg), seg, n_seg)
        order = np.argsort(bucket, kind="stable")
        counts = np.bincount(bucket, minlength=n_seg + 1)
        np.testing.assert_array_equal(starts, np.concatenate([[0], np.cumsum(counts)]))
        key = out["key"]
        np.testing.assert_array_equal(t0 + (key >> KEY_TIME_SHIFT), t[order])
        np.testing.assert_array_equal(out["value"], v[order])
        np.testing.assert_array_equal(((key >> KEY_QUALITY_BITS) & ((1 << KEY_ROLE_BITS) - 1)) - 1,
                                      np.where((role >= 0) & (role < L.N_ROLES), role, -1)[order])
        np.testing.assert_array_equal(key & ((1 << KEY_QUALITY_BITS) - 1),
                                      np.where((q >= 0) & (q <= Q.QUALITY_MAX), q, Q.QUALITY_UNSPECIFIED)[order])


def test_a_batch_wider_than_a_grouped_record_holds_gives_the_state_of_its_parts_fed_apart(balance_case):
    # the grouped record keeps a reading's time as an offset from the batch's first in 56 bits: a batch whose
    # readings lie farther apart (a clock centuries off) is run in parts, with the state and the events (segment
    # by segment) of feeding those parts one after the other
    from services.leakdetect.domain.kernels.driver import KEY_SPAN_US

    cfg, readings, _ = balance_case
    seg, role, t, v, q = (np.asarray(col) for col in readings)
    n = len(seg)
    assert np.all(np.diff(t) >= 0)
    # the second half, and one reading of segment 0 at the end, moved far into the future
    far = t.copy()
    far[n // 2:] += KEY_SPAN_US
    late = (np.append(seg, 0), np.append(role, role[0]), np.append(far, far[-1] + KEY_SPAN_US),
            np.append(v, v[0]), np.append(q, q[0]))
    whole, parts = DetectorState.new(cfg), DetectorState.new(cfg)
    ev_whole = process_batch(whole, *late)
    cuts = [0, n // 2, n, n + 1]
    ev_parts = np.concatenate([process_batch(parts, *(col[a:b] for col in late)) for a, b in itertools.pairwise(cuts)])
    ev_parts = ev_parts[np.argsort(ev_parts["segment"], kind="stable")]
    assert ev_whole.tobytes() == ev_parts.tobytes()  # (bytes: some events carry NaN, which compares unequal)
    for name in ("slot_f", "slot_i", "seg_f", "seg_i", "ring", "hist_t", "hist_v", "counters"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(parts, name))
    assert len(ev_whole) > 0 and whole.counter_dict()["accepted"] > n // 2


def _state_bytes(state: DetectorState) -> list[bytes]:
    return [getattr(state, name).tobytes() for name in ("slot_f", "slot_i", "seg_f", "seg_i", "ring", "hist_t",
                                                          "hist_v", "counters")]


def test_a_batch_in_time_order_segment_by_segment_is_not_sorted_and_gives_the_same_state(balance_case, monkeypatch):
    # as a batch joined from streams partitioned by segment arrives: each segment's readings in time order, the
    # segments one after the other. No sort (the sort would be most of its cost), the same events and state
    from services.leakdetect.domain import detector

    cfg, readings, _ = balance_case
    cols = tuple(np.asarray(c) for c in readings)
    order = np.argsort(cols[0], kind="stable")
    by_segment = tuple(c[order] for c in cols)
    assert not np.all(np.diff(by_segment[2]) >= 0)
    timed, grouped = DetectorState.new(cfg), DetectorState.new(cfg)
    ev_timed = process_batch(timed, *cols)

    def no_sort(*_cols):  # type: ignore[no-untyped-def]
        raise AssertionError("sorted a batch that was in time order segment by segment")

    monkeypatch.setattr(detector, "_sorted_by_time", no_sort)
    ev_grouped = process_batch(grouped, *by_segment)
    assert len(ev_timed) > 0 and ev_grouped.tobytes() == ev_timed.tobytes()
    assert _state_bytes(grouped) == _state_bytes(timed)


def test_a_batch_with_a_segment_out_of_time_order_is_still_sorted_by_time(balance_case):
    cfg, readings, _ = balance_case
    cols = tuple(np.asarray(c) for c in readings)
    order = np.argsort(cols[0], kind="stable")
    by_segment = [c[order].copy() for c in cols]
    # segment 1's first reading swapped with its first later one: a time step back inside a segment
    ks = np.flatnonzero(by_segment[0] == 1)
    k = np.array([ks[0], ks[np.argmax(by_segment[2][ks] > by_segment[2][ks[0]])]])
    assert by_segment[2][k[1]] > by_segment[2][k[0]]
    for c in by_segment:
        c[k] = c[k[::-1]]
    timed = tuple(c[np.argsort(by_segment[2], kind="stable")] for c in by_segment)
    sorted_first, mixed = DetectorState.new(cfg), DetectorState.new(cfg)
    ev_timed = process_batch(sorted_first, *timed)
    ev_mixed = process_batch(mixed, *by_segment)
    assert len(ev_timed) > 0 and ev_mixed.tobytes() == ev_timed.tobytes()
    assert _state_bytes(mixed) == _state_bytes(sorted_first)
    assert mixed.counter_dict()["out_of_order_or_duplicate"] == 0
