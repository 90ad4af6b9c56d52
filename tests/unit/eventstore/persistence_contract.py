"""The event-store contract: every behaviour a service layer may rely on, as one base class of tests.

Each backend runs it by subclassing ``EventStoreContract`` and providing the ``store`` fixture (and
``with_upcasters``), as pyeventsourcing's recorder test cases are subclassed per persistence module:

    tests/unit/eventstore/test_memory_store.py            InMemoryEventStore (no server)
    tests/integration/eventstore/test_sqlite_store.py     EventStore on a SQLite file
    tests/integration/eventstore/test_postgres_store.py   EventStore on the real PostgreSQL (integration)

What only SQL can do (schema creation, the outbox written in the append's transaction and its relay,
projections applied in the checkpoint's transaction) is in tests/integration/eventstore/test_sql_store.py.
The module is named without ``test_`` and the class without ``Test`` so pytest runs it only per backend.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from services.eventstore import (
    ConcurrencyError,
    DuplicateEventError,
    EventStorePort,
    InvalidEventError,
    ManualClock,
    NewEvent,
    UpcasterRegistry,
)


def opened(n: int = 0, **extra: Any) -> NewEvent:
    return NewEvent("WorkOrderOpened", {"n": n, **extra})


def _race(writers: int, work: Any) -> list[Any]:
    barrier = threading.Barrier(writers)
    results: list[Any] = [None] * writers

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


BAD_STREAM_IDS: list[Any] = [
    "",
    " leading-space",
    "has space",
    "tab\tinside",
    "nul\x00inside",
    "-starts-with-dash",
    "x" * 201,
    "ünïcode",
    "new\nline",
    None,
    42,
    b"bytes",
    ["list"],
]


class Unserialisable:
    pass


def _nested(depth: int) -> dict[str, Any]:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return {"deep": value}


BAD_PAYLOADS: list[Any] = [
    None,
    [],
    "text",
    {"set": {1, 2}},
    {"bytes": b"\x00"},
    {"tuple": (1, 2)},
    {"object": Unserialisable()},
    {"nan": float("nan")},
    {"inf": float("inf")},
    {1: "int key"},
    {"nul": "a\x00b"},
    {"a\x00": 1},
    _nested(70),
]


class EventStoreContract:
    """Subclass per backend; override ``store`` (a fixture: an empty store using ``clock``) and ``with_upcasters``."""

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock(start_unix_us=1_700_000_000_000_000, step_us=1_000)

    @pytest.fixture
    def store(self, clock: ManualClock) -> Iterator[EventStorePort]:
        raise NotImplementedError("a backend's subclass provides the store fixture")

    def with_upcasters(self, store: EventStorePort, upcasters: UpcasterRegistry) -> EventStorePort:
        """A second store over the same stored events that reads through ``upcasters``."""
        raise NotImplementedError

    # -- append and read --------------------------------------------------------------------------------

    def test_append_to_new_stream_records_versions_positions_and_metadata(self, store: EventStorePort) -> None:
        event_ids = [uuid.uuid4(), uuid.uuid4()]
        recorded = store.append(
            "workorder-1",
            0,
            [
                NewEvent("WorkOrderOpened", {"grade": 1}, event_id=event_ids[0]),
                NewEvent("CrewAssigned", {"crew": "c7"}, schema_version=2, event_id=event_ids[1]),
            ],
            causation_id="alarm-9",
            correlation_id=uuid.UUID(int=7),
            actor="dispatcher:ana",
        )
        assert [(e.version, e.position) for e in recorded] == [(1, 1), (2, 2)]
        assert store.read_stream("workorder-1") == recorded
        first, second = recorded
        assert first.event_id == event_ids[0] and second.event_id == event_ids[1]
        assert second.event_type == "CrewAssigned" and second.schema_version == 2
        assert second.payload == {"crew": "c7"}
        assert first.causation_id == "alarm-9"
        assert first.correlation_id == str(uuid.UUID(int=7))
        assert first.actor == "dispatcher:ana"
        # One clock reading per append, from the injected clock.
        assert first.recorded_at_unix_us == second.recorded_at_unix_us == 1_700_000_000_000_000
        assert store.stream_version("workorder-1") == 2
        assert store.stream_version("workorder-unknown") == 0
        assert store.read_stream("workorder-unknown") == []

    def test_expected_version_continues_a_stream(self, store: EventStorePort) -> None:
        store.append("s-1", 0, [opened(1)])
        store.append("s-1", 1, [opened(2), opened(3)])
        assert [e.version for e in store.read_stream("s-1")] == [1, 2, 3]
        assert [e.payload["n"] for e in store.read_stream("s-1", after_version=1)] == [2, 3]
        assert [e.payload["n"] for e in store.read_stream("s-1", after_version=0, limit=2)] == [1, 2]

    @pytest.mark.parametrize("stale", [0, 1, 3, 10])
    def test_stale_expected_version_raises_concurrency_error_and_writes_nothing(
        self, store: EventStorePort, stale: int
    ) -> None:
        store.append("s-1", 0, [opened(1), opened(2)])
        with pytest.raises(ConcurrencyError) as raised:
            store.append("s-1", stale, [opened(3)])
        assert raised.value.stream_id == "s-1"
        assert raised.value.expected_version == stale
        assert raised.value.actual_version == 2
        assert store.stream_version("s-1") == 2
        assert store.head_position() == 2
        # The rolled-back append consumed no position: positions stay gap-free.
        assert store.append("s-2", 0, [opened()])[0].position == 3

    def test_expected_version_none_appends_at_the_end(self, store: EventStorePort) -> None:
        store.append("s-1", None, [opened(1)])
        store.append("s-1", None, [opened(2)])
        assert [e.version for e in store.read_stream("s-1")] == [1, 2]

    def test_read_all_is_in_position_order_across_streams(self, store: EventStorePort) -> None:
        store.append("a", 0, [opened(1)])
        store.append("b", 0, [opened(2), opened(3)])
        store.append("a", 1, [opened(4)])
        everything = store.read_all()
        assert [(e.stream_id, e.position, e.payload["n"]) for e in everything] == [
            ("a", 1, 1),
            ("b", 2, 2),
            ("b", 3, 3),
            ("a", 4, 4),
        ]
        assert [e.position for e in store.read_all(after_position=2)] == [3, 4]
        assert [e.position for e in store.read_all(after_position=1, limit=2)] == [2, 3]
        assert store.read_all(after_position=4) == []
        assert store.head_position() == 4

    def test_empty_store(self, store: EventStorePort) -> None:
        assert store.head_position() == 0
        assert store.read_all() == []

    def test_payloads_round_trip_exactly(self, store: EventStorePort) -> None:
        payload = {
            "text": "Leck an Schieber 7 — Gasgeruch ☢ 漏れ",
            "nested": {"list": [1, 2.5, None, True, False, "x", {"deep": []}], "empty": {}},
            "big": 2**62,
            "negative": -17,
            "small": 1e-300,
            "precise": 0.1 + 0.2,
        }
        store.append("s-1", 0, [NewEvent("Measured", payload)])
        assert store.read_stream("s-1")[0].payload == payload
        assert store.read_all()[0].payload == payload

    # -- idempotence ------------------------------------------------------------------------------------

    def test_exact_retry_of_an_append_is_idempotent(self, store: EventStorePort) -> None:
        batch = [opened(1), opened(2)]
        first = store.append("s-1", 0, batch, actor="a")
        again = store.append("s-1", 0, batch, actor="a")
        assert again == first
        assert store.head_position() == 2
        # A retry arriving after the stream moved on is still recognised.
        store.append("s-1", 2, [opened(3)])
        assert store.append("s-1", 0, batch) == first
        assert store.head_position() == 3

    def test_reusing_an_event_id_elsewhere_is_refused(self, store: EventStorePort) -> None:
        event = opened(1)
        store.append("s-1", 0, [event])
        with pytest.raises(DuplicateEventError, match=str(event.event_id)):
            store.append("s-2", 0, [event])
        with pytest.raises(DuplicateEventError):
            store.append("s-1", 1, [opened(2), event])  # partial overlap is not a retry
        with pytest.raises(DuplicateEventError):
            store.append("s-1", 1, [event])  # same stream, wrong place
        assert store.head_position() == 1
        assert store.read_stream("s-2") == []

    # -- concurrency ------------------------------------------------------------------------------------

    @pytest.mark.parametrize("round_", range(3))
    def test_racing_writers_exactly_one_wins(self, store: EventStorePort, round_: int) -> None:
        stream = f"race-{round_}"
        store.append(stream, 0, [opened()])
        results = _race(6, lambda i: store.append(stream, 1, [opened(i)]))
        winners = [r for r in results if isinstance(r, list)]
        losers = [r for r in results if isinstance(r, ConcurrencyError)]
        assert len(winners) == 1, results
        assert len(losers) == 5, results
        assert store.stream_version(stream) == 2
        assert store.read_stream(stream)[1] == winners[0][0]

    def test_concurrent_appends_get_gap_free_positions_and_a_polling_reader_misses_nothing(
        self, store: EventStorePort
    ) -> None:
        writers, appends_each = 4, 15
        done = threading.Event()
        seen: list[int] = []

        def poll() -> None:
            checkpoint = 0
            while True:
                finished = done.is_set()
                for event in store.read_all(after_position=checkpoint):
                    seen.append(event.position)
                    checkpoint = event.position
                if finished:
                    return

        reader = threading.Thread(target=poll)
        reader.start()
        try:

            def write(index: int) -> int:
                for k in range(appends_each):
                    store.append(f"w{index}", k * 2, [opened(k), opened(k)])
                return index

            results = _race(writers, write)
        finally:
            done.set()
            reader.join(timeout=60)
        assert results == list(range(writers))
        total = writers * appends_each * 2
        # The reader polled while positions were being assigned and still saw each one exactly once, in order.
        assert seen == list(range(1, total + 1))
        assert [e.position for e in store.read_all(limit=total)] == list(range(1, total + 1))
        for index in range(writers):
            assert [e.version for e in store.read_stream(f"w{index}")] == list(range(1, appends_each * 2 + 1))

    # -- snapshots --------------------------------------------------------------------------------------

    def test_snapshots_store_and_load_the_latest(self, store: EventStorePort) -> None:
        assert store.load_snapshot("s-1") is None
        store.append("s-1", 0, [opened(1), opened(2), opened(3)])
        saved = store.save_snapshot("s-1", 2, {"count": 2}, schema_version=4)
        assert (saved.version, saved.state, saved.schema_version) == (2, {"count": 2}, 4)
        assert store.load_snapshot("s-1") == saved
        newer = store.save_snapshot("s-1", 3, {"count": 3})
        assert store.load_snapshot("s-1") == newer
        # A slow writer's older snapshot does not replace a newer one.
        assert store.save_snapshot("s-1", 1, {"count": 1}) == newer
        assert store.load_snapshot("s-1") == newer
        snapshot = store.load_snapshot("s-1")
        assert snapshot is not None
        assert store.read_stream("s-1", after_version=snapshot.version) == []

    def test_snapshot_beyond_the_stream_is_refused(self, store: EventStorePort) -> None:
        store.append("s-1", 0, [opened()])
        with pytest.raises(InvalidEventError, match="at version 1"):
            store.save_snapshot("s-1", 2, {})
        with pytest.raises(InvalidEventError):
            store.save_snapshot("s-1", 0, {})
        with pytest.raises(InvalidEventError):
            store.save_snapshot("s-1", 1, {"bad": {1, 2}})  # type: ignore[dict-item]

    # -- upcasters --------------------------------------------------------------------------------------

    def test_old_schema_events_are_upcast_on_read(self, store: EventStorePort) -> None:
        store.append("s-1", 0, [NewEvent("WorkOrderOpened", {"grade": "1"}, schema_version=1)])
        store.append("s-1", 1, [NewEvent("WorkOrderOpened", {"grade": 2, "priority": "high"}, schema_version=3)])
        store.append("s-1", 2, [NewEvent("Other", {"x": 1})])

        upcasters = UpcasterRegistry()

        @upcasters.register("WorkOrderOpened", from_version=1)
        def _grade_as_int(payload: dict[str, Any]) -> dict[str, Any]:
            return {**payload, "grade": int(payload["grade"])}

        @upcasters.register("WorkOrderOpened", from_version=2)
        def _add_priority(payload: dict[str, Any]) -> dict[str, Any]:
            return {**payload, "priority": "normal"}

        upgraded = self.with_upcasters(store, upcasters)
        old, new, other = upgraded.read_stream("s-1")
        assert (old.schema_version, old.payload) == (3, {"grade": 1, "priority": "normal"})
        assert (new.schema_version, new.payload) == (3, {"grade": 2, "priority": "high"})
        assert (other.schema_version, other.payload) == (1, {"x": 1})
        assert upgraded.read_all()[0] == old
        # Stored data is untouched: a store without the upcasters still reads v1.
        assert store.read_stream("s-1")[0].payload == {"grade": "1"}

    # -- garbage ----------------------------------------------------------------------------------------

    @pytest.mark.parametrize("stream_id", BAD_STREAM_IDS)
    def test_bad_stream_ids_are_refused(self, store: EventStorePort, stream_id: Any) -> None:
        with pytest.raises(InvalidEventError, match="stream_id"):
            store.append(stream_id, 0, [opened()])
        with pytest.raises(InvalidEventError, match="stream_id"):
            store.read_stream(stream_id)
        assert store.head_position() == 0

    @pytest.mark.parametrize("expected_version", [-1, -(2**70), 2**63, 1.0, "0", True, [0]])
    def test_bad_expected_versions_are_refused(self, store: EventStorePort, expected_version: Any) -> None:
        with pytest.raises(InvalidEventError, match="expected_version"):
            store.append("s-1", expected_version, [opened()])
        assert store.head_position() == 0

    @pytest.mark.parametrize("payload", BAD_PAYLOADS, ids=range(len(BAD_PAYLOADS)))
    def test_non_json_payloads_are_refused(self, store: EventStorePort, payload: Any) -> None:
        with pytest.raises(InvalidEventError):
            store.append("s-1", 0, [NewEvent("WorkOrderOpened", payload)])
        assert store.head_position() == 0

    @pytest.mark.parametrize(
        "events",
        [
            [],
            (),
            None,
            opened(),
            [{"event_type": "X", "payload": {}}],
            [NewEvent("", {})],
            [NewEvent("1Starts-with-digit", {})],
            [NewEvent("has space", {})],
            [NewEvent("X", {}, schema_version=0)],
            [NewEvent("X", {}, schema_version=-1)],
            [NewEvent("X", {}, schema_version=True)],
            [NewEvent("X", {}, event_id="not-a-uuid")],  # type: ignore[arg-type]
            [NewEvent("X", {}, event_id=uuid.UUID(int=1)), NewEvent("Y", {}, event_id=uuid.UUID(int=1))],
        ],
        ids=range(13),
    )
    def test_malformed_event_lists_are_refused(self, store: EventStorePort, events: Any) -> None:
        with pytest.raises(InvalidEventError):
            store.append("s-1", 0, events)
        assert store.head_position() == 0

    @pytest.mark.parametrize("field", ["causation_id", "correlation_id", "actor"])
    @pytest.mark.parametrize("value", ["", "x" * 201, "line\nbreak", 12, b"bytes"])
    def test_bad_metadata_is_refused(self, store: EventStorePort, field: str, value: Any) -> None:
        with pytest.raises(InvalidEventError, match=field):
            store.append("s-1", 0, [opened()], **{field: value})
        assert store.head_position() == 0

    @pytest.mark.parametrize("kwargs", [{"after_version": -1}, {"limit": 0}, {"after_version": "1"}])
    def test_bad_read_arguments_are_refused(self, store: EventStorePort, kwargs: dict[str, Any]) -> None:
        with pytest.raises(InvalidEventError):
            store.read_stream("s-1", **kwargs)

    @pytest.mark.parametrize("kwargs", [{"after_position": -1}, {"limit": 0}, {"limit": -5}])
    def test_bad_read_all_arguments_are_refused(self, store: EventStorePort, kwargs: dict[str, Any]) -> None:
        with pytest.raises(InvalidEventError):
            store.read_all(**kwargs)
