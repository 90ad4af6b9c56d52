"""The composition root of the work orders service: the one place where adapters are chosen and wired.

- ``build_runtime(db_url, ...)``: the SQL event store (with the outbox of workorders.events.v1), the
  network model behind ``NetworkFacts``, the read models (queries and their projection), the app, and the
  outbox's Kafka publisher and envelope encoder; returns the ``Runtime`` (entrypoints/runtime.py) whose
  background loops the caller starts.
- ``build_from_config(config)``: the same from ``WorkOrdersConfig``.
- ``serve(config, db_url=..., address=...)``: everything ``python -m services.workorders serve`` runs: the
  runtime's loops, the alarm and sensor-health consumers, the metrics endpoint, the gRPC server.

Unit tests wire the service layer to fakes instead (tests/unit/workorders/fakes.py).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable

from services.eventstore import EventStore, KafkaPublisher, OutboxRelay, ProjectionRunner
from services.grpctls import TLSFileError, server_credentials
from services.network import Network, load_demo_network, load_network
from services.tokens import WORKORDERS_AUDIENCE, TokenVerifier, api_verifier
from services.topics import WORKORDERS_EVENTS
from services.workorders.adapters.append_signal import install_append_notify
from services.workorders.adapters.network import NetworkSegments
from services.workorders.adapters.outbox_envelope import encode_event_envelope
from services.workorders.adapters.queries import ReadModelQueries
from services.workorders.adapters.read_models import WorkOrdersProjection, add_missing_columns
from services.workorders.config import WorkOrdersConfig
from services.workorders.domain.audit import AUDIT_STREAM_PREFIX
from services.workorders.domain.hazard import DEFAULT_SIGN_OFF_POLICY, SignOffPolicy
from services.workorders.entrypoints.runtime import Runtime
from services.workorders.service_layer.app import WorkOrdersApp, system_clock
from services.workorders.service_layer.notifier import ChangeNotifier

log = logging.getLogger(__name__)


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
    # The audit trail is the regulators' (ListAuditRecords): never published on workorders.events.v1.
    store = EventStore.from_url(
        db_url, outbox_topic=WORKORDERS_EVENTS.name, outbox_excluded_prefixes=(AUDIT_STREAM_PREFIX,)
    )
    # PostgreSQL announces every append (any process's) to the runtime's listener; a no-op on SQLite.
    install_append_notify(store.engine)
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
    add_missing_columns(store.engine)  # a table from an older version: its new view columns (README)
    return Runtime(
        store=store,
        network=network,
        app=app,
        runner=runner,
        notifier=notifier,
        connect_publisher=KafkaPublisher,
        make_relay=lambda publisher: OutboxRelay(store, publisher, encode=encode_event_envelope),
    )


def build_from_config(config: WorkOrdersConfig) -> Runtime:
    return build_runtime(
        config.db_url,
        network_file=config.network_file,
        snapshot_every=config.snapshot_every,
        sign_off=SignOffPolicy(level_roles=config.sign_off_levels),
        report_utc_offset_s=round(config.report_utc_offset_h * 3600),
    )


def token_verifier(config: WorkOrdersConfig, *, dev: bool) -> TokenVerifier:
    """The verifier of callers' tokens (key set file re-read on change); ``--dev``: throwaway keys in var/dev.

    Raises ``KeyFileError`` (named file, problem) or ``ValueError`` (no key set and no ``--dev``).
    """
    return api_verifier(
        config.jwt_keys_file, WORKORDERS_AUDIENCE, dev=dev,
        missing="PIPEWARDEN_WORKORDERS_JWT_KEYS_FILE is not set: the key set (JWKS) of callers' token keys is "
                "required (make up writes one; `python -m services.tokens rotate` makes one). Tokens are EdDSA-signed "
                "now: the HS256 PIPEWARDEN_WORKORDERS_JWT_SECRET is not used. `serve --dev` runs with throwaway keys.",
    )


def serve(config: WorkOrdersConfig, *, db_url: str, address: str, dev: bool = False) -> int:
    """Run the service until SIGTERM/SIGINT; 2 when the configuration cannot serve."""
    from services.observability import configure_logging, start_metrics_server
    from services.workorders.entrypoints.alarm_consumer import AlarmConsumer, AlarmConsumerThread
    from services.workorders.entrypoints.grpc_api import GrpcServer, WorkOrdersServicer
    from services.workorders.entrypoints.sensor_health_consumer import SensorHealthConsumer

    configure_logging("workorders", config.log_level)
    try:
        verifier = token_verifier(config, dev=dev)
    except ValueError as error:  # KeyFileError too
        print(f"error: {error}", file=sys.stderr)
        return 2
    runtime = build_from_config(dataclasses.replace(config, db_url=db_url))
    runtime.start_append_listener()
    runtime.start_projection_loop(config.projection_poll_s, config.idle_poll_max_s)
    runtime.start_sla_ticker(config.sla_tick_s)
    runtime.start_hazard_ticker(config.hazard_tick_s)
    if config.relay_outbox:
        runtime.connect_publisher = functools.partial(KafkaPublisher, security=config.kafka_security)
        runtime.start_outbox_relay(config.kafka_bootstrap, config.projection_poll_s, config.idle_poll_max_s)
    consumers: list[AlarmConsumerThread] = []
    if config.consume_alarms:
        consumers.append(
            AlarmConsumerThread(
                AlarmConsumer(config.kafka_bootstrap, runtime.app.handle_alarm, group_id=config.consumer_group,
                              security=config.kafka_security)
            ).start()
        )
    if config.consume_sensor_health:
        # A group of its own: members of one group should subscribe to the same topics.
        sensor_health = SensorHealthConsumer(
            config.kafka_bootstrap,
            runtime.app.handle_sensor_health,
            group_id=f"{config.consumer_group}-sensor-health",
            security=config.kafka_security,
        )
        consumers.append(AlarmConsumerThread(sensor_health).start())
    if config.metrics_port >= 0:
        runtime.start_metrics_sampler(every_s=5.0)
        metrics = start_metrics_server(config.metrics_port)
        log.info("metrics listening", extra={"metrics_port": metrics.port})
    servicer = WorkOrdersServicer(runtime.app, verifier, max_streams_per_caller=config.max_streams_per_caller,
                                  feed_poll_s=(config.projection_poll_s, config.idle_poll_max_s))
    credentials = None
    if config.tls_cert_file and config.tls_key_file:
        try:
            credentials = server_credentials(config.tls_cert_file, config.tls_key_file)
        except TLSFileError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    server = GrpcServer(
        servicer, address, credentials=credentials, max_receive_message_bytes=config.max_message_bytes
    ).start()
    log.info("workorders serving", extra={"address": server.address, "db": db_url, "tls": credentials is not None})
    print(f"workorders serving on {server.address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    for consumer in consumers:
        consumer.stop()
    runtime.stop()
    return 0
