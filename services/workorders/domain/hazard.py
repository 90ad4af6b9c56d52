"""Hazard rectification closed loop (aggregate ``Hazard``), as the regulator runs it (domain brief,
"Hazard closed loop"): listed in a ledger, assigned twice, rectified, struck off only after sign-off.

Ledger
    ``Hazard.record`` lists a hazard found by an inspection, a sensor-health event (leak.sensor-health.v1),
    a leak alarm or a public report, with who found it, when, where (segment, district, location text),
    what was found, how it was reported and the interim measures in place. ``major`` hazards are flagged
    and kept apart (``major_hazard_ledger``); the flag can be changed with a reason (``reclassify``).
    The hazard id is derived from the source and its reference (``hazard_id_for``): re-recording the
    same finding gives no events.

Double assignment
    A responsible unit (the enterprise that must fix it) AND a supervising department must be assigned,
    and a rectification deadline set, before rectification starts. Re-assignment is allowed until the
    hazard is submitted for sign-off.

Sign-off
    ``SignOffPolicy.level_roles`` gives one role per level (1-4 levels; default 4, as one city requires).
    Levels sign in order; each level is signed by a person holding that level's role, and no person
    signs two levels of the same round. The hazard is struck off when the last level signs. A rejection
    at any level sends it back to rectification and clears the round's signatures. The levels are
    recorded in ``HazardRecorded`` so replay never depends on today's configuration.

States: listed -> rectifying -> awaiting_sign_off -> struck_off (terminal); rejection: awaiting -> rectifying.
Overdue: ``is_overdue(hazard, now)`` and ``due_hazard_escalations`` (one ``HazardOverdue`` per deadline).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from services.workorders.domain._aggregate import Aggregate
from services.workorders.domain.errors import InvalidInput, InvalidTransition, PermissionDenied, RuleViolation
from services.workorders.domain.events import DomainEvent, deterministic_id, register_event
from services.workorders.domain.values import check_flag, check_text, check_time

MAX_SIGN_OFF_LEVELS = 4
DEFAULT_LEVEL_ROLES = ("unit_safety_officer", "unit_head", "supervising_department", "regulator")


@dataclass(frozen=True, kw_only=True, slots=True)
class SignOffPolicy:
    level_roles: tuple[str, ...] = DEFAULT_LEVEL_ROLES

    def __post_init__(self) -> None:
        if not isinstance(self.level_roles, tuple) or not 1 <= len(self.level_roles) <= MAX_SIGN_OFF_LEVELS:
            raise InvalidInput(f"sign-off needs 1 to {MAX_SIGN_OFF_LEVELS} levels, got {self.level_roles!r}")
        for role in self.level_roles:
            check_text("sign-off level role", role, max_length=100)


DEFAULT_SIGN_OFF_POLICY = SignOffPolicy()


class HazardSource(enum.StrEnum):
    INSPECTION = "inspection"
    SENSOR_HEALTH = "sensor_health"
    LEAK_ALARM = "leak_alarm"
    PUBLIC_REPORT = "public_report"


class HazardStatus(enum.StrEnum):
    LISTED = "listed"
    RECTIFYING = "rectifying"
    AWAITING_SIGN_OFF = "awaiting_sign_off"
    STRUCK_OFF = "struck_off"


H = HazardStatus
HAZARD_TRANSITIONS: dict[HazardStatus, frozenset[str]] = {
    H.LISTED: frozenset(
        {"assign_responsible_unit", "assign_supervising_department", "set_deadline", "start_rectification"}
    ),
    H.RECTIFYING: frozenset(
        {"assign_responsible_unit", "assign_supervising_department", "set_deadline", "rectify"}
    ),
    H.AWAITING_SIGN_OFF: frozenset({"sign_off", "reject"}),
    H.STRUCK_OFF: frozenset(),
}
# Allowed in every state but struck off.
_ANY_OPEN = frozenset({"add_evidence", "update_interim_measures", "reclassify"})


def hazard_id_for(source: HazardSource, source_ref: str) -> str:
    """Deterministic hazard id, e.g. from a sensor-health ``event_id`` or ``"<inspection id>/<item>"``."""
    if not isinstance(source, HazardSource):
        raise InvalidInput(f"source must be one of {[s.value for s in HazardSource]}, got {source!r}")
    check_text("source_ref", source_ref, max_length=400)
    return deterministic_id("hazard", source.value, source_ref)


# ----------------------------------------------------------------------------------------------- events


@dataclass(frozen=True, kw_only=True, slots=True)
class HazardEvent(DomainEvent):
    hazard_id: str
    at_unix_us: int
    actor: str

    @property
    def aggregate_id(self) -> str:
        return self.hazard_id


@register_event("HazardRecorded")
@dataclass(frozen=True, kw_only=True, slots=True)
class HazardRecorded(HazardEvent):
    source: HazardSource
    source_ref: str
    found_by: str
    found_at_unix_us: int
    segment_id: str
    district: str
    location_text: str
    description: str
    reported_via: str  # "inspection round 2024-Q3", "hotline", "leak.sensor-health.v1", ...
    interim_measures: str
    major: bool
    sign_off_levels: tuple[str, ...]


@register_event("HazardReclassified")
@dataclass(frozen=True, kw_only=True, slots=True)
class HazardReclassified(HazardEvent):
    major: bool
    reason: str


@register_event("InterimMeasuresUpdated")
@dataclass(frozen=True, kw_only=True, slots=True)
class InterimMeasuresUpdated(HazardEvent):
    interim_measures: str


@register_event("ResponsibleUnitAssigned")
@dataclass(frozen=True, kw_only=True, slots=True)
class ResponsibleUnitAssigned(HazardEvent):
    unit: str


@register_event("SupervisingDepartmentAssigned")
@dataclass(frozen=True, kw_only=True, slots=True)
class SupervisingDepartmentAssigned(HazardEvent):
    department: str


@register_event("RectificationDeadlineSet")
@dataclass(frozen=True, kw_only=True, slots=True)
class RectificationDeadlineSet(HazardEvent):
    deadline_unix_us: int
    reason: str


@register_event("RectificationStarted")
@dataclass(frozen=True, kw_only=True, slots=True)
class RectificationStarted(HazardEvent):
    pass


@register_event("EvidenceAttached")
@dataclass(frozen=True, kw_only=True, slots=True)
class EvidenceAttached(HazardEvent):
    reference: str  # a document/photo store reference, never the content
    description: str


@register_event("HazardSubmittedForSignOff")
@dataclass(frozen=True, kw_only=True, slots=True)
class HazardSubmittedForSignOff(HazardEvent):
    summary: str


@register_event("HazardSignedOff")
@dataclass(frozen=True, kw_only=True, slots=True)
class HazardSignedOff(HazardEvent):
    level: int
    role: str


@register_event("HazardSignOffRejected")
@dataclass(frozen=True, kw_only=True, slots=True)
class HazardSignOffRejected(HazardEvent):
    level: int
    role: str
    reason: str


@register_event("HazardStruckOff")
@dataclass(frozen=True, kw_only=True, slots=True)
class HazardStruckOff(HazardEvent):
    signers: tuple[str, ...]


@register_event("HazardOverdue")
@dataclass(frozen=True, kw_only=True, slots=True)
class HazardOverdue(HazardEvent):
    deadline_unix_us: int


# -------------------------------------------------------------------------------------------- aggregate


@dataclass(frozen=True, slots=True)
class Signature:
    level: int
    role: str
    signer: str
    at_unix_us: int


@dataclass(frozen=True, slots=True)
class Evidence:
    reference: str
    description: str
    attached_by: str
    at_unix_us: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Hazard(Aggregate):
    hazard_id: str = ""
    version: int = 0
    status: HazardStatus | None = None
    source: HazardSource | None = None
    source_ref: str = ""
    found_by: str = ""
    found_at_unix_us: int = 0
    recorded_at_unix_us: int = 0
    segment_id: str = ""
    district: str = ""
    location_text: str = ""
    description: str = ""
    reported_via: str = ""
    interim_measures: str = ""
    major: bool = False
    responsible_unit: str = ""
    supervising_department: str = ""
    deadline_unix_us: int | None = None
    evidence: tuple[Evidence, ...] = ()
    sign_off_levels: tuple[str, ...] = ()
    signatures: tuple[Signature, ...] = ()  # of the current round
    sign_off_round: int = 0  # 1 at the first submission, +1 per resubmission
    rejections: int = 0
    struck_off_at_unix_us: int | None = None
    overdue_escalated: frozenset[int] = frozenset()  # deadlines already escalated

    def apply(self, event: DomainEvent) -> Hazard:
        if not isinstance(event, HazardEvent):
            raise InvalidInput(f"a Hazard cannot apply {type(event).__name__}")
        if self.status is None and not isinstance(event, HazardRecorded):
            raise InvalidInput(f"the first event of a hazard must be HazardRecorded, not {event.type}")
        if self.status is not None and event.hazard_id != self.hazard_id:
            raise InvalidInput(f"event for hazard {event.hazard_id} applied to hazard {self.hazard_id}")
        r = dataclasses.replace
        v = self.version + 1
        match event:
            case HazardRecorded():
                if self.status is not None:
                    raise InvalidInput(f"hazard {self.hazard_id} is already recorded")
                return r(
                    self,
                    version=v,
                    hazard_id=event.hazard_id,
                    status=H.LISTED,
                    source=event.source,
                    source_ref=event.source_ref,
                    found_by=event.found_by,
                    found_at_unix_us=event.found_at_unix_us,
                    recorded_at_unix_us=event.at_unix_us,
                    segment_id=event.segment_id,
                    district=event.district,
                    location_text=event.location_text,
                    description=event.description,
                    reported_via=event.reported_via,
                    interim_measures=event.interim_measures,
                    major=event.major,
                    sign_off_levels=event.sign_off_levels,
                )
            case HazardReclassified():
                return r(self, version=v, major=event.major)
            case InterimMeasuresUpdated():
                return r(self, version=v, interim_measures=event.interim_measures)
            case ResponsibleUnitAssigned():
                return r(self, version=v, responsible_unit=event.unit)
            case SupervisingDepartmentAssigned():
                return r(self, version=v, supervising_department=event.department)
            case RectificationDeadlineSet():
                return r(self, version=v, deadline_unix_us=event.deadline_unix_us)
            case RectificationStarted():
                return r(self, version=v, status=H.RECTIFYING)
            case EvidenceAttached():
                item = Evidence(event.reference, event.description, event.actor, event.at_unix_us)
                return r(self, version=v, evidence=(*self.evidence, item))
            case HazardSubmittedForSignOff():
                return r(
                    self, version=v, status=H.AWAITING_SIGN_OFF, signatures=(), sign_off_round=self.sign_off_round + 1
                )
            case HazardSignedOff():
                signature = Signature(event.level, event.role, event.actor, event.at_unix_us)
                return r(self, version=v, signatures=(*self.signatures, signature))
            case HazardSignOffRejected():
                return r(self, version=v, status=H.RECTIFYING, signatures=(), rejections=self.rejections + 1)
            case HazardStruckOff():
                return r(self, version=v, status=H.STRUCK_OFF, struck_off_at_unix_us=event.at_unix_us)
            case HazardOverdue():
                return r(self, version=v, overdue_escalated=self.overdue_escalated | {event.deadline_unix_us})
        raise InvalidInput(f"a Hazard cannot apply {type(event).__name__}")

    # ----------------------------------------------------------------------------------------- queries

    @property
    def next_level(self) -> int | None:
        """The level to sign next (1-based) while awaiting sign-off."""
        if self.status is not H.AWAITING_SIGN_OFF:
            return None
        return len(self.signatures) + 1

    def level_signed_by(self, signer: str) -> int | None:
        """The level ``signer`` signed in the current round (the last round once struck off), if any."""
        if self.status not in (H.AWAITING_SIGN_OFF, H.STRUCK_OFF):
            return None  # rectifying again after a rejection: the round's signatures are void
        return next((s.level for s in self.signatures if s.signer == signer), None)

    def allowed_commands(self) -> frozenset[str]:
        if self.status is None:
            return frozenset({"record"})
        if self.status is H.STRUCK_OFF:
            return frozenset()
        return HAZARD_TRANSITIONS[self.status] | _ANY_OPEN

    # ---------------------------------------------------------------------------------------- commands

    def record(
        self,
        *,
        source: HazardSource,
        source_ref: str,
        found_by: str,
        found_at_unix_us: int,
        segment_id: str,
        district: str,
        location_text: str,
        description: str,
        reported_via: str,
        interim_measures: str = "",
        major: bool = False,
        actor: str,
        now_unix_us: int,
        sign_off: SignOffPolicy = DEFAULT_SIGN_OFF_POLICY,
    ) -> list[HazardEvent]:
        """List a hazard in the ledger; recording the same source reference again gives no events."""
        hazard_id = hazard_id_for(source, source_ref)
        if self.status is not None:
            if hazard_id != self.hazard_id:
                raise InvalidInput(f"hazard {self.hazard_id} is already recorded; {hazard_id} is another one")
            return []
        check_text("found_by", found_by, max_length=200)
        check_time("found_at_unix_us", found_at_unix_us)
        check_text("segment_id", segment_id, allow_empty=True, max_length=200)
        check_text("district", district, max_length=200)
        check_text("location_text", location_text)
        check_text("description", description)
        check_text("reported_via", reported_via, max_length=200)
        check_text("interim_measures", interim_measures, allow_empty=True)
        check_flag("major", major)
        check_text("actor", actor, max_length=200)
        check_time("now_unix_us", now_unix_us)
        if not isinstance(sign_off, SignOffPolicy):
            raise InvalidInput("sign_off must be a SignOffPolicy")
        if found_at_unix_us > now_unix_us:
            raise InvalidInput("a hazard cannot be found after it is recorded (found_at_unix_us > now_unix_us)")
        return [
            HazardRecorded(
                hazard_id=hazard_id,
                at_unix_us=now_unix_us,
                actor=actor,
                source=source,
                source_ref=source_ref,
                found_by=found_by,
                found_at_unix_us=found_at_unix_us,
                segment_id=segment_id,
                district=district,
                location_text=location_text,
                description=description,
                reported_via=reported_via,
                interim_measures=interim_measures,
                major=major,
                sign_off_levels=sign_off.level_roles,
            )
        ]

    def reclassify(self, *, major: bool, reason: str, actor: str, now_unix_us: int) -> list[HazardEvent]:
        self._check("reclassify", actor, now_unix_us)
        check_flag("major", major)
        check_text("reason", reason)
        if major == self.major:
            return []
        return [
            HazardReclassified(
                hazard_id=self.hazard_id, at_unix_us=now_unix_us, actor=actor, major=major, reason=reason
            )
        ]

    def update_interim_measures(self, measures: str, *, actor: str, now_unix_us: int) -> list[HazardEvent]:
        self._check("update_interim_measures", actor, now_unix_us)
        check_text("interim_measures", measures)
        if measures == self.interim_measures:
            return []
        return [
            InterimMeasuresUpdated(
                hazard_id=self.hazard_id, at_unix_us=now_unix_us, actor=actor, interim_measures=measures
            )
        ]

    def assign_responsible_unit(self, unit: str, *, actor: str, now_unix_us: int) -> list[HazardEvent]:
        self._check("assign_responsible_unit", actor, now_unix_us)
        check_text("unit", unit, max_length=200)
        if unit == self.responsible_unit:
            return []
        return [ResponsibleUnitAssigned(hazard_id=self.hazard_id, at_unix_us=now_unix_us, actor=actor, unit=unit)]

    def assign_supervising_department(self, department: str, *, actor: str, now_unix_us: int) -> list[HazardEvent]:
        self._check("assign_supervising_department", actor, now_unix_us)
        check_text("department", department, max_length=200)
        if department == self.supervising_department:
            return []
        return [
            SupervisingDepartmentAssigned(
                hazard_id=self.hazard_id, at_unix_us=now_unix_us, actor=actor, department=department
            )
        ]

    def set_deadline(self, deadline_unix_us: int, *, reason: str, actor: str, now_unix_us: int) -> list[HazardEvent]:
        """Set or extend the rectification deadline (reason required; extensions show in the ledger)."""
        self._check("set_deadline", actor, now_unix_us)
        check_time("deadline_unix_us", deadline_unix_us)
        check_text("reason", reason)
        if deadline_unix_us <= now_unix_us:
            raise RuleViolation("the rectification deadline must be in the future")
        if deadline_unix_us == self.deadline_unix_us:
            return []
        return [
            RectificationDeadlineSet(
                hazard_id=self.hazard_id,
                at_unix_us=now_unix_us,
                actor=actor,
                deadline_unix_us=deadline_unix_us,
                reason=reason,
            )
        ]

    def start_rectification(self, *, actor: str, now_unix_us: int) -> list[HazardEvent]:
        self._check("start_rectification", actor, now_unix_us)
        missing = [
            name
            for name, value in (
                ("a responsible unit", self.responsible_unit),
                ("a supervising department", self.supervising_department),
                ("a rectification deadline", self.deadline_unix_us),
            )
            if not value
        ]
        if missing:
            raise RuleViolation(f"hazard {self.hazard_id} needs {', '.join(missing)} before rectification starts")
        return [RectificationStarted(hazard_id=self.hazard_id, at_unix_us=now_unix_us, actor=actor)]

    def add_evidence(self, reference: str, *, description: str, actor: str, now_unix_us: int) -> list[HazardEvent]:
        self._check("add_evidence", actor, now_unix_us)
        check_text("reference", reference, max_length=500)
        check_text("description", description, allow_empty=True)
        if any(e.reference == reference for e in self.evidence):
            return []
        return [
            EvidenceAttached(
                hazard_id=self.hazard_id,
                at_unix_us=now_unix_us,
                actor=actor,
                reference=reference,
                description=description,
            )
        ]

    def rectify(self, *, summary: str, actor: str, now_unix_us: int) -> list[HazardEvent]:
        self._check("rectify", actor, now_unix_us)
        check_text("summary", summary)
        if not self.evidence:
            raise RuleViolation(f"hazard {self.hazard_id} needs at least one evidence attachment before sign-off")
        return [
            HazardSubmittedForSignOff(hazard_id=self.hazard_id, at_unix_us=now_unix_us, actor=actor, summary=summary)
        ]

    def sign_off(self, *, level: int, signer: str, role: str, now_unix_us: int) -> list[HazardEvent]:
        """Sign ``level``; the last level's signature also strikes the hazard off.

        The same signer signing the same level of the round again (a retry, also after the last signature
        struck the hazard off) gives no events.
        """
        if not isinstance(level, bool) and isinstance(level, int) and self.level_signed_by(signer) == level:
            return []  # retried signature
        self._check("sign_off", signer, now_unix_us)
        self._check_level(level, role)
        if any(s.signer == signer for s in self.signatures):
            raise RuleViolation(
                f"{signer!r} already signed level {next(s.level for s in self.signatures if s.signer == signer)}; "
                "each level needs a different person"
            )
        events: list[HazardEvent] = [
            HazardSignedOff(hazard_id=self.hazard_id, at_unix_us=now_unix_us, actor=signer, level=level, role=role)
        ]
        if level == len(self.sign_off_levels):
            signers = (*(s.signer for s in self.signatures), signer)
            events.append(
                HazardStruckOff(hazard_id=self.hazard_id, at_unix_us=now_unix_us, actor=signer, signers=signers)
            )
        return events

    def reject(self, *, level: int, signer: str, role: str, reason: str, now_unix_us: int) -> list[HazardEvent]:
        """Refuse sign-off at ``level``: back to rectification, this round's signatures are void."""
        self._check("reject", signer, now_unix_us)
        self._check_level(level, role)
        check_text("reason", reason)
        return [
            HazardSignOffRejected(
                hazard_id=self.hazard_id, at_unix_us=now_unix_us, actor=signer, level=level, role=role, reason=reason
            )
        ]

    # ----------------------------------------------------------------------------------------- helpers

    def _check(self, command: str, actor: str, now_unix_us: int) -> None:
        if self.status is None:
            raise InvalidTransition("a hazard", command, "not recorded", ["record"])
        allowed = self.allowed_commands()
        if command not in allowed:
            raise InvalidTransition(f"hazard {self.hazard_id}", command, self.status.value, allowed)
        check_text("actor", actor, max_length=200)
        check_time("now_unix_us", now_unix_us)

    def _check_level(self, level: int, role: str) -> None:
        if isinstance(level, bool) or not isinstance(level, int):
            raise InvalidInput(f"level must be an int, not {type(level).__name__}")
        check_text("role", role, max_length=100)
        expected = len(self.signatures) + 1
        if level != expected:
            raise RuleViolation(
                f"hazard {self.hazard_id} is waiting for level {expected} of {len(self.sign_off_levels)}, "
                f"not level {level}"
            )
        needed = self.sign_off_levels[level - 1]
        if role != needed:
            raise PermissionDenied(f"level {level} must be signed by the role {needed!r}, not {role!r}")


