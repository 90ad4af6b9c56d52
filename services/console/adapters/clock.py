"""The wall clock behind the ``Clock`` port."""

from __future__ import annotations

import time


class SystemClock:
    def now_unix_us(self) -> int:
        return time.time_ns() // 1000
