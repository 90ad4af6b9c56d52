"""Reference of the methane detector (d) in plain Python, one sensor, one reading at a time: the test oracle of
`kernels.methane` (`tests/unit/leakdetect/domain/test_methane_reference.py`).

Readings are those the kernel accepts (time increasing, good quality, in range, plausible rate of change).
Events are (kind, time_us, level, lel_pct, rise_lel_pct_per_min, grade_hint) with kind "level", "rise" or
"cleared".
"""

from __future__ import annotations

from collections.abc import Sequence

from ..domain.config import DetectorParams

MethaneEvent = tuple[str, int, int, float, float, int]


def methane_events(time_us: Sequence[int], lel_pct: Sequence[float], thresholds: tuple[float, float, float],
                   confined: bool, params: DetectorParams | None = None) -> list[MethaneEvent]:
    p = params or DetectorParams()
    level = 0
    rise = 0.0  # smoothed rate of rise, %LEL per minute
    rise_alarm = False
    prev: tuple[int, float] | None = None
    out: list[MethaneEvent] = []
    for t, v in zip(time_us, lel_pct, strict=True):
        new_level = sum(1 for thr in thresholds if v >= thr)
        if prev is not None:
            dt_s = max((t - prev[0]) * 1e-6, 1e-3)
            x = dt_s / p.ch4_rise_tau_s
            rise += x / (1.0 + x) * ((v - prev[1]) / dt_s * 60.0 - rise)  # exponential average, weight 1 - e^-x
        prev = (t, v)
        if new_level > level:
            hint = 2 if (new_level == 1 and confined) else 4 - new_level  # level 3 -> grade 1, 2 -> 2, 1 -> 3
            out.append(("level", t, new_level, v, rise, hint))
            level = new_level
        elif new_level < level:
            # down one level only once below it by the hysteresis
            while level > 0 and v < thresholds[level - 1] - p.ch4_hysteresis_lel:
                level -= 1
                if level == 0:
                    out.append(("cleared", t, 0, v, rise, 0))
        if not rise_alarm and rise > p.ch4_rise_lel_per_min and v >= p.ch4_rise_min_lel:
            rise_alarm = True
            out.append(("rise", t, 0, v, rise, 2))
        elif rise_alarm and rise < 0.5 * p.ch4_rise_lel_per_min:
            rise_alarm = False
    return out