# ---------------------------------------------------------------------------------- pure views/timers


def is_overdue(hazard: Hazard, now_unix_us: int) -> bool:
    """Past its rectification deadline and not struck off."""
    check_time("now_unix_us", now_unix_us)
    return (
        hazard.status is not None
        and hazard.status is not H.STRUCK_OFF
        and hazard.deadline_unix_us is not None
        and now_unix_us > hazard.deadline_unix_us
    )


def due_hazard_escalations(hazard: Hazard, now_unix_us: int) -> list[HazardEvent]:
    """One ``HazardOverdue`` per deadline passed (an extended deadline can be escalated again)."""
    if not is_overdue(hazard, now_unix_us):
        return []
    assert hazard.deadline_unix_us is not None
    if hazard.deadline_unix_us in hazard.overdue_escalated:
        return []
    return [
        HazardOverdue(
            hazard_id=hazard.hazard_id, at_unix_us=now_unix_us, actor="system", deadline_unix_us=hazard.deadline_unix_us
        )
    ]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One ledger line as the regulator's ledgers keep it."""

    hazard_id: str
    found_by: str
    found_at_unix_us: int
    segment_id: str
    district: str
    location_text: str
    description: str
    reported_via: str
    interim_measures: str
    major: bool
    responsible_unit: str
    supervising_department: str
    deadline_unix_us: int | None
    status: HazardStatus
    signatures: int
    levels: int
    overdue: bool


