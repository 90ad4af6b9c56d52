"""The commands of the work orders service: one frozen dataclass per thing a caller may ask for.

A command names its aggregate (``aggregate``) and its verb (``verb``): the verb is the domain method's
name and the field name of the command in the gRPC request's ``command`` oneof (``DispatchCommand
dispatch = 10``), so the API, the permissions and the domain speak one vocabulary. The class name is the
protobuf message's name without ``Command``; the fields are the message's fields plus the aggregate id.
``service_layer.handlers.COMMAND_HANDLERS`` maps each class to the function that carries it out.

Text is checked by the domain where it is used; enumerations given as text (repair kind, hazard source,
pipe class, problem reason) are parsed by the handlers, which refuse unknown values with ``InvalidInput``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Command:
    aggregate: ClassVar[str]  # "work_order", "hazard" or "replacement"
    verb: ClassVar[str]


# -- work orders ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkOrderCommand(Command):
    aggregate: ClassVar[str] = "work_order"
    work_order_id: str


@dataclass(frozen=True, slots=True)
class Dispatch(WorkOrderCommand):
    verb: ClassVar[str] = "dispatch"
    crew_id: str = ""


@dataclass(frozen=True, slots=True)
class Acknowledge(WorkOrderCommand):
    verb: ClassVar[str] = "acknowledge"


@dataclass(frozen=True, slots=True)
class Depart(WorkOrderCommand):
    """The crew departs for the site (state ``en_route``)."""

    verb: ClassVar[str] = "depart"


@dataclass(frozen=True, slots=True)
class Arrive(WorkOrderCommand):
    """The crew arrived on site (state ``on_site``)."""

    verb: ClassVar[str] = "arrive"


@dataclass(frozen=True, slots=True)
class MakeSafe(WorkOrderCommand):
    verb: ClassVar[str] = "make_safe"
    measures: str = ""


@dataclass(frozen=True, slots=True)
class Repair(WorkOrderCommand):
    verb: ClassVar[str] = "repair"
    kind: str = ""  # "permanent" (default when empty) or "temporary"
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Verify(WorkOrderCommand):
    verb: ClassVar[str] = "verify"
    failed: bool = False
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Close(WorkOrderCommand):
    verb: ClassVar[str] = "close"
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Defer(WorkOrderCommand):
    """Defer the repair of a grade 2/3 leak and monitor it until the re-evaluation date."""

    verb: ClassVar[str] = "defer"
    reevaluate_by_unix_us: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Reevaluate(WorkOrderCommand):
    verb: ClassVar[str] = "reevaluate"
    findings: str = ""
    next_reevaluate_by_unix_us: int = 0


@dataclass(frozen=True, slots=True)
class Hold(WorkOrderCommand):
    verb: ClassVar[str] = "hold"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Resume(WorkOrderCommand):
    verb: ClassVar[str] = "resume"


@dataclass(frozen=True, slots=True)
class Cancel(WorkOrderCommand):
    verb: ClassVar[str] = "cancel"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Regrade(WorkOrderCommand):
    verb: ClassVar[str] = "regrade"
    grade: int = 0
    reason: str = ""


# -- hazards --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HazardCommand(Command):
    aggregate: ClassVar[str] = "hazard"
    hazard_id: str


@dataclass(frozen=True, slots=True)
class RecordHazard(Command):
    """Record a finding; the hazard id is derived from ``source`` and ``source_ref`` (``hazard_id``, when
    given, must match it)."""

    aggregate: ClassVar[str] = "hazard"
    verb: ClassVar[str] = "record"
    hazard_id: str = ""
    district: str = ""
    location: str = ""
    description: str = ""
    major: bool = False
    inspector: str = ""
    found_at_unix_us: int = 0
    reported_via: str = ""
    interim_measures: str = ""
    segment_id: str = ""
    source: str = ""  # inspection (default), public_report or leak_alarm
    source_ref: str = ""  # empty = the command id


@dataclass(frozen=True, slots=True)
class AssignHazard(HazardCommand):
    verb: ClassVar[str] = "assign"
    responsible_unit: str = ""
    supervising_department: str = ""


@dataclass(frozen=True, slots=True)
class SetHazardDeadline(HazardCommand):
    verb: ClassVar[str] = "set_deadline"
    deadline_unix_us: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StartRectification(HazardCommand):
    verb: ClassVar[str] = "start_rectification"


@dataclass(frozen=True, slots=True)
class AddHazardEvidence(HazardCommand):
    verb: ClassVar[str] = "add_evidence"
    uri: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class UpdateInterimMeasures(HazardCommand):
    verb: ClassVar[str] = "update_interim_measures"
    interim_measures: str = ""


@dataclass(frozen=True, slots=True)
class ReclassifyHazard(HazardCommand):
    verb: ClassVar[str] = "reclassify"
    major: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RectifyHazard(HazardCommand):
    """Rectification is done: submit the hazard for sign-off."""

    verb: ClassVar[str] = "rectify"
    summary: str = ""


@dataclass(frozen=True, slots=True)
class SignOffHazard(HazardCommand):
    verb: ClassVar[str] = "sign_off"
    level: int = 0  # 0 = the next level


@dataclass(frozen=True, slots=True)
class RejectHazard(HazardCommand):
    verb: ClassVar[str] = "reject"
    reason: str = ""
    level: int = 0  # 0 = the level being waited for


# -- the replacement programme --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplacementCommand(Command):
    aggregate: ClassVar[str] = "replacement"
    replacement_id: str


@dataclass(frozen=True, slots=True)
class FlagProblemPipeline(Command):
    aggregate: ClassVar[str] = "replacement"
    verb: ClassVar[str] = "flag_problem_pipeline"
    segment_id: str = ""
    reason: str = ""  # a ProblemReason; empty = assessed_hazard


@dataclass(frozen=True, slots=True)
class SetReplacementTarget(Command):
    aggregate: ClassVar[str] = "replacement"
    verb: ClassVar[str] = "set_target"
    district: str = ""
    pipe_class: str = ""
    year: int = 0
    target_km: float = 0.0


@dataclass(frozen=True, slots=True)
class OpenReplacement(Command):
    aggregate: ClassVar[str] = "replacement"
    verb: ClassVar[str] = "open"
    segment_id: str = ""
    length_km: float = 0.0  # 0 = the segment's whole length
    year: int = 0


@dataclass(frozen=True, slots=True)
class ReportReplacementProgress(ReplacementCommand):
    verb: ClassVar[str] = "report_progress"
    km_done: float = 0.0


@dataclass(frozen=True, slots=True)
class CompleteReplacement(ReplacementCommand):
    verb: ClassVar[str] = "complete"


@dataclass(frozen=True, slots=True)
class VerifyReplacement(ReplacementCommand):
    verb: ClassVar[str] = "verify"


COMMANDS: tuple[type[Command], ...] = (
    Dispatch,
    Acknowledge,
    Depart,
    Arrive,
    MakeSafe,
    Repair,
    Verify,
    Close,
    Defer,
    Reevaluate,
    Hold,
    Resume,
    Cancel,
    Regrade,
    RecordHazard,
    AssignHazard,
    SetHazardDeadline,
    StartRectification,
    AddHazardEvidence,
    UpdateInterimMeasures,
    ReclassifyHazard,
    RectifyHazard,
    SignOffHazard,
    RejectHazard,
    FlagProblemPipeline,
    SetReplacementTarget,
    OpenReplacement,
    ReportReplacementProgress,
    CompleteReplacement,
    VerifyReplacement,
)
