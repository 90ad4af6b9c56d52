"""Queued readings in telemetry's wire format, so that forwarding a backlog costs no per-reading work.

A chunk of readings is stored as a serialized ``ReadingBatch`` holding only its ``readings``. Protobuf merges
concatenated messages (repeated fields append), so a batch is its header fields followed by its chunks' bytes as
they are, and the ``PublishStreamRequest`` around it is one length prefix: no decoding, no re-encoding.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.contracts.pipewarden.telemetry.v1 import reading_pb2
from services.gateway.domain import Reading


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_readings(readings: Sequence[Reading]) -> bytes:
    message = reading_pb2.Reading
    batch = reading_pb2.ReadingBatch(
        readings=[message(tag_id=r[0], source_time_unix_us=r[1], value=r[2], quality=r[3]) for r in readings]  # type: ignore[misc, arg-type]
    )
    return batch.SerializeToString()


def decode_readings(payload: bytes) -> list[Reading]:
    batch = reading_pb2.ReadingBatch.FromString(payload)
    return [Reading(r.tag_id, r.source_time_unix_us, r.value, r.quality) for r in batch.readings]


def batch_bytes(gateway_id: str, sequence: int, payloads: Sequence[bytes]) -> bytes:
    """A serialized ReadingBatch: gateway_id (field 1), batch_sequence (field 2), then the chunks' readings."""
    gateway = gateway_id.encode()
    return b"".join((b"\x0a", _varint(len(gateway)), gateway, b"\x10", _varint(sequence), *payloads))


def publish_request_bytes(gateway_id: str, sequence: int, payloads: Sequence[bytes]) -> bytes:
    """A serialized PublishStreamRequest (field 1: the batch)."""
    batch = batch_bytes(gateway_id, sequence, payloads)
    return b"\x0a" + _varint(len(batch)) + batch
