"""Hazard closed loop: ledger, double assignment, multi-level sign-off, rejection, overdue."""

from __future__ import annotations

from typing import Any

import pytest

from services.workorders.domain import (
    Hazard,
    HazardSource,
    HazardStatus,
    InvalidInput,
    InvalidTransition,
    PermissionDenied,
    RuleViolation,
    SignOffPolicy,
    due_hazard_escalations,
    event_from_payload,
    hazard_figures,
    hazard_id_for,
    is_overdue,
    ledger,
    major_hazard_ledger,
)
from services.workorders.domain.hazard import DEFAULT_LEVEL_ROLES, HazardStruckOff
from tests.unit.workorders.domain.factories import DAY, T0

SIGNERS = ("wang", "li", "zhao", "sun")


class Stream:
    """A hazard and its events, applying each command's result."""

    def __init__(self, hazard: Hazard | None = None) -> None:
        self.hazard = hazard or Hazard()
        self.events: list[Any] = []

    def do(self, command: str, **kwargs: Any) -> list[Any]:
        new = getattr(self.hazard, command)(**kwargs)
        self.events.extend(new)
        self.hazard = Hazard.replay(new, initial=self.hazard)
        return new


def recorded(*, major: bool = False, ref: str = "insp-2024-07/3", levels: SignOffPolicy | None = None) -> Stream:
    s = Stream()
    kwargs: dict[str, Any] = {} if levels is None else {"sign_off": levels}
    s.do(
        "record",
        source=HazardSource.INSPECTION,
        source_ref=ref,
        found_by="inspector zhang",
        found_at_unix_us=T0 - DAY,
        segment_id="DS-C3",
        district="Dongsheng",
        location_text="courtyard 12, behind building 4",
        description="corroded riser valve, odour",
        reported_via="inspection round 2024-07",
        interim_measures="valve closed, area fenced",
        major=major,
        actor="inspector zhang",
        now_unix_us=T0,
        **kwargs,
    )
    return s


def in_rectification(**kwargs: Any) -> Stream:
    s = recorded(**kwargs)
    s.do("assign_responsible_unit", unit="Ordos Gas Co., district 2", actor="reg", now_unix_us=T0)
    s.do("assign_supervising_department", department="Dongsheng housing bureau", actor="reg", now_unix_us=T0)
    s.do("set_deadline", deadline_unix_us=T0 + 30 * DAY, reason="ledger rule: 30 days", actor="reg", now_unix_us=T0)
    s.do("start_rectification", actor="unit", now_unix_us=T0 + DAY)
    return s


def awaiting_sign_off(**kwargs: Any) -> Stream:
    s = in_rectification(**kwargs)
    s.do("add_evidence", reference="docstore://photos/123", description="new valve", actor="unit", now_unix_us=T0)
    s.do("rectify", summary="valve replaced", actor="unit", now_unix_us=T0 + 2 * DAY)
    return s


def test_record_lists_the_hazard_with_the_ledger_fields_and_is_idempotent() -> None:
    s = recorded()
    h = s.hazard
    assert h.status is HazardStatus.LISTED
    assert h.hazard_id == hazard_id_for(HazardSource.INSPECTION, "insp-2024-07/3")
    assert (h.found_by, h.location_text, h.reported_via) == (
        "inspector zhang",
        "courtyard 12, behind building 4",
        "inspection round 2024-07",
    )
    assert h.sign_off_levels == DEFAULT_LEVEL_ROLES and len(h.sign_off_levels) == 4
    again = h.record(
        source=HazardSource.INSPECTION,
        source_ref="insp-2024-07/3",
        found_by="x",
        found_at_unix_us=T0,
        segment_id="",
        district="d",
        location_text="l",
        description="d",
        reported_via="r",
        actor="a",
        now_unix_us=T0,
    )
    assert again == []


def test_rectification_needs_unit_department_and_deadline() -> None:
    s = recorded()
    with pytest.raises(RuleViolation, match="a responsible unit, a supervising department, a rectification deadline"):
        s.hazard.start_rectification(actor="u", now_unix_us=T0)
    s.do("assign_responsible_unit", unit="Gas Co.", actor="reg", now_unix_us=T0)
    with pytest.raises(RuleViolation, match="a supervising department, a rectification deadline"):
        s.hazard.start_rectification(actor="u", now_unix_us=T0)
    s.do("assign_supervising_department", department="Housing bureau", actor="reg", now_unix_us=T0)
    with pytest.raises(RuleViolation, match="needs a rectification deadline"):
        s.hazard.start_rectification(actor="u", now_unix_us=T0)


