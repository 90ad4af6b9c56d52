"""The composition root of the leak detection service: the one place where adapters are chosen and wired.

- ``load_network(config)``: the network model (the configured file or the demo city).
- ``build_detector(config, network)``: the detectors behind the service layer's port, through the public
  facade (`adapters.core_detector.CoreDetector` over `domain.Pipeline`).
- ``build_processor(config, network, store, metrics, clock)``: the stream use case (`BatchProcessor`) on a
  state store, metrics and a clock (the system clock unless given).
- ``build_worker(config, network, metrics)``: the faust worker, its state store the faust table.
- ``serve(config)``: everything ``python -m services.leakdetect`` runs: metrics endpoint, worker, query API.

Unit tests wire the service layer to fakes of its ports instead; the replay CLI
(`entrypoints.replay`) uses the facade directly and needs none of this.
"""

from __future__ import annotations

import logging
import sys
import time

from services.grpctls import TLSFileError, server_credentials
from services.leakdetect.adapters.clock import SystemClock
from services.leakdetect.adapters.core_detector import CoreDetector
from services.leakdetect.adapters.faust_state import FaustTableStateStore
from services.leakdetect.adapters.metrics import PrometheusMetrics
from services.leakdetect.config import LeakdetectConfig
from services.leakdetect.entrypoints.query_grpc import LeakQueryServicer, QueryServer
from services.leakdetect.entrypoints.worker import LeakdetectWorker
from services.leakdetect.service_layer import ports
from services.leakdetect.service_layer.alarms import AlarmPolicy, SegmentInfo
from services.leakdetect.service_layer.processor import BatchProcessor
from services.network import Network, TagKind, load_demo_network
from services.network import load_network as load_network_file
from services.observability import configure_logging, json_logging_config, start_metrics_server
from services.tokens import LEAKDETECT_AUDIENCE, TokenVerifier, api_verifier

log = logging.getLogger("services.leakdetect")


def load_network(config: LeakdetectConfig) -> Network:
    return load_network_file(config.network_file) if config.network_file else load_demo_network()


def build_detector(config: LeakdetectConfig, network: Network) -> ports.SegmentDetector:
    return CoreDetector(network)


def segment_infos(network: Network, detector: ports.SegmentDetector) -> dict[str, SegmentInfo]:
    infos = {}
    for seg in network.segments.values():
        roles = detector.role_tags(seg.segment_id)
        methane = [t for t in network.tags_of_segment(seg.segment_id) if t.kind is TagKind.METHANE_LEL]
        infos[seg.segment_id] = SegmentInfo(
            segment_id=seg.segment_id,
            district=seg.district,
            length_m=seg.length_m,
            nominal_flow_kg_per_s=seg.nominal_flow_kg_per_s,
            role_tags=dict(roles),
            tag_positions_m={t.tag_id: t.position_m for t in methane},
            confined={t.tag_id: t.confined_space for t in methane},
            tag_ids=frozenset(t.tag_id for t in network.tags_of_segment(seg.segment_id)),
        )
    return infos


def build_processor(
    config: LeakdetectConfig,
    network: Network,
    store: ports.StateStore,
    metrics: ports.Metrics,
    clock: ports.Clock | None = None,
) -> BatchProcessor:
    detector = build_detector(config, network)
    return BatchProcessor(
        detector=detector,
        store=store,
        metrics=metrics,
        clock=clock or SystemClock(),
        segments=segment_infos(network, detector),
        policy=AlarmPolicy(
            hold_us=round(config.alarm_hold_s * 1e6),
            update_min_interval_us=round(config.update_min_interval_s * 1e6),
            onset_bucket_us=round(config.onset_bucket_s * 1e6),
            history_per_segment=config.history_per_segment,
        ),
        reorder_tolerance_us=config.reorder_tolerance_us,
        reorder_max_readings=config.reorder_max_readings,
        dedupe_records=config.dedupe_records,
        max_clock_skew_us=config.max_clock_skew_us,
    )


def build_worker(config: LeakdetectConfig, network: Network, metrics: PrometheusMetrics) -> LeakdetectWorker:
    return LeakdetectWorker(
        config, metrics, lambda table: build_processor(config, network, FaustTableStateStore(table), metrics)
    )


def query_verifier(config: LeakdetectConfig, *, dev: bool = False) -> TokenVerifier:
    """The query API's token verifier (key set re-read on change); ``--dev``: throwaway keys in var/dev/tokens.

    Raises ValueError (KeyFileError: the file and its problem) when the API cannot authenticate anyone.
    """
    return api_verifier(
        config.jwt_keys_file, LEAKDETECT_AUDIENCE, dev=dev,
        missing="PIPEWARDEN_LEAKDETECT_JWT_KEYS_FILE is not set: the query API needs the key set (JWKS) of callers' "
                "token keys (make up writes one; `python -m services.tokens rotate` makes one), or turn the API "
                "off with PIPEWARDEN_LEAKDETECT_GRPC_PORT=-1; `--dev` runs with throwaway keys",
    )


def serve(config: LeakdetectConfig, verifier: TokenVerifier | None) -> None:
    """Everything ``python -m services.leakdetect`` runs; the query API (when its port is not -1) checks callers'
    tokens with ``verifier`` (``query_verifier``)."""
    from faust import Worker

    if config.grpc_port >= 0 and verifier is None:
        raise ValueError("the query API is on and has no token verifier")

    configure_logging("leakdetect", config.log_level)
    credentials = None
    if config.tls_cert_file and verifier is not None:
        try:
            credentials = server_credentials(config.tls_cert_file, config.tls_key_file)
        except TLSFileError as error:  # said before anything starts, as a bad configuration is
            print(f"leakdetect: {error}", file=sys.stderr)
            raise SystemExit(2) from None
    network = load_network(config)
    metrics = PrometheusMetrics()
    worker = build_worker(config, network, metrics)
    # before the health check says SERVING and before the first batch: compiling the kernels takes minutes on a
    # fresh install (seconds from numba's cache after that)
    started = time.monotonic()
    CoreDetector(network).warm_up()
    log.info("detector kernels ready", extra={"seconds": round(time.monotonic() - started, 1)})
    if config.metrics_port >= 0:
        server = start_metrics_server(config.metrics_port)
        log.info("metrics listening", extra={"metrics_port": server.port})
    query = None
    if verifier is not None:
        from services.leakdetect.adapters.command_publisher import KafkaCommandPublisher

        publisher = KafkaCommandPublisher(config.kafka_bootstrap, config.kafka_security)
        query = QueryServer(LeakQueryServicer(network, lambda: worker.processor.views.copy(), verifier, publisher),
                            config.grpc_port, credentials=credentials)
        query.start()
        log.info("query API listening", extra={"grpc_port": query.port, "tls": credentials is not None})
    try:
        # faust sets up logging itself (plain text by default): hand it the JSON configuration.
        runner = Worker(
            worker.app,
            loglevel=config.log_level.lower(),
            quiet=True,
            redirect_stdouts=False,
            logging_config=json_logging_config("leakdetect", config.log_level),
        )
        runner.execute_from_commandline()
    finally:
        if query is not None:
            query.stop()
