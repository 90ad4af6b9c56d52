"""The dispatchers' gRPC API (``pipewarden.workorders.v1.WorkOrdersService``) over the service layer.

Every call: bearer token -> ``Principal`` (UNAUTHENTICATED on any token trouble), then the service
layer decides; its exceptions map to status codes in ``_STATUS``. Commands arrive as a oneof; one
mapping (``command_of``) turns the chosen sub-message into its ``domain.commands`` dataclass: the oneof
field name is the command's verb and the sub-message's fields are the dataclass's fields.

The server is ``grpc.aio``: a call is a coroutine on one event loop, so an open ``Watch`` stream costs no
thread (it waits on the shared ``WatchFeed``), and the synchronous service layer (SQLAlchemy) runs in a
bounded thread pool so the loop never blocks. Requests that do not decode reach the servicer as
``Undecodable`` (``services.grpcserve``) and are answered INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent import futures
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
from services.eventstore import ConcurrencyError, DuplicateEventError, InvalidEventError
from services.grpcserve import Undecodable, add_lenient_service, refuse_for_limit
from services.tokens import TokenVerifier
from services.workorders.adapters import metrics
from services.workorders.adapters.tokens import InvalidToken, bearer_from_metadata, verify_token
from services.workorders.config import DEFAULT_MAX_STREAMS_PER_CALLER
from services.workorders.domain import commands
from services.workorders.domain.audit import OK, AuditFilter, AuditRecord
from services.workorders.domain.errors import InvalidInput, InvalidTransition, PermissionDenied, RuleViolation
from services.workorders.domain.hazard import HazardStatus
from services.workorders.domain.workorder import WorkOrderStatus
from services.workorders.entrypoints.watch_feed import FeedClosed, StreamLimit, WatchFeed
from services.workorders.service_layer.app import WorkOrdersApp
from services.workorders.service_layer.auth import AccessDenied, CallerRole, Principal, require_query
from services.workorders.service_layer.repository import CommandOutcome, NotFound
from services.workorders.service_layer.views import (
    WORK_ORDER_FIELDS,
    HazardFilter,
    HazardView,
    WatchItem,
    WorkOrderFilter,
    WorkOrderView,
)

log = logging.getLogger(__name__)

SERVICE = pb.DESCRIPTOR.services_by_name["WorkOrdersService"]
SERVICE_NAME = SERVICE.full_name
MAX_PAGE = 1000
MAX_AGE_FILTER_S = 100 * 365.25 * 86_400.0  # ListWorkOrders' age filters
_HAZARD_STATES = frozenset(s.value for s in HazardStatus)
_WORK_ORDER_STATES = frozenset(s.value for s in WorkOrderStatus)
_MAX_ID = 200
# C0 and C1 control characters other than tab, line feed and carriage return: never meant in a crew id,
# a reason or a note, and NUL cannot be stored at all (jsonb).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
R = TypeVar("R")
_ENCODED_FRESH_US = 1_000_000
_ENCODED_KEEP = 20_000

# Order matters: the first matching class wins (InvalidTransition and RuleViolation are InvalidInput's
# siblings under DomainError, PermissionDenied too).
_STATUS: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (InvalidToken, grpc.StatusCode.UNAUTHENTICATED),
    (AccessDenied, grpc.StatusCode.PERMISSION_DENIED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (ConcurrencyError, grpc.StatusCode.ABORTED),
    (DuplicateEventError, grpc.StatusCode.ABORTED),
    (InvalidTransition, grpc.StatusCode.FAILED_PRECONDITION),
    (RuleViolation, grpc.StatusCode.FAILED_PRECONDITION),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidEventError, grpc.StatusCode.INVALID_ARGUMENT),
    (ValueError, grpc.StatusCode.INVALID_ARGUMENT),
)


class BadRequest(ValueError):
    """The request itself is malformed (INVALID_ARGUMENT)."""


def _code_of(error: BaseException) -> grpc.StatusCode:
    """The status ``error`` is answered with (no logging: ``_status_of`` logs the unexpected ones)."""
    return next((code for cls, code in _STATUS if isinstance(error, cls)), grpc.StatusCode.INTERNAL)


def _status_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    for cls, code in _STATUS:
        if isinstance(error, cls):
            return code, str(error)[:2000]
    log.exception("unexpected error in a gRPC call", exc_info=error)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}"


async def _abort(context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")


def _check_id(name: str, value: str, *, required: bool = True) -> str:
    if not value:
        if required:
            raise BadRequest(f"{name} is required")
        return ""
    if len(value) > _MAX_ID or not value.isprintable():
        raise BadRequest(f"{name} must be 1-{_MAX_ID} printable characters")
    return value


def _page(page_size: int, page_token: str) -> tuple[int, int]:
    limit = page_size or 100
    if limit > MAX_PAGE:
        raise BadRequest(f"page_size must be at most {MAX_PAGE}, got {page_size}")
    if not page_token:
        return limit, 0
    if not page_token.isdigit() or len(page_token) > 12:
        raise BadRequest("page_token is not one this server issued")
    return limit, int(page_token)


def _check_text(name: str, value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise BadRequest(
            f"{name} contains the control character U+{ord(found.group()):04X}; text may hold no control "
            "characters other than tab, line feed and carriage return"
        )
    return value


def _fields(message: Any, prefix: str) -> dict[str, Any]:
    """A oneof's sub-message as plain keyword arguments (field name -> Python value)."""
    args: dict[str, Any] = {}
    for descriptor in message.DESCRIPTOR.fields:
        value = getattr(message, descriptor.name)
        if isinstance(value, float) and value != value:
            raise BadRequest(f"{descriptor.name} must be a number, got NaN")
        if isinstance(value, str):
            _check_text(f"{prefix}.{descriptor.name}", value)
        args[descriptor.name] = value
    return args