def test_four_distinct_signatures_with_the_level_roles_strike_it_off() -> None:
    s = awaiting_sign_off()
    for level, (role, signer) in enumerate(zip(DEFAULT_LEVEL_ROLES, SIGNERS, strict=True), start=1):
        assert s.hazard.status is HazardStatus.AWAITING_SIGN_OFF and s.hazard.next_level == level
        new = s.do("sign_off", level=level, signer=signer, role=role, now_unix_us=T0 + 3 * DAY)
    assert isinstance(new[-1], HazardStruckOff) and new[-1].signers == SIGNERS
    assert s.hazard.status is HazardStatus.STRUCK_OFF
    with pytest.raises(InvalidTransition, match=r"struck_off.*none \(terminal state\)"):
        s.hazard.add_evidence("x", description="", actor="a", now_unix_us=T0 + 4 * DAY)


def test_sign_off_refusals() -> None:
    s = awaiting_sign_off()
    with pytest.raises(RuleViolation, match="waiting for level 1 of 4, not level 2"):
        s.hazard.sign_off(level=2, signer="li", role=DEFAULT_LEVEL_ROLES[1], now_unix_us=T0)
    with pytest.raises(PermissionDenied, match="must be signed by the role 'unit_safety_officer'"):
        s.hazard.sign_off(level=1, signer="wang", role="regulator", now_unix_us=T0)
    s.do("sign_off", level=1, signer="wang", role=DEFAULT_LEVEL_ROLES[0], now_unix_us=T0)
    before = s.hazard
    with pytest.raises(RuleViolation, match="different person"):
        s.hazard.sign_off(level=2, signer="wang", role=DEFAULT_LEVEL_ROLES[1], now_unix_us=T0)
    assert s.hazard is before and len(before.signatures) == 1
    # A retried signature is not a second signature.
    assert s.hazard.sign_off(level=1, signer="wang", role=DEFAULT_LEVEL_ROLES[0], now_unix_us=T0) == []
    with pytest.raises(InvalidInput, match="level must be an int"):
        s.hazard.sign_off(level="2", signer="li", role=DEFAULT_LEVEL_ROLES[1], now_unix_us=T0)  # type: ignore[arg-type]


def test_rejection_at_any_level_sends_it_back_to_rectification() -> None:
    s = awaiting_sign_off()
    s.do("sign_off", level=1, signer="wang", role=DEFAULT_LEVEL_ROLES[0], now_unix_us=T0)
    s.do("sign_off", level=2, signer="li", role=DEFAULT_LEVEL_ROLES[1], now_unix_us=T0)
    s.do(
        "reject", level=3, signer="zhao", role=DEFAULT_LEVEL_ROLES[2], reason="no pressure test record", now_unix_us=T0
    )
    assert s.hazard.status is HazardStatus.RECTIFYING
    assert s.hazard.signatures == () and s.hazard.rejections == 1
    with pytest.raises(InvalidTransition, match="rectifying"):
        s.hazard.sign_off(level=1, signer="wang", role=DEFAULT_LEVEL_ROLES[0], now_unix_us=T0)
    s.do("add_evidence", reference="docstore://tests/55", description="pressure test", actor="u", now_unix_us=T0)
    s.do("rectify", summary="test added", actor="unit", now_unix_us=T0)
    assert s.hazard.sign_off_round == 2 and s.hazard.next_level == 1


def test_number_of_levels_is_configurable_up_to_four() -> None:
    s = awaiting_sign_off(levels=SignOffPolicy(level_roles=("unit_head", "regulator")))
    s.do("sign_off", level=1, signer="a", role="unit_head", now_unix_us=T0)
    s.do("sign_off", level=2, signer="b", role="regulator", now_unix_us=T0)
    assert s.hazard.status is HazardStatus.STRUCK_OFF
    with pytest.raises(InvalidInput, match="1 to 4 levels"):
        SignOffPolicy(level_roles=())
    with pytest.raises(InvalidInput, match="1 to 4 levels"):
        SignOffPolicy(level_roles=("a", "b", "c", "d", "e"))


def test_sign_off_needs_evidence() -> None:
    s = in_rectification()
    with pytest.raises(RuleViolation, match="evidence"):
        s.hazard.rectify(summary="done", actor="u", now_unix_us=T0)


def test_overdue_is_a_pure_function_of_deadline_and_now_and_escalates_once_per_deadline() -> None:
    s = in_rectification()
    deadline = T0 + 30 * DAY
    assert not is_overdue(s.hazard, deadline)
    assert is_overdue(s.hazard, deadline + 1)
    assert due_hazard_escalations(s.hazard, deadline) == []
    new = due_hazard_escalations(s.hazard, deadline + 1)
    assert len(new) == 1
    s.hazard = Hazard.replay(new, initial=s.hazard)
    assert due_hazard_escalations(s.hazard, deadline + DAY) == []
    s.do(
        "set_deadline",
        deadline_unix_us=deadline + 10 * DAY,
        reason="parts on order",
        actor="reg",
        now_unix_us=deadline + DAY,
    )
    assert due_hazard_escalations(s.hazard, deadline + 5 * DAY) == []
    assert len(due_hazard_escalations(s.hazard, deadline + 11 * DAY)) == 1


