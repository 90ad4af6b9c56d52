"""Operating schedules for the detection benchmarks' simulations: a day's demand, steps and ramps on it, and
the operating transients of issue 24 (regulator set-point changes and demand changes), as knot arrays that
`services.gasflow.Schedule` takes.

`operating_transients` draws the transients of a leak-free day: set-point moves of up to
`SETPOINT_CHANGE_MAX` (+-5 %) and demand moves of up to `DEMAND_CHANGE_MAX` (+-15 %), each ramped over
`TRANSIENT_RAMP_S` (1-10 min), at random times, holding the new level until the next move.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEMAND_NOISE_FRACTION = 0.03  # the day's AR(1) fluctuation around the profile
DEMAND_KNOT_S = 30.0
SETPOINT_CHANGE_MAX = 0.05
DEMAND_CHANGE_MAX = 0.15
TRANSIENT_RAMP_S = (60.0, 600.0)
SETPOINT_FACTOR_BOUNDS = (0.9, 1.05)  # a set-point's moves stay near its design value (and below the MOP)
DEMAND_FACTOR_BOUNDS = (0.7, 1.3)
SETPOINT_CHANGES_PER_DAY = (4, 10)
DEMAND_CHANGES_PER_DAY = (6, 16)
QUIET_GAP_S = 120.0  # least time between the end of one move and the start of the next of the same kind


def demand_values(mean: float, duration_s: float, start_hour: float, seed: int, step_s: float = DEMAND_KNOT_S
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A day's demand (the residential profile from start_hour, with a slow seeded fluctuation) as knots."""
    from services.gasflow import daily_profile_schedule

    sch = daily_profile_schedule(mean, duration_s, start_hour=start_hour, noise_fraction=DEMAND_NOISE_FRACTION,
                                 seed=seed, step_s=300.0)
    t = np.arange(0.0, duration_s + step_s, step_s)
    return t, sch(t)


def with_step(t: np.ndarray, v: np.ndarray, at_s: float, factor: float, ramp_s: float, hold_s: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Multiply a schedule by `factor` from at_s (ramped) for hold_s, then back."""
    knots = np.array([at_s, at_s + ramp_s, at_s + ramp_s + hold_s, at_s + 2 * ramp_s + hold_s])
    tt = np.union1d(t, knots)
    f = np.interp(tt, knots, [1.0, factor, factor, 1.0], left=1.0, right=1.0)
    return tt, np.interp(tt, t, v) * f


def _moves(rng: np.random.Generator, start_s: float, end_s: float, n: int, change_max: float,
           bounds: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, list[dict[str, float]]]:
    """A factor (1 at first) moving n times within [start_s, end_s): each move changes it by a drawn fraction
    of up to +-change_max of its level, linearly over a drawn ramp; knots and the moves made."""
    t_k, f_k = [0.0], [1.0]
    moves: list[dict[str, float]] = []
    for t0 in np.sort(rng.uniform(start_s, end_s, n)):
        ramp = float(rng.uniform(*TRANSIENT_RAMP_S))
        if t0 < t_k[-1] + QUIET_GAP_S or t0 + ramp > end_s:
            continue
        change = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * change_max)
        level = f_k[-1]
        new = level * (1.0 + change)
        if not bounds[0] <= new <= bounds[1]:  # move the other way rather than leave the operating range
            new = level * (1.0 - change)
        t_k += [float(t0), float(t0 + ramp)]
        f_k += [level, new]
        moves.append({"start_s": float(t0), "ramp_s": ramp, "change": new / level - 1.0})
    return np.array(t_k), np.array(f_k), moves


def operating_transients(rng: np.random.Generator, start_s: float, duration_s: float,
                         demand: tuple[np.ndarray, np.ndarray], setpoint_pa: float,
                         setpoint_changes_per_day: tuple[int, int] = SETPOINT_CHANGES_PER_DAY,
                         demand_changes_per_day: tuple[int, int] = DEMAND_CHANGES_PER_DAY,
                         ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """The demand knots with demand moves (+-15 % over 1-10 min) on top, and set-point knots with set-point moves
    (+-5 % over 1-10 min), from start_s to the end of the run; and what was drawn. The moves' rates (per day,
    drawn between the bounds) default to a day's operation; a suite of short runs may ask for denser ones."""
    days = duration_s / 86400.0
    span = max(duration_s - start_s, 1.0)
    n_sp = max(1, round(rng.integers(*setpoint_changes_per_day, endpoint=True) * span / 86400.0))
    n_dm = max(1, round(rng.integers(*demand_changes_per_day, endpoint=True) * span / 86400.0))
    sp_t, sp_f, sp_moves = _moves(rng, start_s, duration_s, n_sp, SETPOINT_CHANGE_MAX, SETPOINT_FACTOR_BOUNDS)
    dm_t, dm_f, dm_moves = _moves(rng, start_s, duration_s, n_dm, DEMAND_CHANGE_MAX, DEMAND_FACTOR_BOUNDS)
    t, v = demand
    tt = np.union1d(t, dm_t)
    demand_out = (tt, np.interp(tt, t, v) * np.interp(tt, dm_t, dm_f))
    setpoint = (np.append(sp_t, duration_s), np.append(sp_f, sp_f[-1]) * setpoint_pa)
    return demand_out, setpoint, {"setpoint_moves": sp_moves, "demand_moves": dm_moves, "days": days}


def ramp_to(t: np.ndarray, v: np.ndarray, at_s: float, ramp_s: float, factor: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Multiply a schedule by a factor that ramps linearly from 1 at at_s to `factor` at at_s + ramp_s and holds
    there (a demand change or set-point move that stays)."""
    knots = np.array([at_s, at_s + ramp_s])
    tt = np.union1d(t, knots)
    f = np.interp(tt, knots, [1.0, factor], left=1.0, right=factor)
    return tt, np.interp(tt, t, v) * f


def week_factor(t_s: np.ndarray, start_weekday: int, weekend_factor: float, drift_per_week: float) -> np.ndarray:
    """A week's throughput factor on top of the daily profile: weekend days (Saturday, Sunday; weekday 0 =
    Monday) at `weekend_factor` of a weekday's mean, ramped over an hour at midnight, and a seasonal drift of the
    daily mean, linear, by `drift_per_week` (e.g. +0.15: 15 % more gas at the end of the week than at its start)."""
    t = np.asarray(t_s, dtype=float)
    day = t / 86400.0
    # a weekend indicator per day, blended linearly over the hour before each midnight so the demand has no step
    level = np.where((start_weekday + np.arange(int(np.floor(day.max())) + 2)) % 7 >= 5, weekend_factor, 1.0)
    knot_t, knot_v = [0.0], [float(level[0])]
    for d in range(1, len(level)):
        knot_t += [d * 86400.0 - 3600.0, d * 86400.0]
        knot_v += [float(level[d - 1]), float(level[d])]
    weekly = np.interp(t, knot_t, knot_v)
    return weekly * (1.0 + drift_per_week * day / 7.0)
