"""Telemetry end to end with the real broker: gRPC in, Kafka records out, acks, dedupe, refusals."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import grpc
import pytest
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.contracts.pipewarden.telemetry.v1 import reading_pb2, records_pb2
from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as api
from services.network import STANDARD_ATMOSPHERE_PA
from tests.fixtures.kafka import ConsumedRecord, consume_all

from .conftest import NETWORK, Running, auth, make_batch, unique_sequence

pytestmark = pytest.mark.integration

READINGS = "telemetry.readings.v1"
REJECTED = "telemetry.rejected.v1"


async def records_of(bootstrap: str, topic: str, prefix: str) -> list[tuple[ConsumedRecord, Any]]:
    """Records of ``topic`` whose record_id starts with ``prefix``, decoded."""
    message_type = records_pb2.SegmentReadings if topic == READINGS else records_pb2.RejectedReading
    found = []
    for record in await asyncio.to_thread(consume_all, bootstrap, topic, 20.0):
        # The session's broker is shared: other tests put poison records on this topic on purpose. A record of
        # ours that failed to decode would still fail the caller, whose expected records would then be missing.
        try:
            message = message_type.FromString(record.value or b"")
        except DecodeError:
            continue
        if message.record_id.startswith(prefix):
            found.append((record, message))
    return found


async def publish(
    running: Running, batch: reading_pb2.ReadingBatch, gateway: str | None = None
) -> reading_pb2.IngestAck:
    response = await running.stub.PublishBatch(
        api.PublishBatchRequest(batch=batch), metadata=auth(gateway or batch.gateway_id), timeout=30
    )
    return response.ack


async def test_batch_lands_on_the_readings_topic_keyed_by_segment(telemetry: Running) -> None:
    gateway, seq = "gw-transmission", unique_sequence()
    batch = make_batch(NETWORK, gateway, seq, samples=2)
    ack = await publish(telemetry, batch)
    assert (ack.gateway_id, ack.batch_sequence, ack.accepted_count, ack.rejected_count) == (
        gateway, seq, len(batch.readings), 0,
    )  # fmt: skip
    assert not ack.duplicate_batch

    found = await records_of(telemetry.bootstrap, READINGS, f"{gateway}/{seq}/")
    segments = {t.segment_id for t in NETWORK.tags_of_gateway(gateway)}
    assert sorted(m.segment_id for _, m in found) == sorted(segments)  # one record per segment
    partitions_by_segment: dict[str, set[int]] = {}
    total = 0
    for record, message in found:
        assert record.key == message.segment_id.encode()
        assert message.record_id == f"{gateway}/{seq}/{message.segment_id}"
        assert (message.gateway_id, message.batch_sequence) == (gateway, seq)
        partitions_by_segment.setdefault(message.segment_id, set()).add(record.partition)
        for series in message.series:
            tag = NETWORK.tags[series.tag_id]
            assert tag.segment_id == message.segment_id
            assert len(series.source_time_unix_us) == len(series.values_si) == len(series.quality) == 2
            total += 2
            if tag.unit == "MPa_g":  # mid-range 1.25 MPa gauge
                assert list(series.values_si) == pytest.approx([1.25e6 + STANDARD_ATMOSPHERE_PA] * 2)
            if tag.unit == "degC":
                assert list(series.values_si) == pytest.approx([283.15] * 2)
    assert total == len(batch.readings)


async def test_rejects_land_on_the_rejected_topic_with_their_reason(telemetry: Running) -> None:
    gateway, seq = "gw-ds-01", unique_sequence()
    batch = make_batch(NETWORK, gateway, seq)
    now_us = batch.readings[0].source_time_unix_us
    other_gateway_tag = next(t for t in NETWORK.tags.values() if t.gateway_id != gateway).tag_id
    own = batch.readings[0].tag_id
    bad = [
        reading_pb2.Reading(tag_id="NO-SUCH-TAG", source_time_unix_us=now_us, value=1.0, quality=1),
        reading_pb2.Reading(tag_id=other_gateway_tag, source_time_unix_us=now_us, value=1.0, quality=1),
        reading_pb2.Reading(tag_id=own, source_time_unix_us=now_us - 7, value=math.nan, quality=1),
        reading_pb2.Reading(tag_id=own, source_time_unix_us=now_us - 8, value=1e9, quality=1),
        reading_pb2.Reading(tag_id=own, source_time_unix_us=now_us - 9, value=1.0, quality=3),
        reading_pb2.Reading(tag_id=own, source_time_unix_us=now_us + 3_600_000_000, value=1.0, quality=1),
        reading_pb2.Reading(tag_id=own, source_time_unix_us=now_us - 30 * 86_400_000_000, value=1.0, quality=1),
        reading_pb2.Reading(
            tag_id=own, source_time_unix_us=now_us, value=2.0, quality=1
        ),  # duplicate of the first own
    ]
    good_count = len(batch.readings)
    batch.readings.extend(bad)
    assert good_count == len(batch.readings) - len(bad)
    ack = await publish(telemetry, batch)
    assert (ack.accepted_count, ack.rejected_count) == (good_count, len(bad))
    assert {(c.reason, c.count) for c in ack.rejections_by_reason} == {(r, 1) for r in range(1, 9)}

    found = await records_of(telemetry.bootstrap, REJECTED, f"{gateway}/{seq}/")
    by_index = {m.index_in_batch: (record, m) for record, m in found}
    assert sorted(by_index) == list(range(good_count, good_count + len(bad)))
    expected_reasons = [1, 2, 3, 4, 5, 6, 7, 8]
    for offset, reason in enumerate(expected_reasons):
        record, message = by_index[good_count + offset]
        assert record.key == gateway.encode()
        assert message.reason == reason and message.detail
        assert message.record_id == f"{gateway}/{seq}/r{good_count + offset}"
        assert message.reading == bad[offset] or math.isnan(message.reading.value)


async def test_retried_batch_is_acked_again_without_new_records(telemetry: Running) -> None:
    gateway, seq = "gw-kb-01", unique_sequence()
    batch = make_batch(
        NETWORK, gateway, seq, extra=[reading_pb2.Reading(tag_id="NOPE", source_time_unix_us=1, value=1)]
    )
    first = await publish(telemetry, batch)
    second = await publish(telemetry, batch)
    assert second.duplicate_batch and not first.duplicate_batch
    assert (second.accepted_count, second.rejected_count) == (first.accepted_count, first.rejected_count)
    # The resend arrives on a stream too (a gateway reconnecting after a lost ack).
    call = telemetry.stub.PublishStream(metadata=auth(gateway))
    await call.write(api.PublishStreamRequest(batch=batch))
    third = (await call.read()).ack
    await call.done_writing()
    assert third.duplicate_batch and third.accepted_count == first.accepted_count

    readings = await records_of(telemetry.bootstrap, READINGS, f"{gateway}/{seq}/")
    rejected = await records_of(telemetry.bootstrap, REJECTED, f"{gateway}/{seq}/")
    segments = {t.segment_id for t in NETWORK.tags_of_gateway(gateway)}
    assert len(readings) == len(segments) and len(rejected) == 1
    metrics = telemetry.server.metrics
    assert metrics.deduplicated._value.get() == 2


async def test_stream_acks_every_batch_in_order(telemetry: Running) -> None:
    gateway, first_seq = "gw-eh-01", unique_sequence()
    call = telemetry.stub.PublishStream(metadata=auth(gateway))

    async def writer() -> None:
        for k in range(20):
            await call.write(api.PublishStreamRequest(batch=make_batch(NETWORK, gateway, first_seq + k)))
        await call.done_writing()

    write_task = asyncio.ensure_future(writer())
    acks = [response.ack async for response in call]
    await write_task
    assert [a.batch_sequence for a in acks] == [first_seq + k for k in range(20)]
    assert all(a.accepted_count == len(NETWORK.tags_of_gateway(gateway)) for a in acks)
    assert await call.code() == grpc.StatusCode.OK


async def test_reflection_and_health(telemetry: Running) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(telemetry.channel)

    async def ask() -> Any:
        call = reflection.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        await call.done_writing()
        return await call.read()

    names = {s.name for s in (await ask()).list_services_response.service}
    assert "pipewarden.telemetry.v1.TelemetryIngestService" in names
    assert "grpc.health.v1.Health" in names
    health = health_pb2_grpc.HealthStub(telemetry.channel)
    for service in ("", "pipewarden.telemetry.v1.TelemetryIngestService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("metadata", "words", "reason"),
    [
        ((), "missing 'authorization'", "missing_token"),
        ((("authorization", "Bearer wrong-token"),), "unknown gateway token", "unknown_token"),
        ((("authorization", "tok-ds-01"),), "malformed", "malformed_token"),
    ],
)
async def test_missing_or_wrong_token_is_unauthenticated_and_counted(
    telemetry: Running, metadata: Any, words: str, reason: str
) -> None:
    registry = telemetry.server.metrics.registry
    refused_before = registry.get_sample_value("pipewarden_telemetry_refused_calls_total", {"reason": reason}) or 0
    batch = make_batch(NETWORK, "gw-ds-01", unique_sequence())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await telemetry.stub.PublishBatch(api.PublishBatchRequest(batch=batch), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED and words in (caught.value.details() or "")
    call = telemetry.stub.PublishStream(metadata=metadata)
    await call.write(api.PublishStreamRequest(batch=batch))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    refused = registry.get_sample_value("pipewarden_telemetry_refused_calls_total", {"reason": reason})
    assert refused == refused_before + 2  # the unary call and the stream


def _garbage_cases() -> list[Any]:
    seq = unique_sequence()
    ok = make_batch(NETWORK, "gw-ds-01", seq)
    no_gateway = reading_pb2.ReadingBatch(batch_sequence=seq, readings=ok.readings)
    zero = reading_pb2.ReadingBatch(gateway_id="gw-ds-01", batch_sequence=0, readings=ok.readings)
    empty = reading_pb2.ReadingBatch(gateway_id="gw-ds-01", batch_sequence=seq)
    other = make_batch(NETWORK, "gw-kb-01", seq)
    many = make_batch(NETWORK, "gw-ds-01", seq, samples=60)  # 2280 readings > 2000
    huge = reading_pb2.ReadingBatch(
        gateway_id="gw-ds-01",
        batch_sequence=seq,
        readings=[reading_pb2.Reading(tag_id="X" * 1000, source_time_unix_us=k) for k in range(300)],
    )
    return [
        pytest.param(no_gateway, grpc.StatusCode.INVALID_ARGUMENT, "gateway_id is empty", id="empty-gateway"),
        pytest.param(zero, grpc.StatusCode.INVALID_ARGUMENT, "sequence 0 is reserved", id="sequence-0"),
        pytest.param(empty, grpc.StatusCode.INVALID_ARGUMENT, "readings is empty", id="empty-batch"),
        pytest.param(
            other, grpc.StatusCode.PERMISSION_DENIED, "not the authenticated gateway", id="wrong-gateway"
        ),
        pytest.param(many, grpc.StatusCode.RESOURCE_EXHAUSTED, "at most 2000", id="too-many-readings"),
        pytest.param(huge, grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max", id="oversize-message"),
    ]


@pytest.mark.parametrize(("batch", "code", "words"), _garbage_cases())
async def test_garbage_batches_are_refused_with_a_clear_message(
    telemetry: Running, batch: reading_pb2.ReadingBatch, code: grpc.StatusCode, words: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await telemetry.stub.PublishBatch(api.PublishBatchRequest(batch=batch), metadata=auth("gw-ds-01"))
    assert caught.value.code() == code
    assert words in (caught.value.details() or ""), caught.value.details()
    # The same on a stream: the stream ends with that status.
    call = telemetry.stub.PublishStream(metadata=auth("gw-ds-01"))
    await call.write(api.PublishStreamRequest(batch=batch))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == code


async def test_request_without_batch_is_invalid(telemetry: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await telemetry.stub.PublishBatch(api.PublishBatchRequest(), metadata=auth("gw-ds-01"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "batch is missing" in (
        caught.value.details() or ""
    )


async def test_undecodable_bytes_are_refused(telemetry: Running) -> None:
    raw = telemetry.channel.unary_unary(
        "/pipewarden.telemetry.v1.TelemetryIngestService/PublishBatch",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw(b"\xff\xff\xff\xff garbage", metadata=auth("gw-ds-01"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid pipewarden.telemetry.v1.PublishBatchRequest" in (caught.value.details() or "")
    raw_stream = telemetry.channel.stream_stream(
        "/pipewarden.telemetry.v1.TelemetryIngestService/PublishStream",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    call = raw_stream(metadata=auth("gw-ds-01"))
    await call.write(b"\x0a\x05\xff\xff")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
