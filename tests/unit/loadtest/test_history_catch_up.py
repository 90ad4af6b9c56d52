"""The load starts once leakdetect has caught up with the leak's history (its burst is not part of the load)."""

from __future__ import annotations

import threading
import time

from loadtest.cli import wait_caught_up
from loadtest.probes import LagProbe


def _probe() -> LagProbe:
    return LagProbe("127.0.0.1:1", "group", "topic")  # no client is made until it samples


def test_it_waits_for_a_sample_taken_after_the_call_that_shows_the_group_caught_up() -> None:
    probe = _probe()
    probe.series.append({"t_s": 0.0, "lag_records": 0, "lag_s": 0.0})  # before the history: not evidence

    def sampler() -> None:
        for lag_s in (40.0, 12.0, 1.5):
            time.sleep(0.3)
            probe.series.append({"t_s": time.monotonic() - probe.started, "lag_records": 1, "lag_s": lag_s})

    thread = threading.Thread(target=sampler)
    thread.start()
    started = time.monotonic()
    assert wait_caught_up(probe, lag_s=2.0, max_s=10.0)
    assert time.monotonic() - started >= 0.8  # not before the third sample
    thread.join()


def test_it_gives_up_after_its_bound_and_says_so() -> None:
    probe = _probe()
    probe.series.append({"t_s": time.monotonic() - probe.started + 1.0, "lag_records": 10**6, "lag_s": 300.0})
    assert wait_caught_up(probe, lag_s=2.0, max_s=0.5) is False