def ledger(hazards: Iterable[Hazard], now_unix_us: int, *, major: bool | None = None) -> list[LedgerEntry]:
    """Ledger lines ordered by time found; ``major=True`` gives the separate major-hazard ledger."""
    rows = [
        LedgerEntry(
            hazard_id=h.hazard_id,
            found_by=h.found_by,
            found_at_unix_us=h.found_at_unix_us,
            segment_id=h.segment_id,
            district=h.district,
            location_text=h.location_text,
            description=h.description,
            reported_via=h.reported_via,
            interim_measures=h.interim_measures,
            major=h.major,
            responsible_unit=h.responsible_unit,
            supervising_department=h.supervising_department,
            deadline_unix_us=h.deadline_unix_us,
            status=h.status,
            signatures=len(h.signatures),
            levels=len(h.sign_off_levels),
            overdue=is_overdue(h, now_unix_us),
        )
        for h in hazards
        if h.status is not None and (major is None or h.major == major)
    ]
    rows.sort(key=lambda e: (e.found_at_unix_us, e.hazard_id))
    return rows


def major_hazard_ledger(hazards: Iterable[Hazard], now_unix_us: int) -> list[LedgerEntry]:
    return ledger(hazards, now_unix_us, major=True)


@dataclass(frozen=True, slots=True)
class HazardFigures:
    """The figures regulators publish: found vs rectified (struck off), rate, major ones."""

    found: int
    rectified: int
    rectification_rate: float | None  # rectified / found; None when nothing was found
    major_found: int
    major_rectified: int
    overdue: int


def hazard_figures(hazards: Iterable[Hazard], now_unix_us: int) -> HazardFigures:
    listed = [h for h in hazards if h.status is not None]
    done = [h for h in listed if h.status is H.STRUCK_OFF]
    return HazardFigures(
        found=len(listed),
        rectified=len(done),
        rectification_rate=len(done) / len(listed) if listed else None,
        major_found=sum(h.major for h in listed),
        major_rectified=sum(h.major for h in done),
        overdue=sum(is_overdue(h, now_unix_us) for h in listed),
    )
