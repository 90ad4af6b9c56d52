"""What to send next and what to do when telemetry refuses: the forwarder's decisions, without I/O.

Queued readings have increasing row ids. A batch is a contiguous id range; its content (the rows in that range)
never changes once the range has a sequence number, so a resend after a reconnect or a restart carries the same
``(gateway_id, batch_sequence)`` and the same readings, which telemetry's dedupe window and record ids absorb.

Two lanes share one stream: readings taken since the last (re)connect are *live* and go first; older readings
are *backlog*, sent oldest first and paced, so a long outage's backfill never holds back current data. Each lane
is in order on its own.
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BatchRange:
    sequence: int
    first_id: int
    last_id: int  # inclusive


class PendingRanges:
    """Id ranges that have a sequence but no ack yet (sorted by first id; they never overlap)."""

    def __init__(self, ranges: list[BatchRange] | None = None) -> None:
        self._starts: list[int] = []
        self._ranges: list[BatchRange] = []
        for batch in ranges or ():
            self.add(batch)

    def __len__(self) -> int:
        return len(self._ranges)

    def add(self, batch: BatchRange) -> None:
        index = bisect.bisect_left(self._starts, batch.first_id)
        self._starts.insert(index, batch.first_id)
        self._ranges.insert(index, batch)

    def remove(self, batch: BatchRange) -> None:
        index = bisect.bisect_left(self._starts, batch.first_id)
        if index < len(self._ranges) and self._ranges[index] == batch:
            del self._starts[index]
            del self._ranges[index]

    def free_from(self, row_id: int) -> tuple[int, int | None]:
        """The first id >= ``row_id`` outside every pending range, and the start of the next pending range
        after it (None: no more)."""
        index = max(0, bisect.bisect_right(self._starts, row_id) - 1)
        while index < len(self._ranges) and self._ranges[index].first_id <= row_id:
            row_id = max(row_id, self._ranges[index].last_id + 1)
            index += 1
        nxt = bisect.bisect_right(self._starts, row_id)
        return row_id, (self._starts[nxt] if nxt < len(self._starts) else None)


@dataclass
class LanePlan:
    """Cursors of the two lanes. ``live_from_id``: first id of the live lane (None: one lane, everything live)."""

    backlog_cursor: int = 0
    live_from_id: int | None = None
    live_cursor: int = 0

    def reconnected(self, next_row_id: int, unsent_rows: int, threshold_rows: int) -> None:
        """On each (re)connect: what is already queued beyond a batch's worth becomes backlog."""
        if unsent_rows > threshold_rows:
            self.live_from_id = next_row_id
            self.live_cursor = next_row_id
        elif self.live_from_id is None:
            self.live_cursor = self.backlog_cursor

    def backlog_done(self) -> None:
        """The backlog lane found nothing left below the live lane: back to one lane."""
        if self.live_from_id is not None:
            self.backlog_cursor = max(self.backlog_cursor, self.live_cursor)
            self.live_from_id = None


class TokenBucket:
    """Pacing of the backlog lane: ``rate_per_s`` readings a second, bursts up to ``burst``."""

    def __init__(self, rate_per_s: float, burst: float, now_s: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = burst
        self.updated_s = now_s

    def available(self, now_s: float) -> float:
        self.tokens = min(self.burst, self.tokens + (now_s - self.updated_s) * self.rate_per_s)
        self.updated_s = now_s
        return self.tokens

    def take(self, count: int) -> None:
        self.tokens -= count

    def wait_s(self, count: int, now_s: float) -> float:
        missing = min(count, self.burst) - self.available(now_s)
        return max(0.0, missing / self.rate_per_s)


class Failure(enum.StrEnum):
    """How a batch failed, in the protocol-neutral terms of the send plan (the adapter maps status codes)."""

    TRANSIENT = "transient"  # telemetry or Kafka unavailable, connection lost, ack timeout: resend as is
    TOO_LARGE = "too_large"  # refused for its size (RESOURCE_EXHAUSTED, FAILED_PRECONDITION): split
    REFUSED = "refused"  # refused for its content (INVALID_ARGUMENT): split down to the reading, then dead-letter
    UNEXPLAINED = "unexplained"  # INTERNAL, UNKNOWN: resend a few times, then treat as refused
    NOT_AUTHORISED = "not_authorised"  # token or gateway id wrong: keep everything, retry slowly, alert


class FailureAction(enum.StrEnum):
    RESEND = "resend"
    SPLIT = "split"
    DEAD_LETTER = "dead_letter"
    WAIT = "wait"  # nothing is wrong with the batch: wait longer before reconnecting


# INTERNAL / UNKNOWN for the same batch this many times in a row: stop believing it is transient, so a batch
# that always fails is never retried forever.
UNEXPLAINED_ATTEMPTS = 4


def action_for(failure: Failure, readings_in_batch: int, attempts: int) -> FailureAction:
    if failure is Failure.TRANSIENT:
        return FailureAction.RESEND
    if failure is Failure.NOT_AUTHORISED:
        return FailureAction.WAIT
    if failure is Failure.UNEXPLAINED and attempts < UNEXPLAINED_ATTEMPTS:
        return FailureAction.RESEND
    return FailureAction.SPLIT if readings_in_batch > 1 else FailureAction.DEAD_LETTER
