"""Operating transients of the leak-free days (issue 24): set-point moves within +-5 %, demand moves within
+-15 %, each over 1-10 min, after the learning time."""

from __future__ import annotations

import numpy as np

from benchmarks.operations import (
    DEMAND_CHANGE_MAX,
    SETPOINT_CHANGE_MAX,
    TRANSIENT_RAMP_S,
    demand_values,
    operating_transients,
)


def test_transients_stay_within_their_stated_sizes_and_ramps() -> None:
    duration, start = 86_400.0 + 4200.0, 4200.0
    demand = demand_values(10.0, duration, 8.0, seed=3)
    for seed in range(20):
        (t_d, v_d), (t_s, v_s), drawn = operating_transients(np.random.default_rng(seed), start, duration, demand,
                                                             4.0e6)
        assert drawn["setpoint_moves"] and drawn["demand_moves"]
        for kind, limit in (("setpoint_moves", SETPOINT_CHANGE_MAX), ("demand_moves", DEMAND_CHANGE_MAX)):
            for m in drawn[kind]:
                assert abs(m["change"]) <= limit + 1e-12
                assert TRANSIENT_RAMP_S[0] <= m["ramp_s"] <= TRANSIENT_RAMP_S[1]
                assert start <= m["start_s"] and m["start_s"] + m["ramp_s"] <= duration
        assert np.all(np.diff(t_d) >= 0) and np.all(np.diff(t_s) >= 0)
        # before the first move the set-point is the design value and demand is the day's profile
        first = min(m["start_s"] for m in drawn["setpoint_moves"])
        assert np.all(v_s[t_s <= first] == 4.0e6)
        assert np.allclose(np.interp(1000.0, t_d, v_d), np.interp(1000.0, *demand))


def test_the_same_seed_draws_the_same_transients() -> None:
    demand = demand_values(10.0, 20_000.0, 8.0, seed=3)
    a = operating_transients(np.random.default_rng(5), 4200.0, 20_000.0, demand, 4.0e6)
    b = operating_transients(np.random.default_rng(5), 4200.0, 20_000.0, demand, 4.0e6)
    assert a[2] == b[2]
    assert np.array_equal(a[0][1], b[0][1]) and np.array_equal(a[1][1], b[1][1])
