"""Publish a batch's records with one idempotent aiokafka producer and wait for all of them together.

Failures are sorted in two: Kafka not taking the records now (broker down, no leader, timeouts) is
PublishUnavailable, which the gateway answers by resending the same batch; Kafka refusing a record for
its size is RecordTooLarge, which no resend can cure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from services.kafkaconn import KafkaSecurity
from services.telemetry.service_layer.ports import OutRecord, PublishUnavailable, RecordTooLarge

# What the producer (send() checks max_request_size) or the broker (message.max.bytes, a topic's
# max.message.bytes) answers for a record or record batch that is too large. None of them is retriable.
SIZE_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)

log = logging.getLogger(__name__)


class KafkaPublisher:
    def __init__(
        self,
        bootstrap: str,
        *,
        publish_timeout_s: float,
        request_timeout_ms: int,
        linger_ms: int,
        max_batch_bytes: int,
        max_request_bytes: int = 1024 * 1024,
        compression: str | None = None,
        client_id: str = "pipewarden-telemetry",
        security: KafkaSecurity | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.publish_timeout_s = publish_timeout_s
        self.max_request_bytes = max_request_bytes
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_batch_size=max_batch_bytes,
            max_request_size=max_request_bytes,
            request_timeout_ms=request_timeout_ms,
            compression_type=compression,
            **(security or KafkaSecurity()).aiokafka_kwargs(),
        )

    async def start(self, timeout_s: float = 60.0) -> None:
        """Connect, retrying until ``timeout_s`` (the broker may still be starting)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await self._producer.start()
                return
            except KafkaError as error:
                if time.monotonic() >= deadline:
                    raise
                log.warning(
                    "kafka not reachable yet, retrying", extra={"bootstrap": self.bootstrap, "error": str(error)}
                )
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        """Flush what is buffered and close."""
        await self._producer.stop()

    def check_sizes(self, records: Sequence[OutRecord]) -> None:
        """Raise RecordTooLarge when the producer would refuse a record, before any record is sent.

        send() makes the same check record by record, but only after the batch's earlier records are in
        the producer's buffer (and so on their way to Kafka); checking them all first keeps the refusal clean.
        """
        for record in records:
            # The very estimate AIOKafkaProducer.send compares with max_request_size.
            size = DefaultRecordBatchBuilder.estimate_size_in_bytes(record.key, record.value, [])
            if size > self.max_request_bytes:
                raise RecordTooLarge(
                    f"a record for {record.topic} is too large for Kafka: {size} bytes, at most "
                    f"{self.max_request_bytes} (PIPEWARDEN_TELEMETRY_KAFKA_MAX_REQUEST_BYTES); nothing was written"
                )

    async def publish(self, records: Sequence[OutRecord]) -> None:
        if not records:
            return
        self.check_sizes(records)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.publish_timeout_s
        producer = self._producer
        try:
            async with asyncio.timeout_at(deadline):
                # send() only appends to the producer's buffer; the futures resolve when the broker acks.
                futures = [await producer.send(r.topic, r.value, key=r.key) for r in records]
        except TimeoutError:
            raise PublishUnavailable(
                f"kafka did not take the records within {self.publish_timeout_s:g} s (buffer full or no metadata)"
            ) from None
        except SIZE_ERRORS as error:  # check_sizes should have caught it: a safety net
            raise RecordTooLarge(f"a record is too large for Kafka: {error}") from error
        except KafkaError as error:
            raise PublishUnavailable(f"kafka refused the records: {error}") from error
        # asyncio.wait rather than gather: a timeout must not cancel the producer's own futures.
        done, pending = await asyncio.wait(futures, timeout=max(0.0, deadline - loop.time()))
        failures = [failure for future in done if (failure := future.exception()) is not None]
        # A size refusal wins over anything transient: a resend would meet it again.
        for failure in failures:
            if isinstance(failure, SIZE_ERRORS):
                raise RecordTooLarge(
                    f"the broker refused a record batch as too large ({failure!r}): its limit (message.max.bytes, "
                    f"the topic's max.message.bytes) is below the producer's (PIPEWARDEN_TELEMETRY_KAFKA_MAX_"
                    f"REQUEST_BYTES {self.max_request_bytes}, KAFKA_MAX_BATCH_BYTES); records may have been written"
                ) from failure
        if pending:
            raise PublishUnavailable(
                f"kafka did not acknowledge {len(pending)} of {len(futures)} records "
                f"within {self.publish_timeout_s:g} s"
            )
        for failure in failures:
            raise PublishUnavailable(f"kafka did not acknowledge a record: {failure!r}") from failure
