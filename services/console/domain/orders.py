"""Work orders as the queue and the order page show them: SLA countdowns, filters, evidence."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.workorders.domain.policy import DEFAULT_SLA_POLICY, SlaPolicy
from services.workorders.domain.values import Grade

US_PER_S = 1_000_000
TERMINAL_STATES = frozenset({"closed", "cancelled"})
STATES = (
    "triaged", "dispatched", "acknowledged", "en_route", "on_site", "made_safe", "repaired", "verified",
    "closed", "monitoring", "on_hold", "cancelled",
)
# Share of an SLA's time left under which its countdown turns amber before it is passed: a dispatcher must
# see a deadline coming, not only one already missed.
AMBER_SHARE_LEFT = 0.25
Z95 = 1.96


class FilterError(ValueError):
    """A query-string filter the console cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class Order:
    """The facts of one work order the console needs (the API's ``WorkOrder``, decoded)."""

    work_order_id: str
    version: int
    state: str
    grade: int
    segment_id: str
    district: str
    pipe_class: str
    material: str
    opened_at_unix_us: int
    crew_id: str = ""
    arrived_at_unix_us: int = 0
    made_safe_at_unix_us: int = 0
    sla_breaches: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    # Where to dig, as workorders words it ("km 1.2 (1.0–1.4, 95 %, pressure gradient)", "... not located
    # yet"); "" from a workorders that does not send it yet.
    location: str = ""

    @property
    def response_from_unix_us(self) -> int:
        """Where the response clock starts (the alarm's time, capped at receipt), as workorders keeps it."""
        value = self.detail.get("response_from_unix_us")
        return int(value) if isinstance(value, int | float) and value > 0 else self.opened_at_unix_us

    @property
    def open(self) -> bool:
        return self.state not in TERMINAL_STATES


def parse_detail(detail_json: str) -> Mapping[str, Any]:
    """The aggregate's JSON (``WorkOrder.detail_json``); an unreadable one gives an empty mapping."""
    try:
        value = json.loads(detail_json) if detail_json else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Countdown:
    """One SLA of one order: seconds left (negative: late), and the colour it shows."""

    name: str  # "on site" | "made safe"
    deadline_unix_us: int
    warn_at_unix_us: int
    done: bool  # the milestone was reached (the countdown stops)
    seconds_left: float
    level: str  # ok | amber | red | done

    @property
    def text(self) -> str:
        if self.done:
            return "met" if self.seconds_left >= 0 else f"met {format_duration(-self.seconds_left)} late"
        if self.seconds_left < 0:
            return f"{format_duration(-self.seconds_left)} late"
        return format_duration(self.seconds_left)


def format_duration(seconds: float) -> str:
    s = int(abs(seconds))
    if s >= 86400:
        return f"{s // 86400}d {s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 60}m {s % 60:02d}s"


def _countdown(name: str, start_us: int, target_s: int, limit_s: int, reached_us: int, now_us: int) -> Countdown:
    deadline = start_us + limit_s * US_PER_S
    # Amber from the earlier of the target (the monthly-average goal) and the last quarter of the limit.
    warn_at = min(start_us + target_s * US_PER_S, deadline - int(AMBER_SHARE_LEFT * limit_s * US_PER_S))
    at = reached_us if reached_us else now_us
    left_s = (deadline - at) / US_PER_S
    if reached_us:
        level = "done"
    elif at > deadline:
        level = "red"
    elif at >= warn_at:
        level = "amber"
    else:
        level = "ok"
    return Countdown(name, deadline, warn_at, bool(reached_us), left_s, level)


def countdowns(
    order: Order, now_unix_us: int, policy: SlaPolicy = DEFAULT_SLA_POLICY, make_safe_limit_s: int | None = None
) -> tuple[Countdown, ...]:
    """The order's response SLAs at ``now``: on site (the grade's response code: target, then limit) and,
    for grade 1, made safe (the policy's limit, else ``make_safe_limit_s``). None for closed orders, for
    ungraded ones and for grades without a response code."""
    if not order.open or order.grade not in (1, 2, 3):
        return ()
    grade = Grade(order.grade)
    start = order.response_from_unix_us
    out: list[Countdown] = []
    response = policy.response(grade)
    if response is not None and order.state != "monitoring":
        out.append(_countdown("on site", start, response.target_s, response.limit_s, order.arrived_at_unix_us,
                              now_unix_us))
    safe_s = policy.grade1_make_safe_limit_s or make_safe_limit_s
    if grade is Grade.ONE and safe_s:
        out.append(_countdown("made safe", start, safe_s, safe_s, order.made_safe_at_unix_us, now_unix_us))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    districts: tuple[str, ...] = ()
    grades: tuple[int, ...] = ()
    states: tuple[str, ...] = ()

    def matches(self, order: Order) -> bool:
        return (
            (not self.districts or order.district in self.districts)
            and (not self.grades or order.grade in self.grades)
            and (not self.states or order.state in self.states)
        )


