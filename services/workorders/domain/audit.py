"""The audit trail's records: who tried what, on what, from where, and how it ended.

One ``AuditRecord`` per attempt (a command, a refused call, an audited read). Records live in the event
store in streams of their own, one per UTC day (``audit_stream(at)``: ``audit-2026-12-06``), so a query
over a time range reads only the days it covers and the aggregates' streams never carry them.

A record with ``dropped > 0`` is a summary: that many records of one caller were not kept (a caller
flooding refusals is capped; see ``service_layer.audit``), between ``at_unix_us`` and ``until_unix_us``.

Pure: no clock, no I/O. Times are microseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.workorders.domain.errors import InvalidInput

AUDIT_STREAM_PREFIX = "audit-"
AUDIT_RECORDED = "AuditRecorded"
US_PER_DAY = 86_400 * 1_000_000
LAST_US = 253_402_300_800_000_000  # 10000-01-01T00:00Z: day streams are named by ISO dates
OK = "ok"
DROPPED = "dropped"
# The query's outcome filter "refused" matches every outcome but ok (and summaries of dropped records).
REFUSED = "refused"
# The outcomes a record can have: ok, the API's refusal and failure statuses (lower case), and dropped.
OUTCOMES = frozenset(
    {
        OK,
        "unauthenticated",
        "permission_denied",
        "invalid_argument",
        "not_found",
        "failed_precondition",
        "aborted",
        "resource_exhausted",
        "unavailable",
        "internal",
        DROPPED,
    }
)
_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_MAX_TEXT = 500


def day_of(at_unix_us: int) -> int:
    """Days since 1970-01-01 (UTC) of a time."""
    return at_unix_us // US_PER_DAY


def audit_stream(day: int) -> str:
    """The stream holding the records of a UTC day (``day_of``)."""
    return AUDIT_STREAM_PREFIX + _dt.date.fromordinal(_EPOCH_ORDINAL + day).isoformat()


def is_audit_stream(stream_id: str) -> bool:
    return stream_id.startswith(AUDIT_STREAM_PREFIX)


# Control characters (C0 but tab, C1, DEL) and lone surrogates: a caller's garbage is recorded, escaped,
# never stored raw (NUL cannot be stored at all, and one unstorable record must not block the trail).
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _clip(text: str) -> str:
    text = _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", text[: _MAX_TEXT * 2])
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at_unix_us: int
    subject: str  # the token's subject; "" when the caller was not authenticated
    role: str  # the token's role; "" when not authenticated
    token_districts: tuple[str, ...]  # the token's districts ("*" = all)
    action: str  # a query's name (ListWorkOrders) or a command as aggregate.verb (work_order.dispatch)
    target: str  # the aggregate id, report name or requested districts ("" when none)
    district: str  # the target's district when known ("" otherwise)
    outcome: str  # OK, a refusal/failure status in lower case, or DROPPED
    reason: str  # the refusal's message ("" when ok)
    peer: str  # where the call came from (gRPC peer, e.g. ipv4:10.0.0.7:51234)
    dropped: int = 0  # > 0: a summary of that many records not kept
    until_unix_us: int = 0  # the summary's last dropped record

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise InvalidInput(f"unknown audit outcome {self.outcome!r}; known: {sorted(OUTCOMES)}")

    @property
    def refused(self) -> bool:
        return self.outcome != OK

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "at_unix_us": self.at_unix_us,
            "subject": _clip(self.subject),
            "role": _clip(self.role),
            "token_districts": [_clip(d) for d in self.token_districts[:50]],
            "action": _clip(self.action),
            "target": _clip(self.target),
            "district": _clip(self.district),
            "outcome": self.outcome,
            "reason": _clip(self.reason),
            "peer": _clip(self.peer),
        }
        if self.dropped:
            payload["dropped"] = self.dropped
            payload["until_unix_us"] = self.until_unix_us
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> AuditRecord:
        try:
            return cls(
                at_unix_us=int(payload["at_unix_us"]),
                subject=str(payload["subject"]),
                role=str(payload["role"]),
                token_districts=tuple(str(d) for d in payload["token_districts"]),
                action=str(payload["action"]),
                target=str(payload["target"]),
                district=str(payload["district"]),
                outcome=str(payload["outcome"]),
                reason=str(payload["reason"]),
                peer=str(payload["peer"]),
                dropped=int(payload.get("dropped", 0)),
                until_unix_us=int(payload.get("until_unix_us", 0)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidInput(f"not an audit record: {error}") from None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What a query asks for: ``since <= at < until``; empty sets match everything.

    ``visible``: the querying principal's districts (None = all). A record is visible when its target's
    district is one of them or, when the target's district is unknown (a refusal before the target was
    looked at), when the caller's token named one of them or all ("*"). Records of unauthenticated
    callers name no district: only an all-district auditor sees them.
    """

    since_unix_us: int
    until_unix_us: int
    subjects: frozenset[str] = frozenset()
    districts: frozenset[str] = frozenset()
    outcomes: frozenset[str] = frozenset()
    visible: frozenset[str] | None = None

    def __post_init__(self) -> None:
        unknown = sorted(self.outcomes - OUTCOMES - {REFUSED})
        if unknown:
            raise InvalidInput(f"unknown outcome(s) {unknown}; known: {sorted(OUTCOMES | {REFUSED})}")
        if not 0 <= self.since_unix_us < self.until_unix_us <= LAST_US:
            raise InvalidInput(
                f"the time range must have 0 <= since < until <= {LAST_US} (the year 10000), got "
                f"since={self.since_unix_us} until={self.until_unix_us}"
            )

    def _in(self, record: AuditRecord, districts: frozenset[str]) -> bool:
        if record.district:
            return record.district in districts
        return bool(districts.intersection(record.token_districts)) or "*" in record.token_districts

    def matches(self, record: AuditRecord) -> bool:
        if not self.since_unix_us <= record.at_unix_us < self.until_unix_us:
            return False
        if self.subjects and record.subject not in self.subjects:
            return False
        if self.outcomes and record.outcome not in self.outcomes and not (REFUSED in self.outcomes and record.refused):
            return False
        if self.districts and not self._in(record, self.districts):
            return False
        return self.visible is None or self._in(record, self.visible)
