"""``AuditTrail``: keeps audit records in the event store, batched and capped per caller, and reads them back.

Write cost: records are buffered and appended in batches (one append per UTC day's stream per flush: one
transaction for up to ``batch_size`` records) when ``flush`` is called: by the gRPC server every
``flush_interval`` and as soon as ``batch_size`` records wait. A crash loses at most the records not yet
flushed (the commands' own events still name their actor and time). Each record gets its event id when
it is taken, so a flush retried after a lost reply is an exact retry and stores nothing twice.

Flooding: successful commands are always kept. Every other record (refusals, audited reads) counts
against its caller's cap: ``per_caller_per_window`` records per ``window_us`` per caller (the token's
subject, or the peer's address without its port when unauthenticated). Beyond it records are counted,
not kept, and one summary record (``dropped`` = how many, first and last time) is written when the
window ends. At most ``max_callers`` callers are tracked per window; further callers share one entry
(``(other callers)``), and at most ``max_pending`` records wait for a flush (beyond: counted the same
way), so memory stays bounded whatever an attacker sends.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from services.eventstore import InvalidEventError, NewEvent
from services.workorders.domain.audit import (
    AUDIT_RECORDED,
    DROPPED,
    AuditFilter,
    AuditRecord,
    audit_stream,
    day_of,
)
from services.workorders.domain.errors import InvalidInput
from services.workorders.service_layer.ports import EventStore

log = logging.getLogger(__name__)

OTHER_CALLERS = "(other callers)"
_READ_CHUNK = 1000
# Days of streams probed (and records read) by one query call at most; the page token continues the scan.
MAX_DAYS_PER_CALL = 62
# A scanned record costs ~0.1 ms (read, decode, filter) while the call holds a worker of the blocking pool: at
# 20,000 a query matching little took 1.5-2.5 s on a quiet machine, and a few regulators repeating it (make fuzz)
# starved every other call past its deadline. The page token continues the scan (ctl's audit follows it).
MAX_RECORDS_SCANNED_PER_CALL = 2_000
MAX_RANGE_DAYS = 366 * 5


@dataclass
class _CallerWindow:
    kept: int = 0
    dropped: int = 0
    first_dropped_at: int = 0
    last_dropped_at: int = 0
    sample: AuditRecord | None = None  # the first dropped record: who and from where


@dataclass(frozen=True, slots=True)
class AuditPage:
    records: list[AuditRecord]
    # "" when the range is exhausted; else where the next call continues (day:version).
    next_token: str
    scanned: int = 0


@dataclass
class AuditStats:
    kept: int = 0
    dropped: int = 0
    flushed: int = 0
    flush_failures: int = 0
    summaries: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)


class AuditTrail:
    def __init__(
        self,
        store: EventStore,
        clock: Callable[[], int],
        *,
        per_caller_per_window: int = 120,
        window_us: int = 60 * 1_000_000,
        max_callers: int = 10_000,
        max_pending: int = 10_000,
        batch_size: int = 200,
    ) -> None:
        self.store = store
        self.clock = clock
        self.per_caller_per_window = per_caller_per_window
        self.window_us = window_us
        self.max_callers = max_callers
        self.max_pending = max_pending
        self.batch_size = batch_size
        self.stats = AuditStats()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: list[tuple[uuid.UUID, AuditRecord]] = []
        self._callers: dict[str, _CallerWindow] = {}
        self._window = 0  # the current window (all callers share the grid): at_unix_us // window_us

    # -- writing ---------------------------------------------------------------------------------------

    @staticmethod
    def caller_key(record: AuditRecord) -> str:
        if record.subject:
            return "sub:" + record.subject
        host = record.peer.rsplit(":", 1)[0] if record.peer.count(":") >= 2 else record.peer
        return "peer:" + host

    def record(self, record: AuditRecord, *, capped: bool = True) -> bool:
        """Keep ``record`` for the next flush; False when it was only counted (cap or full buffer).

        ``capped=False`` (successful commands): always kept; it changed something, and its rate is
        bounded by the work itself.
        """
        with self._lock:
            self._close_windows(record.at_unix_us // self.window_us)
            key = self.caller_key(record)
            if key not in self._callers and len(self._callers) >= self.max_callers:
                key = OTHER_CALLERS
            state = self._callers.get(key)
            if state is None:
                state = self._callers[key] = _CallerWindow()
            if capped and (state.kept >= self.per_caller_per_window or len(self._pending) >= self.max_pending):
                state.dropped += 1
                state.first_dropped_at = state.first_dropped_at or record.at_unix_us
                state.last_dropped_at = record.at_unix_us
                if state.sample is None:
                    state.sample = record
                self.stats.dropped += 1
                return False
            state.kept += 1
            self._pending.append((uuid.uuid4(), record))
            self.stats.kept += 1
            self.stats.by_outcome[record.outcome] = self.stats.by_outcome.get(record.outcome, 0) + 1
            return True

    def _close_windows(self, window: int, *, everything: bool = False) -> None:
        """When the window moves on, the callers' counts start again; the summaries of what was dropped in
        the finished window go to the buffer (summaries are never capped: one per caller and window)."""
        if not everything and window <= self._window:
            return
        self._window = max(self._window, window)
        callers, self._callers = self._callers, {}
        for key, state in callers.items():
            if state.dropped and state.sample is not None:
                sample = state.sample
                summary = replace(
                    sample,
                    at_unix_us=state.first_dropped_at,
                    until_unix_us=state.last_dropped_at,
                    subject=sample.subject if key != OTHER_CALLERS else OTHER_CALLERS,
                    action=sample.action if key != OTHER_CALLERS else "(any)",
                    outcome=DROPPED,
                    reason=(
                        f"{state.dropped} records of this caller were not kept: more than "
                        f"{self.per_caller_per_window} in {self.window_us // 1_000_000} s"
                    ),
                    dropped=state.dropped,
                )
                self._pending.append((uuid.uuid4(), summary))
                self.stats.summaries += 1

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self, *, final: bool = False) -> int:
        """Append the waiting records (and the summaries of finished windows); returns how many were stored.

        On a store failure the records stay buffered for the next flush (and the error is logged).
        """
        with self._flush_lock:
            with self._lock:
                now = self.clock()
                self._close_windows(now // self.window_us, everything=final)
                batch, self._pending = self._pending, []
            stored = 0
            by_day: dict[int, list[tuple[uuid.UUID, AuditRecord]]] = {}
            for item in batch:
                by_day.setdefault(day_of(item[1].at_unix_us), []).append(item)
            failed: list[tuple[uuid.UUID, AuditRecord]] = []
            for day, items in sorted(by_day.items()):
                for start in range(0, len(items), self.batch_size):
                    chunk = items[start : start + self.batch_size]
                    try:
                        stored += self._append(day, chunk)
                    except InvalidEventError:
                        # Never expected (records are cleaned), but one unstorable record must not block
                        # the others for ever: store them one by one, count what cannot be stored.
                        for item in chunk:
                            try:
                                stored += self._append(day, [item])
                            except InvalidEventError:
                                log.exception("an audit record cannot be stored; counted as dropped")
                                self.stats.dropped += 1
                            except Exception:
                                self.stats.flush_failures += 1
                                failed.append(item)
                    except Exception:
                        log.exception("audit flush failed; records kept for the next flush")
                        self.stats.flush_failures += 1
                        failed.extend(chunk)
            if failed:
                with self._lock:
                    room = max(0, self.max_pending - len(self._pending))
                    self.stats.dropped += max(0, len(failed) - room)
                    self._pending[:0] = failed[:room]
            self.stats.flushed += stored
            return stored

    def _append(self, day: int, chunk: list[tuple[uuid.UUID, AuditRecord]]) -> int:
        self.store.append(
            audit_stream(day),
            None,
            [NewEvent(AUDIT_RECORDED, r.to_payload(), event_id=event_id) for event_id, r in chunk],
            actor="system:audit",
        )
        return len(chunk)

    # -- reading ---------------------------------------------------------------------------------------

    def query(self, filt: AuditFilter, *, limit: int, page_token: str = "") -> AuditPage:
        """Matching records, oldest day first (within a day in the order they were stored).

        Reads the day streams the range covers, at most ``MAX_DAYS_PER_CALL`` days and
        ``MAX_RECORDS_SCANNED_PER_CALL`` records per call: a page may then hold fewer than ``limit``
        records and still carry a ``next_token`` to continue from.
        """
        first_day, last_day = day_of(filt.since_unix_us), day_of(filt.until_unix_us - 1)
        if last_day - first_day + 1 > MAX_RANGE_DAYS:
            raise InvalidInput(f"the time range covers {last_day - first_day + 1} days; at most {MAX_RANGE_DAYS}")
        day, after_version = first_day, 0
        if page_token:
            day, after_version = _parse_token(page_token, first_day, last_day)
        found: list[AuditRecord] = []
        scanned = 0
        days_read = 0
        while day <= last_day:
            if days_read >= MAX_DAYS_PER_CALL or scanned >= MAX_RECORDS_SCANNED_PER_CALL:
                return AuditPage(found, f"{day}:{after_version}", scanned)
            events = self.store.read_stream(audit_stream(day), after_version=after_version, limit=_READ_CHUNK)
            for event in events:
                scanned += 1
                after_version = event.version
                try:
                    record = AuditRecord.from_payload(event.payload)
                except InvalidInput:
                    log.warning("unreadable audit record", extra={"stream": event.stream_id, "v": event.version})
                    continue
                if filt.matches(record):
                    found.append(record)
                    if len(found) >= limit:
                        return AuditPage(found, f"{day}:{after_version}", scanned)
            if len(events) < _READ_CHUNK:
                day, after_version = day + 1, 0
                days_read += 1
        return AuditPage(found, "", scanned)


def _parse_token(token: str, first_day: int, last_day: int) -> tuple[int, int]:
    day_text, _, version_text = token.partition(":")
    if not (day_text.isdigit() and version_text.isdigit() and len(token) <= 24):
        raise InvalidInput("page_token is not one this server issued")
    day, version = int(day_text), int(version_text)
    if not first_day <= day <= last_day:
        raise InvalidInput("page_token does not belong to this time range")
    return day, version
