"""Exceptions raised by the event store. Callers map them at their edges (gRPC status codes)."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base class of every error the event store raises on purpose."""


class InvalidEventError(EventStoreError, ValueError):
    """An argument is malformed (bad stream id, negative version, payload not JSON, ...).

    The gRPC layer maps it to INVALID_ARGUMENT; retrying the same call can never succeed.
    """


class ConcurrencyError(EventStoreError):
    """``expected_version`` is stale: another writer appended to the stream first.

    The gRPC layer maps it to ABORTED: reload the aggregate and retry the command.
    """

    def __init__(self, stream_id: str, expected_version: int, actual_version: int) -> None:
        super().__init__(f"stream {stream_id!r} is at version {actual_version}, expected {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class DuplicateEventError(EventStoreError):
    """An event id is already stored, and the append is not an exact retry of the append that stored it.

    (An exact retry — same stream, same ids, same versions — returns the stored events instead.)
    """
