"""Fuzz targets for the topic consumers.

- ``topic.readings->leakdetect``: records of ``telemetry.readings.v1`` (garbage, mutated real
  ``SegmentReadings``, hostile ones) through leakdetect's batch processor, in process (the stream framework
  only hands it batches of records); a record is either processed or dead-lettered with a reason. A valid
  canary record after every ``canary_every`` garbage records must still be processed. A dead letter that
  says the processor itself failed (``processing failed: ...``) is a crash: a bug reached, not bad input.
- ``topic.alarms->workorders`` and ``topic.sensor-health->workorders``: workorders' real consumers
  (``AlarmConsumer``, ``SensorHealthConsumer``) into a SQLite event store. A share of the records
  (``broker_share``, 5 %) is produced to a real Kafka broker (topics of the run's own) and consumed by the
  consumer running as in production; each ends stored or dead-lettered (read back from the dead-letter topic
  with its reason), and after the garbage a valid canary record on every partition must be handled within
  ``settle_s``: a partition whose canary is not is *stalled*. The rest go through the same consumer class's
  per-record path in process (``_process``: decode, parse, the handler in a thread, the dead letter with its
  headers), minus the broker round trips (the consumer commits every record: ~50 records/s through the
  broker, 10^5 would take half an hour). A dead letter whose error is a Python bug (``TypeError``,
  ``KeyError``, ...) is a crash.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .core import Case, MessageCases, Outcome, Stats, Target, garbage

# Exceptions that mean the code broke, not that the input was refused.
BUG_ERRORS = re.compile(
    r"\b(TypeError|AttributeError|KeyError|IndexError|AssertionError|ZeroDivisionError|UnboundLocalError|"
    r"NameError|RecursionError|NotImplementedError|SystemError)\b"
)


def _error_header(headers: Any) -> str:
    for key, value in headers or ():
        if key == "pw-dlq-error":
            return bytes(value).decode("utf-8", "replace")
    return ""


# ====================================================================================== leakdetect processor
class ReadingsProcessorTarget(Target):
    name = "topic.readings->leakdetect"
    kind = "topic"
    canary_every = 500
    concurrency = 200  # records per batch (the stream framework hands the processor batches)
    batch_records = 200

    def __init__(self) -> None:
        from services.network import load_demo_network

        self.network = load_demo_network()
        self.processor: Any = None
        self._offset = 0
        self._canary_i = 0
        self._pending: list[tuple[bytes | None, bytes | None, asyncio.Future[Outcome]]] = []
        self._flush_scheduled = False
        segments = sorted(self.network.segments)
        self.segments = segments
        self._tags = {s: sorted(t.tag_id for t in self.network.tags_of_segment(s)) for s in segments}

    async def start(self) -> None:
        from prometheus_client import CollectorRegistry

        from services.leakdetect.adapters.metrics import PrometheusMetrics
        from services.leakdetect.bootstrap import build_processor
        from services.leakdetect.config import LeakdetectConfig

        self.store: dict[str, bytes] = {}
        store = self

        class Store:
            def get(self, segment_id: str) -> bytes | None:
                return store.store.get(segment_id)

            def put(self, segment_id: str, partition: int, data: bytes) -> None:
                store.store[segment_id] = data

        self.processor = build_processor(LeakdetectConfig(), self.network, Store(),
                                         PrometheusMetrics(CollectorRegistry()))
        from services.contracts.pipewarden.telemetry.v1 import records_pb2

        rng = random.Random(7)
        self.cases = MessageCases(records_pb2.SegmentReadings, [self._record(rng).SerializeToString()
                                                                for _ in range(10)],
                                  [*self.segments, *self.network.tags, *self.network.gateways])

    def _record(self, rng: random.Random, segment: str | None = None, at_us: int | None = None) -> Any:
        from services.contracts.pipewarden.telemetry.v1 import records_pb2

        segment = segment or rng.choice(self.segments)
        now_us = at_us if at_us is not None else time.time_ns() // 1000
        series = []
        for tag_id in self._tags[segment]:
            tag = self.network.tags[tag_id]
            mid = self._si_mid(tag)
            series.append(records_pb2.TagSeries(tag_id=tag_id, source_time_unix_us=[now_us - 1000, now_us],
                                                values_si=[mid, mid], quality=[1, 1]))  # type: ignore[list-item]
        sequence = rng.randrange(1, 10**9)
        return records_pb2.SegmentReadings(record_id=f"gw-fuzz/{sequence}/{segment}", segment_id=segment,
                                           gateway_id="gw-fuzz", batch_sequence=sequence,
                                           ingest_time_unix_us=now_us, series=series)

    @staticmethod
    def _si_mid(tag: Any) -> float:
        from services.network import conversion_to_si

        conversion = conversion_to_si(tag.kind, tag.unit, 0.6)
        return float((tag.range_min + tag.range_max) / 2 * conversion.scale + conversion.offset)

    def make_case(self, rng: random.Random) -> Case:
        kind, data = self.cases.make(rng)
        key = rng.choice(self.segments).encode() if rng.random() < 0.9 else garbage(rng)[:50]
        return Case(kind, "SegmentReadings", data, {"key": key.hex()})

    def _process_batch(self, items: list[tuple[bytes | None, bytes | None]]) -> tuple[Any, list[Any]]:
        from services.leakdetect.service_layer.processor import RawRecord

        raws = []
        for value, key in items:
            self._offset += 1
            raws.append(RawRecord("telemetry.readings.v1", self._offset % 12, self._offset, key, value))
        result = self.processor.process(raws)
        self.processor.checkpoint(result)
        return result, raws

    def _process(self, value: bytes | None, key: bytes | None) -> Any:
        return self._process_batch([(value, key)])[0]

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            result, raws = self._process_batch([(value, key) for value, key, _ in pending])
        except Exception as error:
            for _, _, future in pending:
                future.set_exception(error)
            return
        reasons = {}
        for letter in result.dead_letters:
            offset = dict(letter.headers).get("pw-dlq-source-offset")
            reasons[int(offset) if offset is not None else -1] = _error_header(letter.headers)
        for raw, (_, _, future) in zip(raws, pending, strict=True):
            reason = reasons.get(raw.offset)
            if reason is None:
                future.set_result(Outcome.ok("processed"))
            elif reason.startswith("processing failed") or BUG_ERRORS.search(reason):
                future.set_result(Outcome.crashed("dead_letter", reason))
            else:
                future.set_result(Outcome.refused("dead_letter", reason))

    async def run(self, case: Case) -> Outcome:
        # Records are processed in batches, as the stream hands them over: every worker's record joins the
        # pending batch, which is processed once the workers have all added theirs (or it is full).
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((case.data, bytes.fromhex(case.extra.get("key", "")) or None, future))
        if len(self._pending) >= self.batch_records:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return await future

    async def canary(self) -> None:
        self._canary_i += 1
        rng = random.Random(self._canary_i)
        record = self._record(rng, self.segments[self._canary_i % len(self.segments)])
        result = self._process(record.SerializeToString(), record.segment_id.encode())
        if result.dead_letters or result.readings <= 0:
            raise AssertionError(
                f"canary record not processed: {result.readings} readings, "
                f"{[_error_header(d.headers) for d in result.dead_letters]}"
            )


# ============================================================================ workorders consumers on Kafka
class ConsumerTarget(Target):
    """One of workorders' consumers, fed through a real broker."""

    kind = "topic"
    runner_canary = False  # canaries go after the garbage, one per partition (finish)
    partitions = 3
    settle_s = 600.0
    max_backlog = 5_000
    # Records through the real broker (the rest through the consumer's per-record path in process).
    broker_share = 0.05

    def __init__(self, bootstrap: str, scratch: Path) -> None:
        from services.network import load_demo_network

        self.bootstrap = bootstrap
        self.scratch = scratch
        self.network = load_demo_network()
        run = uuid.uuid4().hex[:8]
        self.topic = f"fuzz-{run}-{self.short}"
        self.dead_letter_topic = f"fuzz-{run}-{self.short}-dlq"
        self.producer: Any = None
        self.thread: Any = None
        self.runtime: Any = None
        self.handled_ids: set[str] = set()
        self.produced = 0
        self._sent: list[Any] = []
        self.segments = sorted(self.network.segments)

    short = "?"

    # --- to fill in
    def message_cls(self) -> Any:
        raise NotImplementedError

    def valid(self, rng: random.Random, unique: str) -> Any:
        raise NotImplementedError

    def make_consumer(self, handler: Callable[[Any, str], Any]) -> Any:
        raise NotImplementedError

    def handler_of(self, runtime: Any) -> Callable[[Any, str], Any]:
        raise NotImplementedError

    # --- engine
    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer
        from kafka.admin import KafkaAdminClient, NewTopic

        from services.workorders.bootstrap import build_runtime
        from services.workorders.entrypoints.alarm_consumer import AlarmConsumerThread

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics([NewTopic(self.topic, self.partitions, 1), NewTopic(self.dead_letter_topic, 1, 1)])
        finally:
            admin.close()
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.runtime = build_runtime(f"sqlite:///{self.scratch}/{self.short}.sqlite3", network=self.network)
        handler = self.handler_of(self.runtime)

        def recording(facts: Any, causation_id: str) -> Any:
            outcome = handler(facts, causation_id)
            self.handled_ids.add(causation_id)
            return outcome

        self.consumer = self.make_consumer(recording)
        self.thread = AlarmConsumerThread(self.consumer).start()
        # The same consumer class for the in-process records (its own counts: ``finish`` waits for the broker's).
        self.local = self.make_consumer(handler)
        self.local_letters = _CapturingProducer()
        self._never = asyncio.Event()
        self.broker_cases = 0
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5,
                                         max_request_size=4 * 1024 * 1024)
        await self.producer.start()
        rng = random.Random(3)
        self.cases = MessageCases(
            self.message_cls(), [self.valid(rng, f"seed-{i}").SerializeToString() for i in range(10)],
            [*self.segments, *{s.district for s in self.network.segments.values()}, *self.network.tags],
        )

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
        if self.thread is not None:
            self.thread.stop()
        if self.runtime is not None:
            self.runtime.stop()

    def make_case(self, rng: random.Random) -> Case:
        kind, data = self.cases.make(rng)
        if kind == "valid":  # a fresh id, so that it is a new fact and not a repeat
            data = self.valid(rng, f"v-{rng.randrange(10**12)}").SerializeToString()
        if len(data) > 900_000:
            data = data[:900_000]
        key = rng.choice(self.segments).encode() if rng.random() < 0.9 else garbage(rng)[:50]
        via = "broker" if rng.random() < self.broker_share else "in process"
        return Case(kind, f"{self.short} ({via})", data, {"key": key.hex(), "partition": rng.randrange(self.partitions),
                                                           "via": via})

    async def run(self, case: Case) -> Outcome:
        if case.extra.get("via", "broker") != "broker":
            return await self._run_in_process(case)
        self.broker_cases += 1
        # Paced to the consumer: at most ``max_backlog`` records ahead of it, so a time-bounded run ends with
        # little left to drain and every record counted is one the consumer decided on.
        while self.produced - (self.consumer.stats.handled + self.consumer.stats.dead_lettered) > self.max_backlog:
            await asyncio.sleep(0.05)
        future = await self.producer.send(self.topic, value=case.data, key=bytes.fromhex(case.extra["key"]) or None,
                                          partition=case.extra["partition"])
        self._sent.append(future)
        self.produced += 1
        if len(self._sent) >= 2000:
            await asyncio.gather(*self._sent)
            self._sent.clear()
        # The consumer decides later; ``finish`` counts what it did with every record.
        return Outcome.ok("produced")

    async def _run_in_process(self, case: Case) -> Outcome:
        self._offset_in_process = getattr(self, "_offset_in_process", 0) + 1
        record = _Record(self.topic, case.extra["partition"], self._offset_in_process,
                         bytes.fromhex(case.extra["key"]) or None, case.data)
        letters = len(self.local_letters.sent)
        done = await self.local._process(record, self.local_letters, self._never, lambda: None)
        if not done:
            return Outcome.crashed("not processed", "the consumer's _process returned without a decision")
        if len(self.local_letters.sent) == letters:
            return Outcome.ok("stored")
        topic, headers = self.local_letters.sent.pop()
        reason = _error_header(headers)
        if topic != self.dead_letter_topic:
            return Outcome.crashed("dead_letter", f"dead letter sent to {topic!r}, not {self.dead_letter_topic!r}")
        if BUG_ERRORS.search(reason):
            return Outcome.crashed("dead_letter", reason)
        return Outcome.refused("dead_letter", reason)

    async def finish(self, stats: Stats) -> None:
        from aiokafka import AIOKafkaConsumer

        await asyncio.gather(*self._sent)
        self._sent.clear()
        rng = random.Random(11)
        canaries = {}
        for partition in range(self.partitions):
            message = self.valid(rng, f"canary-{uuid.uuid4().hex[:8]}-{partition}")
            await self.producer.send_and_wait(self.topic, value=message.SerializeToString(),
                                              key=message.segment_id.encode(), partition=partition)
            canaries[partition] = message.event_id
        started = time.monotonic()
        total = self.produced + len(canaries)
        consumer = self.consumer
        last = -1
        while time.monotonic() - started < self.settle_s:
            done = consumer.stats.handled + consumer.stats.dead_lettered
            if done >= total and all(c in self.handled_ids for c in canaries.values()):
                break
            if done != last:
                last = done
                print(f"    {self.name}: consumer at {done:,}/{total:,} records", flush=True)
            await asyncio.sleep(2.0)
        stalled = [p for p, c in canaries.items() if c not in self.handled_ids]
        stats.canary_calls += len(canaries)
        # The broker's records were counted as "produced": what the consumer did with them replaces that.
        stats.accepted -= stats.statuses.pop("produced", 0)
        stats.canary_failures += len(stalled)
        for p in stalled:
            stats.note_failure(
                f"partition {p} stalled: its canary {canaries[p]} was not handled in {self.settle_s:g} s"
            )
        handled, dead = consumer.stats.handled, consumer.stats.dead_lettered
        lost = total - handled - dead
        if lost > 0:
            stats.hangs += lost
            stats.note_failure(f"{lost} records neither handled nor dead-lettered within {self.settle_s:g} s")
        if self.thread.error is not None:
            stats.crashes += 1
            stats.note_failure(f"consumer thread died: {self.thread.error!r}")
        # Read the dead letters back: each must carry a reason; a Python bug among them is a crash.
        reader = AIOKafkaConsumer(self.dead_letter_topic, bootstrap_servers=self.bootstrap,
                                  auto_offset_reset="earliest", enable_auto_commit=False,
                                  group_id=None, max_partition_fetch_bytes=8 * 1024 * 1024)
        await reader.start()
        read = 0
        from .core import reason_shape

        try:
            while read < dead:
                batch = await reader.getmany(timeout_ms=5000, max_records=5000)
                if not batch:
                    break
                for records in batch.values():
                    for record in records:
                        read += 1
                        reason = _error_header(record.headers)
                        if not reason.strip():
                            stats.unexplained += 1
                            stats.note_failure(f"dead letter at offset {record.offset} without a reason")
                        elif BUG_ERRORS.search(reason):
                            stats.crashes += 1
                            stats.note_failure(f"a bug dead-lettered: {reason[:400]}")
                        else:
                            kind = ("dead_letter", reason_shape(reason))
                            stats.rejections[kind] += 1
                            stats.label_rejections.setdefault(f"{self.short} (broker)", set()).add(kind)
        finally:
            await reader.stop()
        stats.accepted += handled - len(canaries) + len(stalled)
        stats.rejected += dead
        stats.statuses.update({"stored": handled, "dead_letter": dead})
        stats.extra["records_produced"] = total
        stats.extra["records_in_process"] = stats.cases - self.broker_cases
        stats.extra["broker_dead_letters"] = dead
        stats.extra["dead_letters_read_back"] = read
        stats.extra["consumer_records_per_s"] = round(total / max(time.monotonic() - started + stats.seconds, 1e-9), 1)
        stats.notes.append(
            f"{total:,} records on {self.partitions} partitions of a real broker; {handled:,} stored, {dead:,} "
            f"dead-lettered (read back: {read:,}); canaries after the garbage: "
            f"{len(canaries) - len(stalled)}/{len(canaries)} handled; "
            f"{stats.cases - self.broker_cases:,} records through the consumer's per-record path in process"
        )


