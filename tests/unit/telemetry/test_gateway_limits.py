"""Telemetry's per-gateway limits on a real gRPC port (publisher: an in-memory stand-in; Kafka is not the point).

- Over a rate limit a batch is refused with RESOURCE_EXHAUSTED naming the limit and when to retry (message and
  trailing metadata), nothing of it is published, and its retry under the same batch_sequence is stored once.
- One gateway over its limits (rate or streams) does not stop another gateway being served.
- A gateway may hold ``max_streams_per_gateway`` PublishStreams; one more is refused until one closes.
- A message above the size cap is refused (RESOURCE_EXHAUSTED) and the server goes on serving.
- The field gateway's link reads a limit refusal as "resend the same batch later", never "split it".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import grpc
import pytest

from services.contracts.pipewarden.telemetry.v1 import (
    reading_pb2,
    telemetry_ingest_service_pb2,
    telemetry_ingest_service_pb2_grpc,
)
from services.gateway.adapters.telemetry_link import failure_of
from services.gateway.domain import Failure
from services.grpcserve import limit_of
from services.network import load_demo_network
from services.telemetry.bootstrap import build_server
from services.telemetry.config import TelemetryConfig
from services.telemetry.entrypoints.server import TelemetryServer
from services.telemetry.service_layer import OutRecord

NETWORK = load_demo_network()
TOKENS = {"gw-ds-01": "tok-ds-01", "gw-kb-01": "tok-kb-01"}
TAGS = {"gw-ds-01": "DS-M01-PT-UP", "gw-kb-01": "KB-M01-PT-UP"}


class KeepingPublisher:
    def __init__(self) -> None:
        self.records: list[OutRecord] = []

    async def publish(self, records: Sequence[OutRecord]) -> None:
        self.records.extend(records)


def batch(gateway: str, sequence: int, readings: int) -> reading_pb2.ReadingBatch:
    now_us = time.time_ns() // 1000
    return reading_pb2.ReadingBatch(
        gateway_id=gateway,
        batch_sequence=sequence,
        readings=[
            reading_pb2.Reading(
                tag_id=TAGS[gateway], source_time_unix_us=now_us - i, value=400.0, quality=reading_pb2.QUALITY_GOOD
            )
            for i in range(readings)
        ],
    )


@pytest.fixture
async def served() -> AsyncIterator[tuple[TelemetryServer, KeepingPublisher, grpc.aio.Channel]]:
    publisher = KeepingPublisher()
    server = build_server(
        TelemetryConfig(
            listen_address="127.0.0.1:0",
            gateway_tokens=TOKENS,
            metrics_port=-1,
            max_receive_message_bytes=64 * 1024,
            max_readings_per_batch=100,
            max_streams_per_gateway=2,
            rate_limit_readings_per_s=100.0,
            rate_limit_readings_burst=100.0,
            rate_limit_batches_per_s=0.0,
        ),
        network=NETWORK,
        publisher=publisher,
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield server, publisher, channel
    finally:
        await channel.close()
        await server.stop(grace_s=0.5)


def auth(gateway: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {TOKENS[gateway]}"),)


async def test_rate_limit_refusal_names_the_limit_and_the_retry_of_the_same_sequence_is_stored_once(
    served: tuple[TelemetryServer, KeepingPublisher, grpc.aio.Channel],
) -> None:
    server, publisher, channel = served
    stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
    request = telemetry_ingest_service_pb2.PublishBatchRequest
    first = await stub.PublishBatch(request(batch=batch("gw-ds-01", 1, 80)), metadata=auth("gw-ds-01"))
    assert first.ack.accepted_count == 80
    stored = len(publisher.records)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.PublishBatch(request(batch=batch("gw-ds-01", 2, 80)), metadata=auth("gw-ds-01"))
    error = refused.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = error.details() or ""
    assert "gw-ds-01" in details and "100 readings/s" in details and "readings_per_s" in details
    assert "retry it with the same batch_sequence in" in details and "batch 2 was not processed" in details
    limit, retry_after_s = limit_of(error)
    assert limit == "readings_per_s" and retry_after_s is not None and 0.5 <= retry_after_s <= 0.7
    assert len(publisher.records) == stored  # nothing of the refused batch was published
    assert server.metrics.refused.labels("rate_limited")._value.get() == 1

    # Another gateway is served meanwhile.
    other = await stub.PublishBatch(request(batch=batch("gw-kb-01", 1, 80)), metadata=auth("gw-kb-01"))
    assert other.ack.accepted_count == 80

    await asyncio.sleep(retry_after_s)
    retried = await stub.PublishBatch(request(batch=batch("gw-ds-01", 2, 80)), metadata=auth("gw-ds-01"))
    assert retried.ack.batch_sequence == 2 and retried.ack.accepted_count == 80 and not retried.ack.duplicate_batch
    # A resend of an acked batch is answered from the window even while the bucket is empty.
    again = await stub.PublishBatch(request(batch=batch("gw-ds-01", 2, 80)), metadata=auth("gw-ds-01"))
    assert again.ack.duplicate_batch
    ids = [r.key for r in publisher.records]
    record_ids = [r.value for r in publisher.records if b"gw-ds-01/2/" in r.value]
    assert len(record_ids) == 1 and len(ids) == stored + 2  # batch 2 once, kb's batch once


async def test_stream_limit_per_gateway_refuses_one_too_many_and_frees_on_close(
    served: tuple[TelemetryServer, KeepingPublisher, grpc.aio.Channel],
) -> None:
    server, _, channel = served
    stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
    request = telemetry_ingest_service_pb2.PublishStreamRequest
    calls = []
    for sequence in (1, 2):
        call = stub.PublishStream(metadata=auth("gw-ds-01"))
        await call.write(request(batch=batch("gw-ds-01", sequence, 1)))
        assert (await call.read()).ack.batch_sequence == sequence  # the stream is open and served
        calls.append(call)

    third = stub.PublishStream(metadata=auth("gw-ds-01"))
    assert await third.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = await third.details()
    assert "'gw-ds-01' already has 2 PublishStream streams open" in details
    assert dict(await third.trailing_metadata())["pipewarden-limit"] == "streams_per_caller"
    assert server.metrics.refused_calls.labels("stream_limit")._value.get() == 1

    # Another gateway opens its stream.
    other = stub.PublishStream(metadata=auth("gw-kb-01"))
    await other.write(request(batch=batch("gw-kb-01", 1, 1)))
    assert (await other.read()).ack.accepted_count == 1
    await other.done_writing()

    # Closing one frees a slot.
    await calls[0].done_writing()
    assert await calls[0].code() == grpc.StatusCode.OK
    reopened = stub.PublishStream(metadata=auth("gw-ds-01"))
    await reopened.write(request(batch=batch("gw-ds-01", 3, 1)))
    assert (await reopened.read()).ack.batch_sequence == 3
    await reopened.done_writing()
    await calls[1].done_writing()


async def test_message_over_the_size_cap_is_resource_exhausted_and_the_server_goes_on(
    served: tuple[TelemetryServer, KeepingPublisher, grpc.aio.Channel],
) -> None:
    _, _, channel = served
    raw = channel.unary_unary(
        "/pipewarden.telemetry.v1.TelemetryIngestService/PublishBatch",
        request_serializer=bytes,
        response_deserializer=telemetry_ingest_service_pb2.PublishBatchResponse.FromString,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await raw(b"\x0a" + b"\xff" * (70 * 1024), metadata=auth("gw-ds-01"))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "65536" in (refused.value.details() or "")  # the cap, in gRPC's own words
    stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
    ok = await stub.PublishBatch(
        telemetry_ingest_service_pb2.PublishBatchRequest(batch=batch("gw-kb-01", 9, 1)), metadata=auth("gw-kb-01")
    )
    assert ok.ack.accepted_count == 1


async def test_the_field_gateway_reads_a_limit_refusal_as_resend_later_not_split(
    served: tuple[TelemetryServer, KeepingPublisher, grpc.aio.Channel],
) -> None:
    _, _, channel = served
    stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
    request = telemetry_ingest_service_pb2.PublishBatchRequest
    await stub.PublishBatch(request(batch=batch("gw-ds-01", 1, 100)), metadata=auth("gw-ds-01"))
    with pytest.raises(grpc.aio.AioRpcError) as limited:
        await stub.PublishBatch(request(batch=batch("gw-ds-01", 2, 50)), metadata=auth("gw-ds-01"))
    assert failure_of(limited.value).failure is Failure.TRANSIENT
    # A batch too large for the message cap stays "too large" (split it).
    raw = channel.unary_unary(
        "/pipewarden.telemetry.v1.TelemetryIngestService/PublishBatch",
        request_serializer=bytes,
        response_deserializer=telemetry_ingest_service_pb2.PublishBatchResponse.FromString,
    )
    with pytest.raises(grpc.aio.AioRpcError) as too_large:
        await raw(b"\x0a" + b"\xff" * (70 * 1024), metadata=auth("gw-ds-01"))
    assert failure_of(too_large.value).failure is Failure.TOO_LARGE
