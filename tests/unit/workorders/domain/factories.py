"""Builders of valid alarms, segments and orders for the work-order domain tests."""

from __future__ import annotations

from typing import Any

from services.workorders.domain import (
    AlarmFacts,
    AlarmState,
    DetectionMethod,
    Grade,
    LeakRate,
    MethaneDetails,
    PipeClass,
    RuptureDetails,
    SegmentContext,
    WorkOrder,
)

T0 = 1_700_000_000_000_000  # 2023-11-14, µs
MIN = 60 * 1_000_000
HOUR = 60 * MIN
DAY = 24 * HOUR


def segment(**overrides: Any) -> SegmentContext:
    values: dict[str, Any] = {
        "segment_id": "DS-M1",
        "district": "Dongsheng",
        "pipe_class": PipeClass.MUNICIPAL,
        "material": "steel",
        "length_km": 2.5,
        "install_year": 2005,
    }
    values.update(overrides)
    return SegmentContext(**values)


def alarm(
    *,
    sequence: int = 0,
    state: AlarmState | None = None,
    alarm_id: str = "alarm-DS-M1-1",
    pct: float | None = 0.5,
    rate_kg_per_s: float = 0.01,
    lel: float | None = None,
    confined: bool = False,
    rupture: bool = False,
    hint: Grade | None = None,
    clear_reason: str = "",
) -> AlarmFacts:
    if state is None:
        state = AlarmState.RAISED if sequence == 0 else AlarmState.UPDATED
    methods = [DetectionMethod.MASS_BALANCE]
    if lel is not None:
        methods.append(DetectionMethod.METHANE_LEL)
    if rupture:
        methods.append(DetectionMethod.RUPTURE)
    return AlarmFacts(
        alarm_id=alarm_id,
        alarm_sequence=sequence,
        state=state,
        segment_id="DS-M1",
        district="Dongsheng",
        methods=tuple(methods),
        onset_time_unix_us=T0 - 5 * MIN,
        detection_time_unix_us=T0 - MIN,
        event_time_unix_us=T0,
        leak_rate=None if pct is None else LeakRate(rate_kg_per_s=rate_kg_per_s, pct_of_nominal_flow=pct),
        rupture=RuptureDetails(pressure_drop_pa=2.0e5, drop_rate_pa_per_s=5.0e3) if rupture else None,
        methane=None if lel is None else MethaneDetails(tag_id="DS-M1-CH4", lel_pct=lel, confined_space=confined),
        grade_hint=hint,
        clear_reason=clear_reason,
    )


def opened(grade_alarm: AlarmFacts | None = None, seg: SegmentContext | None = None, at: int = T0) -> WorkOrder:
    """A freshly opened order (grade 3 by default: 0.5 % of nominal flow on a steel main)."""
    order = WorkOrder()
    events = order.receive_alarm(grade_alarm or alarm(), seg or segment(), now_unix_us=at)
    return WorkOrder.replay(events)


def run(order: WorkOrder, events: list[Any]) -> WorkOrder:
    return WorkOrder.replay(events, initial=order)
