"""The faust-streaming worker: telemetry.readings.v1 in, leak.alarms.v1 / leak.sensor-health.v1 /
leak.dead-letter.v1 out, per-segment state in a changelogged table.

Batches come from `stream.take_events` (faust acks them after the loop body, i.e. after the alarms are on
the broker and then the checkpoints are in the producer; faust flushes the producer before it commits
offsets). Checkpoints are written only after the batch's publishes succeeded: a checkpoint holding an
alarm that never reached the broker would make the replayed records count as applied, and the alarm would
be lost; an alarm published again after a crash carries the same event id, which consumers dedupe on.
One agent instance per worker: partitions are the unit of parallelism, and one segment's readings always
live in one partition, so they are processed in order by exactly one worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust

from services.leakdetect.adapters.metrics import PrometheusMetrics
from services.leakdetect.config import LeakdetectConfig
from services.leakdetect.service_layer.processor import BatchProcessor, BatchResult, RawRecord
from services.topics import (
    LEAK_ALARMS,
    LEAK_DEAD_LETTER,
    LEAK_LEARNING_COMMANDS,
    LEAK_SENSOR_HEALTH,
    TELEMETRY_READINGS,
    encode,
)

log = logging.getLogger(__name__)

STATE_TABLE = "segment-state"
# Header on alarm records: wall-clock time (us) the detectors decided; lets anyone measure publish latency.
DECIDED_HEADER = "pw-decided-at-unix-us"


def state_changelog_topic(app_id: str) -> str:
    return f"{app_id}-{STATE_TABLE}-changelog"


class LeakdetectWorker:
    """The faust app and what it needs; `processor` is shared with the query API."""

    def __init__(self, config: LeakdetectConfig, metrics: PrometheusMetrics,
                 make_processor: Callable[[Any], BatchProcessor]) -> None:
        """`make_processor(table)`: the stream use case on the worker's state table (`bootstrap` wires it)."""
        self.config = config
        self.metrics = metrics
        partitions = TELEMETRY_READINGS.partitions
        data_dir = Path(config.data_dir) / config.app_id
        data_dir.mkdir(parents=True, exist_ok=True)  # faust creates only the last level
        self.app = faust.App(
            config.app_id,
            broker=[f"kafka://{s}" for s in config.kafka_bootstrap.split(",")],
            store="memory://",
            datadir=str(data_dir),
            topic_partitions=partitions,
            topic_replication_factor=1,
            web_enabled=False,
            table_standby_replicas=0,
            broker_commit_interval=config.commit_interval_s,
            consumer_auto_offset_reset="earliest",
            topic_disable_leader=True,
            key_serializer="raw",
            value_serializer="raw",
            producer_acks=-1,
            broker_credentials=config.kafka_security.faust_credentials(),
        )
        self.table = self.app.Table(
            STATE_TABLE, default=None, partitions=partitions, key_type=bytes, value_type=bytes
        )
        self.processor = make_processor(self.table)
        # the readings and the users' learning commands (issue 24), co-partitioned (same count, keyed by segment):
        # one agent consumes both, so a segment's commands are applied by the worker that owns its readings, in
        # its stream between batches of readings
        self.readings_topic = self.app.topic(
            TELEMETRY_READINGS.name, LEAK_LEARNING_COMMANDS.name, key_serializer="raw", value_serializer="raw",
            partitions=partitions,
        )
        self.alarms_topic = self.app.topic(LEAK_ALARMS.name, key_serializer="raw", value_serializer="raw")
        self.health_topic = self.app.topic(LEAK_SENSOR_HEALTH.name, key_serializer="raw", value_serializer="raw")
        self.dlq_topic = self.app.topic(LEAK_DEAD_LETTER.name, key_serializer="raw", value_serializer="raw")
        self.batches = 0
        self.app.agent(self.readings_topic, name="leakdetect.detect", concurrency=1)(self._detect)
        self.app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]

    async def _on_revoked(self, sender: Any, revoked: Any, **kwargs: Any) -> None:
        parts = {tp.partition for tp in revoked if tp.topic == TELEMETRY_READINGS.name}
        if parts:
            self.processor.forget_partitions(parts)

    async def _detect(self, stream: Any) -> None:
        cfg = self.config
        async for events in stream.take_events(cfg.batch_max, within=cfg.batch_within_s):
            batch = [
                RawRecord(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value)
                for e in events
            ]
            t0 = time.perf_counter()
            result = self.processor.process(batch)
            self.metrics.batch_seconds.observe(time.perf_counter() - t0)
            self.metrics.records(result.records)
            self.metrics.readings(result.readings)
            try:
                await self._publish(result)
            except BaseException:  # cancellation (rebalance, shutdown) included
                # Not published, so not checkpointed: the segments resume from their last written checkpoint.
                self.processor.discard(result)
                raise
            self.processor.checkpoint(result)
            self._update_lag(result)
            self.batches += 1

    async def _publish(self, result: BatchResult) -> None:
        futures = []
        decided = str(result.decided_unix_us).encode()
        for alarm in result.alarms:
            futures.append(
                await self.alarms_topic.send(
                    key=alarm.segment_id.encode(), value=encode(alarm), headers=[(DECIDED_HEADER, decided)]
                )
            )
        for health in result.health:
            futures.append(await self.health_topic.send(key=health.segment_id.encode(), value=encode(health)))
        for dead in result.dead_letters:
            futures.append(await self.dlq_topic.send(key=dead.key, value=dead.value, headers=dead.headers))
        if futures:
            # Acked (and later committed) only once everything this batch decided is on the broker.
            await asyncio.gather(*futures)
            if result.alarms:
                self.metrics.publish_seconds.observe(time.time() - result.decided_unix_us / 1e6)

    def _update_lag(self, result: BatchResult) -> None:
        consumer = self.app.consumer
        for partition, offset in result.positions.items():
            try:
                tp = next(tp for tp in consumer.assignment() if tp.topic == TELEMETRY_READINGS.name
                          and tp.partition == partition)
                high = consumer.highwater(tp)
            except (StopIteration, KeyError, AttributeError):
                continue
            if high is not None:
                self.metrics.lag.labels(partition=str(partition)).set(max(0, high - offset - 1))
