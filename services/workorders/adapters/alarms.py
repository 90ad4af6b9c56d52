"""Protobuf ``LeakAlarmEvent`` -> the domain's ``AlarmFacts``.

``UNSPECIFIED`` enum values become ``None`` (grade hint) or are dropped (methods); unset sub-messages
become ``None``. Anything the domain refuses raises ``InvalidInput`` and the consumer dead-letters it.
"""

from __future__ import annotations

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.workorders.domain.alarm import (
    AlarmFacts,
    AlarmState,
    DetectionMethod,
    LeakLocation,
    LeakRate,
    MethaneDetails,
    RuptureDetails,
)
from services.workorders.domain.errors import InvalidInput
from services.workorders.domain.values import Grade, check_id

_STATES = {
    alarms_pb2.ALARM_STATE_RAISED: AlarmState.RAISED,
    alarms_pb2.ALARM_STATE_UPDATED: AlarmState.UPDATED,
    alarms_pb2.ALARM_STATE_CLEARED: AlarmState.CLEARED,
}
_METHODS = {
    alarms_pb2.DETECTION_METHOD_MASS_BALANCE: DetectionMethod.MASS_BALANCE,
    alarms_pb2.DETECTION_METHOD_PRESSURE_WAVE: DetectionMethod.PRESSURE_WAVE,
    alarms_pb2.DETECTION_METHOD_METHANE_LEL: DetectionMethod.METHANE_LEL,
    alarms_pb2.DETECTION_METHOD_RUPTURE: DetectionMethod.RUPTURE,
}
_GRADES = {
    alarms_pb2.GRADE_HINT_1: Grade.ONE,
    alarms_pb2.GRADE_HINT_2: Grade.TWO,
    alarms_pb2.GRADE_HINT_3: Grade.THREE,
}


def location_text(message: alarms_pb2.LeakAlarmEvent) -> str:
    """The alarm's position as a crew reads it (``LeakLocation.text``: "km 12.3 (11.8–12.9, 95 %, pressure
    gradient)", "km 14.0 (whole segment, 0.0–28.0: not located yet)"), or "" when the alarm has no location.
    Garbage values raise ``InvalidInput`` as ``alarm_facts`` does."""
    location = _location(message)
    return location.text() if location is not None else ""


def _location(message: alarms_pb2.LeakAlarmEvent) -> LeakLocation | None:
    if not message.HasField("location"):
        return None
    loc = message.location
    try:
        return LeakLocation(
            position_km=loc.position_km,
            uncertainty_km=loc.uncertainty_km,
            ci_low_km=loc.ci_low_km,
            ci_high_km=loc.ci_high_km,
            confidence_level=loc.confidence_level,
            covers_whole_segment=loc.covers_whole_segment,
            method=loc.method,
        )
    except InvalidInput as error:
        raise InvalidInput(f"alarm {message.alarm_id!r}: {error}") from None


def alarm_facts(message: alarms_pb2.LeakAlarmEvent) -> AlarmFacts:
    # The event id becomes the causation id of what the alarm changes; the other ids are checked by AlarmFacts.
    check_id("event_id", message.event_id)
    state = _STATES.get(message.state)
    if state is None:
        raise InvalidInput(f"alarm {message.alarm_id!r}: state {message.state} is not RAISED, UPDATED or CLEARED")
    leak_rate = None
    if message.HasField("leak_rate"):
        r = message.leak_rate
        leak_rate = LeakRate(
            rate_kg_per_s=r.rate_kg_per_s,
            pct_of_nominal_flow=r.rate_pct_of_nominal_flow,
            ci_low_kg_per_s=r.ci_low_kg_per_s,
            ci_high_kg_per_s=r.ci_high_kg_per_s,
            confidence_level=r.confidence_level,
        )
    location = _location(message)
    rupture = None
    if message.HasField("rupture"):
        rupture = RuptureDetails(
            pressure_drop_pa=message.rupture.pressure_drop_pa, drop_rate_pa_per_s=message.rupture.drop_rate_pa_per_s
        )
    methane = None
    if message.HasField("methane"):
        m = message.methane
        methane = MethaneDetails(
            tag_id=m.tag_id,
            lel_pct=m.lel_pct,
            rise_rate_pct_per_min=m.rise_rate_pct_per_min,
            confined_space=m.confined_space,
        )
    return AlarmFacts(
        alarm_id=message.alarm_id,
        alarm_sequence=message.alarm_sequence,
        state=state,
        segment_id=message.segment_id,
        district=message.district,
        methods=tuple(_METHODS[m] for m in message.methods if m in _METHODS),
        onset_time_unix_us=message.onset_time_unix_us,
        detection_time_unix_us=message.detection_time_unix_us,
        event_time_unix_us=message.event_time_unix_us,
        leak_rate=leak_rate,
        location=location,
        rupture=rupture,
        methane=methane,
        grade_hint=_GRADES.get(message.grade_hint),
        clear_reason=message.clear_reason,
    )

