"""The processing clock: wall time in microseconds since the Unix epoch."""

from __future__ import annotations

import time


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1000