_WORK_ORDER_FIELD_NAMES = tuple(f.name for f in WORK_ORDER_FIELDS)


def work_order_pb(view: WorkOrderView, now_unix_us: int) -> pb.WorkOrder:
    """The view field by field (``views.WorkOrderView`` is the field list), plus its age at ``now_unix_us``."""
    age_s = max(0.0, (now_unix_us - view.opened_at_unix_us) / 1e6) if view.opened_at_unix_us else 0.0
    return pb.WorkOrder(age_s=age_s, **{name: getattr(view, name) for name in _WORK_ORDER_FIELD_NAMES})


def hazard_pb(view: HazardView) -> pb.Hazard:
    return pb.Hazard(
        hazard_id=view.hazard_id,
        version=view.version,
        state=view.state,
        district=view.district,
        major=view.major,
        description=view.description,
        location=view.location,
        responsible_unit=view.responsible_unit,
        supervising_department=view.supervising_department,
        found_at_unix_us=view.found_at_unix_us,
        deadline_unix_us=view.deadline_unix_us,
        rectified_at_unix_us=view.rectified_at_unix_us,
        overdue=view.overdue,
        detail_json=view.detail_json,
        source=view.source,
        found_by=view.found_by,
        reported_via=view.reported_via,
        interim_measures=view.interim_measures,
        segment_id=view.segment_id,
        signatures=view.signatures,
        sign_off_levels=view.sign_off_levels,
        next_sign_off_role=view.next_sign_off_role,
        rejections=view.rejections,
    )


def _result(outcome: CommandOutcome[Any]) -> pb.CommandResult:
    return pb.CommandResult(
        stream_id=outcome.stream_id,
        version=outcome.version,
        position=outcome.position,
        event_types=list(outcome.event_types),
    )


@dataclass(frozen=True, slots=True)
class _Route:
    """How one ``Execute*CommandRequest`` reaches the service layer and is answered."""

    aggregate: str  # Command.aggregate of the request's commands
    id_field: str  # the request's aggregate-id field (also the commands' field of that name)
    # False: an empty id is the handler's to refuse (replacements: flag/set_target/open derive theirs).
    id_checked_here: bool
    respond: Callable[[WorkOrdersServicer, CommandOutcome[Any]], Any]


