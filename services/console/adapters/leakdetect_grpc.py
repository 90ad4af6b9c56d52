"""leakdetect's query API (``LeakQueryService``) behind the ``LeakQuery`` port.

Each leakdetect worker answers for the segments whose partitions it holds, so the console asks every
configured worker and takes the one that serves the segment. Calls carry a caller's token (the API checks
it and the caller's districts); without one, the console's own read-only token (``fallback_token``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import grpc

from services.console.service_layer.ports import SegmentLive, WindowFigure
from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as pb
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2_grpc as pb_grpc
from services.grpctls import ClientTLS, aio_channel

CALL_TIMEOUT_S = 3.0


class GrpcLeakQuery:
    def __init__(
        self,
        addresses: Sequence[str],
        fallback_token: Callable[[], str] | None = None,
        tls: ClientTLS | None = None,
    ) -> None:
        self.addresses = tuple(addresses)
        self._tls = tls  # None: plaintext
        self._fallback_token = fallback_token
        self._stubs: list[pb_grpc.LeakQueryServiceStub] = []
        self._channels: list[grpc.aio.Channel] = []

    def _clients(self) -> list[pb_grpc.LeakQueryServiceStub]:
        if not self._stubs and self.addresses:
            self._channels = [aio_channel(a, self._tls) for a in self.addresses]
            self._stubs = [pb_grpc.LeakQueryServiceStub(c) for c in self._channels]
        return self._stubs

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
        self._channels, self._stubs = [], []

    def _metadata(self, token: str | None) -> tuple[tuple[str, str], ...]:
        token = token or (self._fallback_token() if self._fallback_token is not None else "")
        return (("authorization", f"Bearer {token}"),) if token else ()

    async def segment_status(self, segment_id: str, token: str | None = None) -> SegmentLive:
        if not self.addresses:
            return SegmentLive(segment_id, False, note="no leakdetect query API is configured")
        request = pb.GetSegmentStatusRequest(segment_id=segment_id)
        metadata = self._metadata(token)
        replies = await asyncio.gather(
            *(stub.GetSegmentStatus(request, timeout=CALL_TIMEOUT_S, metadata=metadata) for stub in self._clients()),
            return_exceptions=True,
        )
        errors = [r for r in replies if isinstance(r, BaseException)]
        for reply in replies:
            if isinstance(reply, BaseException) or not reply.status.served_here:
                continue
            s = reply.status
            return SegmentLive(
                segment_id=segment_id, served=True,
                windows=tuple(WindowFigure(w.window_s, w.imbalance_kg_per_s, w.statistic, w.threshold,
                                           w.mdlr_kg_per_s) for w in s.windows),
                mdlr_kg_per_s=s.mdlr_kg_per_s, mdlr_pct_of_nominal_flow=s.mdlr_pct_of_nominal_flow,
                sensors=tuple((t.tag_id, alarms_pb2.SensorHealth.Name(t.health)) for t in s.sensors),
                clock_unix_us=s.clock_unix_us,
                active_alarm_id=s.active_alarm.alarm_id if s.HasField("active_alarm") else "",
            )
        if errors and len(errors) == len(replies):
            error = errors[0]
            if isinstance(error, grpc.aio.AioRpcError) and error.code() in (
                    grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
                return SegmentLive(segment_id, False, note=f"leakdetect refused: {error.details()}")
            detail = error.details() if isinstance(error, grpc.aio.AioRpcError) else str(error)
            return SegmentLive(segment_id, False, note=f"leakdetect unreachable: {detail}")
        return SegmentLive(segment_id, False, note="no leakdetect worker has seen this segment's readings yet")

    async def active_alarm_segments(self, token: str | None = None) -> set[str]:
        found: set[str] = set()
        metadata = self._metadata(token)
        replies = await asyncio.gather(
            *(stub.ListActiveAlarms(pb.ListActiveAlarmsRequest(), timeout=CALL_TIMEOUT_S, metadata=metadata)
              for stub in self._clients()),
            return_exceptions=True,
        )
        for reply in replies:
            if not isinstance(reply, BaseException):
                found.update(a.segment_id for a in reply.alarms)
        return found
