"""`python -m services.leakdetect`: config -> network, metrics -> faust worker -> query API, then run."""

from __future__ import annotations

import logging

from faust import Worker

from services.leakdetect.adapters.metrics import PrometheusMetrics
from services.leakdetect.config import LeakdetectConfig
from services.leakdetect.entrypoints.query_grpc import LeakQueryServicer, QueryServer
from services.leakdetect.entrypoints.worker import LeakdetectWorker, load_network
from services.observability import configure_logging, json_logging_config, start_metrics_server

log = logging.getLogger("services.leakdetect")


def main() -> None:
    config = LeakdetectConfig.from_env()
    configure_logging("leakdetect", config.log_level)
    network = load_network(config)
    metrics = PrometheusMetrics()
    worker = LeakdetectWorker(config, network, metrics)
    if config.metrics_port >= 0:
        server = start_metrics_server(config.metrics_port)
        log.info("metrics listening", extra={"metrics_port": server.port})
    query = None
    if config.grpc_port >= 0:
        query = QueryServer(LeakQueryServicer(network, lambda: worker.processor.views.copy()), config.grpc_port)
        query.start()
        log.info("query API listening", extra={"grpc_port": query.port})
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


if __name__ == "__main__":
    main()
