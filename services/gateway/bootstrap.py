"""Composition root: config -> queue, link, metrics -> recorder and forwarder -> sources -> health endpoint.

``Gateway`` is what ``python -m services.gateway`` runs and what tests, the benchmark and the demo start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry

from .adapters.metrics import PrometheusGatewayMetrics
from .adapters.modbus_source import ModbusSource
from .adapters.opcua_source import OpcUaSource
from .adapters.sqlite_queue import SqliteQueue
from .adapters.telemetry_link import GrpcTelemetryLink
from .config import GatewayConfig, read_token
from .entrypoints.http import HealthServer
from .service_layer import Forwarder, ForwarderSettings, QueueFullPolicy, Recorder

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, config: GatewayConfig, *, registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self.metrics = PrometheusGatewayMetrics(registry)
        token = read_token(config.telemetry.token_file)
        cert = config.telemetry.tls_root_cert_file
        self.queue = SqliteQueue(
            config.queue.path,
            max_readings=config.queue.max_readings,
            drop_oldest=config.queue.when_full is QueueFullPolicy.DROP_OLDEST,
            synchronous=config.queue.synchronous,
            max_bytes=config.queue.max_bytes,
            on_dropped=self.metrics.readings_dropped,
        )
        self.link = GrpcTelemetryLink(
            config.telemetry.target,
            config.gateway_id,
            token,
            root_cert=cert.read_bytes() if cert is not None else None,
            server_name=config.telemetry.tls_server_name,
            client_cert=client_cert.read_bytes() if (client_cert := config.telemetry.tls_client_cert_file) else None,
            client_key=client_key.read_bytes() if (client_key := config.telemetry.tls_client_key_file) else None,
        )
        self.recorder = Recorder(self.queue, self.metrics, config.queue.when_full)
        t = config.telemetry
        self.forwarder = Forwarder(
            self.queue,
            self.link,
            self.metrics,
            ForwarderSettings(
                max_readings_per_batch=t.max_readings_per_batch,
                max_in_flight_batches=t.max_in_flight_batches,
                ack_timeout_s=t.ack_timeout_s,
                linger_s=t.linger_s,
                backfill_readings_per_s=t.backfill_readings_per_s,
            ),
            on_room=self.recorder.room_made,
        )
        self.sources: list[ModbusSource | OpcUaSource] = [
            *(ModbusSource(d, config.network, self.recorder.record, self.metrics) for d in config.modbus),
            *(OpcUaSource(s, config.network, self.recorder.record, self.metrics) for s in config.opcua),
        ]
        self.stop_event = asyncio.Event()
        self.health: HealthServer | None = None
        self._snapshot: dict[str, Any] = {"healthy": False, "starting": True}
        log.info(
            "gateway configured",
            extra={
                "gateway_id": config.gateway_id,
                "tags": config.tag_count,
                "target": t.target,
                "tls": cert is not None,
                "queue": str(config.queue.path),
                "queue_max_readings": config.queue.max_readings,
                "when_full": str(config.queue.when_full),
                "queued_at_start": self.queue.depth(),
                "unacked_batches_at_start": len(self.queue.pending()),
            },
        )

    def stop(self) -> None:
        self.stop_event.set()

    def snapshot(self) -> dict[str, Any]:
        return self._snapshot

    async def _watch(self) -> None:
        """Refresh the queue gauges and the health document once a second."""
        while not self.stop_event.is_set():
            oldest = await self.queue.oldest_time_us()
            age_s = max(0.0, time.time() - oldest / 1e6) if oldest is not None else 0.0
            self.metrics.queue_state(self.queue.depth(), age_s)
            sources = {s.name: {"errors": s.errors, "last_error": s.last_error} for s in self.sources}
            self._snapshot = {
                "healthy": self.forwarder.connected or self.queue.depth() == 0,
                "gateway_id": self.config.gateway_id,
                "telemetry_connected": self.forwarder.connected,
                "telemetry_last_error": self.forwarder.last_error,
                "queue_depth": self.queue.depth(),
                "oldest_unsent_age_s": round(age_s, 3),
                "acked_readings": self.forwarder.acked_readings,
                "dropped_readings": self.recorder.dropped,
                "dead_lettered_readings": self.forwarder.dead_lettered,
                "sources": sources,
            }
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 1.0)

    async def run(self, *, drain_timeout_s: float = 5.0) -> None:
        """Run until ``stop()``; then stop the sources and give the forwarder ``drain_timeout_s`` to send the rest
        (whatever is left stays in the queue file for the next start)."""
        if self.config.health_port >= 0:
            self.health = HealthServer(
                self.config.health_host, self.config.health_port, self.metrics.registry, self.snapshot
            )
            log.info("health and metrics endpoint", extra={"port": self.health.port})
        source_stop = asyncio.Event()
        sources = [asyncio.ensure_future(s.run(source_stop)) for s in self.sources]
        forwarder = asyncio.ensure_future(self.forwarder.run(self.stop_event, drain_timeout_s))
        watch = asyncio.ensure_future(self._watch())
        for task in (*sources, forwarder, watch):
            task.add_done_callback(_report_crash)
        try:
            await self.stop_event.wait()
            source_stop.set()
            await asyncio.gather(*sources, return_exceptions=True)
            await forwarder
        finally:
            for task in (*sources, forwarder, watch):
                task.cancel()
            await asyncio.gather(*sources, forwarder, watch, return_exceptions=True)
            await self.link.close()
            self.queue.close()
            if self.health is not None:
                self.health.stop()


def _report_crash(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("gateway task failed", exc_info=task.exception())