def _work_order_response(servicer: WorkOrdersServicer, outcome: CommandOutcome[Any]) -> Any:
    view = servicer.app.work_order_view(outcome.aggregate, outcome.version)
    return pb.ExecuteWorkOrderCommandResponse(
        result=_result(outcome), work_order=work_order_pb(view, servicer.now_us())
    )


def _hazard_response(servicer: WorkOrdersServicer, outcome: CommandOutcome[Any]) -> Any:
    view = servicer.app.hazard_view(outcome.aggregate, outcome.version)
    return pb.ExecuteHazardCommandResponse(result=_result(outcome), hazard=hazard_pb(view))


def _replacement_response(servicer: WorkOrdersServicer, outcome: CommandOutcome[Any]) -> Any:
    return pb.ExecuteReplacementCommandResponse(
        result=_result(outcome), detail_json=servicer.app.detail_json(outcome.aggregate)
    )


_EXECUTE: dict[type[Any], _Route] = {
    pb.ExecuteWorkOrderCommandRequest: _Route("work_order", "work_order_id", True, _work_order_response),
    pb.ExecuteHazardCommandRequest: _Route("hazard", "hazard_id", True, _hazard_response),
    pb.ExecuteReplacementCommandRequest: _Route("replacement", "replacement_id", False, _replacement_response),
}


def _command_classes(request_type: type[Any], aggregate: str) -> dict[str, type[commands.Command]]:
    """The request's ``command`` oneof: field name -> the dataclass with that verb (the one mapping)."""
    by_verb = {cls.verb: cls for cls in commands.COMMANDS if cls.aggregate == aggregate}
    oneof = request_type.DESCRIPTOR.oneofs_by_name["command"]
    return {field.name: by_verb[field.name] for field in oneof.fields}


COMMAND_CLASSES: dict[type[Any], dict[str, type[commands.Command]]] = {
    request_type: _command_classes(request_type, route.aggregate) for request_type, route in _EXECUTE.items()
}


def command_of(request: Any) -> commands.Command:
    """The ``domain.commands`` dataclass of an ``Execute*CommandRequest``: the chosen oneof sub-message's
    fields (text checked for control characters), plus the request's aggregate id when the command has one."""
    route = _EXECUTE[type(request)]
    classes = COMMAND_CLASSES[type(request)]
    verb = request.WhichOneof("command")
    if verb is None:
        raise BadRequest(f"no command given: set one of {', '.join(classes)}")
    cls = classes[verb]
    id_fields = {f.name: f for f in dataclasses.fields(cls)}
    id_field = id_fields.get(route.id_field)
    required = route.id_checked_here and id_field is not None and id_field.default is dataclasses.MISSING
    aggregate_id = _check_id(route.id_field, getattr(request, route.id_field), required=required)
    args = _fields(getattr(request, verb), verb)
    if id_field is not None:
        args[route.id_field] = aggregate_id
    return cls(**args)