def _clean(name: str, value: str) -> str:
    text = value.strip()
    if len(text) > 100 or not text.isprintable():
        raise FilterError(f"filter {name!r}: not a usable value")
    return text


def parse_queue_filter(params: Sequence[tuple[str, str]], known_districts: Sequence[str]) -> QueueFilter:
    """Filters from a query string (repeatable ``district``, ``grade``, ``state``); garbage is refused
    naming the filter. Unknown districts are refused here; the API still decides what the user may see."""
    districts: list[str] = []
    grades: list[int] = []
    states: list[str] = []
    for name, raw in params:
        value = _clean(name, raw)
        if not value:
            continue
        if name == "district":
            if value not in known_districts:
                raise FilterError(f"filter 'district': unknown district {value!r}")
            districts.append(value)
        elif name == "grade":
            if value not in ("1", "2", "3"):
                raise FilterError(f"filter 'grade': must be 1, 2 or 3, got {value!r}")
            grades.append(int(value))
        elif name == "state":
            if value not in STATES:
                raise FilterError(f"filter 'state': unknown state {value!r}")
            states.append(value)
    return QueueFilter(tuple(dict.fromkeys(districts)), tuple(dict.fromkeys(grades)), tuple(dict.fromkeys(states)))


@dataclass(frozen=True, slots=True)
class Evidence:
    """The alarm's evidence on the order page."""

    methods: tuple[str, ...]
    leak_rate_kg_per_s: float | None
    location_m: float | None
    location_low_m: float | None
    location_high_m: float | None
    methane_lel_pct: float | None
    confined_space: bool
    grade_reasons: tuple[str, ...]
    segment_length_m: float | None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def evidence(detail: Mapping[str, Any]) -> Evidence:
    """What the alarm said, tolerant of missing parts (an order's alarm may carry no location or rate)."""
    alarm = detail.get("alarm") if isinstance(detail.get("alarm"), dict) else {}
    assert isinstance(alarm, dict)
    # The order's own position (the latest any alarm record gave), else the latest record's (older workorders).
    location = detail.get("location") if isinstance(detail.get("location"), dict) else alarm.get("location")
    methane = alarm.get("methane") if isinstance(alarm.get("methane"), dict) else {}
    assert isinstance(methane, dict)
    segment = detail.get("segment") if isinstance(detail.get("segment"), dict) else {}
    assert isinstance(segment, dict)
    length_km = _number(segment.get("length_km"))
    methods = alarm.get("methods")
    methods = methods if isinstance(methods, list) else []
    reasons = detail.get("grade_reasons")
    reasons = reasons if isinstance(reasons, list) else []
    rate = alarm.get("leak_rate") if isinstance(alarm.get("leak_rate"), dict) else {}
    assert isinstance(rate, dict)
    position_km = _number(location.get("position_km")) if isinstance(location, dict) else None
    uncertainty_km = (_number(location.get("uncertainty_km")) if isinstance(location, dict) else None) or 0.0
    low_m = high_m = None
    confidence = _number(location.get("confidence_level")) if isinstance(location, dict) else None
    if position_km is not None and confidence:
        # The alarm states its interval (at confidence_level, already clamped to the segment): show that one.
        assert isinstance(location, dict)
        low_m = (_number(location.get("ci_low_km")) or 0.0) * 1000.0
        high_m = (_number(location.get("ci_high_km")) or 0.0) * 1000.0
    elif position_km is not None:
        # uncertainty_km is one standard uncertainty: the 95 % interval is 1.96 of it either side, clamped
        # to the segment.
        low_m = max(0.0, (position_km - Z95 * uncertainty_km) * 1000.0)
        high_m = (position_km + Z95 * uncertainty_km) * 1000.0
        if length_km is not None:
            high_m = min(high_m, length_km * 1000.0)
    return Evidence(
        methods=tuple(str(m) for m in methods),
        leak_rate_kg_per_s=_number(rate.get("rate_kg_per_s")),
        location_m=position_km * 1000.0 if position_km is not None else None,
        location_low_m=low_m,
        location_high_m=high_m,
        methane_lel_pct=_number(methane.get("lel_pct")),
        confined_space=bool(methane.get("confined_space")),
        grade_reasons=tuple(str(r) for r in reasons),
        segment_length_m=length_km * 1000.0 if length_km is not None else None,
    )
