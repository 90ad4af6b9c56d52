"""Oversized input never makes a batch that can never be acknowledged.

A field over its limit is refused up front with INVALID_ARGUMENT (nothing of the batch is written); what a
rejected record says about its reading stays bounded; a record Kafka refuses for its size is a permanent
FAILED_PRECONDITION, never the UNAVAILABLE that tells the gateway to retry the same batch.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from services.contracts.pipewarden.telemetry.v1 import reading_pb2
from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as api
from services.telemetry.domain.limits import MAX_GATEWAY_ID_BYTES, MAX_REJECT_DETAIL_CHARS, MAX_TAG_ID_BYTES

from .conftest import NETWORK, auth, make_batch, unique_sequence
from .test_ingest import READINGS, REJECTED, publish, records_of

pytestmark = pytest.mark.integration

# Large enough for a 1.5 MB field: the refusal must come from telemetry, not from gRPC's message size check.
FOUR_MIB = 4 * 1024 * 1024
# A rejected record holds ids, the reading (tag id at most MAX_TAG_ID_BYTES) and the detail; generous slack.
MAX_REJECTED_RECORD_BYTES = 2 * MAX_GATEWAY_ID_BYTES + MAX_TAG_ID_BYTES + 4 * MAX_REJECT_DETAIL_CHARS + 512


async def refused(running: Any, batch: reading_pb2.ReadingBatch, gateway: str) -> grpc.aio.AioRpcError:
    """The error of PublishBatch, then the same batch on a stream must fail the same way."""
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await publish(running, batch, gateway)
    call = running.stub.PublishStream(metadata=auth(gateway))
    await call.write(api.PublishStreamRequest(batch=batch))
    with pytest.raises(grpc.aio.AioRpcError) as stream:
        await call.read()
    assert stream.value.code() == unary.value.code(), stream.value.details()
    return unary.value


async def nothing_written(running: Any, gateway: str, seq: int) -> None:
    for topic in (READINGS, REJECTED):
        assert await records_of(running.bootstrap, topic, f"{gateway}/{seq}/") == [], topic


async def test_huge_unknown_tag_id_is_refused_up_front_every_time(start_telemetry: Any) -> None:
    running = await start_telemetry(max_receive_message_bytes=FOUR_MIB)
    gateway, seq = "gw-ds-01", unique_sequence()
    good = make_batch(NETWORK, gateway, seq)
    index = len(good.readings)
    huge = reading_pb2.Reading(
        tag_id="T" * 1_500_000, source_time_unix_us=good.readings[0].source_time_unix_us, value=1.0, quality=1
    )
    batch = make_batch(NETWORK, gateway, seq, extra=[huge])
    for _attempt in range(2):  # the gateway's retry gets the same answer
        error = await refused(running, batch, gateway)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        details = error.details() or ""
        assert f"batch.readings[{index}].tag_id" in details and f"at most {MAX_TAG_ID_BYTES} bytes" in details
        assert len(details) < 1000
    await nothing_written(running, gateway, seq)
    assert running.server.metrics.refused.labels("invalid")._value.get() == 4
    assert running.server.metrics.kafka_errors._value.get() == 0


async def test_huge_gateway_id_is_invalid_rather_than_someone_elses(start_telemetry: Any) -> None:
    running = await start_telemetry(max_receive_message_bytes=FOUR_MIB)
    seq = unique_sequence()
    batch = make_batch(NETWORK, "gw-ds-01", seq)
    batch.gateway_id = "gw-ds-01" + "x" * 1_500_000
    error = await refused(running, batch, "gw-ds-01")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert f"batch.gateway_id is 1500008 bytes long; at most {MAX_GATEWAY_ID_BYTES}" in (error.details() or "")


async def test_rejected_record_of_a_tag_id_just_under_the_limit_is_bounded(start_telemetry: Any) -> None:
    running = await start_telemetry(max_receive_message_bytes=FOUR_MIB)
    gateway, seq = "gw-ds-01", unique_sequence()
    now_us = make_batch(NETWORK, gateway, seq).readings[0].source_time_unix_us
    # Multi-byte characters: the limit is in UTF-8 bytes, and repr() would escape some of them.
    long_tag = _just_under(MAX_TAG_ID_BYTES, "Ω\u2028x")
    assert MAX_TAG_ID_BYTES - 3 < len(long_tag.encode()) <= MAX_TAG_ID_BYTES
    unknown = [
        reading_pb2.Reading(tag_id=long_tag, source_time_unix_us=now_us - k, value=1.0, quality=1)
        for k in range(500)
    ]
    batch = make_batch(NETWORK, gateway, seq, extra=unknown)
    ack = await publish(running, batch)
    assert (ack.accepted_count, ack.rejected_count) == (len(batch.readings) - 500, 500)

    found = await records_of(running.bootstrap, REJECTED, f"{gateway}/{seq}/")
    assert len(found) == 500
    for record, message in found:
        assert message.reading.tag_id == long_tag
        assert message.reason == reading_pb2.REJECT_REASON_UNKNOWN_TAG
        # The detail quotes the start of the tag id and says how much it left out; it never repeats it whole.
        assert repr(long_tag) not in message.detail and "more characters" in message.detail, message.detail
        assert len(message.detail) <= MAX_REJECT_DETAIL_CHARS
        assert len(record.value or b"") <= MAX_REJECTED_RECORD_BYTES


async def test_rejected_record_drops_fields_this_version_does_not_know(start_telemetry: Any) -> None:
    """A newer gateway's extra fields are not copied into a rejected record (they could be megabytes)."""
    running = await start_telemetry(max_receive_message_bytes=FOUR_MIB)
    gateway, seq = "gw-ds-01", unique_sequence()
    known = reading_pb2.Reading(tag_id="NO-SUCH-TAG", source_time_unix_us=1, value=1.0, quality=1)
    blob = b"b" * 1_500_000
    field_15 = b"\x7a" + _varint(len(blob)) + blob  # field 15, length-delimited: unknown to v1
    with_extra = reading_pb2.Reading.FromString(known.SerializeToString() + field_15)
    batch = make_batch(NETWORK, gateway, seq, extra=[with_extra])
    assert batch.ByteSize() > len(blob)  # the unknown field travels with the request
    ack = await publish(running, batch)
    assert ack.rejected_count == 1

    [(record, message)] = await records_of(running.bootstrap, REJECTED, f"{gateway}/{seq}/")
    assert message.reading == known
    assert len(record.value or b"") <= MAX_REJECTED_RECORD_BYTES


