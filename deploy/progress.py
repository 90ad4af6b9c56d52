"""A heartbeat for the long waits of ``make demo`` and the benchmarks: what is running and for how long.

    with ticking("streaming the field", total_s=30):
        run_something_slow()

On a terminal one line updates every second; in a log (CI) a line is printed every ``log_every_s``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def ticking(what: str, *, total_s: float | None = None, log_every_s: float = 10.0) -> Iterator[None]:
    stop = threading.Event()
    started = time.monotonic()
    tty = sys.stdout.isatty()

    def line() -> str:
        elapsed = time.monotonic() - started
        return f"   ... {what}: {elapsed:.0f} s" + (f" of ~{total_s:.0f} s" if total_s else "")

    def beat() -> None:
        while not stop.wait(1.0 if tty else log_every_s):
            if tty:
                print("\r" + line(), end="", flush=True)
            else:
                print(line(), flush=True)

    thread = threading.Thread(target=beat, name="progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if tty:
            print("\r" + line() + " (done)", flush=True)
