"""Batch acknowledgements, the bounded window of recent acks per gateway, and batch-level checks."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .limits import MAX_GATEWAY_ID_BYTES, BatchError, check_field_size
from .validation import RejectReason

__all__ = ["AckWindow", "BatchAck", "BatchError", "check_batch_shape"]


@dataclass(frozen=True, slots=True)
class BatchAck:
    gateway_id: str
    batch_sequence: int
    accepted_count: int
    rejected_count: int
    rejections_by_reason: tuple[tuple[RejectReason, int], ...]
    duplicate_batch: bool = False

    def as_duplicate(self) -> BatchAck:
        return replace(self, duplicate_batch=True)


class AckWindow:
    """The last ``size`` acked batch sequences of every gateway, with their original acks.

    Gateways number batches with increasing sequences and resend the same sequence when they got no
    ack, so a resend of a recently acked batch is answered from here without publishing again.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window size must be >= 1, got {size}")
        self.size = size
        self._acks: dict[str, dict[int, BatchAck]] = {}

    def get(self, gateway_id: str, sequence: int) -> BatchAck | None:
        acks = self._acks.get(gateway_id)
        return None if acks is None else acks.get(sequence)

    def remember(self, ack: BatchAck) -> None:
        acks = self._acks.setdefault(ack.gateway_id, {})
        acks[ack.batch_sequence] = ack
        # Evict the lowest sequences, not the oldest insertions: a late retry of an old batch that
        # slipped through must not push out the newer ones.
        while len(acks) > self.size:
            del acks[min(acks)]

    def sequences(self, gateway_id: str) -> list[int]:
        return sorted(self._acks.get(gateway_id, {}))


def check_batch_shape(
    gateway_id: str, sequence: int, reading_count: int, caller_gateway: str, max_readings: int
) -> None:
    """Raise BatchError when the batch cannot be processed at all."""
    if not gateway_id:
        raise BatchError(BatchError.INVALID, "batch.gateway_id is empty: set it to the authenticated gateway's id")
    # Before the comparison: an absurd id is the gateway's bug, not an attempt to write as another gateway.
    check_field_size("batch.gateway_id", gateway_id, MAX_GATEWAY_ID_BYTES)
    if gateway_id != caller_gateway:
        raise BatchError(
            BatchError.WRONG_GATEWAY,
            f"batch.gateway_id {gateway_id[:64]!r} is not the authenticated gateway {caller_gateway!r}",
        )
    if sequence == 0:
        raise BatchError(BatchError.INVALID, "batch.batch_sequence 0 is reserved: number batches from 1")
    if reading_count == 0:
        raise BatchError(BatchError.INVALID, "batch.readings is empty: send at least one reading")
    if reading_count > max_readings:
        raise BatchError(
            BatchError.TOO_LARGE,
            f"batch has {reading_count} readings; at most {max_readings} per batch: split it",
        )
