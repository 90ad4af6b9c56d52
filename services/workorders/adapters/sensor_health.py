"""Protobuf ``SensorHealthEvent`` (leak.sensor-health.v1) -> ``SensorHealthFacts`` for the hazard ledger.

``SensorHealthFacts`` is the domain's (``domain.sensor_health``). Garbage (missing ids, UNSPECIFIED
health, impossible times) raises ``InvalidInput`` and the consumer dead-letters it.
"""

from __future__ import annotations

import math

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.workorders.domain.errors import InvalidInput
from services.workorders.domain.sensor_health import SensorHealthFacts
from services.workorders.domain.values import check_id, check_text, check_time

__all__ = ["SensorHealthFacts", "sensor_health_facts"]

_HEALTH = {
    alarms_pb2.SENSOR_HEALTH_OK: "ok",
    alarms_pb2.SENSOR_HEALTH_STALE: "stale",
    alarms_pb2.SENSOR_HEALTH_FLATLINED: "flatlined",
    alarms_pb2.SENSOR_HEALTH_STUCK: "stuck",
    alarms_pb2.SENSOR_HEALTH_IMPLAUSIBLE_RATE: "implausible_rate",
    alarms_pb2.SENSOR_HEALTH_OUTVOTED: "outvoted",
}


def sensor_health_facts(message: alarms_pb2.SensorHealthEvent) -> SensorHealthFacts:
    check_id("event_id", message.event_id)  # the hazard's correlation and causation id
    check_id("tag_id", message.tag_id)
    check_id("segment_id", message.segment_id)
    if message.district:
        check_id("district", message.district)
    check_text("detail", message.detail, allow_empty=True)
    health = _HEALTH.get(message.health)
    if health is None:
        raise InvalidInput(f"sensor health must be set, got {message.health}")
    check_time("change_time_unix_us", message.change_time_unix_us)
    if message.change_time_unix_us == 0:
        raise InvalidInput("change_time_unix_us is required")
    mdlr = message.segment_mdlr_kg_per_s
    if not math.isfinite(mdlr) or mdlr < 0:
        raise InvalidInput(f"segment_mdlr_kg_per_s must be a finite number >= 0, got {mdlr}")
    return SensorHealthFacts(
        event_id=message.event_id,
        tag_id=message.tag_id,
        segment_id=message.segment_id,
        district=message.district,
        health=health,
        previous_health=_HEALTH.get(message.previous_health, ""),
        detail=message.detail,
        change_time_unix_us=message.change_time_unix_us,
        segment_mdlr_kg_per_s=mdlr,
    )
