"""Consume ``leak.alarms.v1`` (aiokafka consumer group) and turn alarms into work-order events.

At least once, never lost, never duplicated, never stalled by one record:
- offsets are committed manually, per partition, only after the store transaction of every record before them
  committed (a crash re-delivers; the handler is idempotent on the alarm's deterministic event id);
- a record that cannot be applied, whatever the reason (undecodable, ids or text the entry refuses, facts the
  domain refuses, a store or handler error that is not transient), is copied unchanged to ``leak.dead-letter.v1``
  with headers naming the source and the error, and skipped: the consumer never stops on bad data;
- only transient infrastructure errors (database unreachable, lock or pool timeout, a concurrent writer) are
  retried on the same record, with a doubling pause up to ``retry_max_sleep_s``; after ``retry_max_attempts``
  the record is dead-lettered too, so that nothing stalls a partition for good (the dead letter keeps it);
- each partition is drained by its own task, and paused while it retries, so one partition's retries hold up no
  other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from google.protobuf.message import Message

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.eventstore import is_transient_error
from services.kafkaconn import KafkaSecurity
from services.topics import LEAK_ALARMS, LEAK_DEAD_LETTER, PoisonRecordError, dead_letter_headers, decode
from services.workorders.adapters import metrics
from services.workorders.adapters.alarms import alarm_facts

log = logging.getLogger(__name__)


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
        """The facts handed to the handler; raises (``DomainError``) for records to dead-letter."""
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
        retry_max_sleep_s: float = 30.0,
        retry_max_attempts: int = 150,
        is_transient: Callable[[BaseException], bool] = is_transient_error,
        max_batch: int = 500,
        security: KafkaSecurity | None = None,
    ) -> None:
        """``handler(facts, causation_id)`` stores what a record means. At the defaults a record whose store
        call keeps failing transiently is retried for about an hour before it is dead-lettered."""
        self.bootstrap = bootstrap
        self.security = security or KafkaSecurity()
        self.handler = handler
        self.group_id = group_id
        self.topic = topic
        self.dead_letter_topic = dead_letter_topic
        self.retry_sleep_s = retry_sleep_s
        self.retry_max_sleep_s = max(retry_max_sleep_s, retry_sleep_s)
        self.retry_max_attempts = retry_max_attempts
        self.is_transient = is_transient
        self.max_batch = max_batch
        self.stats = ConsumerStats()
        self.ready = threading.Event()  # set once partitions are assigned and the first poll ran

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            client_id=self.client_id,
            **self.security.aiokafka_kwargs(),
        )
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
                                    **self.security.aiokafka_kwargs())
        drains = _PartitionDrains(consumer)
        consumer.subscribe([self.topic], listener=drains)
        await producer.start()
        try:
            await consumer.start()
            try:
                await self._loop(consumer, producer, stop, drains)
            finally:
                await drains.cancel_all()
                await consumer.stop()
        finally:
            await producer.stop()

    async def _loop(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, stop: asyncio.Event, drains: _PartitionDrains
    ) -> None:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=self.max_batch)
            if consumer.assignment():
                self.ready.set()
            # Each partition's records are drained by a task of its own. The poll waits for them all to be
            # stored, except a partition whose record meets a transient error: that one is paused (the next polls
            # bring only other partitions' records) and resumed the moment its drain ends. Pausing only then
            # matters: a resumed partition waits for the fetch in flight (up to fetch.max.wait.ms).
            settled = []
            for tp, records in batches.items():
                settle: asyncio.Future[None] = asyncio.get_running_loop().create_future()

                def on_retry(tp: TopicPartition = tp, settle: asyncio.Future[None] = settle) -> None:
                    consumer.pause(tp)
                    if not settle.done():
                        settle.set_result(None)

                after = drains.tasks.get(tp)
                drains.start(tp, self._drain(tp, records, consumer, producer, stop, after, on_retry), settle)
                settled.append(settle)
            await asyncio.gather(*settled)
            drains.raise_failure()

    async def _drain(
        self,
        tp: TopicPartition,
        records: list[Any],
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        stop: asyncio.Event,
        after: asyncio.Task[None] | None,
        on_retry: Callable[[], None],
    ) -> None:
        if after is not None:
            await after  # the partition's earlier records first (a failure propagates: nothing is skipped)
        for record in records:
            if not await self._process(record, producer, stop, on_retry):
                return  # stopped while retrying: the offset stays uncommitted
            await consumer.commit({tp: record.offset + 1})

    async def _process(
        self, record: Any, producer: AIOKafkaProducer, stop: asyncio.Event, on_retry: Callable[[], None]
    ) -> bool:
        """True once the record is stored or dead-lettered; False when stopped before that. ``on_retry`` is
        called at the first transient failure."""
        try:
            message: Any = decode(
                self.message_type,
                record.value,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
            facts = self.parse(message)
        except Exception as error:  # refused at the entry: no retry can change the bytes
            await self._dead_letter(record, producer, error)
            return True
        pause_s = self.retry_sleep_s
        started = time.monotonic()
        attempt = 0
        retrying = metrics.CONSUMER_PARTITIONS_RETRYING.labels(self.topic)
        counted_as_retrying = False
        try:
            while not stop.is_set():
                attempt += 1
                try:
                    await asyncio.to_thread(self.handler, facts, message.event_id)
                except Exception as error:
                    if not self.is_transient(error):  # invalid, refused, or a bug: retrying cannot help
                        await self._dead_letter(record, producer, error)
                        return True
                    if attempt >= self.retry_max_attempts:
                        minutes = (time.monotonic() - started) / 60
                        log.error(
                            "record %s still failing after %d attempts over %.0f min; dead-lettering it",
                            message.event_id,
                            attempt,
                            minutes,
                        )
                        await self._dead_letter(
                            record, producer, error, prefix=f"gave up after {attempt} attempts over {minutes:.0f} min"
                        )
                        return True
                    if not counted_as_retrying:
                        retrying.inc()
                        counted_as_retrying = True
                        on_retry()
                    self.stats.retries += 1
                    metrics.CONSUMER_RETRIES.labels(self.topic).inc()
                    self.stats.last_error = _describe(error)
                    log.warning(
                        "record %s not stored yet (attempt %d), retrying in %.1f s: %s",
                        message.event_id,
                        attempt,
                        pause_s,
                        self.stats.last_error,
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=pause_s)
                    pause_s = min(pause_s * 2, self.retry_max_sleep_s)
                else:
                    self.stats.handled += 1
                    metrics.CONSUMER_RECORDS_HANDLED.labels(self.topic).inc()
                    return True
            return False
        finally:
            if counted_as_retrying:
                retrying.dec()

    async def _dead_letter(self, record: Any, producer: AIOKafkaProducer, error: Exception, prefix: str = "") -> None:
        if isinstance(error, PoisonRecordError):
            poison = error
        else:
            poison = PoisonRecordError(
                f"refused by workorders: {prefix + ': ' if prefix else ''}{_describe(error)}",
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
        metrics.CONSUMER_DEAD_LETTERED.labels(self.topic).inc()
        self.stats.errors.append(poison.reason)
        del self.stats.errors[:-100]
        log.warning("dead-lettered %s[%s]@%s: %s", record.topic, record.partition, record.offset, poison.reason[:500])


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class _PartitionDrains(ConsumerRebalanceListener):  # type: ignore[misc]
    """One drain task per partition, which resumes its partition (paused while retrying) as soon as it ends;
    a rebalance cancels the drains of partitions taken away (their uncommitted records go to the new owner,
    which applies them idempotently)."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.tasks: dict[TopicPartition, asyncio.Task[None]] = {}
        self.failure: BaseException | None = None

    def start(self, tp: TopicPartition, drain: Any, settle: asyncio.Future[None]) -> None:
        task = asyncio.create_task(drain)
        self.tasks[tp] = task
        task.add_done_callback(lambda done: self._ended(tp, done, settle))

    def _ended(self, tp: TopicPartition, task: asyncio.Task[None], settle: asyncio.Future[None]) -> None:
        if not settle.done():
            settle.set_result(None)
        if self.tasks.get(tp) is task:
            del self.tasks[tp]
            if tp in self.consumer.assignment():
                self.consumer.resume(tp)
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            self.failure = task.exception()

    def raise_failure(self) -> None:
        """Re-raises a drain's unexpected failure (a commit or dead-letter publish): the consumer restarts
        from the committed offsets, so nothing is skipped."""
        if self.failure is not None:
            raise self.failure

    async def cancel_all(self, partitions: Any = None) -> None:
        chosen = [tp for tp in self.tasks if partitions is None or tp in partitions]
        tasks = [self.tasks.pop(tp) for tp in chosen]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.cancel_all(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


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
