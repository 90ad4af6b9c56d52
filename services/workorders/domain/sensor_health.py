"""A meter's health change as leakdetect reports it (leak.sensor-health.v1), for the hazard ledger.

A meter that goes stale, flatlines (a dead meter reads a constant), gets stuck, jumps implausibly or is
outvoted by its redundant partners leaves its segment's leak detection blind or degraded (an outvoted meter
takes the role's redundancy away): the service records a hazard for it.
``adapters.sensor_health`` builds these facts from the protobuf message and refuses garbage.
"""

from __future__ import annotations

from dataclasses import dataclass

HEALTH_STATES = ("ok", "stale", "flatlined", "stuck", "implausible_rate", "outvoted")


@dataclass(frozen=True, slots=True)
class SensorHealthFacts:
    event_id: str
    tag_id: str
    segment_id: str
    district: str
    health: str  # one of HEALTH_STATES
    previous_health: str  # "" when unspecified
    detail: str
    change_time_unix_us: int
    segment_mdlr_kg_per_s: float

    @property
    def is_fault(self) -> bool:
        return self.health != "ok"
