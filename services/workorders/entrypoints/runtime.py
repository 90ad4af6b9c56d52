"""Wiring shared by ``serve``, the CLI, tests and the benchmark: store, read models, app, background loops."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from services.eventstore import EventStore, OutboxRelay, ProjectionRunner
from services.network import Network, load_demo_network, load_network
from services.topics import WORKORDERS_EVENTS
from services.workorders.adapters.network import NetworkSegments
from services.workorders.adapters.outbox_envelope import encode_event_envelope
from services.workorders.adapters.queries import ReadModelQueries
from services.workorders.adapters.read_models import WorkOrdersProjection
from services.workorders.config import WorkOrdersConfig
from services.workorders.domain.hazard import DEFAULT_SIGN_OFF_POLICY, SignOffPolicy
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
        from services.eventstore import KafkaPublisher

        def loop() -> None:
            publisher = None
            while not self.stop_event.is_set():
                try:
                    publisher = KafkaPublisher(bootstrap)
                    break
                except Exception as error:
                    log.warning("outbox relay cannot reach Kafka yet: %s", error)
                    self.stop_event.wait(2.0)
            if publisher is None:
                return
            try:
                OutboxRelay(self.store, publisher, encode=encode_event_envelope).run_forever(self.stop_event)
            finally:
                publisher.close()

        self._spawn("workorders-outbox", loop)

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


def build_runtime(
    db_url: str,
    *,
    network: Network | None = None,
    network_file: str | None = None,
    clock: Callable[[], int] = system_clock,
    snapshot_every: int = 50,
    sign_off: SignOffPolicy = DEFAULT_SIGN_OFF_POLICY,
    report_utc_offset_s: int = 0,
) -> Runtime:
    store = EventStore.from_url(db_url, outbox_topic=WORKORDERS_EVENTS.name)
    if network is None:
        network = load_network(network_file) if network_file else load_demo_network()
    notifier = ChangeNotifier()
    queries = ReadModelQueries(store.engine, network, report_utc_offset_s=report_utc_offset_s)
    app = WorkOrdersApp(
        store,
        NetworkSegments(network),
        queries,
        clock=clock,
        snapshot_every=snapshot_every,
        notifier=notifier,
        sign_off=sign_off,
    )
    runner = ProjectionRunner(store, WorkOrdersProjection())
    runner.create_tables()
    return Runtime(store=store, network=network, app=app, runner=runner, notifier=notifier)


def build_from_config(config: WorkOrdersConfig) -> Runtime:
    return build_runtime(
        config.db_url,
        network_file=config.network_file,
        snapshot_every=config.snapshot_every,
        sign_off=SignOffPolicy(level_roles=config.sign_off_levels),
        report_utc_offset_s=round(config.report_utc_offset_h * 3600),
    )
