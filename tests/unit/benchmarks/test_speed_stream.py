"""The speed suite's stream (`benchmarks.detection`): batches that continue one stream, and a steady state that
comes after the first baseline and a full ring."""

from __future__ import annotations

import numpy as np

from benchmarks import detection as D
from services.leakdetect.domain.config import DetectorParams


def test_consecutive_chunks_continue_one_stream_in_time_order() -> None:
    st = D._speed_stream(60)
    a, b, ab = D._speed_chunk(st, 0, 7), D._speed_chunk(st, 7, 5), D._speed_chunk(st, 0, 12)
    for part in (a, b):
        for rs in (part.r, part.vote, part.sub):
            assert np.all(np.diff(rs[2]) >= 0)
    # the same meters at the same times, cut in two (the noise of each chunk is its own draw)
    for k in (0, 1, 2):
        assert np.array_equal(np.concatenate([a.r[k], b.r[k]]), ab.r[k])
        assert np.array_equal(np.concatenate([a.vote[k], b.vote[k]]), ab.vote[k])
        assert np.array_equal(np.concatenate([a.sub[k], b.sub[k]]), ab.sub[k])
    assert b.r[2][0] >= D.SPEED_T0_US + 7_000_000
    assert a.r[0].size == 7 * st.seg.size  # every meter once a second
    assert D._speed_chunk(st, 7, 5).r[3].tolist() == b.r[3].tolist()  # seeded by its start: reproducible


def test_the_steady_state_comes_after_the_first_baseline_and_a_full_ring() -> None:
    p = DetectorParams()
    warm = D.steady_warm_s(120)
    assert warm % 120 == 0
    assert warm >= p.learn_after_s + p.learn_window_blocks * p.block_s
    assert warm >= p.ring_len * p.block_s
