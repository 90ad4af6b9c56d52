"""Reference of the sensor-health checks (f) in plain Python, one segment's instruments, one reading at a time:
the test oracle of `kernels.health` and the driver's per-reading path (`tests/unit/leakdetect/domain/
test_health_reference.py`).

Rules, as the kernels apply them (the domain docstring (f) states them, `DetectorParams` holds the numbers):
- the segment's clock runs on 10-s ticks; a reading in tick k closes every open tick up to k - 2 (one tick of
  lateness is tolerated), and at each close an instrument whose last good reading (or, before any, the segment's
  first reading) is older than max(stale_factor scan periods, stale_min_s) turns STALE;
- a reading not after its instrument's last one is ignored (before the clock moves); BAD quality, UNCERTAIN on
  anything but methane, non-finite or out-of-range values are not good readings (the clock still moves);
- implausible rate: a change beyond the physical rate over the time since the last good reading plus four s.d.
  of the difference of two readings, both from the last good reading and from the last value received that
  passed the range checks (a refused one: the second reading of a real step confirms it); the checks below
  compare with the one it was plausible against. The instrument stays IMPLAUSIBLE_RATE until
  `implausible_clear_n` plausible readings in a row;
- flat-lined: `flat_n` identical values in a row lasting `flat_s`; stuck (not temperature): `2 flat_n` readings
  in a row within `stuck_frac` s.d. of the value that started the run; methane sensors are neither.
Flow meters reading exactly 0 (shut in, judged against the other meter's tick mean) and saturated readings are
outside this reference: the scenarios have neither.

Events: (role, time_us, health, previous) with the codes of `layout.HEALTH_*`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..domain import layout as L
from ..domain.config import DetectorParams
from ..domain.kernels.balance import MAX_CATCHUP_BLOCKS

HealthEvent = tuple[int, int, int, int]


@dataclass(frozen=True)
class Instrument:
    role: int
    sigma_rel: float = 0.0
    sigma_abs: float = 0.0
    range_min: float = -math.inf
    range_max: float = math.inf
    max_rate_per_s: float = math.inf
    scan_period_s: float = 1.0


@dataclass
class _Slot:
    health: int = L.HEALTH_UNKNOWN
    last_time: int = -1
    last_good_time: int = -1
    last_value: float = 0.0
    last_good_value: float = 0.0
    good_run: int = 0
    flat_n: int = 0
    flat_t0: int = 0
    stuck_n: int = 0
    anchor: float = 0.0


def _sigma2(inst: Instrument, v: float) -> float:
    return (inst.sigma_rel * v) ** 2 + inst.sigma_abs**2


def _beyond_rate(inst: Instrument, v: float, ref: float, dt_s: float) -> bool:
    """Whether v is further from ref than the physics allows in dt_s plus four s.d. of a difference of two."""
    excess = abs(v - ref) - inst.max_rate_per_s * dt_s
    return excess > 0.0 and excess * excess > 32.0 * _sigma2(inst, ref)


def health_events(instruments: Sequence[Instrument], role: Sequence[int], time_us: Sequence[int],
                  value: Sequence[float], quality: Sequence[int], params: DetectorParams | None = None
                  ) -> list[HealthEvent]:
    """Health changes of one segment's instruments over readings in time order."""
    p = params or DetectorParams()
    tick_us = round(p.tick_s * 1e6)
    by_role = {i.role: i for i in instruments}
    slots = {i.role: _Slot() for i in instruments}
    out: list[HealthEvent] = []
    open_tick = -1
    t_start = 0

    def set_health(r: int, new: int, t: int) -> None:
        if slots[r].health != new:
            out.append((r, t, new, slots[r].health))
            slots[r].health = new

    for r, t, v, q in zip(role, time_us, value, quality, strict=True):
        inst, sl = by_role.get(r), slots.get(r)
        if inst is None or sl is None or t <= sl.last_time:
            continue
        tick = t // tick_us
        if open_tick < 0:
            open_tick, t_start = tick, t
        elif tick >= open_tick + 2:
            if tick - open_tick > MAX_CATCHUP_BLOCKS * p.block_ticks:
                open_tick = tick - 1 - ((tick - 1) % p.block_ticks)  # a long silence restarts the clock there
            while tick >= open_tick + 2:  # close the open tick: staleness at its end
                t_end = (open_tick + 1) * tick_us
                for rr, other in by_role.items():
                    s2 = slots[rr]
                    stale_us = max(p.stale_factor * other.scan_period_s, p.stale_min_s) * 1e6
                    ref = s2.last_good_time if s2.last_good_time >= 0 else t_start
                    if t_end - ref > stale_us and s2.health != L.HEALTH_STALE:
                        set_health(rr, L.HEALTH_STALE, t_end)
                open_tick += 1
        sl.last_time = t
        if q == 3 or (q == 2 and not L.ROLE_METHANE_0 <= r < L.ROLE_METHANE_END) or not math.isfinite(v):
            continue
        if not inst.range_min <= v <= inst.range_max:
            continue
        prev_t = sl.last_good_time
        prev_v = sl.last_value
        if prev_t >= 0:
            plausible = [ref for ref in (sl.last_good_value, sl.last_value)
                         if not _beyond_rate(inst, v, ref, (t - prev_t) * 1e-6)]
            if not plausible:
                sl.last_value = v
                sl.good_run = 0
                set_health(r, L.HEALTH_IMPLAUSIBLE_RATE, t)
                continue
            prev_v = plausible[0]
        sl.last_value = sl.last_good_value = v
        sl.good_run += 1
        sl.last_good_time = t
        new = L.HEALTH_OK
        if not L.ROLE_METHANE_0 <= r < L.ROLE_METHANE_END:
            if prev_t >= 0 and v == prev_v:
                sl.flat_n += 1
            else:
                sl.flat_n, sl.flat_t0 = 0, t
            if sl.flat_n >= p.flat_n and t - sl.flat_t0 >= p.flat_s * 1e6:
                new = L.HEALTH_FLATLINED
            if r != L.ROLE_TEMPERATURE:
                dv = v - sl.anchor
                if prev_t >= 0 and dv * dv <= p.stuck_frac**2 * _sigma2(inst, v):
                    sl.stuck_n += 1
                else:
                    sl.stuck_n, sl.anchor = 0, v
                if new == L.HEALTH_OK and sl.stuck_n >= 2 * p.flat_n:
                    new = L.HEALTH_STUCK
        if sl.health == L.HEALTH_IMPLAUSIBLE_RATE and sl.good_run < p.implausible_clear_n:
            new = L.HEALTH_IMPLAUSIBLE_RATE
        set_health(r, new, t)
    return out

