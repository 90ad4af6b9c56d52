"""gRPC query API (LeakQueryService) with health and reflection.

Runs a thread-pool gRPC server beside the faust event loop; it reads the processor's per-segment view
snapshots (replaced per batch, never mutated), so it needs no lock and never blocks the stream.

Callers present the same signed tokens as for workorders (``authorization: Bearer``, ``services.tokens``,
audience ``pipewarden-leakdetect``): every role may read, only in its districts. A request naming a segment
outside them, or a district not theirs, is PERMISSION_DENIED; the active-alarm list without a district holds
only the caller's districts. Refusals are counted by reason (``pipewarden_leakdetect_query_refused_calls_total``).

Learning commands (``LearnNow``, ``MarkLeakFree``; issue 24) are for the roles of
``service_layer.learning.LEARNING_PERMISSIONS`` (supervisors), in their districts; the call publishes a
``LearningCommand`` on ``leak.learning-commands.v1`` (through ``publish_command``) and answers with its id: the
worker that owns the segment applies it, and its outcome shows in ``GetSegmentStatus`` (``baseline.last_command``).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent import futures
from typing import TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Counter

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2, learning_pb2
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as qpb
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2_grpc as qgrpc
from services.grpcserve import Undecodable, add_lenient_service
from services.leakdetect.service_layer import learning
from services.leakdetect.service_layer.processor import SegmentView
from services.network import Network
from services.tokens import Claims, InvalidToken, TokenVerifier, bearer_from_metadata

SERVICE_NAME = qpb.DESCRIPTOR.services_by_name["LeakQueryService"].full_name
_MAX_ID = 200

Request = TypeVar("Request")

REFUSED_CALLS = Counter(
    "pipewarden_leakdetect_query_refused_calls_total",
    "query API calls refused before running: unauthenticated (token reason) or permission_denied",
    ["reason"],
)


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


def _decoded(request: Request | Undecodable, context: grpc.ServicerContext) -> Request:
    """The request, or INVALID_ARGUMENT when its bytes were not the method's request message."""
    if isinstance(request, Undecodable):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.problem)
        raise AssertionError("unreachable: context.abort raises")
    return request


def _us(t_s: float | None) -> int:
    return 0 if t_s is None or not math.isfinite(t_s) else round(t_s * 1e6)


def baseline_message(baseline: object, last_command: Mapping[str, str] | None) -> learning_pb2.BaselineStatus:
    """The status API's form of `domain.BaselineStatus` (infinities and nan as 0)."""
    out = learning_pb2.BaselineStatus()
    b = baseline
    if b is not None:
        out.learned = bool(b.learned)  # type: ignore[attr-defined]
        out.source = b.source  # type: ignore[attr-defined]
        out.learned_unix_us = _us(b.learned_unix_s)  # type: ignore[attr-defined]
        out.window_start_unix_us = _us(b.window_start_unix_s)  # type: ignore[attr-defined]
        out.blocks = max(0, int(b.blocks))  # type: ignore[attr-defined]
        for name in ("offset_kg_per_s", "offset_sd_kg_per_s", "gain", "gain_sd", "kappa", "throughput_kg_per_s",
                     "friction_calibration_blocks", "mdlr_15min_kg_per_s"):
            setattr(out, name, _finite(getattr(b, name)))
        out.friction_k = _finite(b.friction_k if b.friction_k is not None else 0.0)  # type: ignore[attr-defined]
        out.friction_k_sd = _finite(b.friction_k_sd if b.friction_k_sd is not None else 0.0)  # type: ignore[attr-defined]
        out.learning = b.learning  # type: ignore[attr-defined]
        out.learning_blocks = max(0, int(b.learning_blocks))  # type: ignore[attr-defined]
        out.learning_window_blocks = max(0, int(b.learning_window_blocks))  # type: ignore[attr-defined]
        out.skipped_transient_blocks = max(0, int(b.skipped_transient_blocks))  # type: ignore[attr-defined]
        out.next_relearn_unix_us = _us(b.next_relearn_unix_s)  # type: ignore[attr-defined]
        out.relearns_adopted = max(0, int(b.relearns_adopted))  # type: ignore[attr-defined]
        out.relearns_rejected = max(0, int(b.relearns_rejected))  # type: ignore[attr-defined]
        out.last_rejection = b.last_rejection or ""  # type: ignore[attr-defined]
    if last_command:
        out.last_command.CopyFrom(learning_pb2.LearningCommandOutcome(**dict(last_command)))
    return out


