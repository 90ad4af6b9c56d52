"""The ingest use case on fakes of its ports (publisher, clock, metrics): no Kafka, no gRPC.

What a gateway relies on: an ack only after every record is published; a resend of an acked sequence is
answered from the window without publishing again; a publish failure is never acked and a resend
publishes the same records; a batch refused up front publishes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from services.contracts.pipewarden.telemetry.v1 import reading_pb2, records_pb2
from services.network import load_demo_network
from services.telemetry.domain import BatchError, RejectReason, TagIndex, ValidationLimits
from services.telemetry.service_layer import IngestService
from services.telemetry.service_layer.ports import OutRecord, PublishUnavailable, RecordTooLarge

NOW_US = 1_800_000_000_000_000
NETWORK = load_demo_network()
GATEWAY = "gw-ds-01"
TAG = "DS-M01-PT-UP"  # kPa_g on gateway gw-ds-01
READINGS, REJECTED = "telemetry.readings.v1", "telemetry.rejected.v1"


class FakePublisher:
    """Keeps what it published; ``fail_next`` makes the next publishes raise (nothing kept)."""

    def __init__(self) -> None:
        self.published: list[OutRecord] = []
        self.calls = 0
        self.fail_next: list[Exception] = []

    async def publish(self, records: Sequence[OutRecord]) -> None:
        self.calls += 1
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.published.extend(records)


class FakeClock:
    def __init__(self, now_us: int = NOW_US) -> None:
        self.now = now_us

    def now_us(self) -> int:
        return self.now


class FakeMetrics:
    def __init__(self) -> None:
        self.acked: list[tuple[int, dict[RejectReason, int]]] = []
        self.deduplicated = 0
        self.refused: list[str] = []
        self.publish_failures = 0
        self.saturated = 0

    def batch_acked(
        self, accepted: int, rejected_by_reason: Mapping[RejectReason, int], latency_s: float, saturated: int
    ) -> None:
        self.acked.append((accepted, dict(rejected_by_reason)))
        self.saturated += saturated

    def batch_deduplicated(self) -> None:
        self.deduplicated += 1

    def batch_refused(self, kind: str) -> None:
        self.refused.append(kind)

    def publish_failed(self) -> None:
        self.publish_failures += 1


def _service(publisher: FakePublisher, metrics: FakeMetrics) -> IngestService:
    return IngestService(
        TagIndex.from_network(NETWORK),
        publisher,
        FakeClock(),
        metrics,
        limits=ValidationLimits(max_clock_skew_us=5_000_000, max_age_us=3_600_000_000),
        readings_topic=READINGS,
        rejected_topic=REJECTED,
        max_readings_per_batch=100,
        dedupe_window=16,
    )


def _batch(sequence: int, *tags: str) -> reading_pb2.ReadingBatch:
    return reading_pb2.ReadingBatch(
        gateway_id=GATEWAY,
        batch_sequence=sequence,
        readings=[
            reading_pb2.Reading(
                tag_id=tag, source_time_unix_us=NOW_US - 1000, value=300.0, quality=reading_pb2.QUALITY_GOOD
            )
            for tag in tags
        ],
    )


def _run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_ack_comes_after_every_record_is_published_with_deterministic_ids() -> None:
    publisher, metrics = FakePublisher(), FakeMetrics()
    ack = _run(_service(publisher, metrics).ingest(GATEWAY, _batch(7, TAG, "NO-SUCH-TAG")))
    assert (ack.accepted_count, ack.rejected_count, ack.duplicate_batch) == (1, 1, False)
    topics = [r.topic for r in publisher.published]
    assert sorted(topics) == [READINGS, REJECTED]
    segment = NETWORK.tags[TAG].segment_id
    readings = records_pb2.SegmentReadings.FromString(next(r.value for r in publisher.published if r.topic == READINGS))
    assert readings.record_id == f"{GATEWAY}/7/{segment}" and readings.segment_id == segment
    assert next(r.key for r in publisher.published if r.topic == READINGS) == segment.encode()
    assert metrics.acked == [(1, {RejectReason.UNKNOWN_TAG: 1})]


def test_saturated_readings_are_accepted_and_counted() -> None:
    publisher, metrics = FakePublisher(), FakeMetrics()
    tag = NETWORK.tags[TAG]
    batch = _batch(8, TAG)
    batch.readings[0].value = tag.range_max + 0.5 * (tag.range_max - tag.range_min)  # pinned beyond the top
    ack = _run(_service(publisher, metrics).ingest(GATEWAY, batch))
    assert (ack.accepted_count, ack.rejected_count) == (1, 0)
    assert metrics.saturated == 1


def test_a_resend_of_an_acked_sequence_is_answered_from_the_window_and_publishes_nothing() -> None:
    publisher, metrics = FakePublisher(), FakeMetrics()
    service = _service(publisher, metrics)

    async def twice() -> tuple[object, object]:
        first = await service.ingest(GATEWAY, _batch(1, TAG))
        again = await service.ingest(GATEWAY, _batch(1, TAG))
        return first, again

    first, again = _run(twice())
    assert publisher.calls == 1 and len(publisher.published) == 1
    assert again.duplicate_batch and again.accepted_count == first.accepted_count  # type: ignore[attr-defined]
    assert metrics.deduplicated == 1


def test_a_failed_publish_is_not_acked_and_the_resend_publishes_the_same_records() -> None:
    publisher, metrics = FakePublisher(), FakeMetrics()
    publisher.fail_next = [PublishUnavailable("broker away")]
    service = _service(publisher, metrics)

    async def fail_then_resend() -> object:
        with pytest.raises(PublishUnavailable):
            await service.ingest(GATEWAY, _batch(3, TAG))
        return await service.ingest(GATEWAY, _batch(3, TAG))

    ack = _run(fail_then_resend())
    assert not ack.duplicate_batch  # type: ignore[attr-defined]
    assert publisher.calls == 2 and len(publisher.published) == 1
    assert metrics.publish_failures == 1 and len(metrics.acked) == 1


def test_a_record_too_large_is_permanent_counted_and_not_remembered() -> None:
    publisher, metrics = FakePublisher(), FakeMetrics()
    publisher.fail_next = [RecordTooLarge("1.5 MB"), RecordTooLarge("1.5 MB")]
    service = _service(publisher, metrics)

    async def twice() -> None:
        for _ in range(2):
            with pytest.raises(RecordTooLarge):
                await service.ingest(GATEWAY, _batch(4, TAG))

    _run(twice())
    assert publisher.published == [] and metrics.refused == ["record_too_large", "record_too_large"]
    assert metrics.acked == []


@pytest.mark.parametrize(
    ("caller", "batch"),
    [
        ("gw-other", _batch(1, TAG)),  # the caller's token names another gateway
        (GATEWAY, _batch(1, *([TAG] * 101))),  # more readings than a batch may hold
        (GATEWAY, _batch(1, "x" * 300)),  # a tag id over its limit
    ],
)
def test_a_batch_refused_up_front_publishes_nothing(caller: str, batch: reading_pb2.ReadingBatch) -> None:
    publisher, metrics = FakePublisher(), FakeMetrics()
    with pytest.raises(BatchError):
        _run(_service(publisher, metrics).ingest(caller, batch))
    assert publisher.calls == 0 and metrics.acked == [] and len(metrics.refused) == 1