class _Record:
    """What the consumer reads of a Kafka record (aiokafka's ``ConsumerRecord`` fields it uses)."""

    __slots__ = ("headers", "key", "offset", "partition", "topic", "value")

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes) -> None:
        self.topic, self.partition, self.offset, self.key, self.value = topic, partition, offset, key, value
        self.headers: list[Any] = []


class _CapturingProducer:
    """The dead-letter producer of the in-process records: keeps (topic, headers) of what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def send_and_wait(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                            headers: Any = None, **_: Any) -> None:
        self.sent.append((topic, list(headers or ())))


class AlarmsConsumerTarget(ConsumerTarget):
    name = "topic.alarms->workorders"
    short = "alarms"

    def message_cls(self) -> Any:
        from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2

        return alarms_pb2.LeakAlarmEvent

    def valid(self, rng: random.Random, unique: str) -> Any:
        from tests.support.workorders_api import alarm

        segment = self.network.segments[rng.choice(self.segments)]
        return alarm(f"FZ-{unique}", segment.segment_id, segment.district, at_unix_us=time.time_ns() // 1000)

    def make_consumer(self, handler: Callable[[Any, str], Any]) -> Any:
        from services.workorders.entrypoints.alarm_consumer import AlarmConsumer

        return AlarmConsumer(self.bootstrap, handler, group_id=f"{self.topic}-group", topic=self.topic,
                             dead_letter_topic=self.dead_letter_topic)

    def handler_of(self, runtime: Any) -> Callable[[Any, str], Any]:
        return runtime.app.handle_alarm  # type: ignore[no-any-return]


class SensorHealthConsumerTarget(ConsumerTarget):
    name = "topic.sensor-health->workorders"
    short = "health"

    def message_cls(self) -> Any:
        from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2

        return alarms_pb2.SensorHealthEvent

    def valid(self, rng: random.Random, unique: str) -> Any:
        from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2

        tag = self.network.tags[rng.choice(sorted(self.network.tags))]
        segment = self.network.segments[tag.segment_id]
        now_us = time.time_ns() // 1000 + rng.randrange(10**6)
        health = [v.number for v in alarms_pb2.SensorHealth.DESCRIPTOR.values if v.number]
        return alarms_pb2.SensorHealthEvent(
            event_id=f"{tag.tag_id}/{now_us}-{unique}", tag_id=tag.tag_id, segment_id=segment.segment_id,
            district=segment.district, health=rng.choice(health), previous_health=health[0],  # type: ignore[arg-type]
            detail="fuzz", change_time_unix_us=now_us, segment_mdlr_kg_per_s=0.1,
        )

    def make_consumer(self, handler: Callable[[Any, str], Any]) -> Any:
        from services.workorders.entrypoints.sensor_health_consumer import SensorHealthConsumer

        return SensorHealthConsumer(self.bootstrap, handler, group_id=f"{self.topic}-group", topic=self.topic,
                                    dead_letter_topic=self.dead_letter_topic)

    def handler_of(self, runtime: Any) -> Callable[[Any, str], Any]:
        return runtime.app.handle_sensor_health  # type: ignore[no-any-return]
