"""Per-caller limits of a gRPC server: open streams per caller, and how a refusal for a limit is told.

Every server with streaming methods (telemetry's ``PublishStream``, workorders' ``Watch``) limits the streams
one caller (a gateway id, a token's subject) holds open at once, so one caller cannot take the server's
streams, memory or event loop from the others. The refusal is RESOURCE_EXHAUSTED with a message naming the
caller, the limit and what to do, and trailing metadata a client can act on without parsing the message:

- ``pipewarden-limit``: which limit refused the call (``streams_per_caller``, ``readings_per_s``, ...);
- ``retry-after-ms``: when a retry of the same request can pass (absent: only after the caller frees
  something, e.g. closes a stream).

A RESOURCE_EXHAUSTED with ``pipewarden-limit`` is transient: the request itself is fine and must be retried
unchanged, unlike a RESOURCE_EXHAUSTED for a message that is too large.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, NoReturn

import grpc

LIMIT_KEY = "pipewarden-limit"
RETRY_AFTER_KEY = "retry-after-ms"


class StreamLimit:
    """Open streams per caller; ``acquire`` refuses beyond ``per_caller``. Event-loop thread only."""

    def __init__(self, per_caller: int) -> None:
        if per_caller < 1:
            raise ValueError(f"per_caller must be at least 1, got {per_caller}")
        self.per_caller = per_caller
        self._open: dict[str, int] = {}

    def acquire(self, caller: str) -> bool:
        count = self._open.get(caller, 0)
        if count >= self.per_caller:
            return False
        self._open[caller] = count + 1
        return True

    def release(self, caller: str) -> None:
        count = self._open.get(caller, 0) - 1
        if count > 0:
            self._open[caller] = count
        else:
            self._open.pop(caller, None)

    def open_streams(self, caller: str | None = None) -> int:
        return sum(self._open.values()) if caller is None else self._open.get(caller, 0)


def limit_metadata(limit: str, retry_after_s: float | None = None) -> Sequence[tuple[str, str]]:
    """Trailing metadata of a refusal for ``limit`` (see the module docstring)."""
    metadata = [(LIMIT_KEY, limit)]
    if retry_after_s is not None:
        metadata.append((RETRY_AFTER_KEY, str(max(1, int(retry_after_s * 1000 + 0.999)))))
    return metadata


async def refuse_for_limit(
    context: grpc.aio.ServicerContext[Any, Any], limit: str, message: str, retry_after_s: float | None = None
) -> NoReturn:
    """Abort the call with RESOURCE_EXHAUSTED, ``message`` and the limit's trailing metadata (raises)."""
    context.set_trailing_metadata(tuple(limit_metadata(limit, retry_after_s)))
    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
    raise AssertionError("unreachable: context.abort raises")


@contextlib.asynccontextmanager
async def stream_slot(
    limit: StreamLimit,
    caller: str,
    context: grpc.aio.ServicerContext[Any, Any],
    *,
    what: str,
    on_refused: Callable[[], None] | None = None,
) -> AsyncIterator[None]:
    """Hold one of ``caller``'s stream slots for the body; refuse the call (RESOURCE_EXHAUSTED) when none is free.

    ``what`` names the streams in the refusal ("PublishStream streams").
    """
    if not limit.acquire(caller):
        if on_refused is not None:
            on_refused()
        await refuse_for_limit(
            context,
            "streams_per_caller",
            f"caller {caller!r} already has {limit.per_caller} {what} open, the most one caller may hold: "
            "close one before opening another",
            retry_after_s=None,
        )
    try:
        yield
    finally:
        limit.release(caller)


def limit_of(error: grpc.aio.AioRpcError | grpc.RpcError) -> tuple[str | None, float | None]:
    """A client's view of a refusal: (the limit that refused it, seconds until a retry can pass), or Nones."""
    limit: str | None = None
    retry_after_s: float | None = None
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == LIMIT_KEY:
            limit = str(value)
        elif key == RETRY_AFTER_KEY:
            with contextlib.suppress(ValueError):
                retry_after_s = int(value) / 1000
    return limit, retry_after_s
