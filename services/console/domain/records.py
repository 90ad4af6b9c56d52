"""Hazards, report tables and Watch events as the console shows them (decoded API facts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.console.domain.orders import Order


@dataclass(frozen=True, slots=True)
class Hazard:
    hazard_id: str
    state: str
    district: str
    major: bool
    description: str
    location: str
    responsible_unit: str
    supervising_department: str
    found_at_unix_us: int
    deadline_unix_us: int
    overdue: bool
    source: str
    found_by: str
    reported_via: str
    interim_measures: str
    segment_id: str
    signatures: int
    sign_off_levels: int
    next_sign_off_role: str

    @property
    def sign_off_chain(self) -> str:
        """e.g. ``2/4 signed, next: supervising_department``."""
        if not self.sign_off_levels:
            return ""
        text = f"{self.signatures}/{self.sign_off_levels} signed"
        return f"{text}, next: {self.next_sign_off_role}" if self.next_sign_off_role else text


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def column(self, name: str) -> int:
        return self.columns.index(name)

    def number(self, row: Sequence[str], name: str) -> float:
        """A numeric cell (0 when empty or not a number: report cells are text)."""
        try:
            return float(row[self.column(name)])
        except (ValueError, IndexError):
            return 0.0


@dataclass(frozen=True, slots=True)
class Change:
    """One event of the Watch feed (heartbeats carry only the position)."""

    position: int
    stream_id: str = ""
    stream_version: int = 0
    event_type: str = ""
    district: str = ""
    actor: str = ""
    recorded_at_unix_us: int = 0
    payload_json: str = ""
    heartbeat: bool = False
    order: Order | None = None
    kind: str = ""  # work_order | hazard | other

    def summary(self) -> dict[str, object]:
        """What a browser is told: which stream changed, nothing a page could not ask the API for."""
        return {
            "position": self.position,
            "stream_id": self.stream_id,
            "kind": self.kind,
            "event_type": self.event_type,
            "district": self.district,
            "recorded_at_unix_us": self.recorded_at_unix_us,
        }


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: str
    actor: str
    what: str
    details: str


_SKIP = {"actor", "order_id", "at_unix_us", "alarm", "segment", "hazard_id", "replacement_id"}


def format_time(unix_us: int) -> str:
    if not unix_us:
        return ""
    return datetime.fromtimestamp(unix_us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def timeline_entry(change: Change) -> TimelineEntry:
    """One line of an order's timeline: when, who, what (the event type in words) and its plain fields."""
    try:
        payload = json.loads(change.payload_json) if change.payload_json else {}
    except ValueError:
        payload = {}
    details = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in _SKIP or value in (None, "", [], {}):
                continue
            if isinstance(value, dict | list):
                continue
            details.append(f"{key.replace('_', ' ')}: {value}")
    words = "".join(f" {ch.lower()}" if ch.isupper() else ch for ch in change.event_type).strip()
    return TimelineEntry(format_time(change.recorded_at_unix_us), change.actor, words, "; ".join(details)[:500])
