"""Ingest one gateway batch: check it, validate its readings, publish the records, remember the ack.

Batches of one gateway are processed one at a time in arrival order (a lock per gateway), which is
what makes the dedupe window exact and keeps a gateway's records in order on every partition.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import cast

from services.contracts.pipewarden.telemetry.v1 import reading_pb2, records_pb2
from services.telemetry.domain import (
    AckWindow,
    BatchAck,
    BatchValidation,
    TagIndex,
    ValidationLimits,
    check_batch_shape,
    summarize,
    validate_batch,
)
from services.telemetry.domain.limits import MAX_REJECT_DETAIL_CHARS, BatchError, clipped

from .ports import (
    Clock,
    IngestMetrics,
    OutRecord,
    PublishUnavailable,
    RateLimitExceeded,
    RecordPublisher,
    RecordTooLarge,
)
from .rate_limits import GatewayRateLimiter, RateLimits


class IngestService:
    def __init__(
        self,
        index: TagIndex,
        publisher: RecordPublisher,
        clock: Clock,
        metrics: IngestMetrics,
        *,
        limits: ValidationLimits,
        readings_topic: str,
        rejected_topic: str,
        max_readings_per_batch: int,
        dedupe_window: int,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.index = index
        self.publisher = publisher
        self.clock = clock
        self.metrics = metrics
        self.limits = limits
        self.readings_topic = readings_topic
        self.rejected_topic = rejected_topic
        self.max_readings_per_batch = max_readings_per_batch
        self.window = AckWindow(dedupe_window)
        self.rate_limiter = GatewayRateLimiter(rate_limits) if rate_limits is not None else None
        self._locks: dict[str, asyncio.Lock] = {}
        self._running: set[asyncio.Task[BatchAck]] = set()

    async def ingest(self, caller_gateway: str, batch: reading_pb2.ReadingBatch) -> BatchAck:
        """The batch's ack once Kafka has every record; raises BatchError, RateLimitExceeded, RecordTooLarge or
        PublishUnavailable.

        The work runs in its own task: when the caller goes away mid-publish (client cancelled,
        server shutting down) the publish still completes and its ack lands in the window, so the
        gateway's retry is answered as a duplicate instead of writing the batch twice.
        """
        started = time.perf_counter()
        try:
            check_batch_shape(
                batch.gateway_id,
                batch.batch_sequence,
                len(batch.readings),
                caller_gateway,
                self.max_readings_per_batch,
            )
        except BatchError as error:
            self.metrics.batch_refused(error.kind)
            raise
        # A resend of a batch already acked costs nothing (it is answered from the window), so it is never
        # throttled: the gateway gets its ack instead of waiting for tokens it does not need.
        if self.rate_limiter is not None and self.window.get(batch.gateway_id, batch.batch_sequence) is None:
            limited = self.rate_limiter.admit(batch.gateway_id, len(batch.readings))
            if limited is not None:
                self.metrics.batch_refused("rate_limited")
                raise RateLimitExceeded(batch.gateway_id, batch.batch_sequence, limited)
        task = asyncio.ensure_future(self._ingest_in_order(batch, started))
        self._running.add(task)
        task.add_done_callback(self._forget)
        return await asyncio.shield(task)

    def _forget(self, task: asyncio.Task[BatchAck]) -> None:
        self._running.discard(task)
        # The caller may be gone (cancelled); the failure was counted, so mark it retrieved.
        if not task.cancelled():
            task.exception()

    async def drain(self) -> None:
        """Wait for every batch already being processed (used on shutdown)."""
        if self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def _ingest_in_order(self, batch: reading_pb2.ReadingBatch, started: float) -> BatchAck:
        gateway_id, sequence = batch.gateway_id, batch.batch_sequence
        lock = self._locks.get(gateway_id)
        if lock is None:
            lock = self._locks[gateway_id] = asyncio.Lock()
        async with lock:
            previous = self.window.get(gateway_id, sequence)
            if previous is not None:
                self.metrics.batch_deduplicated()
                return previous.as_duplicate()
            now_us = self.clock.now_us()
            try:
                validation = validate_batch(batch.readings, gateway_id, self.index, now_us, self.limits)
            except BatchError as error:  # a field over its limit: nothing of the batch is published
                self.metrics.batch_refused(error.kind)
                raise
            records = self.build_records(batch, validation, now_us)
            try:
                await self.publisher.publish(records)
            except PublishUnavailable:
                self.metrics.publish_failed()
                raise
            except RecordTooLarge:
                self.metrics.batch_refused("record_too_large")
                raise
            counts = validation.rejection_counts()
            ack = BatchAck(
                gateway_id, sequence, validation.accepted_count, validation.rejected_count, summarize(counts)
            )
            self.window.remember(ack)
            self.metrics.batch_acked(
                validation.accepted_count, counts, time.perf_counter() - started, validation.saturated_count
            )
            return ack

    def build_records(
        self, batch: reading_pb2.ReadingBatch, validation: BatchValidation, now_us: int
    ) -> Sequence[OutRecord]:
        gateway_id, sequence = batch.gateway_id, batch.batch_sequence
        records: list[OutRecord] = []
        prefix = f"{gateway_id}/{sequence}/"
        TagSeries = records_pb2.TagSeries
        for segment_id, columns in validation.by_segment.items():
            record = records_pb2.SegmentReadings(
                record_id=prefix + segment_id,
                segment_id=segment_id,
                gateway_id=gateway_id,
                batch_sequence=sequence,
                ingest_time_unix_us=now_us,
                series=[
                    TagSeries(
                        tag_id=c.tag_id,
                        source_time_unix_us=c.times_us,
                        values_si=c.values_si,
                        quality=cast("list[reading_pb2.Quality.ValueType]", c.qualities),
                    )
                    for c in columns
                ],
            )
            records.append(
                OutRecord(self.readings_topic, segment_id.encode(), record.SerializeToString(deterministic=True))
            )
        if validation.rejections:
            key = gateway_id.encode()
            readings = batch.readings
            for rejection in validation.rejections:
                i = rejection.index_in_batch
                rejected = records_pb2.RejectedReading(
                    record_id=f"{prefix}r{i}",
                    gateway_id=gateway_id,
                    batch_sequence=sequence,
                    index_in_batch=i,
                    reading=readings[i],
                    reason=reading_pb2.RejectReason.ValueType(rejection.reason),
                    detail=clipped(rejection.detail, MAX_REJECT_DETAIL_CHARS),
                    ingest_time_unix_us=now_us,
                )
                # Fields of a newer contract that this version does not know are not ours to store (and
                # could be megabytes): the record carries the reading as v1 defines it.
                rejected.DiscardUnknownFields()
                records.append(OutRecord(self.rejected_topic, key, rejected.SerializeToString(deterministic=True)))
        return records
