"""The link to telemetry: ``PublishStream`` over gRPC (TLS when a root certificate is configured), with the
gateway's bearer token; gRPC status codes become the send plan's failure kinds."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc

from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2
from services.fieldsim.gateway import FATAL
from services.gateway.domain import Failure
from services.gateway.service_layer.ports import Ack, Row, SendError
from services.grpcserve import LIMIT_KEY

from .wire import publish_request_bytes

# What each refusal means for the batch (telemetry README, "Whole-batch refusals").
_FAILURE_OF = {
    grpc.StatusCode.RESOURCE_EXHAUSTED: Failure.TOO_LARGE,
    grpc.StatusCode.FAILED_PRECONDITION: Failure.TOO_LARGE,
    grpc.StatusCode.INVALID_ARGUMENT: Failure.REFUSED,
    grpc.StatusCode.OUT_OF_RANGE: Failure.REFUSED,
    grpc.StatusCode.INTERNAL: Failure.UNEXPLAINED,
    grpc.StatusCode.UNKNOWN: Failure.UNEXPLAINED,
    **{code: Failure.NOT_AUTHORISED for code in FATAL},
}


def failure_of(error: grpc.aio.AioRpcError) -> SendError:
    return _failure(error.code(), error.details(), error.trailing_metadata())


def _failure(code: grpc.StatusCode, details: str | None, trailing: Any) -> SendError:
    # RESOURCE_EXHAUSTED naming a limit (rate or streams, services.grpcserve) says "not now", not "too large":
    # the same batch is resent under the same sequence, never split.
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and any(key == LIMIT_KEY for key, _ in trailing or ()):
        return SendError(Failure.TRANSIENT, f"{code.name}: {details}")
    return SendError(_FAILURE_OF.get(code, Failure.TRANSIENT), f"{code.name}: {details}")


class GrpcBatchStream:
    def __init__(self, call: Any, gateway_id: str) -> None:
        self.call = call
        self.gateway_id = gateway_id

    async def write(self, sequence: int, rows: Sequence[Row]) -> None:
        try:
            await self.call.write(publish_request_bytes(self.gateway_id, sequence, [r[2] for r in rows]))
        except grpc.aio.AioRpcError as error:
            raise failure_of(error) from None
        except (asyncio.InvalidStateError, grpc.aio.UsageError):
            # The call already ended: its status says why (a refusal of an earlier batch must not pass for a
            # transport failure, or that batch would be resent forever).
            raise await self._ended() from None

    async def _ended(self) -> SendError:
        try:
            code = await self.call.code()
            details = await self.call.details()
        except grpc.aio.AioRpcError as error:
            return failure_of(error)
        if code == grpc.StatusCode.OK:
            return SendError(Failure.TRANSIENT, "telemetry ended the stream")
        return _failure(code, details, await self.call.trailing_metadata())

    async def read_ack(self) -> Ack:
        try:
            response = await self.call.read()
        except grpc.aio.AioRpcError as error:
            raise failure_of(error) from None
        if response is grpc.aio.EOF:
            raise await self._ended()
        ack = response.ack
        return Ack(ack.batch_sequence, ack.accepted_count, ack.rejected_count, ack.duplicate_batch)

    async def close(self) -> None:
        self.call.cancel()


class GrpcTelemetryLink:
    def __init__(
        self,
        target: str,
        gateway_id: str,
        token: str,
        *,
        root_cert: bytes | None = None,
        server_name: str | None = None,
        client_cert: bytes | None = None,
        client_key: bytes | None = None,
        max_message_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        options: list[tuple[str, Any]] = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.keepalive_time_ms", 20_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 5_000),
        ]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        if (client_cert is None) != (client_key is None):
            raise ValueError("a TLS client certificate and its key must be given together")
        if root_cert is not None or client_cert is not None:
            # With a client certificate: mutual TLS, telemetry checks that it names this gateway.
            credentials = grpc.ssl_channel_credentials(root_cert, private_key=client_key, certificate_chain=client_cert)
            self.channel = grpc.aio.secure_channel(target, credentials, options=options)
        else:
            self.channel = grpc.aio.insecure_channel(target, options=options)
        # Requests go out as bytes already serialized (wire.py): the chunks are never decoded on the way.
        self._publish_stream = self.channel.stream_stream(
            "/pipewarden.telemetry.v1.TelemetryIngestService/PublishStream",
            request_serializer=bytes,
            response_deserializer=telemetry_ingest_service_pb2.PublishStreamResponse.FromString,
        )
        self.gateway_id = gateway_id
        self.metadata = (("authorization", f"Bearer {token}"),)

    async def open(self) -> GrpcBatchStream:
        call = self._publish_stream(metadata=self.metadata)
        return GrpcBatchStream(call, self.gateway_id)

    async def close(self) -> None:
        await self.channel.close()
