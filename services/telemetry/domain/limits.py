"""Size limits on what a gateway sends and on what telemetry writes back about it.

Every string a gateway sends ends up in Kafka records (a gateway id in every record id, a refused
reading's tag id in its rejected record), and Kafka refuses records above about 1 MiB. Without limits
a single absurd field makes a batch that can never be stored, and the gateway would retry it forever.
So each string field of the request has a limit, checked before anything of the batch is published,
and every text telemetry writes about an input quotes only a bounded part of it.
"""

from __future__ import annotations

# Gateway ids name a site's SCADA gateway ("gw-ds-01"): 128 bytes is far beyond any naming scheme, and the
# id is repeated in every record id of the batch.
MAX_GATEWAY_ID_BYTES = 128
# Tag ids are SCADA tag names or OPC UA browse paths ("DS-M01-PT-UP"; long site paths stay under ~100).
# The network model may not hold longer ones, so a longer id in a batch is a gateway bug, not an unknown tag.
MAX_TAG_ID_BYTES = 256
# Protobuf size of the largest valid reading inside a batch: tag_id (key, 2-byte length, the id),
# source_time_unix_us (key, 10-byte varint), value (key, 8 bytes), quality (key, 10-byte varint: an enum
# number may be negative), and the reading's own key and 2-byte length in the batch.
MAX_READING_BYTES = (1 + 2 + MAX_TAG_ID_BYTES) + (1 + 10) + (1 + 8) + (1 + 10) + (1 + 2)
# How much of an input (a tag id) a rejection detail quotes; the rest is replaced by a marker.
MAX_QUOTED_CHARS = 64
# Upper bound of a rejection detail, whatever produced it (a last guard on the rejected record's size).
MAX_REJECT_DETAIL_CHARS = 512


class BatchError(ValueError):
    """A batch refused as a whole. ``kind`` maps to a gRPC status at the edge."""

    INVALID = "invalid"
    TOO_LARGE = "too_large"
    WRONG_GATEWAY = "wrong_gateway"

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


def max_request_bytes(max_readings: int) -> int:
    """Upper bound of the size of a valid PublishBatchRequest / PublishStreamRequest of ``max_readings``.

    The gRPC receive limit must be at least this, or a valid batch is refused by gRPC before telemetry sees it.
    """
    batch_fields = (1 + 2 + MAX_GATEWAY_ID_BYTES) + (1 + 10)  # gateway_id, batch_sequence
    batch = batch_fields + max_readings * MAX_READING_BYTES
    return 1 + 5 + batch  # the request's batch field: key and a length of up to 5 bytes


def utf8_length(text: str) -> int:
    """Bytes of ``text`` on the wire (protobuf strings are UTF-8)."""
    return len(text.encode("utf-8", "surrogatepass"))


def check_field_size(field: str, value: str, limit_bytes: int) -> None:
    """Raise BatchError (INVALID) naming ``field`` and the limit when ``value`` is longer than ``limit_bytes``."""
    # A character is at most 4 bytes: short strings (nearly all) need no encoding.
    if len(value) * 4 <= limit_bytes:
        return
    size = utf8_length(value)
    if size > limit_bytes:
        raise BatchError(
            BatchError.INVALID,
            f"{field} is {size} bytes long; at most {limit_bytes} bytes are allowed: the batch was not stored",
        )


def quoted(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """``repr(text)`` of at most ``limit`` characters of ``text``, with a marker saying how much was cut."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text) - limit} more characters)"


def clipped(text: str, limit: int = MAX_REJECT_DETAIL_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, ending in a marker when it was cut."""
    if len(text) <= limit:
        return text
    marker = f"... ({len(text) - limit} more characters)"
    return text[: max(0, limit - len(marker))] + marker
