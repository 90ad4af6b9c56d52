"""The running service's background loops (projection, SLA and hazard tickers, outbox relay) around the app.

``Runtime`` is built by the composition root (``services.workorders.bootstrap.build_runtime``), which
chooses the adapters; this module starts and stops the threads.

The projection and the outbox relay sleep until something is appended (``ChangeNotifier``: in-process
appends, and on PostgreSQL every append anywhere, heard by ``start_append_listener``). Their poll is only a
safety net (appends by another process on SQLite, a notification lost while the listener reconnects): it
starts at ``poll_s`` after each piece of work and doubles while idle up to ``max_poll_s`` (``Backoff``), so
an idle service costs about one query per loop per ``max_poll_s`` instead of twenty a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.eventstore import EventStore, OutboxRelay, ProjectionRunner, outbox_backlog
from services.network import Network
from services.workorders.adapters import metrics
from services.workorders.adapters.append_signal import AppendListener, supports_notify
from services.workorders.service_layer.app import WorkOrdersApp, system_clock
from services.workorders.service_layer.notifier import ChangeNotifier

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 0.05
DEFAULT_MAX_POLL_S = 1.0
# The least time between two runs of a loop that appends wake. Under a steady stream (a soak: ~50 hazards a
# second) every append (and its NOTIFY) would otherwise cost each loop a transaction, and the relay a broker
# round trip per event; waiting this long lets a run take what came meanwhile in one batch. The first append
# after a quiet spell is taken at once.
PROJECTION_MIN_INTERVAL_S = 0.05  # the old fixed poll: Watch streams read the event store, not the read model
RELAY_MIN_INTERVAL_S = 0.2  # the old relay's idle sleep: a broker round trip per batch, not per event


class Backoff:
    """The safety-net poll's interval: ``first_s`` after work, doubled after each idle wait, at most ``max_s``."""

    def __init__(self, first_s: float, max_s: float) -> None:
        if not 0 < first_s <= max_s:
            raise ValueError(f"need 0 < first_s <= max_s, got {first_s}, {max_s}")
        self.first_s, self.max_s = first_s, max_s
        self.delay_s = first_s

    def reset(self) -> None:
        self.delay_s = self.first_s

    def idle(self) -> None:
        self.delay_s = min(self.delay_s * 2, self.max_s)


