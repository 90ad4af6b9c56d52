"""Wall clock in microseconds since the Unix epoch (what readings' source times are compared with)."""

from __future__ import annotations

import time


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1000
