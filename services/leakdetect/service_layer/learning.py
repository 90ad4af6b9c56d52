"""Learning commands (issue 24): who may give them, what a well-formed one is, and how the worker that owns a
segment applies them in its stream.

A user's "learn now" or "this period was leak-free" goes to the query API (gRPC) or its CLI, which checks the
caller (`LEARNING_PERMISSIONS`, and the segment's district) and publishes a `LearningCommand` on
`leak.learning-commands.v1`, keyed by segment id and partitioned like the readings: the worker that owns the
segment's readings partition owns its commands' too, and applies them between its batches' readings, once per
command id (the id is remembered in the segment's checkpoint with the record ids). Commands scale as the
readings do: adding workers splits both topics' partitions alike, and no worker is ever called directly.
"This period was leak-free" waits in the segment's state until its readings have passed the period's end.
"""

from __future__ import annotations

from collections.abc import Container

from services.contracts.pipewarden.leakdetect.v1 import learning_pb2

# 2000-01-01T00:00:00Z: an earlier time is a clock never set, not a learning period
EARLIEST_US = 946_684_800_000_000
MAX_ID = 200
# "this period was leak-free" commands a segment holds while its readings have not passed their ends
MAX_PENDING = 16

# Which roles may give which learning command, in their own districts only. A new baseline decides what the
# balance calls a leak: a supervisor vouches for the line (a survey, an operation plan), as only supervisors
# regrade or sign off in workorders. Dispatchers run the alarm loop and must not be able to learn an alarm away;
# regulators only read; crews report from the field to their supervisor.
LEARNING_PERMISSIONS: dict[str, frozenset[str]] = {
    "LearnNow": frozenset({"supervisor"}),
    "MarkLeakFree": frozenset({"supervisor"}),
}


class CommandPublishError(Exception):
    """A learning command could not be put on its topic (the broker is unreachable): the API says UNAVAILABLE."""


def refusal(method: str, role: str) -> str | None:
    """Why a role may not call a learning method, or None."""
    allowed = LEARNING_PERMISSIONS.get(method, frozenset())
    if role in allowed:
        return None
    return f"role {role!r} may not call {method}; allowed: {', '.join(sorted(allowed)) or 'nobody'}"


def command_problem(cmd: learning_pb2.LearningCommand, segments: Container[str]) -> str | None:
    """Why a command cannot be applied as it is (the consumer dead-letters it), or None. `segments`: the known
    segment ids."""
    if not cmd.command_id or len(cmd.command_id) > MAX_ID:
        return f"command_id is required (at most {MAX_ID} characters)"
    if cmd.segment_id not in segments:
        return f"unknown segment {cmd.segment_id[:MAX_ID]!r}"
    kind = cmd.WhichOneof("kind")
    if kind == "learn_now":
        if cmd.learn_now.at_unix_us < EARLIEST_US:
            return "learn_now.at_unix_us is before 2000-01-01"
        return None
    if kind == "mark_leak_free":
        m = cmd.mark_leak_free
        if m.start_unix_us < EARLIEST_US:
            return "mark_leak_free.start_unix_us is before 2000-01-01"
        if m.end_unix_us <= m.start_unix_us:
            return "mark_leak_free: the period must end after it starts"
        return None
    return "the command names no action (learn_now or mark_leak_free)"