@dataclass
class Runtime:
    store: EventStore
    network: Network
    app: WorkOrdersApp
    runner: ProjectionRunner
    notifier: ChangeNotifier
    # The outbox's Kafka side, chosen by the composition root: bootstrap servers -> a connected publisher
    # (raises while the broker is unreachable; has close()), and publisher -> the relay.
    connect_publisher: Callable[[str], Any] | None = None
    make_relay: Callable[[Any], OutboxRelay] | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    append_listener: AppendListener | None = None

    def _wait_for_appends(
        self, seen_generation: int, backoff: Backoff, run_started: float, min_interval_s: float
    ) -> None:
        """Sleep until an append is announced after ``seen_generation`` or the back-off's interval ends, and at
        least until ``min_interval_s`` after ``run_started`` (monotonic) when the last run did work."""
        if self.notifier.wait(seen_generation, backoff.delay_s) != seen_generation:
            rest = run_started + min_interval_s - time.monotonic()
            if backoff.delay_s == backoff.first_s and rest > 0:
                self.stop_event.wait(rest)  # busy: gather what comes meanwhile into the next run
            backoff.reset()
        else:
            backoff.idle()

    def start_projection_loop(self, poll_s: float = DEFAULT_POLL_S, max_poll_s: float = DEFAULT_MAX_POLL_S) -> None:
        backoff = Backoff(poll_s, max(poll_s, max_poll_s))

        def loop() -> None:
            while not self.stop_event.is_set():
                # Read before the work: an append during it makes the wait below return at once.
                seen = self.notifier.generation
                started = time.monotonic()
                try:
                    applied = self.runner.run_until_caught_up()
                except Exception:
                    log.exception("projection failed; retrying")
                    self.stop_event.wait(1.0)
                    continue
                if applied:
                    backoff.reset()
                self._wait_for_appends(seen, backoff, started, PROJECTION_MIN_INTERVAL_S)

        self._spawn("workorders-projection", loop)

    def start_append_listener(self) -> bool:
        """On PostgreSQL, LISTEN for appends by any process and announce them on the notifier (the trigger
        is installed by the composition root); False on SQLite (the loops' back-off poll is all there is)."""
        if not supports_notify(self.store.engine):
            return False
        listener = AppendListener(self.store.engine, self.notifier.notify, self.stop_event)
        self.append_listener = listener
        self._spawn("workorders-append-listener", listener.run)
        return True

    def start_sla_ticker(self, every_s: float, clock: Callable[[], int] = system_clock) -> None:
        def loop() -> None:
            while not self.stop_event.wait(every_s):
                try:
                    self.app.tick_sla(clock())
                except Exception:
                    log.exception("SLA tick failed")

        self._spawn("workorders-sla", loop)

    def start_hazard_ticker(self, every_s: float, clock: Callable[[], int] = system_clock) -> None:
        """Escalate hazards past their rectification deadline (once per deadline)."""

        def loop() -> None:
            while not self.stop_event.wait(every_s):
                try:
                    self.app.tick_hazards(clock())
                except Exception:
                    log.exception("hazard tick failed")

        self._spawn("workorders-hazards", loop)

    def start_outbox_relay(
        self, bootstrap: str, poll_s: float = DEFAULT_POLL_S, max_poll_s: float = DEFAULT_MAX_POLL_S
    ) -> None:
        connect, make_relay = self.connect_publisher, self.make_relay
        if connect is None or make_relay is None:
            raise RuntimeError("this runtime was built without an outbox relay")
        backoff = Backoff(poll_s, max(poll_s, max_poll_s))

        def relay_until_stopped(relay: OutboxRelay) -> None:
            failing = False
            while not self.stop_event.is_set():
                seen = self.notifier.generation
                started = time.monotonic()
                try:
                    published = relay.publish_pending()
                except Exception as error:  # the broker or database is down: the rows stay, try again
                    if not failing:  # once per outage, not once a second
                        log.warning("outbox relay cannot publish (retrying every second): %s", error)
                    failing = True
                    self.stop_event.wait(1.0)
                    continue
                failing = False
                if published >= relay.batch_size:
                    continue  # a full batch: more is waiting
                if published:
                    backoff.reset()
                self._wait_for_appends(seen, backoff, started, RELAY_MIN_INTERVAL_S)

        def loop() -> None:
            publisher = None
            while not self.stop_event.is_set():
                try:
                    publisher = connect(bootstrap)
                    break
                except Exception as error:
                    log.warning("outbox relay cannot reach Kafka yet: %s", error)
                    self.stop_event.wait(2.0)
            if publisher is None:
                return
            try:
                relay_until_stopped(make_relay(publisher))
            finally:
                publisher.close()

        self._spawn("workorders-outbox", loop)

    def sample_backlogs(self, now_unix_us: int) -> None:
        """Set the outbox and projection gauges from one look at the database."""
        backlog = outbox_backlog(self.store)
        metrics.OUTBOX_BACKLOG.set(backlog.pending)
        oldest = backlog.oldest_recorded_at_unix_us
        metrics.OUTBOX_OLDEST_AGE.set(0.0 if oldest is None else max(0.0, (now_unix_us - oldest) / 1e6))
        metrics.PROJECTION_LAG.set(max(0, self.store.head_position() - self.runner.checkpoint()))

    def start_metrics_sampler(self, every_s: float, clock: Callable[[], int] = system_clock) -> None:
        """Sample the backlogs every ``every_s`` (cheap: two indexed reads), so scrapes never touch the database."""

        def loop() -> None:
            while not self.stop_event.is_set():
                try:
                    self.sample_backlogs(clock())
                except Exception as error:  # the database is down: the gauges keep their last values
                    log.warning("cannot sample the outbox and projection backlogs: %s", error)
                self.stop_event.wait(every_s)

        self._spawn("workorders-metrics", loop)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        self.notifier.notify()
        for thread in self.threads:
            thread.join(10.0)
        self.store.close()
