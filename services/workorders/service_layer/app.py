"""The work orders application: commands with authorisation, alarm and sensor-health intake, SLA and
hazard-deadline ticks, queries, Watch.

Depends on the event store, a clock and the read-model queries (injected); knows the domain's commands
and turns the API's ``(command name, arguments)`` into domain calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from services.eventstore import ConcurrencyError, EventStore, RecordedEvent
from services.eventstore.model import canonical_json
from services.network.model import Network
from services.workorders.adapters.alarms import segment_context
from services.workorders.adapters.sensor_health import SensorHealthFacts
from services.workorders.domain.alarm import AlarmFacts
from services.workorders.domain.errors import InvalidInput
from services.workorders.domain.events import DomainEvent
from services.workorders.domain.hazard import (
    DEFAULT_SIGN_OFF_POLICY,
    Hazard,
    HazardEvent,
    HazardRecorded,
    HazardSource,
    HazardStatus,
    SignOffPolicy,
    due_hazard_escalations,
    hazard_id_for,
    is_overdue,
)
from services.workorders.domain.replacement import ProblemReason, Replacement, replacement_id_for
from services.workorders.domain.sla import due_escalations
from services.workorders.domain.values import Grade, Role
from services.workorders.domain.workorder import RepairKind, WorkOrder, WorkOrderOpened, work_order_id_for_alarm
from services.workorders.service_layer.auth import AccessDenied, CallerRole, Principal, require_command
from services.workorders.service_layer.unit_of_work import (
    ChangeNotifier,
    CommandMeta,
    CommandOutcome,
    NotFound,
    Repository,
    to_domain,
)
from services.workorders.service_layer.views import (
    HazardFilter,
    HazardView,
    Table,
    WatchItem,
    WorkOrderFilter,
    WorkOrderView,
)

ALARM_ACTOR = "system:leakdetect"
SLA_ACTOR = "system:sla-ticker"
HAZARD_TICKER_ACTOR = "system:hazard-ticker"
SENSOR_HEALTH_REPORTED_VIA = "leak.sensor-health.v1"
Clock = Callable[[], int]  # microseconds since the Unix epoch


class Queries(Protocol):
    def list_work_orders(self, filt: WorkOrderFilter, *, now_unix_us: int) -> tuple[list[WorkOrderView], int]: ...

    def work_order_row(self, work_order_id: str) -> WorkOrderView | None: ...

    def districts_of(self, stream_ids: list[str]) -> dict[str, str]: ...

    def report(self, name: str, *, now_unix_us: int, districts: frozenset[str] | None) -> tuple[Table, int]: ...

    def list_hazards(self, filt: HazardFilter, *, now_unix_us: int) -> tuple[list[HazardView], int]: ...

    def overdue_hazard_ids(self, now_unix_us: int) -> list[str]: ...


class WorkOrderKind:
    name = "work_order"

    def stream_id(self, aggregate_id: str) -> str:
        return aggregate_id

    def empty(self, aggregate_id: str) -> WorkOrder:
        return WorkOrder()

    def apply(self, aggregate: WorkOrder, event: DomainEvent) -> WorkOrder:
        return aggregate.apply(event)

    def to_snapshot(self, aggregate: WorkOrder) -> dict[str, Any]:
        return aggregate.to_snapshot()

    def from_snapshot(self, state: dict[str, Any]) -> WorkOrder:
        return WorkOrder.from_snapshot(state)

    def exists(self, aggregate: WorkOrder) -> bool:
        return aggregate.status is not None


class ReplacementKind:
    name = "replacement"

    def stream_id(self, aggregate_id: str) -> str:
        return aggregate_id

    def empty(self, aggregate_id: str) -> Replacement:
        return Replacement()

    def apply(self, aggregate: Replacement, event: DomainEvent) -> Replacement:
        return aggregate.apply(event)

    def to_snapshot(self, aggregate: Replacement) -> dict[str, Any]:
        return aggregate.to_snapshot()

    def from_snapshot(self, state: dict[str, Any]) -> Replacement:
        return Replacement.from_snapshot(state)

    def exists(self, aggregate: Replacement) -> bool:
        return aggregate.status is not None


class HazardKind:
    name = "hazard"

    def stream_id(self, aggregate_id: str) -> str:
        return aggregate_id

    def empty(self, aggregate_id: str) -> Hazard:
        return Hazard()

    def apply(self, aggregate: Hazard, event: DomainEvent) -> Hazard:
        return aggregate.apply(event)

    def to_snapshot(self, aggregate: Hazard) -> dict[str, Any]:
        return aggregate.to_snapshot()

    def from_snapshot(self, state: dict[str, Any]) -> Hazard:
        return Hazard.from_snapshot(state)

    def exists(self, aggregate: Hazard) -> bool:
        return aggregate.status is not None


# Programme facts the service keeps itself (the domain leaves targets and the problem list to it).
TARGETS_STREAM = "replacement-programme-targets"
PROBLEMS_STREAM = "replacement-programme-problem-pipelines"
TARGET_SET = "ReplacementTargetSet"
PROBLEM_FLAGGED = "ProblemPipelineFlagged"


def system_clock() -> int:
    return time.time_ns() // 1000


_ROLE = {
    CallerRole.DISPATCHER: Role.DISPATCHER,
    CallerRole.CREW: Role.CREW,
    CallerRole.SUPERVISOR: Role.SUPERVISOR,
}


def view_of(order: WorkOrder, version: int) -> WorkOrderView:
    segment = order.segment
    return WorkOrderView(
        work_order_id=order.order_id,
        version=version,
        state=order.status.value if order.status is not None else "",
        grade=int(order.grade) if order.grade is not None else 0,
        alarm_id=order.alarm_id,
        segment_id=segment.segment_id if segment else "",
        district=segment.district if segment else "",
        pipe_class=segment.pipe_class.value if segment else "",
        material=segment.material if segment else "",
        opened_at_unix_us=order.received_at_unix_us or 0,
        crew_id=order.crew_id,
        dispatched_at_unix_us=order.dispatched_at_unix_us or 0,
        arrived_at_unix_us=order.arrived_at_unix_us or 0,
        made_safe_at_unix_us=order.made_safe_at_unix_us or 0,
        repaired_at_unix_us=order.repaired_at_unix_us or 0,
        closed_at_unix_us=order.closed_at_unix_us or 0,
        sla_breaches=tuple(sorted(order.escalations)),
        detail_json=canonical_json(order.to_snapshot()),
    )


def hazard_view_of(hazard: Hazard, version: int, now_unix_us: int) -> HazardView:
    next_level = hazard.next_level
    return HazardView(
        hazard_id=hazard.hazard_id,
        version=version,
        state=hazard.status.value if hazard.status is not None else "",
        district=hazard.district,
        major=hazard.major,
        description=hazard.description,
        location=hazard.location_text,
        responsible_unit=hazard.responsible_unit,
        supervising_department=hazard.supervising_department,
        found_at_unix_us=hazard.found_at_unix_us,
        deadline_unix_us=hazard.deadline_unix_us or 0,
        rectified_at_unix_us=hazard.struck_off_at_unix_us or 0,
        overdue=is_overdue(hazard, now_unix_us),
        detail_json=canonical_json(hazard.to_snapshot()),
        source=hazard.source.value if hazard.source is not None else "",
        found_by=hazard.found_by,
        reported_via=hazard.reported_via,
        interim_measures=hazard.interim_measures,
        segment_id=hazard.segment_id,
        signatures=len(hazard.signatures),
        sign_off_levels=len(hazard.sign_off_levels),
        next_sign_off_role=hazard.sign_off_levels[next_level - 1] if next_level is not None else "",
        rejections=hazard.rejections,
    )


def _text(args: dict[str, Any], name: str) -> str:
    value = args.get(name, "")
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text")
    return value


def _int(args: dict[str, Any], name: str) -> int:
    value = args.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer")
    return value


class WorkOrdersApp:
    def __init__(
        self,
        store: EventStore,
        network: Network,
        queries: Queries,
        *,
        clock: Clock = system_clock,
        snapshot_every: int = 50,
        notifier: ChangeNotifier | None = None,
        sign_off: SignOffPolicy = DEFAULT_SIGN_OFF_POLICY,
    ) -> None:
        self.store = store
        self.network = network
        self.queries = queries
        self.clock = clock
        self.sign_off = sign_off
        self.notifier = notifier or ChangeNotifier()
        self.work_orders = Repository(store, WorkOrderKind(), snapshot_every=snapshot_every, notifier=self.notifier)
        self.replacements = Repository(
            store, ReplacementKind(), snapshot_every=snapshot_every, notifier=self.notifier
        )
        self.hazards = Repository(store, HazardKind(), snapshot_every=snapshot_every, notifier=self.notifier)
        self._districts: dict[str, str] = {}

    # -- alarms ----------------------------------------------------------------------------------------

    def handle_alarm(self, facts: AlarmFacts, causation_id: str) -> CommandOutcome[WorkOrder]:
        """Open or update the incident's work order; a redelivered alarm changes nothing."""
        segment = self.network.segments.get(facts.segment_id)
        if segment is None:
            raise InvalidInput(f"alarm {facts.alarm_id!r} names segment {facts.segment_id!r}, not in the network model")
        context = segment_context(segment)
        order_id = work_order_id_for_alarm(facts.alarm_id)
        meta = CommandMeta(
            actor=ALARM_ACTOR, command_id=causation_id, correlation_id=facts.alarm_id, causation_id=causation_id
        )
        return self.work_orders.execute(
            order_id,
            lambda order: order.receive_alarm(
                facts,
                context if order.status is None else None,
                now_unix_us=max(self.clock(), order.last_event_at_unix_us),
                actor=ALARM_ACTOR,
            ),
            meta,
            must_exist=False,
        )

    # -- sensor health ---------------------------------------------------------------------------------

    def handle_sensor_health(self, facts: SensorHealthFacts, causation_id: str) -> CommandOutcome[Hazard] | None:
        """Record a hazard for a meter that went stale/flatlined/stuck/implausible; redelivery adds nothing.

        A return to health (``ok``) records nothing: the hazard stays in the ledger until it is rectified
        and signed off like any other.
        """
        segment = self.network.segments.get(facts.segment_id)
        if segment is None:
            raise InvalidInput(
                f"sensor-health event {facts.event_id!r} names segment {facts.segment_id!r}, not in the network model"
            )
        if not facts.is_fault:
            return None
        hazard_id = hazard_id_for(HazardSource.SENSOR_HEALTH, facts.event_id)
        meta = CommandMeta(
            actor=ALARM_ACTOR, command_id=causation_id, correlation_id=facts.event_id, causation_id=causation_id
        )
        # leakdetect publishes 0 (the field's unset value) while the mass balance is not monitoring the segment
        sensitivity = (
            f"minimum detectable leak now {facts.segment_mdlr_kg_per_s:.4g} kg/s"
            if facts.segment_mdlr_kg_per_s > 0
            else "the mass balance is not monitoring the segment"
        )
        description = (
            f"meter {facts.tag_id} {facts.health.replace('_', ' ')}"
            + (f" ({facts.detail})" if facts.detail else "")
            + f"; segment leak detection degraded, {sensitivity}"
        )
        return self.hazards.execute(
            hazard_id,
            lambda h: h.record(
                source=HazardSource.SENSOR_HEALTH,
                source_ref=facts.event_id,
                found_by=ALARM_ACTOR,
                found_at_unix_us=facts.change_time_unix_us,
                segment_id=segment.segment_id,
                district=segment.district,
                location_text=f"segment {segment.segment_id}, tag {facts.tag_id}",
                description=description[:4000],
                reported_via=SENSOR_HEALTH_REPORTED_VIA,
                actor=ALARM_ACTOR,
                # leakdetect's clock may run ahead of ours: never refuse a finding as "from the future".
                now_unix_us=max(self.clock(), facts.change_time_unix_us),
                sign_off=self.sign_off,
            ),
            meta,
            must_exist=False,
        )

    # -- hazard deadlines ------------------------------------------------------------------------------

    def tick_hazards(self, now_unix_us: int | None = None) -> int:
        """Record one ``HazardOverdue`` per passed deadline of every open hazard (idempotent)."""
        now = self.clock() if now_unix_us is None else now_unix_us
        recorded = 0
        for hazard_id in self.queries.overdue_hazard_ids(now):
            for _ in range(3):
                try:
                    _, version = self.hazards.get(hazard_id)
                    meta = CommandMeta(
                        actor=HAZARD_TICKER_ACTOR,
                        command_id=f"hazard-overdue:{hazard_id}:{version}",
                        expected_version=version,
                    )
                    outcome = self.hazards.execute(hazard_id, lambda h: due_hazard_escalations(h, now), meta)
                    recorded += len(outcome.event_types)
                    break
                except ConcurrencyError:
                    continue
        return recorded

    # -- SLA -------------------------------------------------------------------------------------------

    def tick_sla(self, now_unix_us: int | None = None) -> int:
        """Record every SLA breach due at ``now`` (the injected clock by default) on open orders."""
        now = self.clock() if now_unix_us is None else now_unix_us
        recorded = 0
        offset = 0
        while True:
            views, _ = self.queries.list_work_orders(
                WorkOrderFilter(open_only=True, limit=500, offset=offset), now_unix_us=now
            )
            for view in views:
                recorded += self._tick_one(view.work_order_id, now)
            if len(views) < 500:
                return recorded
            offset += 500

    def _tick_one(self, order_id: str, now: int) -> int:
        for _ in range(3):
            try:
                _, version = self.work_orders.get(order_id)
                meta = CommandMeta(actor=SLA_ACTOR, command_id=f"sla:{order_id}:{version}", expected_version=version)
                outcome = self.work_orders.execute(
                    order_id, lambda o: due_escalations(o, max(now, o.last_event_at_unix_us)), meta
                )
                return len(outcome.event_types)
            except ConcurrencyError:
                continue
        return 0

    # -- commands --------------------------------------------------------------------------------------

    def execute(
        self,
        principal: Principal,
        kind: str,
        aggregate_id: str,
        command: str,
        args: dict[str, Any],
        *,
        expected_version: int | None = None,
        command_id: str = "",
        correlation_id: str = "",
        note: str = "",
    ) -> CommandOutcome[Any]:
        if principal.role is CallerRole.REGULATOR:
            raise AccessDenied("regulators have read-only access")
        require_command(principal, kind, command)
        meta = CommandMeta(
            actor=principal.actor,
            command_id=command_id or CommandMeta.new_command_id(),
            correlation_id=correlation_id or None,
            expected_version=expected_version,
        )
        if kind == "work_order":
            decide = self._work_order_command(principal, command, args, note)

            def authorize(order: WorkOrder) -> None:
                assert order.segment is not None
                principal.require_district(order.segment.district)

            return self.work_orders.execute(aggregate_id, decide, meta, authorize=authorize)
        if kind == "replacement":
            return self._replacement_command(principal, aggregate_id, command, args, meta)
        if kind == "hazard":
            return self._hazard_command(principal, aggregate_id, command, args, meta, note)
        raise InvalidInput(f"{kind} commands are not available in this build")

    def _hazard_command(
        self,
        principal: Principal,
        aggregate_id: str,
        command: str,
        args: dict[str, Any],
        meta: CommandMeta,
        note: str,
    ) -> CommandOutcome[Hazard]:
        actor = principal.actor
        now = self.clock()
        if command == "record":
            return self._record_hazard(principal, aggregate_id, args, meta, now)

        def authorize(h: Hazard) -> None:
            principal.require_district(h.district)

        decide: Callable[[Hazard], Sequence[DomainEvent]]
        if command == "assign":
            unit, department = _text(args, "responsible_unit"), _text(args, "supervising_department")
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

        elif command == "set_deadline":
            deadline = _int(args, "deadline_unix_us")
            reason = _text(args, "reason") or note or "rectification deadline"
            decide = lambda h: h.set_deadline(deadline, reason=reason, actor=actor, now_unix_us=now)  # noqa: E731
        elif command == "start_rectification":
            decide = lambda h: h.start_rectification(actor=actor, now_unix_us=now)  # noqa: E731
        elif command == "add_evidence":
            uri, description = _text(args, "uri"), _text(args, "description")
            decide = lambda h: h.attach_evidence(uri, description=description, actor=actor, now_unix_us=now)  # noqa: E731
        elif command == "update_interim_measures":
            measures = _text(args, "interim_measures")
            decide = lambda h: h.update_interim_measures(measures, actor=actor, now_unix_us=now)  # noqa: E731
        elif command == "reclassify":
            major = args.get("major", False)
            reason = _text(args, "reason") or note
            decide = lambda h: h.reclassify(major=major, reason=reason, actor=actor, now_unix_us=now)  # noqa: E731
        elif command == "rectify":
            summary = _text(args, "summary") or note
            decide = lambda h: h.submit_for_sign_off(summary=summary, actor=actor, now_unix_us=now)  # noqa: E731
        elif command in ("sign_off", "reject"):
            requested = _int(args, "level")
            reason = _text(args, "reason") or note

            def decide(h: Hazard) -> Sequence[DomainEvent]:
                # "0 = the next level": a retried sign-off must resolve to the level this signer already
                # signed, not to the one after it (whose role the signer does not hold).
                signed = h.level_signed_by(actor) if command == "sign_off" else None
                level = requested or signed or h.next_level or 1
                role = h.sign_off_levels[level - 1] if 1 <= level <= len(h.sign_off_levels) else "-"
                if h.status is HazardStatus.AWAITING_SIGN_OFF and level == h.next_level:
                    principal.require_sign_off_role(level, role)
                if command == "sign_off":
                    return h.sign_off(level=level, signer=actor, role=role, now_unix_us=now)
                return h.reject(level=level, signer=actor, role=role, reason=reason, now_unix_us=now)

        else:
            raise InvalidInput(f"unknown hazard command {command!r}")
        if not aggregate_id:
            raise InvalidInput("hazard_id is required")
        return self.hazards.execute(aggregate_id, decide, meta, authorize=authorize)

    def _record_hazard(
        self, principal: Principal, aggregate_id: str, args: dict[str, Any], meta: CommandMeta, now: int
    ) -> CommandOutcome[Hazard]:
        raw_source = _text(args, "source") or HazardSource.INSPECTION.value
        try:
            source = HazardSource(raw_source)
        except ValueError:
            raise InvalidInput(f"source must be one of {[s.value for s in HazardSource]}, got {raw_source!r}") from None
        if source is HazardSource.SENSOR_HEALTH:
            raise InvalidInput("sensor_health hazards are recorded from leak.sensor-health.v1, not by hand")
        district, segment_id = _text(args, "district"), _text(args, "segment_id")
        if segment_id:
            segment = self._segment(segment_id, principal)
            if district and district != segment.district:
                raise InvalidInput(f"segment {segment_id!r} is in district {segment.district!r}, not {district!r}")
            district = segment.district
        if not district:
            raise InvalidInput("district (or segment_id) is required")
        principal.require_district(district)
        source_ref = _text(args, "source_ref") or meta.command_id
        hazard_id = hazard_id_for(source, source_ref)
        if aggregate_id and aggregate_id != hazard_id:
            raise InvalidInput(f"hazard_id {aggregate_id!r} does not match the id of this finding ({hazard_id})")
        found_at = _int(args, "found_at_unix_us") or now
        found_by = _text(args, "inspector") or principal.subject

        def authorize(h: Hazard) -> None:
            if h.status is not None:
                principal.require_district(h.district)

        return self.hazards.execute(
            hazard_id,
            lambda h: h.record(
                source=source,
                source_ref=source_ref,
                found_by=found_by,
                found_at_unix_us=found_at,
                segment_id=segment_id,
                district=district,
                location_text=_text(args, "location"),
                description=_text(args, "description"),
                reported_via=_text(args, "reported_via") or source.value,
                interim_measures=_text(args, "interim_measures"),
                major=bool(args.get("major", False)),
                actor=principal.actor,
                now_unix_us=now,
                sign_off=self.sign_off,
            ),
            meta,
            authorize=authorize,
            must_exist=False,
        )

    def _segment(self, segment_id: str, principal: Principal) -> Any:
        segment = self.network.segments.get(segment_id)
        if segment is None:
            raise InvalidInput(f"unknown segment {segment_id!r}")
        principal.require_district(segment.district)
        return segment

    def _programme_fact(
        self, stream: str, event_type: str, payload: dict[str, Any], meta: CommandMeta
    ) -> CommandOutcome[Any]:
        from services.eventstore import NewEvent
        from services.workorders.service_layer.unit_of_work import event_uuid

        version = self.store.stream_version(stream)
        recorded = self.store.append(
            stream,
            version,
            [NewEvent(event_type, payload, event_id=event_uuid(stream, version + 1, meta.command_id))],
            causation_id=meta.command_id,
            correlation_id=meta.correlation_id or meta.command_id,
            actor=meta.actor,
        )
        self.notifier.notify()
        return CommandOutcome(stream, recorded[-1].version, recorded[-1].position, (event_type,), payload)

    def _replacement_command(
        self, principal: Principal, aggregate_id: str, command: str, args: dict[str, Any], meta: CommandMeta
    ) -> CommandOutcome[Any]:
        actor = principal.actor
        now = self.clock()
        if command == "set_target":
            district, pipe_class = _text(args, "district"), _text(args, "pipe_class")
            principal.require_district(district)
            from services.workorders.domain.replacement import YearlyTarget
            from services.workorders.domain.values import PipeClass

            try:
                target = YearlyTarget(
                    year=_int(args, "year"),
                    district=district,
                    pipe_class=PipeClass(pipe_class),
                    target_km=float(args.get("target_km", 0.0)),
                )
            except ValueError as error:
                raise InvalidInput(f"invalid target: {error}") from None
            payload = {
                "year": target.year,
                "district": target.district,
                "pipe_class": target.pipe_class.value,
                "target_km": target.target_km,
            }
            return self._programme_fact(TARGETS_STREAM, TARGET_SET, payload, meta)
        if command == "flag_problem_pipeline":
            segment = self._segment(_text(args, "segment_id"), principal)
            reason = _text(args, "reason") or ProblemReason.ASSESSED_HAZARD.value
            try:
                ProblemReason(reason)
            except ValueError:
                raise InvalidInput(f"reason must be one of {[r.value for r in ProblemReason]}") from None
            payload = {"segment_id": segment.segment_id, "reasons": [reason], "flagged_at_unix_us": now}
            return self._programme_fact(PROBLEMS_STREAM, PROBLEM_FLAGGED, payload, meta)
        if command == "open":
            segment = self._segment(_text(args, "segment_id"), principal)
            year = _int(args, "year")
            replacement_id = replacement_id_for(segment.segment_id, year)
            context = segment_context(segment)
            return self.replacements.execute(
                replacement_id,
                lambda r: r.order(
                    context,
                    reasons=(ProblemReason.ASSESSED_HAZARD,),
                    programme_year=year,
                    actor=actor,
                    now_unix_us=now,
                ),
                meta,
                must_exist=False,
            )

        def authorize(r: Replacement) -> None:
            assert r.segment is not None
            principal.require_district(r.segment.district)

        if command == "report_progress":
            km = args.get("km_done", 0.0)
            decide: Callable[[Replacement], Sequence[DomainEvent]] = lambda r: r.report_progress(  # noqa: E731
                km, report_id=meta.command_id, actor=actor, now_unix_us=now
            )
        elif command == "complete":
            decide = lambda r: r.complete(actor=actor, now_unix_us=now)  # noqa: E731
        elif command == "verify":
            decide = lambda r: r.verify(passed=True, actor=actor, now_unix_us=now)  # noqa: E731
        else:
            raise InvalidInput(f"unknown replacement command {command!r}")
        if not aggregate_id:
            raise InvalidInput("replacement_id is required")
        return self.replacements.execute(aggregate_id, decide, meta, authorize=authorize)

    def _work_order_command(
        self, principal: Principal, command: str, args: dict[str, Any], note: str
    ) -> Callable[[WorkOrder], Sequence[DomainEvent]]:
        actor = principal.actor

        def now(order: WorkOrder) -> int:
            return max(self.clock(), order.last_event_at_unix_us)

        if command == "dispatch":
            return lambda o: o.dispatch(_text(args, "crew_id"), actor=actor, now_unix_us=now(o))
        if command == "acknowledge":
            return lambda o: o.acknowledge(actor=actor, now_unix_us=now(o))
        if command == "en_route":
            return lambda o: o.depart(actor=actor, now_unix_us=now(o))
        if command == "on_site":
            return lambda o: o.arrive(actor=actor, now_unix_us=now(o))
        if command == "made_safe":
            return lambda o: o.make_safe(measures=_text(args, "measures"), actor=actor, now_unix_us=now(o))
        if command == "repaired":
            raw = _text(args, "kind") or RepairKind.PERMANENT.value
            try:
                kind = RepairKind(raw)
            except ValueError:
                raise InvalidInput(f"repair kind must be one of {[k.value for k in RepairKind]}, got {raw!r}") from None
            notes = _text(args, "notes") or note
            return lambda o: o.repair(kind, notes=notes, actor=actor, now_unix_us=now(o))
        if command == "verified":
            passed = not bool(args.get("failed", False))
            notes = _text(args, "notes") or note
            return lambda o: o.verify(passed=passed, notes=notes, actor=actor, now_unix_us=now(o))
        if command == "close":
            notes = _text(args, "notes") or note
            return lambda o: o.close(notes=notes, actor=actor, now_unix_us=now(o))
        if command == "monitor":
            by = _int(args, "reevaluate_by_unix_us")
            reason = _text(args, "reason") or note
            return lambda o: o.defer(reevaluate_by_unix_us=by, reason=reason, actor=actor, now_unix_us=now(o))
        if command == "reevaluate":
            nxt = _int(args, "next_reevaluate_by_unix_us")
            findings = _text(args, "findings")
            return lambda o: o.reevaluate(
                findings=findings, next_reevaluate_by_unix_us=nxt, actor=actor, now_unix_us=now(o)
            )
        if command == "hold":
            reason = _text(args, "reason") or note
            return lambda o: o.hold(reason=reason, actor=actor, now_unix_us=now(o))
        if command == "resume":
            return lambda o: o.resume(actor=actor, now_unix_us=now(o))
        if command == "cancel":
            reason = _text(args, "reason") or note
            return lambda o: o.cancel(reason=reason, actor=actor, now_unix_us=now(o))
        if command == "regrade":
            raw_grade = _int(args, "grade")
            if raw_grade not in (1, 2, 3):
                raise InvalidInput(f"grade must be 1, 2 or 3, got {raw_grade}")
            reason = _text(args, "reason") or note
            role = _ROLE[principal.role]
            return lambda o: o.regrade(Grade(raw_grade), reason=reason, actor=actor, role=role, now_unix_us=now(o))
        raise InvalidInput(f"unknown work order command {command!r}")

    # -- queries ---------------------------------------------------------------------------------------

    def get_work_order(self, principal: Principal, work_order_id: str) -> WorkOrderView:
        order, version = self.work_orders.get(work_order_id)
        assert order.segment is not None
        if not principal.may_see(order.segment.district):
            # Same answer as a missing order: do not reveal other districts' orders.
            raise NotFound(f"no work_order {work_order_id!r}")
        return view_of(order, version)

    def work_order_view(self, order: WorkOrder, version: int) -> WorkOrderView:
        return view_of(order, version)

    def hazard_view(self, aggregate: Hazard, version: int) -> HazardView:
        return hazard_view_of(aggregate, version, self.clock())

    def detail_json(self, kind: str, aggregate: Any) -> str:
        to_snapshot = getattr(aggregate, "to_snapshot", None)
        return canonical_json(to_snapshot()) if callable(to_snapshot) else "{}"

    def list_work_orders(self, filt: WorkOrderFilter, *, now_unix_us: int) -> tuple[list[WorkOrderView], int]:
        return self.queries.list_work_orders(filt, now_unix_us=now_unix_us)

    def list_hazards(self, filt: HazardFilter, *, now_unix_us: int) -> tuple[list[HazardView], int]:
        return self.queries.list_hazards(filt, now_unix_us=now_unix_us)

    def report(self, principal: Principal, name: str, *, now_unix_us: int) -> tuple[Table, int]:
        return self.queries.report(name, now_unix_us=now_unix_us, districts=principal.visible_districts(()))

    # -- watch -----------------------------------------------------------------------------------------

    def district_of(self, event: RecordedEvent) -> str:
        """The district an event belongs to ('' when it cannot be told)."""
        cached = self._districts.get(event.stream_id)
        if cached is not None:
            return cached
        district = ""
        segment = event.payload.get("segment") if event.event_type == WorkOrderOpened.type else None
        if isinstance(segment, dict) and isinstance(segment.get("district"), str):
            district = segment["district"]
        elif event.event_type == HazardRecorded.type and isinstance(event.payload.get("district"), str):
            district = event.payload["district"]
        else:
            district = self.queries.districts_of([event.stream_id]).get(event.stream_id, "")
            if not district:
                try:
                    if event.stream_id.startswith("hazard-"):
                        hazard, _ = self.hazards.get(event.stream_id)
                        district = hazard.district
                    else:
                        order, _ = self.work_orders.get(event.stream_id)
                        district = order.segment.district if order.segment else ""
                except (NotFound, InvalidInput):
                    district = ""
        if district:
            self._districts[event.stream_id] = district
        return district

    def watch_items(
        self, after_position: int, districts: frozenset[str] | None = None, *, limit: int = 500
    ) -> tuple[list[WatchItem], int, bool]:
        """Stored events after ``after_position`` (at most ``limit`` read) as watch items.

        Returns the items in ``districts`` (None: every district), the position of the last event read
        (``after_position`` when none) and whether more may follow at once (the read was full). It
        reads and returns without waiting: callers wait for news (``notifier``) as suits them.
        """
        events = self.store.read_all(after_position=after_position, limit=limit)
        items = []
        for event in events:
            district = self.district_of(event)
            if districts is None or district in districts:
                items.append(self._watch_item(event, district))
        last = events[-1].position if events else after_position
        return items, last, len(events) == limit

    def _watch_item(self, event: RecordedEvent, district: str) -> WatchItem:
        order_view = None
        hazard_view = None
        try:
            domain_event = to_domain(event)
        except InvalidInput:
            domain_event = None
        if domain_event is not None and hasattr(domain_event, "order_id"):
            try:
                order, version = self.work_orders.get(event.stream_id)
                order_view = view_of(order, version)
            except (NotFound, InvalidInput):
                order_view = None
        elif isinstance(domain_event, HazardEvent):
            try:
                hazard, version = self.hazards.get(event.stream_id)
                hazard_view = hazard_view_of(hazard, version, self.clock())
            except (NotFound, InvalidInput):
                hazard_view = None
        return WatchItem(
            position=event.position,
            stream_id=event.stream_id,
            stream_version=event.version,
            event_type=event.event_type,
            district=district,
            payload_json=canonical_json(event.payload),
            recorded_at_unix_us=event.recorded_at_unix_us,
            actor=event.actor or "",
            work_order=order_view,
            hazard=hazard_view,
        )
