"""Read a whole topic from the beginning to its current end (for the demo's summaries)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition


@dataclass(frozen=True)
class TopicRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def read_topic(bootstrap: str, topic: str, timeout_s: float = 30.0) -> Iterator[TopicRecord]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end_offsets = consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if end_offsets[tp] > 0}
        while remaining:
            batches = consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=5000)
            if not batches:
                raise TimeoutError(f"{topic}: no records within {timeout_s} s before reaching the end offsets")
            for tp, records in batches.items():
                for record in records:
                    yield TopicRecord(tp.partition, record.offset, record.key, record.value)
                if consumer.position(tp) >= end_offsets[tp]:
                    remaining.discard(tp)
    finally:
        consumer.close()
