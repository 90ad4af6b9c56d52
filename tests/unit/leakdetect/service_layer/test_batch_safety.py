"""Unit tests of what a batch may not lose: alarms whose publish failed, good records beside bad ones, and a
segment's readings after one far-future-dated reading."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2 as pb
from services.contracts.pipewarden.telemetry.v1 import records_pb2
from services.leakdetect.adapters.faust_state import MemoryStateStore
from services.leakdetect.adapters.metrics import PrometheusMetrics
from services.leakdetect.bootstrap import build_processor, build_worker
from services.leakdetect.config import LeakdetectConfig
from services.leakdetect.service_layer.processor import BatchProcessor, BatchResult, RawRecord
from services.leakdetect.service_layer.segment_state import SegmentRuntime
from services.network import load_demo_network
from services.topics import encode
from tests.support.leakdetect_scenario import T0_US, LeakScenario

NETWORK = load_demo_network()
TOPIC = "telemetry.readings.v1"
YEAR_US = 365 * 86_400 * 1_000_000


@dataclasses.dataclass
class FixedClock:
    now: int

    def now_us(self) -> int:
        return self.now


def _processor(
    store: MemoryStateStore | None = None, clock: FixedClock | None = None, **cfg: Any
) -> tuple[BatchProcessor, MemoryStateStore, CollectorRegistry]:
    store = store or MemoryStateStore()
    registry = CollectorRegistry()
    proc = build_processor(LeakdetectConfig(**cfg), NETWORK, store, PrometheusMetrics(registry), clock)
    return proc, store, registry


def _raw(records: Sequence[records_pb2.SegmentReadings], partition: int = 0, first_offset: int = 0) -> list[RawRecord]:
    return [
        RawRecord(TOPIC, partition, first_offset + i, r.segment_id.encode(), encode(r)) for i, r in enumerate(records)
    ]


def _run(proc: BatchProcessor, batch: list[RawRecord]) -> BatchResult:
    result = proc.process(batch)
    proc.checkpoint(result)
    return result


def _leak_batches() -> tuple[list[list[RawRecord]], int]:
    """The TR-01 leak scenario in batches of 300 records, and the index of the batch that raises the alarm."""
    recs = list(LeakScenario(segment_id="TR-01", leak_position_m=2500.0).records(NETWORK))
    batches = [_raw(recs[i : i + 300], first_offset=i) for i in range(0, len(recs), 300)]
    probe, _, _ = _processor()
    for i, batch in enumerate(batches):
        if _run(probe, batch).alarms:
            return batches, i
    raise AssertionError("the scenario raises no alarm")


def _error(result: BatchResult, i: int = 0) -> str:
    return dict(result.dead_letters[i].headers)["pw-dlq-error"].decode()


# --- 1. checkpoints only after the alarms are published ------------------------------------------------------
def test_a_batch_whose_publish_failed_leaves_no_checkpoint_and_raises_its_alarm_again() -> None:
    batches, k = _leak_batches()
    proc, store, _ = _processor()
    for batch in batches[:k]:
        _run(proc, batch)
    before = store.data["TR-01"]
    result = proc.process(batches[k])
    raised = [a for a in result.alarms if a.state == pb.ALARM_STATE_RAISED]
    assert raised and result.checkpoints
    assert store.data["TR-01"] is before  # deciding writes nothing
    proc.discard(result)  # the publish failed

    # The same worker, the batch redelivered: the same decisions, with the same (deterministic) event ids.
    again = _run(proc, batches[k])
    assert [a.event_id for a in again.alarms] == [a.event_id for a in result.alarms]
    assert [encode(a) for a in again.alarms] == [encode(a) for a in result.alarms]
    # A restarted worker replaying the uncommitted batch from the written checkpoint: again the same.
    restarted, _, _ = _processor(MemoryStateStore())
    restarted.store.data["TR-01"] = before  # type: ignore[attr-defined]
    replay = restarted.process(batches[k])
    assert [a.event_id for a in replay.alarms] == [a.event_id for a in result.alarms]


def test_process_refuses_to_run_on_top_of_unwritten_checkpoints() -> None:
    proc, _, _ = _processor()
    recs = list(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=5).records(NETWORK))
    proc.process(_raw(recs))
    with pytest.raises(RuntimeError, match="neither written nor discarded"):
        proc.process(_raw(recs, first_offset=5))


class _Stream:
    def __init__(self, batches: list[list[RawRecord]]) -> None:
        self.batches = batches

    async def take_events(self, max_: int, within: float) -> AsyncIterator[list[Any]]:
        for batch in self.batches:
            yield [SimpleNamespace(message=r) for r in batch]


def test_worker_writes_checkpoints_after_the_publish_and_none_when_it_fails(tmp_path: Any) -> None:
    batches, k = _leak_batches()
    config = LeakdetectConfig(data_dir=str(tmp_path))
    worker = build_worker(config, NETWORK, PrometheusMetrics(CollectorRegistry()))
    store = MemoryStateStore()
    worker.processor = build_processor(config, NETWORK, store, PrometheusMetrics(CollectorRegistry()))
    worker._update_lag = lambda result: None  # type: ignore[method-assign]
    published: list[pb.LeakAlarmEvent] = []

    async def publish(result: BatchResult) -> None:
        # Nothing this batch decided may be in the store before its events are on the broker.
        assert all(store.data.get(cp.segment_id) is not cp.data for cp in result.checkpoints)
        if result.alarms:
            raise ConnectionError("broker gone")
        published.extend(result.alarms)

    worker._publish = publish  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        asyncio.run(worker._detect(_Stream(batches[: k + 1])))
    state, _ = SegmentRuntime.decode(store.data["TR-01"])
    assert state.last_offset == batches[k - 1][-1].offset  # the failed batch is not in the checkpoint
    assert not published

    # After a restart the uncommitted batch is replayed from that checkpoint and the alarm is raised.
    async def publish_ok(result: BatchResult) -> None:
        published.extend(result.alarms)

    worker._publish = publish_ok  # type: ignore[method-assign]
    asyncio.run(worker._detect(_Stream([batches[k]])))
    assert [a.state for a in published][:1] == [pb.ALARM_STATE_RAISED]
    assert SegmentRuntime.decode(store.data["TR-01"])[0].last_offset == batches[k][-1].offset


# --- 2. bad content is dead-lettered, and does not cost other records --------------------------------------
def _tr02_record(**change: Any) -> records_pb2.SegmentReadings:
    rec = next(iter(LeakScenario(segment_id="TR-02", leak_start_s=None, seconds=1).records(NETWORK)))
    rec.record_id = "gw/bad/TR-02"
    series = rec.series[0]
    if "quality" in change:
        series.quality[0] = change["quality"]
    if "drop_value" in change:
        del series.values_si[-1]
    if "time_us" in change:
        series.source_time_unix_us[0] = change["time_us"]
    return rec


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"quality": 300}, "quality"),
        ({"quality": -1}, "quality"),
        ({"drop_value": True}, "values"),
        ({"time_us": 0}, "before 2000"),
        ({"time_us": 2**63 - 1}, "ahead of the processing clock"),
    ],
)
def test_a_record_with_bad_content_is_dead_lettered_and_the_rest_of_the_batch_processed(
    change: dict[str, Any], reason: str
) -> None:
    proc, store, _ = _processor()
    good = list(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=10).records(NETWORK))
    bad = RawRecord(TOPIC, 1, 3, b"TR-02", encode(_tr02_record(**change)))
    batch = [*_raw(good[:5]), bad, *_raw(good[5:], first_offset=5)]
    result = _run(proc, batch)
    assert len(result.dead_letters) == 1
    assert reason in _error(result)
    assert dict(result.dead_letters[0].headers)["pw-dlq-source-offset"] == b"3"
    assert result.readings > 0 and SegmentRuntime.decode(store.data["TR-01"])[0].last_offset == 9
    assert "TR-02" not in store.data


def test_one_segment_failing_does_not_lose_the_others() -> None:
    proc, store, _ = _processor()
    inner = proc.detector

    class FailsForTr02:
        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

        def feed(self, segment_id: str, *args: Any) -> Any:
            if segment_id == "TR-02":
                raise FloatingPointError("kernel blew up")
            return inner.feed(segment_id, *args)

    proc.detector = FailsForTr02()  # type: ignore[assignment]
    tr01 = list(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=10).records(NETWORK))
    tr02 = list(LeakScenario(segment_id="TR-02", leak_start_s=None, seconds=10).records(NETWORK))
    result = _run(proc, _raw(tr01) + _raw(tr02, partition=1))
    assert len(result.dead_letters) == len(tr02)
    assert "processing failed: FloatingPointError" in _error(result)
    assert "TR-02" not in store.data and "TR-02" not in proc.views
    assert SegmentRuntime.decode(store.data["TR-01"])[0].readings == result.readings > 0


def test_series_of_tags_not_in_the_segment_are_counted() -> None:
    proc, _, registry = _processor()
    rec = next(iter(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=1).records(NETWORK)))
    rec.series.add(tag_id="NO-SUCH-TAG", source_time_unix_us=[T0_US], values_si=[1.0], quality=[1])
    rec.series.add(tag_id="TR-01-TT-DN", source_time_unix_us=[T0_US], values_si=[290.0], quality=[1])  # unused
    result = _run(proc, _raw([rec]))
    assert not result.dead_letters and result.readings > 0
    assert registry.get_sample_value("pipewarden_leakdetect_unknown_tag_series_total") == 1.0


# --- 5. a far-future-dated reading ----------------------------------------------------------------------------
def test_a_reading_far_ahead_of_the_clock_is_dead_lettered_and_does_not_blind_the_segment() -> None:
    recs = list(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=60).records(NETWORK))
    clock = FixedClock(T0_US + 3600 * 1_000_000)
    proc, store, _ = _processor(clock=clock, max_clock_skew_s=60.0)
    bad = records_pb2.SegmentReadings()
    bad.CopyFrom(recs[1])
    bad.record_id = "gw/bad/TR-01"
    bad.series[0].source_time_unix_us[0] += 10 * YEAR_US
    first = _run(proc, [*_raw(recs[:1]), RawRecord(TOPIC, 0, 1, b"TR-01", encode(bad))])
    assert len(first.dead_letters) == 1 and "ahead of the processing clock" in _error(first)
    _run(proc, _raw(recs[2:], first_offset=2))
    state, _ = SegmentRuntime.decode(store.data["TR-01"])
    assert state.late_dropped == 0
    assert state.reorder.newest_us < clock.now
    # The allowance is the configured one: with a later clock the same record is accepted.
    later, _, _ = _processor(clock=FixedClock(T0_US + 11 * YEAR_US))
    assert not later.process(_raw([bad])).dead_letters


# --- 4. the MDLR a sensor-health event carries --------------------------------------------------------------
def test_sensor_health_events_carry_the_mdlr_after_the_batch_and_zero_while_not_monitoring() -> None:
    recs = list(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=100).records(NETWORK))
    proc, _, _ = _processor()
    first = proc.process(_raw(recs))
    assert first.health  # every used tag reports healthy once
    assert all(h.segment_mdlr_kg_per_s == 0.0 for h in first.health)  # learning: MDLR infinite, not sent

    proc, _, _ = _processor()
    inner = proc.detector

    class KnowsItsMdlr:
        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

        def status(self, segment_id: str, state: Any) -> Any:
            return dataclasses.replace(inner.status(segment_id, state), mdlr_kg_per_s=0.37)

    proc.detector = KnowsItsMdlr()  # type: ignore[assignment]
    health = proc.process(_raw(recs)).health
    assert health and all(h.segment_mdlr_kg_per_s == 0.37 for h in health)
    assert all(math.isfinite(h.segment_mdlr_kg_per_s) for h in first.health + health)
