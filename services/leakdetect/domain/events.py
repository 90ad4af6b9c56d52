"""The detectors' decisions as named, typed events: what `process_batch` / `advance_to` report, decoded from the
kernels' event arrays (`kernels.events.decode_events`).

`segment` is the segment's index in the `DetectorConfig`, `role` the instrument's (`layout.ROLE_*`), times in us
since the Unix epoch. Alarms: `LeakRaised`, `LeakUpdated`, `LeakLocated`, `LeakCleared` (mass balance),
`PressureWaveLeak`, `Rupture`, `MethaneLevel`, `MethaneRise`, `MethaneCleared`. Operations and bookkeeping:
`PressureWaveOperation`, `PressureWaveUnpaired`, `BalanceSuspended`, `BalanceResumed`, `BaselineLearned`. Health:
`SensorHealthChanged`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LeakRaised:
    """Mass-balance alarm: `test` is the window index, `layout.TEST_CUSUM`, or `layout.TEST_STEP0` + window."""

    segment: int
    time_us: int
    onset_us: int
    rate_kg_per_s: float
    rate_sd_kg_per_s: float
    statistic: float
    test: int
    mdlr_kg_per_s: float  # the 4-min window's, at the raise


@dataclass(frozen=True, slots=True)
class LeakUpdated:
    """The leak rate re-estimated over the `blocks` blocks after the raise (the onset block only partly leaks)."""

    segment: int
    time_us: int
    onset_us: int
    rate_kg_per_s: float
    rate_sd_kg_per_s: float
    blocks: int
    cusum: float
    mdlr_kg_per_s: float


@dataclass(frozen=True, slots=True)
class LeakLocated:
    """Where the latched balance alarm's leak is (`kernels.location`): at the raise, then refined as it persists.

    `method`: `layout.LOC_NONE` (not locatable yet: `position_m` is the segment's middle and `position_sd_m`
    inf, the whole segment), `LOC_GRADIENT` (pressure-gradient intersection) or `LOC_GRADIENT_NPW` (fused with
    the incident's pressure-wave location by inverse variance). `gradient_*`: the gradient's own estimate (nan /
    inf when it has none), `window_s` the balance time it averaged over. Positions in metres from the upstream
    end, not clamped beyond [0, length] for the point; an interval is clamped by whoever states it."""

    segment: int
    time_us: int
    onset_us: int
    method: int
    position_m: float
    position_sd_m: float
    gradient_position_m: float
    gradient_sd_m: float
    window_s: float
    # the sub-segment whose own balance went out (mid-line flow meters, `kernels.subsegment`): the leak is in
    # [bracket_lo_m, bracket_hi_m] and the position and s.d. above are already narrowed to it; nan: no bracket
    bracket_lo_m: float = math.nan
    bracket_hi_m: float = math.nan


@dataclass(frozen=True, slots=True)
class LeakCleared:
    segment: int
    time_us: int
    residual_kg_per_s: float  # the last block's residual, and its s.d.
    residual_sd_kg_per_s: float


@dataclass(frozen=True, slots=True)
class PressureWaveLeak:
    """Paired pressure-wave fronts located inside the segment."""

    segment: int
    time_us: int
    onset_us: int
    position_m: float
    position_sd_m: float
    arrival_difference_s: float  # t_up - t_down
    size_estimate_kg_per_s: float  # Joukowsky, 2 A dp / c
    amplitude_pa: float


@dataclass(frozen=True, slots=True)
class PressureWaveOperation:
    """Paired fronts of an operation, not a leak: `where` 1 at the upstream end, 2 at the downstream end, 3 the
    flows disagree with gas leaving between the meters (role: the end's transmitter, -1 for 3)."""

    segment: int
    role: int
    time_us: int
    onset_us: int
    where: int
    position_m: float
    position_sd_m: float
    arrival_difference_s: float
    size_estimate_kg_per_s: float
    amplitude_pa: float


@dataclass(frozen=True, slots=True)
class PressureWaveUnpaired:
    """A front at one end (`end` 1 upstream, 2 downstream) without a partner at the other in time."""

    segment: int
    role: int
    time_us: int
    front_us: int
    end: int
    amplitude_pa: float


@dataclass(frozen=True, slots=True)
class Rupture:
    segment: int
    role: int  # the meter that saw it: a pressure transmitter (collapse) or a flow meter (a held end's jump)
    time_us: int
    onset_us: int
    drop_pa: float  # the pressure's drop at that end (a held end: below its 1-min average, often ~0)
    rate_pa_per_s: float
    reference_pa: float
    evidence: int = 0  # layout.RUP_PRESSURE (collapse) or RUP_FLOW (flow jump; RUP_EVIDENCE_NAMES)
    flow_jump_kg_per_s: float = 0.0  # the flow jump towards the break (a lower bound when the meter saturated)


@dataclass(frozen=True, slots=True)
class MethaneLevel:
    """A methane sensor crossed level 1 (alarm), 2 or 3 upwards; grade hint 1-3 (`domain` docstring (d))."""

    segment: int
    role: int
    time_us: int
    level: int
    lel_pct: float
    rise_lel_pct_per_min: float
    grade_hint: int
    confined: bool


@dataclass(frozen=True, slots=True)
class MethaneRise:
    segment: int
    role: int
    time_us: int
    lel_pct: float
    rise_lel_pct_per_min: float
    grade_hint: int
    confined: bool


@dataclass(frozen=True, slots=True)
class MethaneCleared:
    segment: int
    role: int
    time_us: int
    lel_pct: float
    rise_lel_pct_per_min: float
    confined: bool


@dataclass(frozen=True, slots=True)
class SensorHealthChanged:
    """Health codes of pipewarden.leakdetect.v1.SensorHealth (`layout.HEALTH_*`)."""

    segment: int
    role: int
    time_us: int
    health: int
    previous: int
    mdlr_kg_per_s: float  # the segment's 4-min MDLR before the change (inf while not monitoring)
    # a redundant meter (`kernels.redundancy`): its tag (the role has several) and why it was outvoted; "" otherwise
    tag_id: str = ""
    cause: str = ""


@dataclass(frozen=True, slots=True)
class BalanceSuspended:
    segment: int
    time_us: int


@dataclass(frozen=True, slots=True)
class BalanceResumed:
    segment: int
    time_us: int


@dataclass(frozen=True, slots=True)
class BaselineLearned:
    segment: int
    time_us: int
    offset_kg_per_s: float
    offset_sd_kg_per_s: float
    gain: float
    kappa: float  # learned ratio of the residual scatter to the propagated uncertainty
    # --- issue 24 learning ---
    source: int = 0  # how it was learned: layout.LS_* (LEARN_SOURCE_NAMES: initial, relearn, learn_now, leak_free)
    window_start_us: int = 0  # the learning window it was fitted over: from here to time_us
    throughput_kg_per_s: float = 0.0  # the mean throughput it was learned at


@dataclass(frozen=True, slots=True)
class BaselineRejected:
    """A periodic re-learning's candidate not adopted (issue 24): `reason` is layout.REJ_* (REJECT_REASON_NAMES);
    for an offset change, `offset_step_kg_per_s` against the baseline it was checked with and the `allowed_kg_per_s`
    (a human confirms a larger change with "this period was leak-free" over the window)."""

    segment: int
    time_us: int
    window_start_us: int
    reason: int
    offset_step_kg_per_s: float
    allowed_kg_per_s: float
    offset_kg_per_s: float  # the candidate's (nan when it was never fitted: an alarm, the CUSUM)
    gain: float
    kappa: float


DetectorEvent = (
    LeakRaised | LeakUpdated | LeakLocated | LeakCleared | PressureWaveLeak | PressureWaveOperation
    | PressureWaveUnpaired | Rupture | MethaneLevel | MethaneRise | MethaneCleared | SensorHealthChanged
    | BalanceSuspended | BalanceResumed | BaselineLearned | BaselineRejected
)
