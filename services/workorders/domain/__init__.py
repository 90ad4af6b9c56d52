"""Pure domain core of the work-orders service: leak work orders, SLA timers, the hazard closed loop and
the problem-pipeline replacement programme. No I/O, no clock, no Kafka/gRPC/SQL: time is passed in.

Design (event sourcing, see ``../../../../shared/domain.md`` beside the checkout for the rules):

* Aggregates ``WorkOrder`` (workorder.py), ``Hazard`` (hazard.py) and ``Replacement`` (replacement.py)
  are immutable dataclasses rebuilt with ``Aggregate.replay(events)`` / ``state.apply(event)``; their
  ``version`` is the number of events applied (the expected version for an append). ``to_snapshot()``
  / ``from_snapshot()`` give a JSON object for the event store's snapshots.
* ``commands.py`` (not re-exported: import the module) holds one frozen dataclass per command a caller
  may send (``Dispatch`` ... ``VerifyReplacement``); each names its aggregate and its verb, which is the
  aggregate method's name and the API's. The service layer's handlers turn them into method calls.
* Aggregate commands are methods returning a list of new events, never mutating; refusals raise
  ``InvalidTransition`` (message names the state and the allowed moves), ``PermissionDenied``,
  ``RuleViolation`` or ``InvalidInput`` (garbage). An empty list means "already done" (idempotent).
* Events are frozen dataclasses registered by ``type`` with a ``schema_version``; ``to_payload()`` and
  ``event_from_payload(type, version, payload)`` convert to and from JSON objects. Ids are
  deterministic: ``work_order_id_for_alarm``, ``hazard_id_for``, ``replacement_id_for``, ``event_id``.
* Facts from other services: ``AlarmFacts`` and ``SegmentContext`` (alarm.py), ``SensorHealthFacts``
  (sensor_health.py); the adapters build them from protobuf and the network model.
* Rules with their sources live in the module docstrings: grading.py (grade rules), policy.py (SLA
  figures), sla.py (escalation), workorder.py (states), hazard.py (sign-off), replacement.py.

Typical service-layer use (``service_layer.handlers`` does this through a repository)::

    order = WorkOrder.replay(to_domain(e) for e in store.read_stream(stream_id))
    new = order.dispatch("crew-7", actor="dispatcher:li", now_unix_us=clock())
    store.append(stream_id, order.version, [NewEvent(e.type, e.to_payload()) for e in new])

Exports: the aggregates, their statuses and ids, the facts, the events' registry, the errors, the
policies (grading, SLA, sign-off, problem pipelines) and the pure functions over them listed in ``__all__``.
"""

from services.workorders.domain.alarm import (
    AlarmFacts,
    AlarmState,
    DetectionMethod,
    LeakLocation,
    LeakRate,
    MethaneDetails,
    RuptureDetails,
    SegmentContext,
)
from services.workorders.domain.errors import (
    DomainError,
    InvalidInput,
    InvalidTransition,
    PermissionDenied,
    ReplacementLengthExceeded,
    RuleViolation,
)
from services.workorders.domain.events import EVENT_TYPES, DomainEvent, event_from_payload, event_id
from services.workorders.domain.grading import DEFAULT_GRADING_POLICY, GradeDecision, GradingPolicy, grade_alarm
from services.workorders.domain.hazard import (
    DEFAULT_SIGN_OFF_POLICY,
    Hazard,
    HazardFigures,
    HazardSource,
    HazardStatus,
    LedgerEntry,
    SignOffPolicy,
    due_hazard_escalations,
    hazard_figures,
    hazard_id_for,
    is_overdue,
    ledger,
    major_hazard_ledger,
)
from services.workorders.domain.policy import DEFAULT_SLA_POLICY, ResponseTarget, SlaPolicy
from services.workorders.domain.replacement import (
    ProblemPipeline,
    ProblemPipelinePolicy,
    ProblemReason,
    ProgressRow,
    Replacement,
    ReplacementFact,
    ReplacementStatus,
    YearlyTarget,
    assess_problem_pipeline,
    programme_progress,
    remaining_inventory_by_material,
    replacement_id_for,
    year_bounds_unix_us,
)
from services.workorders.domain.sensor_health import SensorHealthFacts
from services.workorders.domain.sla import ResponseCompliance, due_escalations, response_compliance
from services.workorders.domain.values import Grade, PipeClass, Role
from services.workorders.domain.workorder import (
    BreachKind,
    RepairKind,
    ResponseTimings,
    Severity,
    SlaBreached,
    WorkOrder,
    WorkOrderStatus,
    work_order_id_for_alarm,
)

__all__ = [
    "DEFAULT_GRADING_POLICY",
    "DEFAULT_SIGN_OFF_POLICY",
    "DEFAULT_SLA_POLICY",
    "EVENT_TYPES",
    "AlarmFacts",
    "AlarmState",
    "BreachKind",
    "DetectionMethod",
    "DomainError",
    "DomainEvent",
    "Grade",
    "GradeDecision",
    "GradingPolicy",
    "Hazard",
    "HazardFigures",
    "HazardSource",
    "HazardStatus",
    "InvalidInput",
    "InvalidTransition",
    "LeakLocation",
    "LeakRate",
    "LedgerEntry",
    "MethaneDetails",
    "PermissionDenied",
    "PipeClass",
    "ProblemPipeline",
    "ProblemPipelinePolicy",
    "ProblemReason",
    "ProgressRow",
    "RepairKind",
    "Replacement",
    "ReplacementFact",
    "ReplacementLengthExceeded",
    "ReplacementStatus",
    "ResponseCompliance",
    "ResponseTarget",
    "ResponseTimings",
    "Role",
    "RuleViolation",
    "RuptureDetails",
    "SegmentContext",
    "SensorHealthFacts",
    "Severity",
    "SignOffPolicy",
    "SlaBreached",
    "SlaPolicy",
    "WorkOrder",
    "WorkOrderStatus",
    "YearlyTarget",
    "assess_problem_pipeline",
    "due_escalations",
    "due_hazard_escalations",
    "event_from_payload",
    "event_id",
    "grade_alarm",
    "hazard_figures",
    "hazard_id_for",
    "is_overdue",
    "ledger",
    "major_hazard_ledger",
    "programme_progress",
    "remaining_inventory_by_material",
    "replacement_id_for",
    "response_compliance",
    "work_order_id_for_alarm",
    "year_bounds_unix_us",
]
