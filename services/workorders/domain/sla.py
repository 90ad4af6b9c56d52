"""SLA timers: which deadlines of a work order are breached at ``now`` and not yet escalated.

``due_escalations(order, now_unix_us, policy)`` is pure: the caller (a timer in the service layer, or a
test with a controlled clock) passes the time, appends the returned ``SlaBreached`` events to the order's
stream, and the order remembers their ``breach_key`` so the same breach is never escalated twice.
Calling it again at the same or a later time gives only breaches not yet recorded.

Deadlines (figures from ``policy.SlaPolicy``; measured from the order's response clock start unless said:
the alarm's own time capped at the time received, or the reopening of a closed/cancelled order, see
``WorkOrder.response_clock_start_unix_us``):

* on site, target (warning) and limit (critical) of the current grade's response code, while nobody has
  arrived; a late arrival that no timer saw is still escalated once, for the record. Not while the repair
  is deferred (monitoring) or the order is closed/cancelled. The key includes the grade, so a regrade
  from 2 to 1 starts the grade 1 clock (still from the same start), and after a reopening the number of
  reopenings (``:r1``), so the new response is escalated again (keys are unique per order in the read model).
* make safe (grade 1, only if ``grade1_make_safe_limit_s`` is set): critical.
* permanent repair: grade 2 within 12 months of being graded 2; grade 3 within 2 years of being graded 3
  if environmentally significant. Critical. The key includes the grade and the deadline.
* re-evaluation of a monitored leak: critical once per re-evaluation date.

Timers keep running while an order is on hold: a hold never hides a late response.

``response_compliance(times, target)`` checks a period's on-site times against the monthly rule itself
(mean <= target, share over the threshold <= the allowed share, none over the limit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.workorders.domain.errors import InvalidInput
from services.workorders.domain.policy import DEFAULT_SLA_POLICY, ResponseTarget, SlaPolicy
from services.workorders.domain.values import US_PER_S, Grade, check_number, check_time
from services.workorders.domain.workorder import (
    TERMINAL,
    BreachKind,
    RepairKind,
    Severity,
    SlaBreached,
    WorkOrder,
    WorkOrderStatus,
)


def due_escalations(order: WorkOrder, now_unix_us: int, policy: SlaPolicy = DEFAULT_SLA_POLICY) -> list[SlaBreached]:
    """New ``SlaBreached`` events for deadlines passed at ``now_unix_us`` (strictly after the deadline)."""
    if not isinstance(order, WorkOrder):
        raise InvalidInput(f"order must be a WorkOrder, not {type(order).__name__}")
    check_time("now_unix_us", now_unix_us)
    if order.status is None or order.status in TERMINAL:
        return []
    received = order.response_clock_start_unix_us
    assert order.grade is not None and received is not None
    grade = order.grade
    response_round = f":r{order.reopenings}" if order.reopenings else ""
    found: list[tuple[str, BreachKind, Severity, int]] = []

    response = policy.response(grade)
    deferred = order.status is WorkOrderStatus.MONITORING or order.held_from is WorkOrderStatus.MONITORING
    if response is not None and not (deferred and order.arrived_at_unix_us is None):
        reached = order.arrived_at_unix_us if order.arrived_at_unix_us is not None else now_unix_us
        for kind, severity, limit_s in (
            (BreachKind.ON_SITE_TARGET, Severity.WARNING, response.target_s),
            (BreachKind.ON_SITE_LIMIT, Severity.CRITICAL, response.limit_s),
        ):
            deadline = received + limit_s * US_PER_S
            if reached > deadline:
                found.append((f"{kind.value}:g{grade.value}{response_round}", kind, severity, deadline))

    if grade is Grade.ONE and policy.grade1_make_safe_limit_s is not None:
        deadline = received + policy.grade1_make_safe_limit_s * US_PER_S
        reached = order.made_safe_at_unix_us if order.made_safe_at_unix_us is not None else now_unix_us
        if reached > deadline:
            found.append(
                (f"make_safe_limit:g1{response_round}", BreachKind.MAKE_SAFE_LIMIT, Severity.CRITICAL, deadline)
            )

    repair_s = policy.repair_deadline_s(grade, order.environmentally_significant)
    if repair_s is not None and order.repair_kind is not RepairKind.PERMANENT:
        deadline = order.graded_at_unix_us + repair_s * US_PER_S
        if now_unix_us > deadline:
            found.append(
                (f"repair_deadline:g{grade.value}:{deadline}", BreachKind.REPAIR_DEADLINE, Severity.CRITICAL, deadline)
            )

    if order.reevaluate_by_unix_us is not None and deferred and now_unix_us > order.reevaluate_by_unix_us:
        deadline = order.reevaluate_by_unix_us
        found.append((f"reevaluation_overdue:{deadline}", BreachKind.REEVALUATION_OVERDUE, Severity.CRITICAL, deadline))

    return [
        SlaBreached(
            order_id=order.order_id,
            at_unix_us=max(now_unix_us, order.last_event_at_unix_us),
            breach_key=key,
            kind=kind,
            severity=severity,
            grade=grade,
            deadline_unix_us=deadline,
        )
        for key, kind, severity, deadline in found
        if key not in order.escalations
    ]


@dataclass(frozen=True, slots=True)
class ResponseCompliance:
    """A period's on-site times against one response code (Washington DC style monthly check)."""

    calls: int
    mean_s: float | None
    share_over_threshold: float | None
    max_s: float | None
    mean_ok: bool
    share_ok: bool
    none_over_limit: bool

    @property
    def compliant(self) -> bool:
        return self.mean_ok and self.share_ok and self.none_over_limit


def response_compliance(arrival_times_s: Iterable[float], target: ResponseTarget) -> ResponseCompliance:
    """Mean time on site, share over the threshold and the worst case, for the orders of one period.

    ``arrival_times_s`` are ``WorkOrder.timings().to_arrive_s`` of the period's orders of that code.
    An empty period is compliant.
    """
    if not isinstance(target, ResponseTarget):
        raise InvalidInput(f"target must be a ResponseTarget, not {type(target).__name__}")
    times = [check_number("arrival time", t, minimum=0.0) for t in arrival_times_s]
    if not times:
        return ResponseCompliance(0, None, None, None, True, True, True)
    mean = sum(times) / len(times)
    share = sum(t > target.threshold_s for t in times) / len(times)
    worst = max(times)
    return ResponseCompliance(
        calls=len(times),
        mean_s=mean,
        share_over_threshold=share,
        max_s=worst,
        mean_ok=mean <= target.target_s,
        share_ok=share <= target.max_share_over,
        none_over_limit=worst <= target.limit_s,
    )
