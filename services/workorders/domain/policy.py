"""Service-level policy for leak work orders: response times, repair deadlines, re-evaluation, deferral.

Defaults come from the domain brief ("Leak grades and response times"); every figure is a field so a
utility or regulator can set its own. Durations are integer seconds.

=============================  ==========================  ===================================================
figure                         default                     source
=============================  ==========================  ===================================================
grade 1 on site (code 1)       30 min target, none > 2 h,  Washington DC rules (monthly average 30 min,
                               <= 3 % over 50 min          <= 3 % over 50 min, none over 2 h)
grade 2 on site (code 2)       60 min target, none > 4 h,  Washington DC rules (60 min average, <= 10 % over
                               <= 10 % over 75 min         75 min, none over 4 h)
grade 3 on site                none                        brief: not hazardous
grade 2 repair                 365 days after graded       Massachusetts 220 CMR 114: within 12 months
grade 2 re-evaluation          every 182 days at most      220 CMR 114: at least every 6 months
grade 3 re-evaluation          every 456 days at most      not in the brief: GPTC guide practice (15 months)
grade 3 repair                 730 days, only when          brief: environmentally significant grade 3 leaks
                               environmentally significant  repaired within 2 years
repair deferral (monitoring)   grades 2 and 3              brief: grade 1 needs continuous action
grade 1 make-safe limit        none                        brief: utilities track time to make safe
=============================  ==========================  ===================================================

The on-site targets are monthly averages in the rules; per order they are escalated as a *warning* when
the target passes without arrival and as *critical* when the hard limit passes (see ``sla.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.workorders.domain.errors import InvalidInput
from services.workorders.domain.values import Grade, check_number

MINUTE_S = 60
HOUR_S = 3600
DAY_S = 86400


@dataclass(frozen=True, kw_only=True, slots=True)
class ResponseTarget:
    """On-site response rule for one response code (Washington DC style)."""

    code: int
    target_s: int  # monthly average target; per order: warning when passed
    threshold_s: int  # at most ``max_share_over`` of the month's calls may take longer than this
    max_share_over: float
    limit_s: int  # no call may take longer: per order, critical when passed

    def __post_init__(self) -> None:
        for name in ("target_s", "threshold_s", "limit_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidInput(f"ResponseTarget.{name} must be a positive int of seconds, got {value!r}")
        check_number("ResponseTarget.max_share_over", self.max_share_over, minimum=0.0, maximum=1.0)
        if not self.target_s <= self.threshold_s <= self.limit_s:
            raise InvalidInput("ResponseTarget: need target_s <= threshold_s <= limit_s")


CODE_1 = ResponseTarget(
    code=1, target_s=30 * MINUTE_S, threshold_s=50 * MINUTE_S, max_share_over=0.03, limit_s=2 * HOUR_S
)
CODE_2 = ResponseTarget(
    code=2, target_s=60 * MINUTE_S, threshold_s=75 * MINUTE_S, max_share_over=0.10, limit_s=4 * HOUR_S
)


def _check_optional_seconds(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"SlaPolicy.{name} must be None or a positive int of seconds, got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class SlaPolicy:
    grade1_response: ResponseTarget | None = CODE_1
    grade2_response: ResponseTarget | None = CODE_2
    grade3_response: ResponseTarget | None = None
    grade1_make_safe_limit_s: int | None = None
    grade2_repair_s: int | None = 365 * DAY_S
    grade3_environmental_repair_s: int | None = 730 * DAY_S
    grade2_reevaluation_s: int | None = 182 * DAY_S
    grade3_reevaluation_s: int | None = 456 * DAY_S
    deferrable_grades: frozenset[Grade] = frozenset({Grade.TWO, Grade.THREE})

    def __post_init__(self) -> None:
        for name in (
            "grade1_make_safe_limit_s",
            "grade2_repair_s",
            "grade3_environmental_repair_s",
            "grade2_reevaluation_s",
            "grade3_reevaluation_s",
        ):
            _check_optional_seconds(name, getattr(self, name))
        if Grade.ONE in self.deferrable_grades:
            raise InvalidInput("SlaPolicy: grade 1 leaks cannot be deferred (continuous action until safe)")
        for grade in self.deferrable_grades:
            if self.reevaluation_interval_s(grade) is None:
                raise InvalidInput(f"SlaPolicy: deferrable grade {grade.value} needs a re-evaluation interval")

    def response(self, grade: Grade) -> ResponseTarget | None:
        return {Grade.ONE: self.grade1_response, Grade.TWO: self.grade2_response, Grade.THREE: self.grade3_response}[
            grade
        ]

    def reevaluation_interval_s(self, grade: Grade) -> int | None:
        return {Grade.ONE: None, Grade.TWO: self.grade2_reevaluation_s, Grade.THREE: self.grade3_reevaluation_s}[grade]

    def repair_deadline_s(self, grade: Grade, environmentally_significant: bool) -> int | None:
        """Seconds from the time the leak got this grade to the required permanent repair (None: no deadline)."""
        if grade is Grade.TWO:
            return self.grade2_repair_s
        if grade is Grade.THREE and environmentally_significant:
            return self.grade3_environmental_repair_s
        return None


DEFAULT_SLA_POLICY = SlaPolicy()
