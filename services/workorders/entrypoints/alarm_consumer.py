"""Consume ``leak.alarms.v1`` (aiokafka consumer group) and turn alarms into work-order events.

At least once, never lost, never duplicated:
- offsets are committed manually, only after the store transaction of every record before them
  committed (a crash re-delivers; the handler is idempotent on the alarm's deterministic event id);
- poison records (undecodable, missing ids, facts the domain refuses) are copied unchanged to
  ``leak.dead-letter.v1`` with headers naming the source and the reason, then skipped: the consumer
  never stops on bad data;
- transient failures (database down, lock timeouts) are retried on the same record until they pass or
  the consumer is stopped; its offset is not committed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from google.protobuf.message import Message

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.topics import LEAK_ALARMS, LEAK_DEAD_LETTER, PoisonRecordError, dead_letter_headers, decode
from services.workorders.adapters.alarms import alarm_facts
from services.workorders.domain.alarm import AlarmFacts
from services.workorders.domain.errors import DomainError

log = logging.getLogger(__name__)

# handler(facts, causation_id) -> None: stores what the alarm means; raises DomainError to refuse it.
AlarmHandler = Callable[[AlarmFacts, str], Any]


@dataclass
class ConsumerStats:
    handled: int = 0
    dead_lettered: int = 0
    retries: int = 0
    last_error: str = ""
    errors: list[str] = field(default_factory=list)


class AlarmConsumer:
    """Consumes ``topic``; subclasses change the message type and how a message becomes facts."""

    message_type: type[Message] = alarms_pb2.LeakAlarmEvent
    client_id = "pipewarden-workorders-alarms"

    def parse(self, message: Any) -> Any:
        """The facts handed to the handler; raises ``DomainError`` for records to dead-letter."""
        return alarm_facts(message)

    def __init__(
        self,
        bootstrap: str,
        handler: Callable[[Any, str], Any],
        *,
        group_id: str = "pipewarden-workorders",
        topic: str = LEAK_ALARMS.name,
        dead_letter_topic: str = LEAK_DEAD_LETTER.name,
        retry_sleep_s: float = 1.0,
        max_batch: int = 500,
    ) -> None:
        self.bootstrap = bootstrap
        self.handler = handler
        self.group_id = group_id
        self.topic = topic
        self.dead_letter_topic = dead_letter_topic
        self.retry_sleep_s = retry_sleep_s
        self.max_batch = max_batch
        self.stats = ConsumerStats()
        self.ready = threading.Event()  # set once partitions are assigned and the first poll ran

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            client_id=self.client_id,
        )
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            await consumer.start()
            try:
                await self._loop(consumer, producer, stop)
            finally:
                await consumer.stop()
        finally:
            await producer.stop()

    async def _loop(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=self.max_batch)
            if consumer.assignment():
                self.ready.set()
            for tp, records in batches.items():
                for record in records:
                    if not await self._process(record, producer, stop):
                        return  # stopped while retrying: the offset stays uncommitted
                    await consumer.commit({TopicPartition(tp.topic, tp.partition): record.offset + 1})

    async def _process(self, record: Any, producer: AIOKafkaProducer, stop: asyncio.Event) -> bool:
        """True once the record is stored or dead-lettered; False when stopped before that."""
        try:
            message: Any = decode(
                self.message_type,
                record.value,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
            facts = self.parse(message)
        except (PoisonRecordError, DomainError) as error:
            await self._dead_letter(record, producer, error)
            return True
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.handler, facts, message.event_id)
                self.stats.handled += 1
                return True
            except DomainError as error:  # the domain refuses these facts: retrying cannot help
                await self._dead_letter(record, producer, error)
                return True
            except Exception as error:  # database or lock trouble: keep the record, try again
                self.stats.retries += 1
                self.stats.last_error = f"{type(error).__name__}: {error}"
                log.warning("record %s not stored yet, retrying: %s", message.event_id, self.stats.last_error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.retry_sleep_s)
        return False

    async def _dead_letter(self, record: Any, producer: AIOKafkaProducer, error: Exception) -> None:
        if isinstance(error, PoisonRecordError):
            poison = error
        else:
            poison = PoisonRecordError(
                f"refused by workorders: {error}",
                message_type=self.message_type.DESCRIPTOR.full_name,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
        await producer.send_and_wait(
            self.dead_letter_topic,
            value=record.value,
            key=record.key,
            headers=[*dead_letter_headers(poison), ("pw-dlq-consumer", b"workorders")],
        )
        self.stats.dead_lettered += 1
        self.stats.errors.append(poison.reason)
        del self.stats.errors[:-100]
        log.warning("dead-lettered %s[%s]@%s: %s", record.topic, record.partition, record.offset, poison.reason)


class AlarmConsumerThread:
    """Runs an ``AlarmConsumer`` on its own event loop in a daemon thread (for ``serve``, tests, benches)."""

    def __init__(self, consumer: AlarmConsumer) -> None:
        self.consumer = consumer
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=f"workorders-{consumer.topic}", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        try:
            self._loop.run_until_complete(self._run_with_restarts())
        except BaseException as error:  # surfaced through .error for the owner to report
            self.error = error
            log.exception("alarm consumer thread died")
        finally:
            self._loop.close()

    async def _run_with_restarts(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                await self.consumer.run(self._stop)
            except Exception as error:  # broker unreachable: back off and reconnect
                log.warning("alarm consumer failed, restarting: %s", error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.consumer.retry_sleep_s)

    def start(self) -> AlarmConsumerThread:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        if self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
