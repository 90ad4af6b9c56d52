"""Where the load test's leaks go in the replay (loadtest.leak.place): a first run has the full history, a later
run on the same deployment only the time since the previous replay (the detectors' clock), and every onset must
fall inside the replay with a detection window after it (a second run used to place its onset past the end); with
too little history the replay runs on into real time instead of the run waiting for it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loadtest import leak
from loadtest.leak import AFTER_LEAK_S, LEARN_S, MIN_SETTLE_S, MIN_WINDOW_S, place

NOW = 1_800_000_000.0


def test_first_run_learns_then_leaks_as_the_demo_does() -> None:
    start, end, (onset,) = place(1, 0.0, NOW)
    assert end == NOW - 1.0
    assert onset == end - AFTER_LEAK_S
    assert onset - start >= LEARN_S - 1.0


def test_several_leaks_each_get_a_window_of_their_own() -> None:
    start, end, onsets = place(3, 0.0, NOW)
    assert onsets == sorted(onsets) and onsets[0] - start >= LEARN_S - 1.0
    gaps = [b - a for a, b in zip([*onsets, end], [*onsets, end][1:], strict=False)]
    assert all(gap == pytest.approx(AFTER_LEAK_S) for gap in gaps)


def test_a_run_right_after_another_runs_on_into_real_time_instead_of_waiting() -> None:
    # The previous replay ended 20 s ago: a leak needs a settling time and a detection window after the clock,
    # so the replay ends that long after its start, in the future (reached at 1x during the load).
    start, end, (onset,) = place(1, NOW - 20.0, NOW)
    assert start == pytest.approx(NOW - 19.9, abs=1.0)
    assert end == start + MIN_SETTLE_S + MIN_WINDOW_S > NOW
    assert onset == start + MIN_SETTLE_S


@given(count=st.integers(1, leak.MAX_LEAKS), since_s=st.floats(0.0, 3 * 3600.0))
def test_every_onset_is_inside_the_replay_with_a_window_after_it(count: int, since_s: float) -> None:
    clock = NOW - since_s
    start, end, onsets = place(count, clock, NOW)
    assert start > clock  # the detectors drop what is older than their clock
    assert start + MIN_SETTLE_S - 1e-6 <= onsets[0]
    for onset, following in zip(onsets, [*onsets[1:], end], strict=True):
        assert following - onset >= MIN_WINDOW_S - 1e-6
    # it ends just before now, or (too little history) no later than the least that holds its leaks
    assert end == NOW - 1.0 or end == pytest.approx(start + MIN_SETTLE_S + count * MIN_WINDOW_S)
