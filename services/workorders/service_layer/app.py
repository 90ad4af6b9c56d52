"""The work orders application: commands (``execute``), alarm and sensor-health intake, SLA and
hazard-deadline ticks, queries, Watch.

Depends on ports only (``service_layer.ports``: event store, clock, network facts, read-model queries),
injected by the composition root (``services.workorders.bootstrap``). ``execute`` takes a command of
``domain.commands``, checks the caller's role and runs its handler from ``handlers.COMMAND_HANDLERS``.
"""

from __future__ import annotations

import time
from typing import Any

from services.eventstore import ConcurrencyError, RecordedEvent
from services.eventstore.model import canonical_json
from services.workorders.domain import commands as c
from services.workorders.domain.alarm import AlarmFacts
from services.workorders.domain.audit import is_audit_stream
from services.workorders.domain.commands import Command
from services.workorders.domain.errors import InvalidInput
from services.workorders.domain.hazard import (
    DEFAULT_SIGN_OFF_POLICY,
    Hazard,
    HazardEvent,
    HazardRecorded,
    HazardSource,
    SignOffPolicy,
    due_hazard_escalations,
    hazard_id_for,
    is_overdue,
)
from services.workorders.domain.replacement import Replacement
from services.workorders.domain.sensor_health import SensorHealthFacts
from services.workorders.domain.sla import due_escalations
from services.workorders.domain.workorder import WorkOrder, WorkOrderOpened, work_order_id_for_alarm
from services.workorders.service_layer.audit import AuditTrail
from services.workorders.service_layer.auth import AccessDenied, CallerRole, Principal, require_command
from services.workorders.service_layer.handlers import COMMAND_HANDLERS, Deps
from services.workorders.service_layer.notifier import ChangeNotifier
from services.workorders.service_layer.ports import Clock, EventStore, NetworkFacts, Queries
from services.workorders.service_layer.repository import (
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
    work_order_view,
)

ALARM_ACTOR = "system:leakdetect"
SLA_ACTOR = "system:sla-ticker"
HAZARD_TICKER_ACTOR = "system:hazard-ticker"
SENSOR_HEALTH_REPORTED_VIA = "leak.sensor-health.v1"


def system_clock() -> int:
    """The wall clock, microseconds since the Unix epoch (the production ``Clock``)."""
    return time.time_ns() // 1000


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


class WorkOrdersApp:
    def __init__(
        self,
        store: EventStore,
        network: NetworkFacts,
        queries: Queries,
        *,
        clock: Clock = system_clock,
        snapshot_every: int = 50,
        notifier: ChangeNotifier | None = None,
        sign_off: SignOffPolicy = DEFAULT_SIGN_OFF_POLICY,
        audit: AuditTrail | None = None,
    ) -> None:
        self.store = store
        self.network = network
        self.queries = queries
        self.clock = clock
        self.sign_off = sign_off
        self.notifier = notifier or ChangeNotifier()
        self.work_orders = Repository(
            store, WorkOrder, "work_order", snapshot_every=snapshot_every, notifier=self.notifier
        )
        self.replacements = Repository(
            store, Replacement, "replacement", snapshot_every=snapshot_every, notifier=self.notifier
        )
        self.hazards = Repository(store, Hazard, "hazard", snapshot_every=snapshot_every, notifier=self.notifier)
        self.deps = Deps(
            store=store,
            work_orders=self.work_orders,
            hazards=self.hazards,
            replacements=self.replacements,
            network=network,
            clock=clock,
            notifier=self.notifier,
            sign_off=sign_off,
        )
        self._districts: dict[str, str] = {}
        # Who tried what (entry points record; regulators query): in this store, streams of its own.
        self.audit = audit or AuditTrail(store, clock)

    # -- alarms ----------------------------------------------------------------------------------------

    def handle_alarm(self, facts: AlarmFacts, causation_id: str) -> CommandOutcome[WorkOrder]:
        """Open or update the incident's work order; a redelivered alarm changes nothing."""
        context = self.network.segment(facts.segment_id)
        if context is None:
            raise InvalidInput(f"alarm {facts.alarm_id!r} names segment {facts.segment_id!r}, not in the network model")
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
        segment = self.network.segment(facts.segment_id)
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
        command: Command,
        *,
        expected_version: int | None = None,
        command_id: str = "",
        correlation_id: str = "",
        note: str = "",
    ) -> CommandOutcome[Any]:
        """Run ``command`` for ``principal``: regulators only read; the role must be allowed the command."""
        if principal.role is CallerRole.REGULATOR:
            raise AccessDenied("regulators have read-only access")
        require_command(principal, command)
        handler = COMMAND_HANDLERS.get(type(command))
        if handler is None:
            raise InvalidInput(f"{type(command).__name__} commands are not available in this build")
        meta = CommandMeta(
            actor=principal.actor,
            command_id=command_id or CommandMeta.new_command_id(),
            correlation_id=correlation_id or None,
            expected_version=expected_version,
            note=note,
        )
        return handler(command, principal, meta, self.deps)

    def target_district(self, command: Command, outcome: CommandOutcome[Any] | None = None) -> str:
        """The district of the command's target, for the audit trail ('' when it cannot be told: an
        unknown id, a segment not in the network model). Best effort, never raises."""
        try:
            aggregate = outcome.aggregate if outcome is not None else None
            if isinstance(aggregate, dict):  # a programme fact: its payload
                district = aggregate.get("district") or ""
                segment_id = aggregate.get("segment_id") or ""
            else:
                district = getattr(command, "district", "") or ""
                segment_id = getattr(command, "segment_id", "") or ""
            if district:
                return str(district)
            if segment_id:
                segment = self.network.segment(str(segment_id))
                return segment.district if segment is not None else ""
            if aggregate is None:
                if isinstance(command, c.WorkOrderCommand) and command.work_order_id:
                    aggregate, _ = self.work_orders.get(command.work_order_id)
                elif isinstance(command, c.HazardCommand) and command.hazard_id:
                    aggregate, _ = self.hazards.get(command.hazard_id)
                elif isinstance(command, c.ReplacementCommand) and command.replacement_id:
                    aggregate, _ = self.replacements.get(command.replacement_id)
            if isinstance(aggregate, Hazard):
                return aggregate.district
            segment_context = getattr(aggregate, "segment", None)
            return str(segment_context.district) if segment_context is not None else ""
        except Exception:  # an audit detail must never turn into the caller's error
            return ""

    # -- queries ---------------------------------------------------------------------------------------

    def get_work_order(self, principal: Principal, work_order_id: str) -> WorkOrderView:
        order, version = self.work_orders.get(work_order_id)
        assert order.segment is not None
        if not principal.may_see(order.segment.district):
            # Same answer as a missing order: do not reveal other districts' orders.
            raise NotFound(f"no work_order {work_order_id!r}")
        return work_order_view(order, version)

    def work_order_view(self, order: WorkOrder, version: int) -> WorkOrderView:
        return work_order_view(order, version)

    def hazard_view(self, aggregate: Hazard, version: int) -> HazardView:
        return hazard_view_of(aggregate, version, self.clock())

    def detail_json(self, aggregate: Any) -> str:
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
            if is_audit_stream(event.stream_id):  # the audit trail is the regulators' (ListAuditRecords)
                continue
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
                order_view = work_order_view(order, version)
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
