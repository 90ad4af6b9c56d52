"""Publish a batch's records with one idempotent aiokafka producer and wait for all of them together."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.telemetry.service_layer.ports import OutRecord, PublishUnavailable

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
        compression: str | None = None,
        client_id: str = "pipewarden-telemetry",
    ) -> None:
        self.bootstrap = bootstrap
        self.publish_timeout_s = publish_timeout_s
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_batch_size=max_batch_bytes,
            request_timeout_ms=request_timeout_ms,
            compression_type=compression,
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

    async def publish(self, records: Sequence[OutRecord]) -> None:
        if not records:
            return
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
        except KafkaError as error:
            raise PublishUnavailable(f"kafka refused the records: {error}") from error
        # asyncio.wait rather than gather: a timeout must not cancel the producer's own futures.
        done, pending = await asyncio.wait(futures, timeout=max(0.0, deadline - loop.time()))
        if pending:
            raise PublishUnavailable(
                f"kafka did not acknowledge {len(pending)} of {len(futures)} records "
                f"within {self.publish_timeout_s:g} s"
            )
        for future in done:
            failure = future.exception()
            if failure is not None:
                raise PublishUnavailable(f"kafka did not acknowledge a record: {failure!r}") from failure
