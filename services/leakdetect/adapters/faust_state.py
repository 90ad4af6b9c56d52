"""Per-segment checkpoints in a faust table whose changelog topic is co-partitioned with the readings.

Faust's `table[key] = value` sends the changelog record to the partition of the *current event*; inside
a `take_events` batch that is the batch's last event, not necessarily the segment's partition. So the
store writes the in-memory value and the changelog record itself, naming the segment's source partition:
recovery after a restart or a rebalance then restores each segment on the worker that owns its readings.
Faust flushes the producer before it commits consumed offsets, so a committed offset never runs ahead
of the checkpoint that contains its effects.
"""

from __future__ import annotations

from typing import Any


class FaustTableStateStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, segment_id: str) -> bytes | None:
        value = self.table.data.get(segment_id.encode())
        return None if value is None else value

    def put(self, segment_id: str, partition: int, data: bytes) -> None:
        key = segment_id.encode()
        self.table.data[key] = data
        self.table.send_changelog(partition, key, data, key_serializer="raw", value_serializer="raw")


class MemoryStateStore:
    """For unit tests and the in-process benchmark baseline."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.partitions: dict[str, int] = {}

    def get(self, segment_id: str) -> bytes | None:
        return self.data.get(segment_id)

    def put(self, segment_id: str, partition: int, data: bytes) -> None:
        self.data[segment_id] = data
        self.partitions[segment_id] = partition
