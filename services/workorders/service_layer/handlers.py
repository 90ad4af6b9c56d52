"""One handler per command (``domain.commands``), and the map from command class to handler.

A handler is ``handler(command, principal, meta, deps) -> CommandOutcome``: it checks what only the
service knows (the caller's districts, the network model, enumerations given as text), loads the
aggregate through its repository, lets the domain decide and appends. ``WorkOrdersApp.execute`` checks
the caller's role (``auth.require_command``) and the ids first, then calls ``COMMAND_HANDLERS[type(cmd)]``.

The work-order handlers read the clock when the order is loaded (never before its last event); the hazard
and replacement handlers read it once, before loading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from services.eventstore import NewEvent
from services.workorders.domain import commands as c
from services.workorders.domain.alarm import SegmentContext
from services.workorders.domain.errors import InvalidInput
from services.workorders.domain.events import DomainEvent
from services.workorders.domain.hazard import (
    Hazard,
    HazardEvent,
    HazardSource,
    HazardStatus,
    SignOffPolicy,
    hazard_id_for,
)
from services.workorders.domain.replacement import ProblemReason, Replacement, YearlyTarget, replacement_id_for
from services.workorders.domain.values import Grade, PipeClass, Role
from services.workorders.domain.workorder import RepairKind, WorkOrder
from services.workorders.service_layer.auth import CallerRole, Principal
from services.workorders.service_layer.notifier import ChangeNotifier
from services.workorders.service_layer.ports import Clock, EventStore, NetworkFacts
from services.workorders.service_layer.repository import CommandMeta, CommandOutcome, Repository, event_uuid

C = TypeVar("C", bound=c.Command)

# Programme facts the service keeps itself (the domain leaves targets and the problem list to it).
TARGETS_STREAM = "replacement-programme-targets"
PROBLEMS_STREAM = "replacement-programme-problem-pipelines"
TARGET_SET = "ReplacementTargetSet"
PROBLEM_FLAGGED = "ProblemPipelineFlagged"

_ROLE = {
    CallerRole.DISPATCHER: Role.DISPATCHER,
    CallerRole.CREW: Role.CREW,
    CallerRole.SUPERVISOR: Role.SUPERVISOR,
}


@dataclass(frozen=True, slots=True)
class Deps:
    """What the handlers are given: the repositories over the event store, and the other ports."""

    store: EventStore
    work_orders: Repository[WorkOrder]
    hazards: Repository[Hazard]
    replacements: Repository[Replacement]
    network: NetworkFacts
    clock: Clock
    notifier: ChangeNotifier
    sign_off: SignOffPolicy

    def segment(self, segment_id: str, principal: Principal) -> SegmentContext:
        """The segment, if it exists and ``principal`` works in its district."""
        segment = self.network.segment(segment_id)
        if segment is None:
            raise InvalidInput(f"unknown segment {segment_id!r}")
        principal.require_district(segment.district)
        return segment


Handler = Callable[[Any, Principal, CommandMeta, Deps], CommandOutcome[Any]]


# -- work orders ----------------------------------------------------------------------------------------


def _on_order(
    cmd: c.WorkOrderCommand,
    principal: Principal,
    meta: CommandMeta,
    deps: Deps,
    decide: Callable[[WorkOrder, int], Sequence[DomainEvent]],
) -> CommandOutcome[WorkOrder]:
    """Run ``decide(order, now)`` on the caller's order; ``now`` never precedes the order's last event."""

    def authorize(order: WorkOrder) -> None:
        assert order.segment is not None
        principal.require_district(order.segment.district)

    return deps.work_orders.execute(
        cmd.work_order_id,
        lambda o: decide(o, max(deps.clock(), o.last_event_at_unix_us)),
        meta,
        authorize=authorize,
    )


def dispatch(cmd: c.Dispatch, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    return _on_order(
        cmd, principal, meta, deps, lambda o, now: o.dispatch(cmd.crew_id, actor=principal.actor, now_unix_us=now)
    )


def acknowledge(cmd: c.Acknowledge, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    return _on_order(cmd, principal, meta, deps, lambda o, now: o.acknowledge(actor=principal.actor, now_unix_us=now))


def depart(cmd: c.Depart, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    return _on_order(cmd, principal, meta, deps, lambda o, now: o.depart(actor=principal.actor, now_unix_us=now))


def arrive(cmd: c.Arrive, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    return _on_order(cmd, principal, meta, deps, lambda o, now: o.arrive(actor=principal.actor, now_unix_us=now))


def make_safe(cmd: c.MakeSafe, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    return _on_order(
        cmd,
        principal,
        meta,
        deps,
        lambda o, now: o.make_safe(measures=cmd.measures, actor=principal.actor, now_unix_us=now),
    )


def repair(cmd: c.Repair, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    raw = cmd.kind or RepairKind.PERMANENT.value
    try:
        kind = RepairKind(raw)
    except ValueError:
        raise InvalidInput(f"repair kind must be one of {[k.value for k in RepairKind]}, got {raw!r}") from None
    notes = cmd.notes or meta.note
    return _on_order(
        cmd, principal, meta, deps, lambda o, now: o.repair(kind, notes=notes, actor=principal.actor, now_unix_us=now)
    )


def verify(cmd: c.Verify, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    notes = cmd.notes or meta.note
    return _on_order(
        cmd,
        principal,
        meta,
        deps,
        lambda o, now: o.verify(passed=not cmd.failed, notes=notes, actor=principal.actor, now_unix_us=now),
    )


def close(cmd: c.Close, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    notes = cmd.notes or meta.note
    return _on_order(
        cmd, principal, meta, deps, lambda o, now: o.close(notes=notes, actor=principal.actor, now_unix_us=now)
    )


def defer(cmd: c.Defer, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    reason = cmd.reason or meta.note
    return _on_order(
        cmd,
        principal,
        meta,
        deps,
        lambda o, now: o.defer(
            reevaluate_by_unix_us=cmd.reevaluate_by_unix_us, reason=reason, actor=principal.actor, now_unix_us=now
        ),
    )


def reevaluate(cmd: c.Reevaluate, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    return _on_order(
        cmd,
        principal,
        meta,
        deps,
        lambda o, now: o.reevaluate(
            findings=cmd.findings,
            next_reevaluate_by_unix_us=cmd.next_reevaluate_by_unix_us,
            actor=principal.actor,
            now_unix_us=now,
        ),
    )


def hold(cmd: c.Hold, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    reason = cmd.reason or meta.note
    return _on_order(
        cmd, principal, meta, deps, lambda o, now: o.hold(reason=reason, actor=principal.actor, now_unix_us=now)
    )


def resume(cmd: c.Resume, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    return _on_order(cmd, principal, meta, deps, lambda o, now: o.resume(actor=principal.actor, now_unix_us=now))


def cancel(cmd: c.Cancel, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    reason = cmd.reason or meta.note
    return _on_order(
        cmd, principal, meta, deps, lambda o, now: o.cancel(reason=reason, actor=principal.actor, now_unix_us=now)
    )


def regrade(cmd: c.Regrade, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[WorkOrder]:
    if cmd.grade not in (1, 2, 3):
        raise InvalidInput(f"grade must be 1, 2 or 3, got {cmd.grade}")
    reason = cmd.reason or meta.note
    role = _ROLE[principal.role]
    return _on_order(
        cmd,
        principal,
        meta,
        deps,
        lambda o, now: o.regrade(Grade(cmd.grade), reason=reason, actor=principal.actor, role=role, now_unix_us=now),
    )


# -- hazards --------------------------------------------------------------------------------------------


def _on_hazard(
    cmd: c.HazardCommand,
    principal: Principal,
    meta: CommandMeta,
    deps: Deps,
    decide: Callable[[Hazard], Sequence[DomainEvent]],
) -> CommandOutcome[Hazard]:
    def authorize(h: Hazard) -> None:
        principal.require_district(h.district)

    if not cmd.hazard_id:
        raise InvalidInput("hazard_id is required")
    return deps.hazards.execute(cmd.hazard_id, decide, meta, authorize=authorize)


def record_hazard(cmd: c.RecordHazard, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[Hazard]:
    now = deps.clock()
    raw_source = cmd.source or HazardSource.INSPECTION.value
    try:
        source = HazardSource(raw_source)
    except ValueError:
        raise InvalidInput(f"source must be one of {[s.value for s in HazardSource]}, got {raw_source!r}") from None
    if source is HazardSource.SENSOR_HEALTH:
        raise InvalidInput("sensor_health hazards are recorded from leak.sensor-health.v1, not by hand")
    district, segment_id = cmd.district, cmd.segment_id
    if segment_id:
        segment = deps.segment(segment_id, principal)
        if district and district != segment.district:
            raise InvalidInput(f"segment {segment_id!r} is in district {segment.district!r}, not {district!r}")
        district = segment.district
    if not district:
        raise InvalidInput("district (or segment_id) is required")
    principal.require_district(district)
    source_ref = cmd.source_ref or meta.command_id
    hazard_id = hazard_id_for(source, source_ref)
    if cmd.hazard_id and cmd.hazard_id != hazard_id:
        raise InvalidInput(f"hazard_id {cmd.hazard_id!r} does not match the id of this finding ({hazard_id})")
    found_at = cmd.found_at_unix_us or now
    found_by = cmd.inspector or principal.subject

    def authorize(h: Hazard) -> None:
        if h.status is not None:
            principal.require_district(h.district)

    return deps.hazards.execute(
        hazard_id,
        lambda h: h.record(
            source=source,
            source_ref=source_ref,
            found_by=found_by,
            found_at_unix_us=found_at,
            segment_id=segment_id,
            district=district,
            location_text=cmd.location,
            description=cmd.description,
            reported_via=cmd.reported_via or source.value,
            interim_measures=cmd.interim_measures,
            major=cmd.major,
            actor=principal.actor,
            now_unix_us=now,
            sign_off=deps.sign_off,
        ),
        meta,
        authorize=authorize,
        must_exist=False,
    )


def assign_hazard(cmd: c.AssignHazard, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[Hazard]:
    actor, now = principal.actor, deps.clock()
    unit, department = cmd.responsible_unit, cmd.supervising_department
    if not unit and not department:
        raise InvalidInput("assign needs responsible_unit, supervising_department or both")

    def decide(h: Hazard) -> Sequence[DomainEvent]:
        events: list[HazardEvent] = []
        if unit:
            events += h.assign_responsible_unit(unit, actor=actor, now_unix_us=now)
        if department:
            after = Hazard.replay(events, initial=h)
            events += after.assign_supervising_department(department, actor=actor, now_unix_us=now)
        return events

    return _on_hazard(cmd, principal, meta, deps, decide)


def set_hazard_deadline(
    cmd: c.SetHazardDeadline, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Hazard]:
    now = deps.clock()
    reason = cmd.reason or meta.note or "rectification deadline"
    return _on_hazard(
        cmd,
        principal,
        meta,
        deps,
        lambda h: h.set_deadline(cmd.deadline_unix_us, reason=reason, actor=principal.actor, now_unix_us=now),
    )


def start_rectification(
    cmd: c.StartRectification, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Hazard]:
    now = deps.clock()
    return _on_hazard(
        cmd, principal, meta, deps, lambda h: h.start_rectification(actor=principal.actor, now_unix_us=now)
    )


def add_hazard_evidence(
    cmd: c.AddHazardEvidence, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Hazard]:
    now = deps.clock()
    return _on_hazard(
        cmd,
        principal,
        meta,
        deps,
        lambda h: h.add_evidence(cmd.uri, description=cmd.description, actor=principal.actor, now_unix_us=now),
    )


def update_interim_measures(
    cmd: c.UpdateInterimMeasures, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Hazard]:
    now = deps.clock()
    return _on_hazard(
        cmd,
        principal,
        meta,
        deps,
        lambda h: h.update_interim_measures(cmd.interim_measures, actor=principal.actor, now_unix_us=now),
    )


def reclassify_hazard(
    cmd: c.ReclassifyHazard, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Hazard]:
    now = deps.clock()
    reason = cmd.reason or meta.note
    return _on_hazard(
        cmd,
        principal,
        meta,
        deps,
        lambda h: h.reclassify(major=cmd.major, reason=reason, actor=principal.actor, now_unix_us=now),
    )


def rectify_hazard(cmd: c.RectifyHazard, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[Hazard]:
    now = deps.clock()
    summary = cmd.summary or meta.note
    return _on_hazard(
        cmd, principal, meta, deps, lambda h: h.rectify(summary=summary, actor=principal.actor, now_unix_us=now)
    )


def _sign_off_or_reject(
    cmd: c.SignOffHazard | c.RejectHazard, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Hazard]:
    actor, now = principal.actor, deps.clock()
    signing = isinstance(cmd, c.SignOffHazard)
    reason = cmd.reason or meta.note if isinstance(cmd, c.RejectHazard) else ""

    def decide(h: Hazard) -> Sequence[DomainEvent]:
        # "0 = the next level": a retried sign-off must resolve to the level this signer already
        # signed, not to the one after it (whose role the signer does not hold).
        signed = h.level_signed_by(actor) if signing else None
        level = cmd.level or signed or h.next_level or 1
        role = h.sign_off_levels[level - 1] if 1 <= level <= len(h.sign_off_levels) else "-"
        if h.status is HazardStatus.AWAITING_SIGN_OFF and level == h.next_level:
            principal.require_sign_off_role(level, role)
        if signing:
            return h.sign_off(level=level, signer=actor, role=role, now_unix_us=now)
        return h.reject(level=level, signer=actor, role=role, reason=reason, now_unix_us=now)

    return _on_hazard(cmd, principal, meta, deps, decide)


def sign_off_hazard(
    cmd: c.SignOffHazard, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Hazard]:
    return _sign_off_or_reject(cmd, principal, meta, deps)


def reject_hazard(cmd: c.RejectHazard, principal: Principal, meta: CommandMeta, deps: Deps) -> CommandOutcome[Hazard]:
    return _sign_off_or_reject(cmd, principal, meta, deps)


# -- the replacement programme --------------------------------------------------------------------------


def _programme_fact(
    deps: Deps, stream: str, event_type: str, payload: dict[str, Any], meta: CommandMeta
) -> CommandOutcome[Any]:
    version = deps.store.stream_version(stream)
    recorded = deps.store.append(
        stream,
        version,
        [NewEvent(event_type, payload, event_id=event_uuid(stream, version + 1, meta.command_id))],
        causation_id=meta.command_id,
        correlation_id=meta.correlation_id or meta.command_id,
        actor=meta.actor,
    )
    deps.notifier.notify()
    return CommandOutcome(stream, recorded[-1].version, recorded[-1].position, (event_type,), payload)


def set_replacement_target(
    cmd: c.SetReplacementTarget, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Any]:
    principal.require_district(cmd.district)
    try:
        target = YearlyTarget(
            year=cmd.year, district=cmd.district, pipe_class=PipeClass(cmd.pipe_class), target_km=float(cmd.target_km)
        )
    except ValueError as error:
        raise InvalidInput(f"invalid target: {error}") from None
    payload = {
        "year": target.year,
        "district": target.district,
        "pipe_class": target.pipe_class.value,
        "target_km": target.target_km,
    }
    return _programme_fact(deps, TARGETS_STREAM, TARGET_SET, payload, meta)


def flag_problem_pipeline(
    cmd: c.FlagProblemPipeline, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Any]:
    now = deps.clock()
    segment = deps.segment(cmd.segment_id, principal)
    reason = cmd.reason or ProblemReason.ASSESSED_HAZARD.value
    try:
        ProblemReason(reason)
    except ValueError:
        raise InvalidInput(f"reason must be one of {[r.value for r in ProblemReason]}") from None
    payload = {"segment_id": segment.segment_id, "reasons": [reason], "flagged_at_unix_us": now}
    return _programme_fact(deps, PROBLEMS_STREAM, PROBLEM_FLAGGED, payload, meta)


def open_replacement(
    cmd: c.OpenReplacement, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Replacement]:
    now = deps.clock()
    segment = deps.segment(cmd.segment_id, principal)
    return deps.replacements.execute(
        replacement_id_for(segment.segment_id, cmd.year),
        lambda r: r.open(
            segment,
            reasons=(ProblemReason.ASSESSED_HAZARD,),
            programme_year=cmd.year,
            actor=principal.actor,
            now_unix_us=now,
        ),
        meta,
        must_exist=False,
    )


def _on_replacement(
    cmd: c.ReplacementCommand,
    principal: Principal,
    meta: CommandMeta,
    deps: Deps,
    decide: Callable[[Replacement], Sequence[DomainEvent]],
) -> CommandOutcome[Replacement]:
    def authorize(r: Replacement) -> None:
        assert r.segment is not None
        principal.require_district(r.segment.district)

    if not cmd.replacement_id:
        raise InvalidInput("replacement_id is required")
    return deps.replacements.execute(cmd.replacement_id, decide, meta, authorize=authorize)


def report_replacement_progress(
    cmd: c.ReportReplacementProgress, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Replacement]:
    now = deps.clock()
    return _on_replacement(
        cmd,
        principal,
        meta,
        deps,
        lambda r: r.report_progress(cmd.km_done, report_id=meta.command_id, actor=principal.actor, now_unix_us=now),
    )


def complete_replacement(
    cmd: c.CompleteReplacement, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Replacement]:
    now = deps.clock()
    return _on_replacement(cmd, principal, meta, deps, lambda r: r.complete(actor=principal.actor, now_unix_us=now))


def verify_replacement(
    cmd: c.VerifyReplacement, principal: Principal, meta: CommandMeta, deps: Deps
) -> CommandOutcome[Replacement]:
    now = deps.clock()
    return _on_replacement(
        cmd, principal, meta, deps, lambda r: r.verify(passed=True, actor=principal.actor, now_unix_us=now)
    )


COMMAND_HANDLERS: dict[type[c.Command], Handler] = {
    c.Dispatch: dispatch,
    c.Acknowledge: acknowledge,
    c.Depart: depart,
    c.Arrive: arrive,
    c.MakeSafe: make_safe,
    c.Repair: repair,
    c.Verify: verify,
    c.Close: close,
    c.Defer: defer,
    c.Reevaluate: reevaluate,
    c.Hold: hold,
    c.Resume: resume,
    c.Cancel: cancel,
    c.Regrade: regrade,
    c.RecordHazard: record_hazard,
    c.AssignHazard: assign_hazard,
    c.SetHazardDeadline: set_hazard_deadline,
    c.StartRectification: start_rectification,
    c.AddHazardEvidence: add_hazard_evidence,
    c.UpdateInterimMeasures: update_interim_measures,
    c.ReclassifyHazard: reclassify_hazard,
    c.RectifyHazard: rectify_hazard,
    c.SignOffHazard: sign_off_hazard,
    c.RejectHazard: reject_hazard,
    c.FlagProblemPipeline: flag_problem_pipeline,
    c.SetReplacementTarget: set_replacement_target,
    c.OpenReplacement: open_replacement,
    c.ReportReplacementProgress: report_replacement_progress,
    c.CompleteReplacement: complete_replacement,
    c.VerifyReplacement: verify_replacement,
}