def test_ledgers_and_figures() -> None:
    minor = recorded(ref="a")
    major = awaiting_sign_off(major=True, ref="b")
    for level, (role, signer) in enumerate(zip(DEFAULT_LEVEL_ROLES, SIGNERS, strict=True), start=1):
        major.do("sign_off", level=level, signer=signer, role=role, now_unix_us=T0 + 3 * DAY)
    hazards = [minor.hazard, major.hazard]
    # Same time found: ordered by id.
    assert [e.hazard_id for e in ledger(hazards, T0)] == sorted(h.hazard_id for h in hazards)
    majors = major_hazard_ledger(hazards, T0)
    assert [e.hazard_id for e in majors] == [major.hazard.hazard_id] and majors[0].signatures == 4
    figures = hazard_figures(hazards, T0)
    assert (figures.found, figures.rectified, figures.rectification_rate) == (2, 1, 0.5)
    assert (figures.major_found, figures.major_rectified) == (1, 1)
    assert hazard_figures([], T0).rectification_rate is None


def test_events_replay_and_round_trip_through_payloads() -> None:
    s = awaiting_sign_off()
    s.do("reclassify", major=True, reason="near a school", actor="reg", now_unix_us=T0)
    s.do("update_interim_measures", measures="24 h watch", actor="unit", now_unix_us=T0)
    assert Hazard.replay(s.events) == s.hazard
    stored = [event_from_payload(e.type, e.schema_version, e.to_payload()) for e in s.events]
    assert Hazard.replay(stored) == s.hazard
    assert Hazard.from_snapshot(s.hazard.to_snapshot()) == s.hazard


def test_garbage_is_refused() -> None:
    with pytest.raises(InvalidInput, match="source"):
        hazard_id_for("rumour", "x")  # type: ignore[arg-type]
    s = recorded()
    with pytest.raises(InvalidInput, match="unit"):
        s.hazard.assign_responsible_unit("", actor="reg", now_unix_us=T0)
    with pytest.raises(RuleViolation, match="future"):
        s.hazard.set_deadline(T0 - 1, reason="r", actor="reg", now_unix_us=T0)
    with pytest.raises(InvalidInput, match="found after it is recorded"):
        Hazard().record(
            source=HazardSource.SENSOR_HEALTH,
            source_ref="DS-M1-P1/123",
            found_by="leakdetect",
            found_at_unix_us=T0 + 1,
            segment_id="DS-M1",
            district="Dongsheng",
            location_text="pressure transmitter P1",
            description="flatlined",
            reported_via="leak.sensor-health.v1",
            actor="system",
            now_unix_us=T0,
        )
    with pytest.raises(InvalidTransition, match="not recorded"):
        Hazard().start_rectification(actor="u", now_unix_us=T0)


def test_retrying_the_last_signature_after_strike_off_is_a_no_op() -> None:
    s = awaiting_sign_off()
    for level, (role, signer) in enumerate(zip(DEFAULT_LEVEL_ROLES, SIGNERS, strict=True), start=1):
        s.do("sign_off", level=level, signer=signer, role=role, now_unix_us=T0 + 3 * DAY)
    assert s.hazard.status is HazardStatus.STRUCK_OFF
    # The last signer's request timed out after the store recorded it: the retry changes nothing.
    assert s.hazard.sign_off(level=4, signer="sun", role=DEFAULT_LEVEL_ROLES[3], now_unix_us=T0 + 4 * DAY) == []
    assert s.hazard.level_signed_by("sun") == 4 and s.hazard.level_signed_by("nobody") is None
    # Anyone else, or another level, is still refused: the hazard is struck off.
    with pytest.raises(InvalidTransition, match="struck_off"):
        s.hazard.sign_off(level=4, signer="zhou", role=DEFAULT_LEVEL_ROLES[3], now_unix_us=T0 + 4 * DAY)
    with pytest.raises(InvalidTransition, match="struck_off"):
        s.hazard.sign_off(level=3, signer="sun", role=DEFAULT_LEVEL_ROLES[2], now_unix_us=T0 + 4 * DAY)


def test_a_rejected_round_signature_is_not_taken_for_a_retry() -> None:
    s = awaiting_sign_off()
    s.do("sign_off", level=1, signer="wang", role=DEFAULT_LEVEL_ROLES[0], now_unix_us=T0)
    s.do("reject", level=2, signer="li", role=DEFAULT_LEVEL_ROLES[1], reason="no photo of the weld", now_unix_us=T0)
    assert s.hazard.level_signed_by("wang") is None
    s.do("rectify", summary="weld photographed", actor="unit", now_unix_us=T0 + DAY)
    new = s.hazard.sign_off(level=1, signer="wang", role=DEFAULT_LEVEL_ROLES[0], now_unix_us=T0 + DAY)
    assert [e.type for e in new] == ["HazardSignedOff"]