async def test_record_kafka_refuses_for_its_size_is_not_retryable(start_telemetry: Any) -> None:
    # A producer that takes records of at most 4 KiB: a segment's 6 tags with 60 samples each are larger.
    running = await start_telemetry(kafka_max_request_bytes=4096)
    gateway, seq = "gw-transmission", unique_sequence()
    batch = make_batch(NETWORK, gateway, seq, samples=60)
    for _attempt in range(2):
        error = await refused(running, batch, gateway)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
        details = error.details() or ""
        assert "retry" not in details.replace("do not retry", ""), details
        assert "4096" in details and "too large" in details
    # Nothing of it was written (the size is checked before the first record is sent).
    await nothing_written(running, gateway, seq)
    assert running.server.metrics.refused.labels("record_too_large")._value.get() == 4
    assert running.server.metrics.kafka_errors._value.get() == 0
    # The producer is fine: a batch of ordinary size is stored.
    small = make_batch(NETWORK, gateway, seq + 1)
    assert (await publish(running, small)).accepted_count == len(small.readings)


async def test_record_the_broker_refuses_for_its_size_is_not_retryable(
    start_telemetry: Any, kafka_bootstrap: str
) -> None:
    """The producer would send it, but the topic takes at most 4 KiB (its max.message.bytes is below the
    producer's max_request_size: a misconfiguration only an operator can fix)."""
    topic = f"test.small-records.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="pipewarden-tests")
    try:
        admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "4096"})])
    finally:
        admin.close()
    running = await start_telemetry(readings_topic=topic)
    gateway, seq = "gw-transmission", unique_sequence()
    batch = make_batch(NETWORK, gateway, seq, samples=60)
    for _attempt in range(2):
        error = await refused(running, batch, gateway)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
        assert "too large" in (error.details() or "") and "max.message.bytes" in (error.details() or "")
    assert running.server.metrics.kafka_errors._value.get() == 0
    # The idempotent producer carries on: an ordinary batch on the same topic is stored.
    small = make_batch(NETWORK, gateway, seq + 1)
    assert (await publish(running, small)).accepted_count == len(small.readings)


def _just_under(limit_bytes: int, alphabet: str) -> str:
    """The longest string cycling through ``alphabet`` whose UTF-8 form fits in ``limit_bytes``."""
    text = ""
    while len((text + alphabet[len(text) % len(alphabet)]).encode()) <= limit_bytes:
        text += alphabet[len(text) % len(alphabet)]
    return text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)
