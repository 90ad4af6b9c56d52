"""leak.alarms.v1 ``LeakLocation`` -> the domain's ``LeakLocation``: every field carried, garbage refused by name."""

from __future__ import annotations

import math

import pytest

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.workorders.adapters.alarms import alarm_facts, location_text
from services.workorders.domain import LeakLocation
from services.workorders.domain.errors import InvalidInput


def _message(**location: object) -> alarms_pb2.LeakAlarmEvent:
    message = alarms_pb2.LeakAlarmEvent(
        event_id="A-1/0",
        alarm_id="A-1",
        alarm_sequence=0,
        state=alarms_pb2.ALARM_STATE_RAISED,
        segment_id="DS-M1",
        district="Dongsheng",
        methods=[alarms_pb2.DETECTION_METHOD_MASS_BALANCE],
        event_time_unix_us=1_700_000_000_000_000,
    )
    values: dict[str, object] = {
        "position_km": 12.3,
        "uncertainty_km": 0.3,
        "ci_low_km": 11.8,
        "ci_high_km": 12.9,
        "confidence_level": 0.95,
        "method": "pressure_gradient",
    }
    values.update(location)
    message.location.CopyFrom(alarms_pb2.LeakLocation(**values))  # type: ignore[arg-type]
    return message


def test_every_location_field_reaches_the_domain() -> None:
    facts = alarm_facts(_message(covers_whole_segment=False))
    assert facts.location == LeakLocation(
        position_km=12.3,
        uncertainty_km=0.3,
        ci_low_km=11.8,
        ci_high_km=12.9,
        confidence_level=0.95,
        covers_whole_segment=False,
        method="pressure_gradient",
    )
    assert location_text(_message()) == "km 12.3 (11.8–12.9, 95 %, pressure gradient)"
    whole = _message(position_km=14.0, ci_low_km=0.0, ci_high_km=28.0, covers_whole_segment=True, method="none")
    assert alarm_facts(whole).location.covers_whole_segment  # type: ignore[union-attr]
    assert location_text(whole) == "km 14.0 (whole segment, 0.0–28.0: not located yet)"


def test_an_alarm_without_a_location_or_from_before_intervals() -> None:
    message = _message()
    message.ClearField("location")
    assert alarm_facts(message).location is None and location_text(message) == ""
    old = _message(ci_low_km=0.0, ci_high_km=0.0, confidence_level=0.0, method="")
    assert alarm_facts(old).location == LeakLocation(position_km=12.3, uncertainty_km=0.3)
    assert location_text(old) == "km 12.3 (± 0.3 km, 1 s.d.)"


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ({"position_km": -1.0}, "location.position_km must be at least 0"),
        ({"ci_low_km": -0.5}, "location.ci_low_km must be at least 0"),
        ({"ci_high_km": -0.5, "ci_low_km": 0.0}, "location.ci_high_km must be at least 0"),
        ({"ci_low_km": 13.0, "ci_high_km": 12.0}, "location.ci_low_km .* must not exceed location.ci_high_km"),
        ({"confidence_level": 95.0}, "location.confidence_level must be at most 1"),
        ({"confidence_level": -0.95}, "location.confidence_level must be at least 0"),
        ({"position_km": math.nan}, "location.position_km must be a finite number"),
        ({"ci_low_km": math.nan}, "location.ci_low_km must be a finite number"),
        ({"confidence_level": math.nan}, "location.confidence_level must be a finite number"),
        ({"uncertainty_km": math.inf}, "location.uncertainty_km must be a finite number"),
        ({"method": "gradient\n"}, "location.method contains the non-printable character U\\+000A"),
    ],
)
def test_garbage_locations_are_refused_with_the_alarm_and_the_field(location: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=f"alarm 'A-1': {message}"):
        alarm_facts(_message(**location))
    with pytest.raises(InvalidInput, match=message):
        location_text(_message(**location))