class WorkOrdersServicer(pb_grpc.WorkOrdersServiceServicer):
    """The API on a ``grpc.aio`` server: coroutines on the loop, the service layer in ``blocking_threads``.

    ``start``/``close`` run on the server's loop (``GrpcServer`` calls them).
    """

    def __init__(
        self,
        app: WorkOrdersApp,
        verifier: TokenVerifier,
        *,
        now_us: Callable[[], int] | None = None,
        max_streams_per_caller: int = DEFAULT_MAX_STREAMS_PER_CALLER,
        blocking_threads: int = 32,
        heartbeat_s: float = 10.0,
        audit_flush_s: float = 0.5,
        feed_poll_s: tuple[float, float] = (0.05, 1.0),
    ) -> None:
        self.app = app
        self.feed_poll_s = feed_poll_s  # the Watch feed's safety-net poll: first and longest interval
        self.audit = app.audit
        self.audit_flush_s = audit_flush_s
        self._audit_flusher: asyncio.Task[None] | None = None
        self.verifier = verifier
        self.now_us = now_us or (lambda: time.time_ns() // 1000)
        self.streams = StreamLimit(max_streams_per_caller)
        self.heartbeat_s = heartbeat_s
        self._executor = futures.ThreadPoolExecutor(max_workers=blocking_threads, thread_name_prefix="workorders-grpc")
        self.feed: WatchFeed | None = None
        # position -> (built at, serialized WatchResponse): an event goes to every open stream, serialized
        # once; rebuilt after a second so that work_order.age_s stays current.
        self._encoded: dict[int, tuple[int, bytes]] = {}

    async def start(self) -> None:
        self.feed = WatchFeed(self.app, self._blocking, poll_s=self.feed_poll_s[0], max_poll_s=self.feed_poll_s[1])
        await self.feed.start()
        self._audit_flusher = asyncio.ensure_future(self._flush_audit_forever())

    async def _flush_audit_forever(self) -> None:
        """Audit records reach the store in batches: every ``audit_flush_s`` (one append per day stream)."""
        while True:
            await asyncio.sleep(self.audit_flush_s)
            if self.audit.pending:
                try:
                    await self._blocking(self.audit.flush)
                except Exception:  # flush keeps what it could not store; never let the loop die
                    log.exception("audit flush failed")

    async def close(self) -> None:
        """End the Watch streams (UNAVAILABLE: reconnect and resume); the blocking pool takes no new work
        (what is queued still runs, so unary calls in their grace period finish)."""
        if self.feed is not None:
            await self.feed.close()
        if self._audit_flusher is not None:
            self._audit_flusher.cancel()
        try:
            await self._blocking(self.audit.flush, final=True)
        except Exception:
            log.exception("final audit flush failed")
        self._executor.shutdown(wait=False)

    async def _blocking(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """``fn(*args, **kwargs)`` in the blocking pool (service layer, SQL), awaited without blocking the loop."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def _audit(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        principal: Principal | None,
        action: str,
        code: grpc.StatusCode,
        reason: str = "",
        *,
        target: str = "",
        district: str = "",
        capped: bool = True,
    ) -> None:
        """One audit record of this call (kept for the next flush unless the caller's cap is reached)."""
        try:
            peer = context.peer() or ""
        except Exception:  # a context without a transport: no peer to tell
            peer = ""
        ok = code is grpc.StatusCode.OK
        self.audit.record(
            AuditRecord(
                at_unix_us=self.now_us(),
                subject=principal.subject if principal is not None else "",
                role=principal.role.value if principal is not None else "",
                token_districts=tuple(sorted(principal.districts)) if principal is not None else (),
                action=action,
                target=target,
                district=district,
                outcome=OK if ok else code.name.lower(),
                reason="" if ok else reason,
                peer=peer,
            ),
            capped=capped,
        )

    async def _caller(self, request: object, context: grpc.aio.ServicerContext[Any, Any], action: str) -> Principal:
        """The authenticated caller of a decodable request; aborts the call (and audits why) otherwise."""
        try:
            principal = verify_token(self.verifier, bearer_from_metadata(context.invocation_metadata() or ()))
        except InvalidToken as error:
            metrics.REFUSED_CALLS.labels(error.reason).inc()
            self._audit(context, None, action, grpc.StatusCode.UNAUTHENTICATED, str(error))
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, str(error))
        if isinstance(request, Undecodable):
            self._audit(context, principal, action, grpc.StatusCode.INVALID_ARGUMENT, request.problem)
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, request.problem)
        return principal

    async def _unary(
        self,
        request: Any,
        context: grpc.aio.ServicerContext[Any, Any],
        handle: Callable[[Principal, Any], R],
        query: str,
        target: Callable[[Any], str] = lambda request: "",
    ) -> R:
        """A query: the caller, may its role run it (``auth.QUERY_PERMISSIONS``), then ``handle`` in the
        blocking pool; timed per method. Refusals are audited, and so are the regulators' reads."""
        principal = await self._caller(request, context, query)
        started = time.perf_counter()
        try:
            require_query(principal, query)
            reply = await self._blocking(handle, principal, request)
        except Exception as error:
            code, message = _status_of(error)
            self._audit(context, principal, query, code, message, target=_safe_target(target, request))
        else:
            if principal.role is CallerRole.REGULATOR:
                self._audit(context, principal, query, grpc.StatusCode.OK, target=_safe_target(target, request))
            return reply
        finally:
            metrics.QUERY_SECONDS.labels(query).observe(time.perf_counter() - started)
        await _abort(context, code, message)

    async def _command(self, request: Any, context: grpc.aio.ServicerContext[Any, Any], rpc: str) -> Any:
        """Every ``Execute*Command``: like ``_unary``, counted by aggregate, verb and outcome, timed, audited."""
        principal = await self._caller(request, context, rpc)
        aggregate, verb = _EXECUTE[type(request)].aggregate, request.WhichOneof("command") or "none"
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await self._blocking(self._execute, principal, request, context)
        except Exception as error:
            code, message = _status_of(error)
            outcome = code.name.lower()
        finally:
            metrics.COMMANDS.labels(aggregate, verb, outcome).inc()
            metrics.COMMAND_SECONDS.labels(aggregate, verb).observe(time.perf_counter() - started)
        await _abort(context, code, message)

    def _meta(self, ctx: pb.CommandContext) -> dict[str, Any]:
        return {
            "expected_version": ctx.expected_version if ctx.HasField("expected_version") else None,
            "command_id": _check_id("context.command_id", ctx.command_id, required=False),
            "correlation_id": _check_id("context.correlation_id", ctx.correlation_id, required=False),
            "note": _check_text("context.note", ctx.note),
        }

    # -- queries ---------------------------------------------------------------------------------------

    async def ListWorkOrders(
        self, request: pb.ListWorkOrdersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListWorkOrdersResponse:
        return await self._unary(request, context, self._list_work_orders, "ListWorkOrders", _districts_target)

    def _list_work_orders(self, principal: Principal, request: pb.ListWorkOrdersRequest) -> pb.ListWorkOrdersResponse:
        limit, offset = _page(request.page_size, request.page_token)
        for name in ("min_age_s", "max_age_s"):
            value = getattr(request, name)
            # bounded, not only finite: an age of 1e300 s is no filter anyone means, and its microseconds overflow
            # the database's 64-bit integers
            if not 0 <= value <= MAX_AGE_FILTER_S:
                raise BadRequest(f"{name} must be a number of seconds from 0 to {MAX_AGE_FILTER_S:.0f} (100 years)")
        if any(g not in (1, 2, 3) for g in request.grades):
            raise BadRequest("grades must be 1, 2 or 3")
        # A misspelt state would otherwise match nothing and read as "no such orders".
        unknown = sorted(set(request.states) - _WORK_ORDER_STATES)
        if unknown:
            raise BadRequest(f"unknown work order state(s) {unknown}; known: {sorted(_WORK_ORDER_STATES)}")
        filt = WorkOrderFilter(
            districts=principal.visible_districts(request.districts),
            grades=frozenset(request.grades),
            states=frozenset(request.states),
            min_age_s=request.min_age_s,
            max_age_s=request.max_age_s,
            open_only=request.open_only,
            limit=limit,
            offset=offset,
        )
        now = self.now_us()
        views, as_of = self.app.list_work_orders(filt, now_unix_us=now)
        next_token = str(offset + limit) if len(views) == limit else ""
        return pb.ListWorkOrdersResponse(
            work_orders=[work_order_pb(v, now) for v in views], next_page_token=next_token, as_of_position=as_of
        )

    async def GetWorkOrder(
        self, request: pb.GetWorkOrderRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetWorkOrderResponse:
        return await self._unary(request, context, self._get_work_order, "GetWorkOrder", lambda r: r.work_order_id)

    def _get_work_order(self, principal: Principal, request: pb.GetWorkOrderRequest) -> pb.GetWorkOrderResponse:
        view = self.app.get_work_order(principal, _check_id("work_order_id", request.work_order_id))
        return pb.GetWorkOrderResponse(work_order=work_order_pb(view, self.now_us()))

    async def ListHazards(
        self, request: pb.ListHazardsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListHazardsResponse:
        return await self._unary(request, context, self._list_hazards, "ListHazards", _districts_target)

    def _list_hazards(self, principal: Principal, request: pb.ListHazardsRequest) -> pb.ListHazardsResponse:
        limit, offset = _page(request.page_size, request.page_token)
        unknown = sorted(set(request.states) - _HAZARD_STATES)
        if unknown:
            raise BadRequest(f"unknown hazard state(s) {unknown}; known: {sorted(_HAZARD_STATES)}")
        filt = HazardFilter(
            districts=principal.visible_districts(request.districts),
            states=frozenset(request.states),
            major_only=request.major_only,
            overdue_only=request.overdue_only,
            limit=limit,
            offset=offset,
        )
        views, as_of = self.app.list_hazards(filt, now_unix_us=self.now_us())
        next_token = str(offset + limit) if len(views) == limit else ""
        return pb.ListHazardsResponse(
            hazards=[hazard_pb(v) for v in views], next_page_token=next_token, as_of_position=as_of
        )

    async def GetReport(
        self, request: pb.GetReportRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetReportResponse:
        return await self._unary(request, context, self._get_report, "GetReport", lambda r: r.name)

    def _get_report(self, principal: Principal, request: pb.GetReportRequest) -> pb.GetReportResponse:
        table, as_of = self.app.report(principal, request.name, now_unix_us=self.now_us())
        return pb.GetReportResponse(
            name=table.name,
            table=pb.ReportTable(
                columns=list(table.columns),
                rows=[pb.ReportTable.Row(cells=[_cell(c) for c in row]) for row in table.rows],
            ),
            as_of_position=as_of,
        )

    async def ListAuditRecords(
        self, request: pb.ListAuditRecordsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListAuditRecordsResponse:
        return await self._unary(request, context, self._list_audit_records, "ListAuditRecords", _audit_target)

    def _list_audit_records(
        self, principal: Principal, request: pb.ListAuditRecordsRequest
    ) -> pb.ListAuditRecordsResponse:
        limit, _ = _page(request.page_size, "")
        for name in ("since_unix_us", "until_unix_us"):
            if not 0 <= getattr(request, name) < _YEAR_10000_US:
                raise BadRequest(f"{name} must be microseconds since 1970 (UTC), from 0 to before the year 10000")
        until = request.until_unix_us or self.now_us()
        since = request.since_unix_us or max(0, until - _DAY_US)
        if since >= until:
            raise BadRequest(f"since_unix_us ({since}) must be before until_unix_us ({until})")
        for name in ("subjects", "districts", "outcomes"):
            for value in getattr(request, name):
                _check_id(f"{name}[]", value)
        if len(request.page_token) > 40:
            raise BadRequest("page_token is not one this server issued")
        principal.visible_districts(request.districts)  # refuses districts the regulator does not supervise
        filt = AuditFilter(
            since_unix_us=since,
            until_unix_us=until,
            subjects=frozenset(request.subjects),
            districts=frozenset(request.districts),
            outcomes=frozenset(request.outcomes),
            visible=principal.visible_districts(()),
        )
        # Read your writes: what was recorded before this call is stored before the trail is read.
        self.audit.flush()
        page = self.audit.query(filt, limit=limit, page_token=request.page_token)
        return pb.ListAuditRecordsResponse(
            records=[_audit_pb(record) for record in page.records], next_page_token=page.next_token
        )

    # -- commands --------------------------------------------------------------------------------------

    async def ExecuteWorkOrderCommand(
        self, request: pb.ExecuteWorkOrderCommandRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ExecuteWorkOrderCommandResponse:
        return await self._command(request, context, "ExecuteWorkOrderCommand")

    async def ExecuteHazardCommand(
        self, request: pb.ExecuteHazardCommandRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ExecuteHazardCommandResponse:
        return await self._command(request, context, "ExecuteHazardCommand")

    async def ExecuteReplacementCommand(
        self, request: pb.ExecuteReplacementCommandRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ExecuteReplacementCommandResponse:
        return await self._command(request, context, "ExecuteReplacementCommand")

    def _execute(self, principal: Principal, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        """Every ``Execute*Command``: the request's command as its dataclass, run, answered as ``_EXECUTE`` says;
        audited whatever the outcome (successful commands are never capped)."""
        route = _EXECUTE[type(request)]
        command: commands.Command | None = None
        outcome: CommandOutcome[Any] | None = None
        failure: BaseException | None = None
        try:
            command = command_of(request)
            outcome = self.app.execute(principal, command, **self._meta(request.context))
            return route.respond(self, outcome)
        except BaseException as error:
            failure = error
            raise
        finally:
            self._audit(
                context,
                principal,
                f"{route.aggregate}.{request.WhichOneof('command') or 'none'}",
                grpc.StatusCode.OK if failure is None else _code_of(failure),
                "" if failure is None else str(failure)[:500],
                target=getattr(request, route.id_field) or (outcome.stream_id if outcome is not None else ""),
                district=self.app.target_district(command, outcome) if command is not None else "",
                capped=failure is not None,
            )

    # -- watch -----------------------------------------------------------------------------------------

    async def Watch(  # type: ignore[override]  # yields serialized WatchResponses (services.grpcserve)
        self, request: pb.WatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        principal = await self._caller(request, context, "Watch")
        target = _districts_target(request)
        try:
            require_query(principal, "Watch")
            districts = principal.visible_districts(request.districts)
        except Exception as error:
            code, message = _status_of(error)
            self._audit(context, principal, "Watch", code, message, target=target)
            await _abort(context, code, message)
        feed = self.feed
        if feed is None:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, "the server is not started")
        caller = principal.subject
        if not self.streams.acquire(caller):
            metrics.REFUSED_CALLS.labels("stream_limit").inc()
            message = (
                f"caller {caller!r} already has {self.streams.per_caller} Watch streams open, the most one caller "
                "may hold: cancel one (or share one stream between screens) before opening another"
            )
            self._audit(context, principal, "Watch", grpc.StatusCode.RESOURCE_EXHAUSTED, message, target=target)
            # RESOURCE_EXHAUSTED with the limit's trailing metadata (services.grpcserve)
            await refuse_for_limit(context, "streams_per_caller", message)
        if principal.role is CallerRole.REGULATOR:
            self._audit(context, principal, "Watch", grpc.StatusCode.OK, target=target)
        position = request.after_position
        metrics.WATCH_STREAMS_OPEN.inc()
        try:
            async for item in feed.follow(districts, request.after_position, heartbeat_s=self.heartbeat_s):
                position = item.position
                yield self._watch_bytes(item)
        except FeedClosed:
            code, message = (
                grpc.StatusCode.UNAVAILABLE,
                f"the server is shutting down: reconnect with after_position={position}",
            )
        except Exception as error:
            code, message = _status_of(error)
        else:
            return
        finally:
            self.streams.release(caller)
            metrics.WATCH_STREAMS_OPEN.dec()
        await _abort(context, code, message)

    def _watch_bytes(self, item: WatchItem) -> bytes:
        now = self.now_us()
        if item.heartbeat:
            return self._watch_response(item, now).SerializeToString()
        cached = self._encoded.get(item.position)
        if cached is not None and now - cached[0] <= _ENCODED_FRESH_US:
            return cached[1]
        data = self._watch_response(item, now).SerializeToString()
        self._encoded.pop(item.position, None)
        self._encoded[item.position] = (now, data)
        while len(self._encoded) > _ENCODED_KEEP:
            del self._encoded[next(iter(self._encoded))]
        return data

    def _watch_response(self, item: WatchItem, now_us: int) -> pb.WatchResponse:
        return pb.WatchResponse(
            position=item.position,
            stream_id=item.stream_id,
            stream_version=item.stream_version,
            event_type=item.event_type,
            district=item.district,
            payload_json=item.payload_json,
            recorded_at_unix_us=item.recorded_at_unix_us,
            actor=item.actor,
            work_order=work_order_pb(item.work_order, now_us) if item.work_order is not None else None,
            heartbeat=item.heartbeat,
            hazard=hazard_pb(item.hazard) if item.hazard is not None else None,
        )


_DAY_US = 86_400 * 1_000_000
_YEAR_10000_US = 253_402_300_800_000_000


def _districts_target(request: Any) -> str:
    return "districts=" + ",".join(request.districts) if request.districts else ""


def _audit_target(request: pb.ListAuditRecordsRequest) -> str:
    parts = [f"since={request.since_unix_us}", f"until={request.until_unix_us}"]
    parts += [f"{name}={','.join(getattr(request, name))}" for name in ("subjects", "districts", "outcomes")]
    return " ".join(p for p in parts if not p.endswith("="))


def _safe_target(target: Callable[[Any], str], request: Any) -> str:
    """What a query was about, for its audit record; garbage (a request that did not decode) gives ''."""
    try:
        return str(target(request))[:200]
    except Exception:
        return ""


def _audit_pb(record: AuditRecord) -> pb.AuditRecord:
    return pb.AuditRecord(
        at_unix_us=record.at_unix_us,
        subject=record.subject,
        role=record.role,
        token_districts=list(record.token_districts),
        action=record.action,
        target=record.target,
        district=record.district,
        outcome=record.outcome,
        reason=record.reason,
        peer=record.peer,
        dropped=record.dropped,
        until_unix_us=record.until_unix_us,
    )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


class GrpcServer:
    """The ``grpc.aio`` server (servicer, health, reflection) on an event loop in a thread of its own, with a
    blocking face (``start``, ``stop``) for ``serve``, the CLI, tests and benchmarks."""

    def __init__(
        self,
        servicer: WorkOrdersServicer,
        address: str,
        *,
        max_receive_message_bytes: int = 4 * 1024 * 1024,
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.servicer = servicer
        self._credentials = credentials  # None: plaintext
        self._max_receive_message_bytes = max_receive_message_bytes
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="workorders-grpc-loop", daemon=True)
        self._thread.start()
        try:
            self.port = self._call(self._bind(address))
        except BaseException:
            self._close_loop()
            raise
        host = address.rsplit(":", 1)[0]
        self.address = f"{host}:{self.port}"
        self._stopped = False

    def _call(self, coroutine: Coroutine[Any, Any, R]) -> R:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _bind(self, address: str) -> int:
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", self._max_receive_message_bytes),
                # Consoles hold Watch streams open for hours: let them keepalive-ping without being cut off.
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 1),
            ]
        )
        add_lenient_service(self.server, self.servicer, SERVICE)
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self.server,
        )
        if self._credentials is None:
            port = self.server.add_insecure_port(address)
        else:
            port = self.server.add_secure_port(address, self._credentials)
        if port == 0:
            raise OSError(f"cannot listen on {address}")
        return port

    def start(self) -> GrpcServer:
        self._call(self._start())
        return self

    async def _start(self) -> None:
        await self.servicer.start()
        await self.server.start()
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace_s: float = 2.0) -> None:
        """Refuse new calls, end Watch streams (UNAVAILABLE), give unary calls ``grace_s`` to finish."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._call(self._stop(grace_s))
        finally:
            self._close_loop()

    async def _stop(self, grace_s: float) -> None:
        await self.health.enter_graceful_shutdown()
        stopping = asyncio.ensure_future(self.server.stop(grace_s))
        await self.servicer.close()
        await stopping
        # What calls finishing in their grace period recorded after close()'s flush.
        await asyncio.get_running_loop().run_in_executor(None, functools.partial(self.servicer.audit.flush, final=True))

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10.0)
        if not self._thread.is_alive():
            self._loop.close()
