"""The audit trail on the in-memory event store: batched day streams, the per-caller cap, the query."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from services.eventstore import InMemoryEventStore, InvalidEventError, NewEvent
from services.workorders.domain import commands
from services.workorders.domain.audit import (
    AUDIT_RECORDED,
    DROPPED,
    US_PER_DAY,
    AuditFilter,
    AuditRecord,
    audit_stream,
    day_of,
)
from services.workorders.domain.errors import InvalidInput
from services.workorders.service_layer.audit import OTHER_CALLERS, AuditTrail
from services.workorders.service_layer.auth import CallerRole, Principal
from tests.unit.workorders.domain.factories import alarm
from tests.unit.workorders.fakes import T0, FakeClock, make_app

MIN_US = 60 * 1_000_000


def rec(
    at: int = T0,
    *,
    subject: str = "ana",
    role: str = "dispatcher",
    districts: tuple[str, ...] = ("D1",),
    action: str = "work_order.dispatch",
    district: str = "D1",
    outcome: str = "permission_denied",
    peer: str = "ipv4:10.0.0.7:5555",
) -> AuditRecord:
    return AuditRecord(
        at_unix_us=at,
        subject=subject,
        role=role,
        token_districts=districts,
        action=action,
        target="workorder-1",
        district=district,
        outcome=outcome,
        reason="" if outcome == "ok" else "no",
        peer=peer,
    )


def everything(**overrides: Any) -> AuditFilter:
    values: dict[str, Any] = {"since_unix_us": T0 - US_PER_DAY, "until_unix_us": T0 + 3 * US_PER_DAY}
    values.update(overrides)
    return AuditFilter(**values)


def make(**kwargs: Any) -> tuple[AuditTrail, InMemoryEventStore, FakeClock]:
    store = InMemoryEventStore()
    clock = FakeClock()
    return AuditTrail(store, clock, **kwargs), store, clock


def test_records_are_appended_in_batches_to_one_stream_per_utc_day() -> None:
    trail, store, _ = make(batch_size=3)
    for i in range(5):
        trail.record(rec(T0 + i))
    trail.record(rec(T0 + US_PER_DAY))
    assert store.head_position() == 0, "nothing is written before a flush"
    assert trail.flush() == 6
    today, tomorrow = audit_stream(day_of(T0)), audit_stream(day_of(T0) + 1)
    assert today == "audit-2023-11-14" and tomorrow == "audit-2023-11-15"
    assert store.stream_version(today) == 5 and store.stream_version(tomorrow) == 1
    # 5 records of one day in batches of 3: two appends; the other day: one.
    assert len({e.recorded_at_unix_us for e in store.read_stream(today)}) >= 1
    assert {e.event_type for e in store.read_all()} == {AUDIT_RECORDED}
    assert trail.pending == 0 and trail.flush() == 0


def test_a_flush_that_fails_keeps_its_records_and_a_retry_stores_them_once() -> None:
    trail, store, _ = make()
    calls = {"n": 0}
    real_append = store.append

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        recorded = real_append(*args, **kwargs)
        if calls["n"] == 1:
            raise ConnectionError("the reply was lost after the commit")
        return recorded

    store.append = flaky  # type: ignore[method-assign]
    trail.record(rec())
    trail.record(rec(T0 + 1))
    assert trail.flush() == 0 and trail.pending == 2 and trail.stats.flush_failures == 1
    assert trail.flush() == 2
    # Same event ids on the retry: the store saw an exact retry and kept one copy.
    assert store.stream_version(audit_stream(day_of(T0))) == 2


def test_a_flood_of_refusals_is_capped_per_caller_and_what_was_dropped_is_counted() -> None:
    trail, store, clock = make(per_caller_per_window=10, window_us=MIN_US)
    for i in range(1000):
        trail.record(rec(T0 + i, subject="mallory"))
    trail.record(rec(T0 + 5, subject="ana"))  # another caller is not affected
    for i in range(20):  # successful commands are never capped
        trail.record(rec(T0 + 10 + i, subject="mallory", outcome="ok"), capped=False)
    clock.advance_s(61)  # the window ends: its summary is written with the next flush
    trail.flush()
    records = trail.query(everything(), limit=1000).records
    mallory = [r for r in records if r.subject == "mallory"]
    assert sum(r.outcome == "permission_denied" for r in mallory) == 10
    assert sum(r.outcome == "ok" for r in mallory) == 20
    summary = [r for r in mallory if r.outcome == DROPPED]
    assert len(summary) == 1 and summary[0].dropped == 990
    assert summary[0].at_unix_us == T0 + 10 and summary[0].until_unix_us == T0 + 999
    assert "990 records of this caller were not kept" in summary[0].reason
    assert [r.subject for r in records if r.subject == "ana"] == ["ana"]
    assert trail.stats.dropped == 990
    assert store.stream_version(audit_stream(day_of(T0))) == 10 + 1 + 20 + 1


def test_unauthenticated_callers_are_capped_by_address_and_many_callers_share_one_entry() -> None:
    trail, _, _ = make(per_caller_per_window=2, max_callers=3)
    for port in range(50):  # one host, many ports: one caller
        trail.record(
            rec(subject="", role="", districts=(), district="", outcome="unauthenticated", peer=f"ipv4:6.6.6.6:{port}")
        )
    for host in range(100):  # many hosts: beyond max_callers they share one entry
        trail.record(
            rec(subject="", role="", districts=(), district="", outcome="unauthenticated", peer=f"ipv4:7.7.7.{host}:1")
        )
    trail.flush(final=True)
    records = trail.query(everything(), limit=1000).records
    dropped = {
        r.peer.rsplit(":", 1)[0] if r.subject != OTHER_CALLERS else OTHER_CALLERS: r.dropped
        for r in records
        if r.outcome == DROPPED
    }
    assert dropped["ipv4:6.6.6.6"] == 48
    assert dropped[OTHER_CALLERS] == 100 - 2 - 2  # two hosts got entries of their own; the rest share one (cap 2)
    kept = [r for r in records if r.outcome == "unauthenticated"]
    assert len(kept) == 2 + 1 + 1 + 2  # 6.6.6.6 to its cap, two hosts with one each, the shared entry to its cap


def test_the_query_filters_by_time_subject_district_and_outcome() -> None:
    trail, _, _ = make()
    trail.record(rec(T0, subject="ana", outcome="ok"), capped=False)
    trail.record(rec(T0 + 1, subject="bo", district="D2", districts=("D2",)))
    trail.record(rec(T0 + 2, subject="cy", district="", districts=("*",), outcome="invalid_argument"))
    trail.record(rec(T0 + 3, subject="", role="", districts=(), district="", outcome="unauthenticated"))
    trail.record(rec(T0 + US_PER_DAY, subject="ana", outcome="not_found"))
    trail.flush()

    def subjects(**overrides: Any) -> list[str]:
        return [r.subject for r in trail.query(everything(**overrides), limit=100).records]

    assert subjects() == ["ana", "bo", "cy", "", "ana"]
    assert subjects(subjects=frozenset({"ana"})) == ["ana", "ana"]
    assert subjects(outcomes=frozenset({"ok"})) == ["ana"]
    assert subjects(outcomes=frozenset({"refused"})) == ["bo", "cy", "", "ana"]
    assert subjects(districts=frozenset({"D2"})) == ["bo", "cy"]  # cy's token names all districts
    assert subjects(until_unix_us=T0 + 2) == ["ana", "bo"]
    assert subjects(since_unix_us=T0 + US_PER_DAY) == ["ana"]
    # A D1 regulator sees D1's records and those of all-district tokens, not D2's or anonymous ones.
    assert subjects(visible=frozenset({"D1"})) == ["ana", "cy", "ana"]


def test_paging_continues_where_the_page_ended_across_days() -> None:
    trail, _, _ = make()
    for day in range(3):
        for i in range(4):
            trail.record(rec(T0 + day * US_PER_DAY + i, subject=f"s{day}{i}"))
    trail.flush()
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = trail.query(everything(), limit=5, page_token=token)
        seen += [r.subject for r in page.records]
        token = page.next_token
        if not token:
            break
    assert seen == [f"s{d}{i}" for d in range(3) for i in range(4)]


def test_a_query_matching_little_scans_a_bounded_number_of_records_per_call_and_the_token_continues() -> None:
    # make fuzz: regulators repeating a query that matched nothing in a day of 20,000+ records held the blocking
    # pool ~2 s per call and starved the other calls past their deadlines (ListAuditRecords "hang").
    from services.workorders.service_layer.audit import MAX_RECORDS_SCANNED_PER_CALL

    assert MAX_RECORDS_SCANNED_PER_CALL <= 2_000  # ~0.2 s of a blocking-pool worker per call at most
    trail, _, _ = make()
    total = 2 * MAX_RECORDS_SCANNED_PER_CALL + 10
    for i in range(total):
        trail.record(rec(T0 + i, subject="flood"), capped=False)
    trail.record(rec(T0 + total, subject="needle"), capped=False)
    trail.flush()
    token, calls, found = "", 0, []
    while True:
        page = trail.query(everything(subjects=frozenset({"needle"})), limit=100, page_token=token)
        calls += 1
        assert page.scanned <= MAX_RECORDS_SCANNED_PER_CALL
        found += [r.subject for r in page.records]
        token = page.next_token
        if not token:
            break
    assert found == ["needle"] and calls >= 3


@pytest.mark.parametrize("token", ["garbage", "1:", ":1", "-1:0", "99999999:0", "1" * 30, "1:2:3"])
def test_garbage_page_tokens_are_refused(token: str) -> None:
    trail, _, _ = make()
    with pytest.raises(InvalidInput, match="page_token"):
        trail.query(everything(), limit=5, page_token=token)


def test_garbage_filters_and_records_are_refused_naming_the_problem() -> None:
    with pytest.raises(InvalidInput, match="unknown outcome"):
        everything(outcomes=frozenset({"maybe"}))
    with pytest.raises(InvalidInput, match="since < until"):
        AuditFilter(since_unix_us=T0, until_unix_us=T0)
    with pytest.raises(InvalidInput, match="since < until"):
        AuditFilter(since_unix_us=-1, until_unix_us=T0)
    with pytest.raises(InvalidInput, match="since < until"):
        AuditFilter(since_unix_us=2**63 - 2, until_unix_us=2**63 - 1)
    with pytest.raises(InvalidInput, match="at most"):
        make()[0].query(AuditFilter(since_unix_us=0, until_unix_us=T0), limit=5)
    with pytest.raises(InvalidInput, match="not an audit record"):
        AuditRecord.from_payload({"at_unix_us": "soon"})


def test_an_unreadable_stored_record_is_skipped_not_fatal() -> None:
    trail, store, _ = make()
    store.append(
        audit_stream(day_of(T0)), None, [NewEvent(AUDIT_RECORDED, {"what": "not a record"}, event_id=uuid.uuid4())]
    )
    trail.record(rec())
    trail.flush()
    assert [r.subject for r in trail.query(everything(), limit=10).records] == ["ana"]


def test_long_text_is_clipped_so_a_caller_cannot_grow_records_without_bound() -> None:
    record = AuditRecord.from_payload(rec(action="x" * 10_000).to_payload())
    assert len(record.action) == 500 and record.action.endswith("…")


def test_a_callers_garbage_is_recorded_escaped_never_raw() -> None:
    trail, _, _ = make()
    trail.record(rec(subject="a\x00b", action="x\ud800y", peer="ipv4:1.2.3.4:5\x1b[31m"))
    assert trail.flush() == 1
    stored = trail.query(everything(), limit=10).records[0]
    assert (stored.subject, stored.action, stored.peer) == ("a\\x00b", "x\\xd800y", "ipv4:1.2.3.4:5\\x1b[31m")


def test_one_unstorable_record_does_not_block_the_others() -> None:
    trail, store, _ = make()
    real_append = store.append

    def picky(stream_id: str, expected: int | None, events: Any, **kwargs: Any) -> Any:
        if any(e.payload["subject"] == "poison" for e in events):
            raise InvalidEventError("refused")
        return real_append(stream_id, expected, events, **kwargs)

    store.append = picky  # type: ignore[method-assign, assignment]
    for subject in ("ana", "poison", "bo"):
        trail.record(rec(subject=subject))
    assert trail.flush() == 2 and trail.pending == 0 and trail.stats.dropped == 1
    assert [r.subject for r in trail.query(everything(), limit=10).records] == ["ana", "bo"]


def test_the_trail_stays_out_of_watch_items_and_a_targets_district_is_told() -> None:
    faked = make_app()
    facts = dataclasses.replace(alarm(alarm_id="A-9"), segment_id="S-D2")
    order_id = faked.app.handle_alarm(facts, "A-9/0").stream_id
    faked.app.audit.record(rec())
    faked.app.audit.flush()
    items, last, _ = faked.app.watch_items(0)
    assert last == faked.store.head_position() and items
    assert not [item for item in items if item.stream_id.startswith("audit-")]
    # The district of a command's target, for its audit record: from the aggregate, the segment or the command.
    assert faked.app.target_district(commands.Cancel(order_id)) == "D2"
    assert faked.app.target_district(commands.Cancel("workorder-none")) == ""
    assert faked.app.target_district(commands.OpenReplacement(segment_id="S-D1")) == "D1"
    assert faked.app.target_district(commands.SetReplacementTarget(district="D7")) == "D7"
    boss = Principal("li", CallerRole.SUPERVISOR, frozenset({"*"}))
    hazard = faked.app.execute(boss, commands.RecordHazard(district="D2", location="x", description="y"))
    assert faked.app.target_district(commands.AssignHazard(hazard.stream_id), hazard) == "D2"
    assert faked.app.target_district(commands.AssignHazard(hazard.stream_id)) == "D2"