class LeakQueryServicer(qgrpc.LeakQueryServiceServicer):
    def __init__(
        self, network: Network, views: Callable[[], Mapping[str, SegmentView]], verifier: TokenVerifier,
        publish_command: Callable[[learning_pb2.LearningCommand], None] | None = None,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        """`publish_command`: puts a learning command on leak.learning-commands.v1 (None: this API takes none,
        UNAVAILABLE); `clock_s`: the wall clock, for "learn now" without a time."""
        self.network = network
        self._views = views
        self._verifier = verifier
        self._publish = publish_command
        self._clock_s = clock_s

    def _caller(self, context: grpc.ServicerContext) -> Claims:
        """The verified caller; UNAUTHENTICATED (with the token's problem, never the token) otherwise."""
        try:
            return self._verifier.verify(bearer_from_metadata(context.invocation_metadata() or ()))
        except InvalidToken as error:
            REFUSED_CALLS.labels(error.reason).inc()
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
            raise AssertionError("unreachable: context.abort raises") from None

    @staticmethod
    def _require_district(caller: Claims, district: str, what: str, context: grpc.ServicerContext) -> None:
        if not caller.may_see(district):
            REFUSED_CALLS.labels("permission_denied").inc()
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"{caller.role}:{caller.subject} may not see {what} (district {district!r})")

    def _segment_id(self, raw: str, context: grpc.ServicerContext) -> str:
        if not raw or len(raw) > _MAX_ID:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "segment_id is required (at most 200 characters)")
        if raw not in self.network.segments:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown segment {raw[:_MAX_ID]!r}")
        return raw

    def GetSegmentStatus(
        self, request: qpb.GetSegmentStatusRequest | Undecodable, context: grpc.ServicerContext
    ) -> qpb.GetSegmentStatusResponse:
        caller = self._caller(context)
        sid = self._segment_id(_decoded(request, context).segment_id, context)
        seg = self.network.segments[sid]
        self._require_district(caller, seg.district, f"segment {sid}", context)
        status = qpb.SegmentStatus(segment_id=sid, district=seg.district)
        view = self._views().get(sid)
        if view is not None:
            st = view.status
            status.served_here = True
            for i, window_s in enumerate(st.window_s):
                status.windows.add(
                    window_s=_finite(window_s),
                    imbalance_kg_per_s=_finite(st.imbalance_kg_per_s[i]) if i < len(st.imbalance_kg_per_s) else 0.0,
                    statistic=_finite(st.statistic[i]) if i < len(st.statistic) else 0.0,
                    threshold=_finite(st.threshold[i]) if i < len(st.threshold) else 0.0,
                )
            status.mdlr_kg_per_s = _finite(st.mdlr_kg_per_s)
            if seg.nominal_flow_kg_per_s > 0:
                status.mdlr_pct_of_nominal_flow = _finite(100.0 * st.mdlr_kg_per_s / seg.nominal_flow_kg_per_s)
            for tag_id, code in sorted(st.tag_health.items()):
                status.sensors.add(tag_id=tag_id, health=code)  # type: ignore[arg-type]
            status.clock_unix_us = st.clock_us
            status.readings_processed = view.readings
            status.late_readings_dropped = view.late_dropped
            status.duplicate_records = view.duplicates
            if view.active_alarm is not None:
                status.active_alarm.CopyFrom(view.active_alarm)
            status.baseline.CopyFrom(baseline_message(getattr(st, "baseline", None),
                                                      getattr(view, "last_command", None)))
        return qpb.GetSegmentStatusResponse(status=status)

    def ListActiveAlarms(
        self, request: qpb.ListActiveAlarmsRequest | Undecodable, context: grpc.ServicerContext
    ) -> qpb.ListActiveAlarmsResponse:
        caller = self._caller(context)
        request = _decoded(request, context)
        if len(request.district) > _MAX_ID:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "district is too long")
        if request.district:
            self._require_district(caller, request.district, "its alarms", context)
        alarms = [
            v.active_alarm
            for v in self._views().values()
            if v.active_alarm is not None
            and (v.district == request.district if request.district else caller.may_see(v.district))
        ]
        alarms.sort(key=lambda a: (a.detection_time_unix_us, a.alarm_id))
        return qpb.ListActiveAlarmsResponse(alarms=alarms)

    def GetAlarmHistory(
        self, request: qpb.GetAlarmHistoryRequest | Undecodable, context: grpc.ServicerContext
    ) -> qpb.GetAlarmHistoryResponse:
        caller = self._caller(context)
        request = _decoded(request, context)
        sid = self._segment_id(request.segment_id, context)
        self._require_district(caller, self.network.segments[sid].district, f"segment {sid}", context)
        view = self._views().get(sid)
        limit = request.limit or 50
        events = []
        if view is not None:
            for raw in reversed(view.history[-limit:]):
                ev = alarms_pb2.LeakAlarmEvent()
                ev.ParseFromString(raw)
                events.append(ev)
        return qpb.GetAlarmHistoryResponse(events=events)


    # --- learning commands (issue 24) ----------------------------------------------------------------------
    def _command_caller(self, method: str, raw_segment: str, context: grpc.ServicerContext) -> tuple[Claims, str]:
        """The caller, allowed `method` (`learning.LEARNING_PERMISSIONS`) on this segment's district."""
        caller = self._caller(context)
        problem = learning.refusal(method, caller.role)
        if problem is not None:
            REFUSED_CALLS.labels("permission_denied").inc()
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{caller.role}:{caller.subject}: {problem}")
        sid = self._segment_id(raw_segment, context)
        district = self.network.segments[sid].district
        if not caller.may_see(district):
            REFUSED_CALLS.labels("permission_denied").inc()
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"{caller.role}:{caller.subject} may not give learning commands for segment {sid} "
                          f"(district {district!r})")
        return caller, sid

    def _send(self, cmd: learning_pb2.LearningCommand, caller: Claims,
              context: grpc.ServicerContext) -> qpb.LearningCommandResponse:
        cmd.command_id = str(uuid.uuid4())
        cmd.requested_by = f"{caller.role}:{caller.subject}"
        cmd.requested_unix_us = round(self._clock_s() * 1e6)
        problem = learning.command_problem(cmd, self.network.segments)
        if problem is not None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        if self._publish is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "this query API takes no learning commands")
        try:
            self._publish(cmd)  # type: ignore[misc]
        except learning.CommandPublishError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"the learning command was not queued: {exc}")
        return qpb.LearningCommandResponse(command_id=cmd.command_id)

    def LearnNow(
        self, request: qpb.LearnNowRequest | Undecodable, context: grpc.ServicerContext
    ) -> qpb.LearningCommandResponse:
        raw = _decoded(request, context)
        caller, sid = self._command_caller("LearnNow", raw.segment_id, context)
        at_us = raw.at_unix_us or round(self._clock_s() * 1e6)
        cmd = learning_pb2.LearningCommand(segment_id=sid, learn_now=learning_pb2.LearnNow(at_unix_us=at_us))
        return self._send(cmd, caller, context)

    def MarkLeakFree(
        self, request: qpb.MarkLeakFreeRequest | Undecodable, context: grpc.ServicerContext
    ) -> qpb.LearningCommandResponse:
        raw = _decoded(request, context)
        caller, sid = self._command_caller("MarkLeakFree", raw.segment_id, context)
        cmd = learning_pb2.LearningCommand(segment_id=sid, mark_leak_free=learning_pb2.MarkLeakFree(
            start_unix_us=raw.start_unix_us, end_unix_us=raw.end_unix_us))
        return self._send(cmd, caller, context)


# A query names a segment or a district: no request is anywhere near this. Larger ones are refused by gRPC
# (RESOURCE_EXHAUSTED) before they are read, so a caller cannot make the server buffer megabytes.
MAX_REQUEST_BYTES = 64 * 1024


class QueryServer:
    def __init__(
        self,
        servicer: LeakQueryServicer,
        port: int,
        host: str = "127.0.0.1",
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="leakquery"),
                                  options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES)])
        # Not the generated add_..._to_server: undecodable bytes get INVALID_ARGUMENT rather than INTERNAL.
        add_lenient_service(self.server, servicer, qpb.DESCRIPTOR.services_by_name["LeakQueryService"])
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self.server,
        )
        if credentials is None:
            self.port = self.server.add_insecure_port(f"{host}:{port}")
        else:
            self.port = self.server.add_secure_port(f"{host}:{port}", credentials)

    def start(self) -> None:
        self.server.start()
        self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        self.health.set("", health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace_s: float = 2.0) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s)
