"""The stream use case: a batch of raw telemetry records in, alarms / health events / dead letters /
segment checkpoints out.

Per segment, in offset order: skip records already applied (replay after a crash), drop records whose
id was seen before (gateway retries), flatten the columnar tag series into arrays, merge them through
the reorder buffer, feed the released readings to the detectors in one call, run the alarm lifecycle,
and checkpoint the segment. No Python code runs per reading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.telemetry.v1 import records_pb2
from services.leakdetect.service_layer import ports
from services.leakdetect.service_layer.alarms import AlarmPolicy, AlarmTracker, SegmentInfo
from services.leakdetect.service_layer.segment_state import SegmentRuntime, StateDecodeError
from services.topics import PoisonRecordError, dead_letter_headers, decode

log = logging.getLogger(__name__)

_QUALITY_GOOD = 1


@dataclass(frozen=True, slots=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass
class BatchResult:
    alarms: list[alarms_pb2.LeakAlarmEvent] = field(default_factory=list)
    health: list[alarms_pb2.SensorHealthEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # Wall-clock time (us) the detectors decided, for the publish-latency metric.
    decided_unix_us: int = 0
    readings: int = 0
    records: int = 0
    # (partition -> highest offset seen in this batch), for the lag metric
    positions: dict[int, int] = field(default_factory=dict)


@dataclass
class SegmentView:
    """Snapshot for the query API (replaced, never mutated, so gRPC threads read it safely)."""

    segment_id: str
    district: str
    status: ports.SegmentStatusView
    active_alarm: alarms_pb2.LeakAlarmEvent | None
    history: tuple[bytes, ...]
    readings: int
    late_dropped: int
    duplicates: int
    partition: int


class BatchProcessor:
    def __init__(
        self,
        *,
        detector: ports.SegmentDetector,
        store: ports.StateStore,
        metrics: ports.Metrics,
        segments: Mapping[str, SegmentInfo],
        policy: AlarmPolicy,
        reorder_tolerance_us: int,
        dedupe_records: int,
    ) -> None:
        self.detector = detector
        self.store = store
        self.metrics = metrics
        self.segments = segments
        self.tracker = AlarmTracker(policy, now_us=lambda: time.time_ns() // 1000)
        self.reorder_tolerance_us = reorder_tolerance_us
        self.dedupe_records = dedupe_records
        self._roles = {sid: dict(detector.tag_roles(sid)) for sid in segments}
        # segment -> (checkpoint bytes it was decoded from / written as, runtime)
        self._cache: dict[str, tuple[bytes, SegmentRuntime]] = {}
        self.views: dict[str, SegmentView] = {}

    # --- state ---------------------------------------------------------------------------------------------
    def _runtime(self, segment_id: str) -> SegmentRuntime:
        stored = self.store.get(segment_id)
        cached = self._cache.get(segment_id)
        if cached is not None and stored is not None and cached[0] is stored:
            return cached[1]
        if stored is None:
            runtime = SegmentRuntime(segment_id=segment_id)
            runtime.detector_state = self.detector.new_state(segment_id)
            return runtime
        try:
            runtime, blob = SegmentRuntime.decode(stored)
        except StateDecodeError as exc:
            # A checkpoint this version cannot read: start the segment afresh rather than stop the stream.
            log.error("segment state unreadable, starting afresh", extra={"segment_id": segment_id, "error": str(exc)})
            runtime = SegmentRuntime(segment_id=segment_id)
            runtime.detector_state = self.detector.new_state(segment_id)
            return runtime
        try:
            runtime.detector_state = self.detector.load(segment_id, blob)
        except ValueError as exc:
            # The detector's part only (another version's state layout, after an upgrade): the segment keeps its
            # bookkeeping — offsets, the reading ids seen, the open alarm, which a person closes rather than a
            # detector that has not seen the leak start — and the detector starts afresh, relearning its baseline.
            log.warning("detector state of another version, detector restarted",
                        extra={"segment_id": segment_id, "error": str(exc)})
            runtime.detector_state = self.detector.new_state(segment_id)
        return runtime

    def forget_partitions(self, partitions: set[int]) -> None:
        """Revoked partitions: their segments belong to another worker now."""
        for sid in [s for s, (_, rt) in self._cache.items() if rt.partition in partitions]:
            self._cache.pop(sid, None)
            self.views.pop(sid, None)

    # --- the batch -----------------------------------------------------------------------------------------
    def process(self, batch: Sequence[RawRecord]) -> BatchResult:
        result = BatchResult(records=len(batch))
        by_segment: dict[str, list[tuple[RawRecord, records_pb2.SegmentReadings]]] = {}
        for raw in batch:
            prev = result.positions.get(raw.partition, -1)
            result.positions[raw.partition] = max(prev, raw.offset)
            try:
                msg = decode(
                    records_pb2.SegmentReadings, raw.value, topic=raw.topic, partition=raw.partition, offset=raw.offset
                )
                if msg.segment_id not in self.segments:
                    raise PoisonRecordError(
                        f"unknown segment {msg.segment_id!r}",
                        message_type="pipewarden.telemetry.v1.SegmentReadings",
                        topic=raw.topic,
                        partition=raw.partition,
                        offset=raw.offset,
                    )
            except PoisonRecordError as exc:
                result.dead_letters.append(DeadLetter(raw.key, raw.value, dead_letter_headers(exc)))
                continue
            by_segment.setdefault(msg.segment_id, []).append((raw, msg))
        if result.dead_letters:
            self.metrics.poison(len(result.dead_letters))
        for segment_id, items in by_segment.items():
            self._process_segment(segment_id, items, result)
        result.decided_unix_us = time.time_ns() // 1000
        return result

    def _process_segment(
        self,
        segment_id: str,
        items: list[tuple[RawRecord, records_pb2.SegmentReadings]],
        result: BatchResult,
    ) -> None:
        runtime = self._runtime(segment_id)
        roles = self._roles[segment_id]
        times: list[Any] = []
        role_parts: list[Any] = []
        values: list[Any] = []
        qualities: list[Any] = []
        replayed = duplicates = 0
        partition = items[0][0].partition
        for raw, msg in items:
            if raw.partition == runtime.partition and raw.offset <= runtime.last_offset:
                replayed += 1
                continue
            runtime.partition = raw.partition
            runtime.last_offset = raw.offset
            if runtime.seen(msg.record_id):
                duplicates += 1
                continue
            runtime.remember(msg.record_id, self.dedupe_records)
            for series in msg.series:
                role = roles.get(series.tag_id)
                n = len(series.source_time_unix_us)
                if role is None or n == 0:
                    continue
                if len(series.values_si) != n:
                    continue  # telemetry validated the batch; a mismatched series is unusable, not fatal
                times.append(np.fromiter(series.source_time_unix_us, np.int64, n))
                values.append(np.fromiter(series.values_si, np.float64, n))
                if len(series.quality) == n:
                    qualities.append(np.fromiter(series.quality, np.int8, n))
                else:
                    qualities.append(np.full(n, _QUALITY_GOOD, np.int8))
                role_parts.append(np.full(n, role, np.int8))
        if replayed:
            self.metrics.replayed(replayed)
        if duplicates:
            runtime.duplicates += duplicates
            self.metrics.duplicates(duplicates)
        if times:
            t = np.concatenate(times)
            late, released = runtime.reorder.push(
                t, np.concatenate(role_parts), np.concatenate(values), np.concatenate(qualities),
                self.reorder_tolerance_us,
            )
            runtime.readings += int(t.size)
            result.readings += int(t.size)
            if late:
                runtime.late_dropped += late
                self.metrics.late_dropped(late)
            rt, rr, rv, rq = released
            events = (
                self.detector.feed(segment_id, runtime.detector_state, rr, rt, rv, rq) if rt.size else []
            )
            info = self.segments[segment_id]
            out = self.tracker.apply(info, runtime, events, runtime.reorder.released_until_us)
            for alarm in out.alarms:
                self.metrics.alarm(
                    alarms_pb2.AlarmState.Name(alarm.state),
                    [alarms_pb2.DetectionMethod.Name(m) for m in alarm.methods],
                )
            if out.health:
                self.metrics.sensor_health(len(out.health))
            result.alarms.extend(out.alarms)
            result.health.extend(out.health)
        if replayed == len(items):
            return  # nothing changed: no checkpoint
        data = runtime.encode(self.detector.dump(segment_id, runtime.detector_state))
        self.store.put(segment_id, partition, data)
        self._cache[segment_id] = (data, runtime)
        self._update_view(runtime)

    def _update_view(self, runtime: SegmentRuntime) -> None:
        info = self.segments[runtime.segment_id]
        active = None
        if runtime.active_alarm is not None and runtime.history:
            last = alarms_pb2.LeakAlarmEvent()
            last.ParseFromString(runtime.history[-1])
            active = last if last.alarm_id == runtime.active_alarm.alarm_id else None
        self.views[runtime.segment_id] = SegmentView(
            segment_id=runtime.segment_id,
            district=info.district,
            status=self.detector.status(runtime.segment_id, runtime.detector_state),
            active_alarm=active,
            history=tuple(runtime.history),
            readings=runtime.readings,
            late_dropped=runtime.late_dropped,
            duplicates=runtime.duplicates,
            partition=runtime.partition,
        )
