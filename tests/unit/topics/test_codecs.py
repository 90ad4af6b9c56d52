"""Codecs round-trip valid records and turn every kind of garbage into PoisonRecordError."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.telemetry.v1 import records_pb2
from services.topics import PoisonRecordError, dead_letter_headers, decode, encode
from services.topics.codecs import DLQ_ERROR, DLQ_EXPECTED_TYPE, DLQ_SOURCE_OFFSET, DLQ_SOURCE_TOPIC


def readings() -> records_pb2.SegmentReadings:
    msg = records_pb2.SegmentReadings(
        record_id="gw-1/7/SEG-1", segment_id="SEG-1", gateway_id="gw-1", batch_sequence=7, ingest_time_unix_us=1
    )
    series = msg.series.add(tag_id="SEG-1-PT-UP")
    series.source_time_unix_us.extend([1, 2])
    series.values_si.extend([5.0e6, 5.01e6])
    return msg


def test_round_trip_is_deterministic() -> None:
    msg = readings()
    data = encode(msg)
    assert encode(msg) == data
    assert decode(records_pb2.SegmentReadings, data) == msg
    assert decode(records_pb2.SegmentReadings, bytearray(data)) == msg


@pytest.mark.parametrize(
    "data",
    [b"hello", b"\xff\xff\xff", b"\x0a\x02\xff\xfe", b"garbage bytes here", b"\x0a\x10short"],
)
def test_garbage_is_poison_with_context(data: bytes) -> None:
    with pytest.raises(PoisonRecordError) as info:
        decode(records_pb2.SegmentReadings, data, topic="telemetry.readings.v1", partition=3, offset=42)
    err = info.value
    assert (err.topic, err.partition, err.offset) == ("telemetry.readings.v1", 3, 42)
    assert err.message_type == "pipewarden.telemetry.v1.SegmentReadings"
    assert "telemetry.readings.v1[3]@42" in str(err)
    assert isinstance(err, ValueError)


@pytest.mark.parametrize("data", [b"", None, "a string"])
def test_empty_null_and_non_bytes_values_are_poison(data) -> None:
    with pytest.raises(PoisonRecordError):
        decode(records_pb2.SegmentReadings, data)


def test_valid_wire_format_without_identity_is_poison() -> None:
    partial = alarms_pb2.LeakAlarmEvent(event_id="a/0", segment_id="SEG-1")  # no alarm_id
    with pytest.raises(PoisonRecordError, match="alarm_id"):
        decode(alarms_pb2.LeakAlarmEvent, encode(partial))
    # bytes of another message type parse, but lack this type's identity fields
    with pytest.raises(PoisonRecordError, match="missing identity"):
        decode(alarms_pb2.SensorHealthEvent, encode(records_pb2.RejectedReading(gateway_id="gw-1")))


def test_unknown_fields_from_a_newer_schema_are_accepted() -> None:
    data = encode(readings()) + b"\xf8\x07\x01"  # field 127, varint 1: not in this schema
    assert decode(records_pb2.SegmentReadings, data).record_id == "gw-1/7/SEG-1"


def test_dead_letter_headers() -> None:
    with pytest.raises(PoisonRecordError) as info:
        decode(records_pb2.SegmentReadings, b"\xff", topic="telemetry.readings.v1", partition=0, offset=9)
    headers = dict(dead_letter_headers(info.value))
    assert headers[DLQ_SOURCE_TOPIC] == b"telemetry.readings.v1"
    assert headers[DLQ_SOURCE_OFFSET] == b"9"
    assert headers[DLQ_EXPECTED_TYPE] == b"pipewarden.telemetry.v1.SegmentReadings"
    assert headers[DLQ_ERROR]
    # without a position there are no position headers
    with pytest.raises(PoisonRecordError) as info:
        decode(records_pb2.SegmentReadings, b"")
    assert {k for k, _ in dead_letter_headers(info.value)} == {DLQ_EXPECTED_TYPE, DLQ_ERROR}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_poison_only(data: bytes) -> None:
    for cls in (records_pb2.SegmentReadings, alarms_pb2.LeakAlarmEvent, alarms_pb2.SensorHealthEvent):
        try:
            msg = decode(cls, data)
        except PoisonRecordError:
            continue
        assert msg.event_id if hasattr(msg, "event_id") else msg.record_id
