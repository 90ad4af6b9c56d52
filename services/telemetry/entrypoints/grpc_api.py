"""The gRPC face of telemetry: authentication, status codes, PublishBatch and PublishStream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, NoReturn, Protocol

import grpc

from services.contracts.pipewarden.telemetry.v1 import (
    reading_pb2,
    telemetry_ingest_service_pb2,
    telemetry_ingest_service_pb2_grpc,
)
from services.grpcserve import StreamLimit, Undecodable, add_lenient_service, refuse_for_limit, stream_slot
from services.grpctls import peer_certificate_names
from services.telemetry.adapters.auth import AuthError, GatewayTokens
from services.telemetry.domain import BatchAck, BatchError
from services.telemetry.service_layer import IngestService, PublishUnavailable, RateLimitExceeded, RecordTooLarge

log = logging.getLogger(__name__)

_STATUS_OF_BATCH_ERROR = {
    BatchError.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    BatchError.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    BatchError.WRONG_GATEWAY: grpc.StatusCode.PERMISSION_DENIED,
}


def add_to_server(servicer: TelemetryIngestServicer, server: grpc.aio.Server) -> None:
    """Like the generated ``add_..._to_server``, but undecodable requests reach the servicer (INVALID_ARGUMENT)."""
    add_lenient_service(
        server, servicer, telemetry_ingest_service_pb2.DESCRIPTOR.services_by_name["TelemetryIngestService"]
    )


def ack_to_proto(ack: BatchAck) -> reading_pb2.IngestAck:
    return reading_pb2.IngestAck(
        gateway_id=ack.gateway_id,
        batch_sequence=ack.batch_sequence,
        accepted_count=ack.accepted_count,
        rejected_count=ack.rejected_count,
        rejections_by_reason=[
            reading_pb2.RejectionCount(reason=reading_pb2.RejectReason.ValueType(reason), count=count)
            for reason, count in ack.rejections_by_reason
        ],
        duplicate_batch=ack.duplicate_batch,
    )


class RefusalMetrics(Protocol):
    def call_refused(self, reason: str) -> None: ...


class TelemetryIngestServicer(telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceServicer):
    def __init__(
        self,
        service: IngestService,
        tokens: GatewayTokens,
        metrics: RefusalMetrics,
        *,
        max_streams_per_gateway: int = 8,
        client_cert_identity: bool = False,
    ) -> None:
        self.service = service
        # Mutual TLS: the client certificate (CN or a DNS/URI SAN) must name the gateway the token is for, and so
        # the gateway_id of every batch (checked by the service against the token's gateway).
        self.client_cert_identity = client_cert_identity
        self.tokens = tokens
        self.metrics = metrics
        # A gateway needs one PublishStream (two for a moment while it reconnects): more is a loop or a leak.
        self.streams = StreamLimit(max_streams_per_gateway)
        self._draining = False
        # Stream handlers waiting for their next batch: on shutdown they can end at once.
        self._idle_streams: set[asyncio.Task[Any]] = set()

    def start_draining(self) -> None:
        """Stop taking batches: idle streams end now with UNAVAILABLE, busy ones after their current batch."""
        self._draining = True
        for task in list(self._idle_streams):
            task.cancel()

    async def _authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        try:
            gateway_id = self.tokens.gateway_of(context.invocation_metadata())
        except AuthError as error:
            self.metrics.call_refused(error.reason)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
            raise  # unreachable: abort raises
        if self.client_cert_identity:
            names = peer_certificate_names(context)
            if gateway_id not in names:
                self.metrics.call_refused("certificate")
                named = ", ".join(sorted(names)[:3]) or "no name"
                await _abort(context, grpc.StatusCode.PERMISSION_DENIED,
                             f"the client certificate names {named[:200]}, not gateway {gateway_id!r}")
        return gateway_id

    async def _ingest(
        self, gateway_id: str, batch: reading_pb2.ReadingBatch, context: grpc.aio.ServicerContext[Any, Any]
    ) -> reading_pb2.IngestAck:
        try:
            ack = await self.service.ingest(gateway_id, batch)
        except BatchError as error:
            await _abort(context, _STATUS_OF_BATCH_ERROR[error.kind], str(error))
        except RateLimitExceeded as error:
            await refuse_for_limit(context, error.limited.limit, str(error), error.limited.retry_after_s)
        except PublishUnavailable as error:
            log.warning(
                "batch not acked: kafka unavailable",
                extra={"gateway_id": gateway_id, "batch_sequence": batch.batch_sequence, "error": str(error)},
            )
            await _abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"batch {batch.batch_sequence} was not stored: {error}; retry with the same batch_sequence",
            )
        except RecordTooLarge as error:
            # Permanent: the same batch would meet the same limit. Not UNAVAILABLE, which means "resend it".
            log.error(
                "batch refused: a record is too large for kafka",
                extra={"gateway_id": gateway_id, "batch_sequence": batch.batch_sequence, "error": str(error)},
            )
            await _abort(
                context,
                grpc.StatusCode.FAILED_PRECONDITION,
                f"batch {batch.batch_sequence} was not acked: {error}. Resending it unchanged fails the same "
                "way: send its readings in smaller batches under new batch_sequence numbers, or have the "
                "operator raise the limit",
            )
        return ack_to_proto(ack)

    async def PublishBatch(
        self,
        request: telemetry_ingest_service_pb2.PublishBatchRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> telemetry_ingest_service_pb2.PublishBatchResponse:
        gateway_id = await self._authenticate(context)
        if self._draining:
            await _abort(
                context, grpc.StatusCode.UNAVAILABLE, "telemetry is shutting down: retry on another instance"
            )
        if isinstance(request, Undecodable):
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, request.problem)
        if not request.HasField("batch"):
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "request.batch is missing")
        ack = await self._ingest(gateway_id, request.batch, context)
        return telemetry_ingest_service_pb2.PublishBatchResponse(ack=ack)

    async def PublishStream(
        self, request_iterator: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[telemetry_ingest_service_pb2.PublishStreamResponse]:
        gateway_id = await self._authenticate(context)
        async with stream_slot(
            self.streams,
            gateway_id,
            context,
            what="PublishStream streams",
            on_refused=lambda: self.metrics.call_refused("stream_limit"),
        ):
            async for response in self._stream(gateway_id, context):
                yield response

    async def _stream(
        self, gateway_id: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[telemetry_ingest_service_pb2.PublishStreamResponse]:
        task = asyncio.current_task()
        assert task is not None
        # Batches of one stream are handled strictly one after the other, so acks go out in order.
        while True:
            if self._draining:
                await _abort(context, grpc.StatusCode.UNAVAILABLE, "telemetry is shutting down: reconnect")
            self._idle_streams.add(task)
            try:
                request = await context.read()
            except asyncio.CancelledError:
                if self._draining:
                    await _abort(context, grpc.StatusCode.UNAVAILABLE, "telemetry is shutting down: reconnect")
                raise
            finally:
                self._idle_streams.discard(task)
            if request is grpc.aio.EOF:
                return
            if isinstance(request, Undecodable):
                await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, request.problem)
            assert isinstance(request, telemetry_ingest_service_pb2.PublishStreamRequest)
            if not request.HasField("batch"):
                await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "request.batch is missing")
            ack = await self._ingest(gateway_id, request.batch, context)
            yield telemetry_ingest_service_pb2.PublishStreamResponse(ack=ack)


async def _abort(context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")
