"""The leak's position on the work order (issue 19): from the opening alarm, refined by updates, old events load."""

from __future__ import annotations

import dataclasses
import math

import pytest

from services.workorders.domain import AlarmState, LeakLocation, WorkOrder
from services.workorders.domain.alarm import location_text
from services.workorders.domain.errors import InvalidInput
from services.workorders.domain.events import event_from_payload
from tests.unit.workorders.domain.factories import MIN, T0, alarm, run, segment

GRADIENT = LeakLocation(
    position_km=1.3,
    uncertainty_km=0.2,
    ci_low_km=0.9,
    ci_high_km=1.7,
    confidence_level=0.95,
    method="pressure_gradient",
)
REFINED = LeakLocation(
    position_km=1.21,
    uncertainty_km=0.05,
    ci_low_km=1.11,
    ci_high_km=1.31,
    confidence_level=0.95,
    method="pressure_gradient+pressure_wave",
)
WHOLE = LeakLocation(
    position_km=1.25, ci_low_km=0.0, ci_high_km=2.5, confidence_level=0.95, covers_whole_segment=True, method="none"
)


def _located(location: LeakLocation | None, **kwargs: object):  # type: ignore[no-untyped-def]
    return dataclasses.replace(alarm(**kwargs), location=location)  # type: ignore[arg-type]


def _open(location: LeakLocation | None) -> WorkOrder:
    return WorkOrder.replay(WorkOrder().receive_alarm(_located(location), segment(), now_unix_us=T0))


def test_the_order_takes_the_position_of_the_alarm_that_opened_it() -> None:
    order = _open(GRADIENT)
    assert order.leak_location == GRADIENT
    assert location_text(order.leak_location) == "km 1.3 (0.9–1.7, 95 %, pressure gradient)"


def test_an_update_refines_the_position_and_a_redelivered_update_changes_nothing() -> None:
    order = _open(GRADIENT)
    update = _located(REFINED, sequence=1)
    events = order.receive_alarm(update, now_unix_us=T0 + 5 * MIN)
    assert [e.type for e in events] == ["AlarmUpdateAttached"]
    refined = run(order, events)
    assert refined.leak_location == REFINED
    assert location_text(refined.leak_location) == "km 1.2 (1.1–1.3, 95 %, pressure gradient + pressure wave)"
    # Redelivered: no events; replaying the whole stream gives the same position.
    assert refined.receive_alarm(update, now_unix_us=T0 + 6 * MIN) == []
    history = WorkOrder().receive_alarm(_located(GRADIENT), segment(), now_unix_us=T0) + events
    assert WorkOrder.replay(history).leak_location == REFINED


def test_a_record_without_a_position_keeps_the_last_known_one() -> None:
    order = _open(GRADIENT)
    order = run(order, order.receive_alarm(_located(None, sequence=1), now_unix_us=T0 + MIN))
    assert order.leak_location == GRADIENT
    cleared = _located(None, sequence=2, state=AlarmState.CLEARED, clear_reason="balance back to normal")
    order = run(order, order.receive_alarm(cleared, now_unix_us=T0 + 2 * MIN))
    assert order.alarm_cleared and order.leak_location == GRADIENT


def test_not_located_yet_when_the_interval_is_the_whole_segment_or_no_alarm_had_a_position() -> None:
    assert location_text(_open(WHOLE).leak_location) == "km 1.2 (whole segment, 0.0–2.5: not located yet)"
    assert _open(None).leak_location is None
    assert location_text(None) == "not located yet"
    # A later update locates it.
    order = _open(WHOLE)
    order = run(order, order.receive_alarm(_located(GRADIENT, sequence=1), now_unix_us=T0 + 5 * MIN))
    assert order.leak_location == GRADIENT


def test_an_event_stored_before_the_interval_was_published_still_loads() -> None:
    (opened,) = WorkOrder().receive_alarm(
        _located(LeakLocation(position_km=1.3, uncertainty_km=0.2)), segment(), now_unix_us=T0
    )
    payload = opened.to_payload()
    # What the service stored before issue 19: position and one standard uncertainty only.
    payload["alarm"]["location"] = {"position_km": 1.3, "uncertainty_km": 0.2}
    event = event_from_payload(opened.type, opened.schema_version, payload)
    order = WorkOrder.replay([event])
    assert order.leak_location == LeakLocation(position_km=1.3, uncertainty_km=0.2)
    assert not order.leak_location.has_interval
    assert location_text(order.leak_location) == "km 1.3 (± 0.2 km, 1 s.d.)"


def test_a_snapshot_taken_before_the_order_kept_its_position_falls_back_to_the_latest_alarm() -> None:
    order = _open(GRADIENT)
    snapshot = order.to_snapshot()
    del snapshot["location"]
    restored = WorkOrder.from_snapshot(snapshot)
    assert restored.location is None and restored.leak_location == GRADIENT
    # The next update without a position keeps it, now in the order's own field.
    restored = run(restored, restored.receive_alarm(_located(None, sequence=1), now_unix_us=T0 + MIN))
    assert restored.location == GRADIENT


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"position_km": -0.1}, "location.position_km must be at least 0"),
        ({"ci_low_km": -1.0}, "location.ci_low_km must be at least 0"),
        ({"ci_low_km": 1.8, "ci_high_km": 1.7}, r"location.ci_low_km \(1.8\) must not exceed location.ci_high_km"),
        ({"confidence_level": 1.5}, "location.confidence_level must be at most 1"),
        ({"confidence_level": -0.5}, "location.confidence_level must be at least 0"),
        ({"position_km": math.nan}, "location.position_km must be a finite number"),
        ({"ci_high_km": math.inf}, "location.ci_high_km must be a finite number"),
        ({"covers_whole_segment": 1}, "location.covers_whole_segment must be a bool"),
        ({"method": "gradient\x00"}, "location.method contains the non-printable character U\\+0000"),
        ({"method": "x" * 101}, "location.method is 101 characters long"),
    ],
)
def test_garbage_locations_are_refused_naming_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        dataclasses.replace(GRADIENT, **fields)  # type: ignore[arg-type]
