"""A file that is re-read when it changes (mtime, size or inode), so that keys and tokens change without a restart.

``WatchedFile(path, parse).current()`` returns the parsed content, calling ``os.stat`` at most every
``check_every_s`` and ``parse`` only when the file changed. A changed file that no longer parses keeps the last
good content (a half-written file or an operator's typo must not lock every caller out) and reports the problem
through ``on_error`` once per change.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class WatchedFile(Generic[T]):
    def __init__(
        self,
        path: str | os.PathLike[str],
        parse: Callable[[Path], T],
        *,
        check_every_s: float = 1.0,
        on_error: Callable[[Exception], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._parse = parse
        self._check_every_s = check_every_s
        self._on_error = on_error
        self._clock = clock
        self._lock = threading.Lock()
        self._signature = self._stat()
        # The first load raises: a service must not start on a file it cannot use.
        self._value = parse(self.path)
        self._checked_at = clock()
        self.reloads = 0

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> T:
        now = self._clock()
        if now - self._checked_at < self._check_every_s:
            return self._value
        with self._lock:
            if now - self._checked_at < self._check_every_s:
                return self._value
            self._checked_at = now
            signature = self._stat()
            if signature != self._signature:
                self._signature = signature
                try:
                    self._value = self._parse(self.path)
                    self.reloads += 1
                except Exception as error:  # any parse failure keeps the last good content
                    if self._on_error is not None:
                        self._on_error(error)
        return self._value

    def refresh(self) -> T:
        """Check the file now, whatever the interval (tests; an operator's reload signal)."""
        self._checked_at = float("-inf")
        return self.current()
