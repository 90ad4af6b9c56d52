"""Clocks the event store reads its ``recorded_at_unix_us`` times from (injected, so tests are exact)."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now_unix_us(self) -> int:
        """Microseconds since the Unix epoch (UTC)."""
        ...


class SystemClock:
    """The wall clock."""

    def now_unix_us(self) -> int:
        return time.time_ns() // 1_000


class ManualClock:
    """A clock tests drive by hand: returns ``start_unix_us`` and advances by ``step_us`` per call."""

    def __init__(self, start_unix_us: int = 1_700_000_000_000_000, step_us: int = 0) -> None:
        self._now_unix_us = start_unix_us
        self._step_us = step_us
        self._lock = threading.Lock()

    def now_unix_us(self) -> int:
        with self._lock:
            now = self._now_unix_us
            self._now_unix_us += self._step_us
            return now

    def advance(self, delta_us: int) -> None:
        with self._lock:
            self._now_unix_us += delta_us
