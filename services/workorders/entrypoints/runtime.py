"""The running service's background loops (projection, SLA and hazard tickers, outbox relay) around the app.

``Runtime`` is built by the composition root (``services.workorders.bootstrap.build_runtime``), which
chooses the adapters; this module starts and stops the threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.eventstore import EventStore, OutboxRelay, ProjectionRunner, outbox_backlog
from services.network import Network
from services.workorders.adapters import metrics
from services.workorders.service_layer.app import WorkOrdersApp, system_clock
from services.workorders.service_layer.notifier import ChangeNotifier

log = logging.getLogger(__name__)


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

    def start_projection_loop(self, poll_s: float = 0.05) -> None:
        def loop() -> None:
            generation = self.notifier.generation
            while not self.stop_event.is_set():
                try:
                    applied = self.runner.run_until_caught_up()
                except Exception:
                    log.exception("projection failed; retrying")
                    self.stop_event.wait(1.0)
                    continue
                if applied:
                    # Wake Watch streams and pollers that wait for the read model.
                    generation = self.notifier.generation
                generation = self.notifier.wait(generation, poll_s)

        self._spawn("workorders-projection", loop)

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

    def start_outbox_relay(self, bootstrap: str) -> None:
        connect, make_relay = self.connect_publisher, self.make_relay
        if connect is None or make_relay is None:
            raise RuntimeError("this runtime was built without an outbox relay")

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
                make_relay(publisher).run_forever(self.stop_event)
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
