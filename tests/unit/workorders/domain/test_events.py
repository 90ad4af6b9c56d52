"""Event registry and payload codec: every type round-trips; garbage payloads get clear errors."""

from __future__ import annotations

import json

import pytest

from services.workorders.domain import EVENT_TYPES, InvalidInput, event_from_payload, event_id
from tests.unit.workorders.domain.factories import T0, alarm, opened, segment


def test_registry_names_are_past_tense_facts_with_versions() -> None:
    assert len(EVENT_TYPES) >= 30
    for name, cls in EVENT_TYPES.items():
        assert cls.type == name and cls.schema_version >= 1


def test_payload_is_json_and_round_trips() -> None:
    events = opened(alarm(lel=45.0, rupture=True, pct=3.0)).receive_alarm(alarm(sequence=1), now_unix_us=T0)
    for event in events:
        payload = json.loads(json.dumps(event.to_payload()))
        assert event_from_payload(event.type, event.schema_version, payload) == event


def test_event_ids_are_deterministic() -> None:
    assert event_id("workorder-x", 3) == event_id("workorder-x", 3)
    assert event_id("workorder-x", 3) != event_id("workorder-x", 4)


def _opened_payload() -> dict:
    from services.workorders.domain import WorkOrder

    event = WorkOrder().receive_alarm(alarm(), segment(), now_unix_us=T0)[0]
    return event.to_payload()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.pop("grade"), "missing field 'grade'"),
        (lambda p: p.update(extra=1), "unknown field"),
        (lambda p: p.update(grade=7), "WorkOrderOpened.grade: 7 is not one of"),
        (lambda p: p.update(grade=True), "grade"),
        (lambda p: p["alarm"]["leak_rate"].update(rate_kg_per_s="fast"), "rate_kg_per_s must be a number"),
        (lambda p: p["alarm"]["leak_rate"].update(rate_kg_per_s=float("nan")), "must be finite"),
        (lambda p: p["alarm"].update(state="exploded"), "alarm.state"),
        (lambda p: p["segment"].update(length_km=-2), "length_km"),
        (lambda p: p.update(at_unix_us=None), "must not be null"),
        (lambda p: p.update(grade_reasons="x"), "must be a list"),
    ],
)
def test_garbage_payloads_are_refused(mutate, message: str) -> None:
    payload = _opened_payload()
    mutate(payload)
    with pytest.raises(InvalidInput, match=message):
        event_from_payload("WorkOrderOpened", 1, payload)


def test_unknown_types_and_versions_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown event type"):
        event_from_payload("LeakExploded", 1, {})
    with pytest.raises(InvalidInput, match="upcast it first"):
        event_from_payload("WorkOrderOpened", 2, _opened_payload())
    with pytest.raises(InvalidInput, match="must be an object"):
        event_from_payload("WorkOrderOpened", 1, [])  # type: ignore[arg-type]
