"""The knee of a ramp: the highest offered rate at which every SLO held, steps taken in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    offered_readings_per_s: float
    achieved_readings_per_s: float
    ok: bool  # every SLO judged on this step held
    broken: tuple[str, ...] = ()  # the SLOs that did not


def knee(steps: Sequence[Step]) -> float | None:
    """Offered rate of the last step of the unbroken run of passing steps from the first; None if the
    first step already broke. A pass after a break does not count: the ramp stops at the first break, and a
    lucky later step would hide it."""
    best: float | None = None
    for step in steps:
        if not step.ok:
            break
        best = step.offered_readings_per_s
    return best
