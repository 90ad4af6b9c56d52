"""``ChangeNotifier``: wakes in-process watchers (gRPC Watch, the projection loop) after every append."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class ChangeNotifier:
    """Wakes in-process watchers (gRPC Watch, projection loop) as soon as something was appended.

    Threads block in ``wait``; an event loop subscribes a listener instead (no thread per watcher).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0
        self._listeners: list[Callable[[], None]] = []

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()
            listeners = tuple(self._listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:  # the append is done: a broken watcher must not fail the command
                log.exception("change listener failed")

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every ``notify``, on the notifying thread: it must be quick and must not
        block (e.g. ``loop.call_soon_threadsafe``). Returns the function that unsubscribes it."""
        with self._condition:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._condition:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    @property
    def generation(self) -> int:
        return self._generation

    def wait(self, seen_generation: int, timeout_s: float) -> int:
        with self._condition:
            if self._generation == seen_generation:
                self._condition.wait(timeout_s)
            return self._generation
