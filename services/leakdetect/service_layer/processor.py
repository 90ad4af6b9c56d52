"""The stream use case: a batch of raw telemetry records in, alarms / health events / dead letters /
segment checkpoints out.

Per record: decode, and dead-letter it when its content is unusable (mismatched series lengths, quality
codes that are not a Quality, times before 2000 or ahead of the processing clock by more than the allowed
skew). Per segment, in offset order: skip records already applied (replay after a crash), drop records
whose id was seen before (gateway retries), merge the readings through the reorder buffer, feed the
released readings to the detectors in one call, run the alarm lifecycle, and encode the segment's
checkpoint. No Python code runs per reading.

Checkpoints are returned, not written: the caller writes them (`checkpoint`) only once the batch's alarms
are on the broker, or drops the batch's effects (`discard`) when publishing failed, so a recovered
checkpoint never contains an alarm decision that was not published.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2, learning_pb2
from services.contracts.pipewarden.telemetry.v1 import records_pb2
from services.leakdetect.domain import LearningError, PeriodNotOverError
from services.leakdetect.domain.events import BaselineLearned, BaselineRejected
from services.leakdetect.domain.layout import LEARN_SOURCE_NAMES, REJECT_REASON_NAMES
from services.leakdetect.service_layer import learning, ports
from services.leakdetect.service_layer.alarms import AlarmPolicy, AlarmTracker, SegmentInfo
from services.leakdetect.service_layer.segment_state import SegmentRuntime, StateDecodeError
from services.network.quality import QUALITY_GOOD, QUALITY_MAX
from services.topics import LEAK_LEARNING_COMMANDS, PoisonRecordError, dead_letter_headers, decode

log = logging.getLogger(__name__)

_READINGS_TYPE = "pipewarden.telemetry.v1.SegmentReadings"
_COMMAND_TYPE = "pipewarden.leakdetect.v1.LearningCommand"
# 2000-01-01T00:00:00Z: an earlier source time is a gateway clock that was never set, not a reading.
_EARLIEST_SOURCE_TIME_US = 946_684_800_000_000


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


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A segment's state after the batch, written to the store once the batch's events are published."""

    segment_id: str
    partition: int
    data: bytes


@dataclass
class BatchResult:
    alarms: list[alarms_pb2.LeakAlarmEvent] = field(default_factory=list)
    health: list[alarms_pb2.SensorHealthEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
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
    # what became of the segment's last learning command (`learning`), or None
    last_command: Mapping[str, str] | None = None


class BadContent(ValueError):
    """A record that decodes but whose content the detectors cannot use."""


@dataclass(frozen=True, slots=True)
class RecordReadings:
    """One record's readings of the tags the detectors use, as per-series arrays."""

    time_us: tuple[npt.NDArray[np.int64], ...]
    tag_index: tuple[npt.NDArray[np.int16], ...]  # into the detector's `detector_tags`
    value_si: tuple[npt.NDArray[np.float64], ...]
    quality: tuple[npt.NDArray[np.int8], ...]
    # Series of tags that are not their segment's in the network model (a model out of step with telemetry's).
    unknown_tag_series: int = 0

    def range_problem(self, latest_source_time_us: int) -> str | None:
        """Why the readings' times or quality codes are out of range, or None."""
        if not self.time_us:
            return None
        t = np.concatenate(self.time_us)
        q = np.concatenate(self.quality)
        if int(t.min()) < _EARLIEST_SOURCE_TIME_US:
            return "a source time is before 2000-01-01"
        if int(t.max()) > latest_source_time_us:
            return "a source time is ahead of the processing clock by more than the allowed skew"
        if int(q.min()) < 0 or int(q.max()) > QUALITY_MAX:
            return f"quality codes outside 0..{QUALITY_MAX}"
        return None


def record_readings(
    msg: records_pb2.SegmentReadings, tag_index: Mapping[str, int], segment_tags: frozenset[str]
) -> RecordReadings:
    """Flatten a record's series into arrays; raises BadContent when the series do not fit together.

    `tag_index`: tag id -> its index among the tags the detectors use; `segment_tags`: all of the segment's tags
    (the detectors ignore some). Ranges (times, quality codes) are checked once per segment and batch
    (`RecordReadings.range_problem` only where that finds a problem): a record holds many short series, and
    numpy calls per series or record would cost more than the detectors.
    """
    times: list[npt.NDArray[np.int64]] = []
    index_parts: list[npt.NDArray[np.int16]] = []
    values: list[npt.NDArray[np.float64]] = []
    qualities: list[npt.NDArray[np.int8]] = []
    unknown = 0
    for series in msg.series:
        n = len(series.source_time_unix_us)
        if len(series.values_si) != n or len(series.quality) not in (0, n):
            raise BadContent(
                f"tag {series.tag_id!r}: {n} times, {len(series.values_si)} values, {len(series.quality)} qualities"
            )
        index = tag_index.get(series.tag_id)
        if index is None:
            if series.tag_id not in segment_tags:
                unknown += 1
            continue
        if n == 0:
            continue
        times.append(np.fromiter(series.source_time_unix_us, np.int64, n))
        values.append(np.fromiter(series.values_si, np.float64, n))
        if len(series.quality) == n:
            try:
                qualities.append(np.fromiter(series.quality, np.int8, n))
            except (OverflowError, ValueError):
                raise BadContent(f"tag {series.tag_id!r}: quality codes outside 0..{QUALITY_MAX}") from None
        else:
            qualities.append(np.full(n, QUALITY_GOOD, np.int8))
        index_parts.append(np.full(n, index, np.int16))
    return RecordReadings(tuple(times), tuple(index_parts), tuple(values), tuple(qualities), unknown)


@dataclass(frozen=True, slots=True)
class _SegmentReadings:
    """A segment's readings in this batch, every record's series concatenated once (record i owns
    [bounds[i], bounds[i + 1])): the range check and the detectors use these same arrays."""

    time_us: npt.NDArray[np.int64]
    tag_index: npt.NDArray[np.int16]
    value_si: npt.NDArray[np.float64]
    quality: npt.NDArray[np.int8]
    bounds: npt.NDArray[np.int64]

    @classmethod
    def of(cls, items: Sequence[tuple[RawRecord, Any, RecordReadings]]) -> _SegmentReadings:
        sizes = [sum(a.size for a in rr.time_us) for _, _, rr in items]
        bounds = np.zeros(len(items) + 1, np.int64)
        np.cumsum(sizes, out=bounds[1:])

        def cat(parts: list[Any], dtype: Any) -> Any:
            return np.concatenate(parts) if parts else np.empty(0, dtype)

        return cls(
            cat([a for _, _, rr in items for a in rr.time_us], np.int64),
            cat([a for _, _, rr in items for a in rr.tag_index], np.int16),
            cat([a for _, _, rr in items for a in rr.value_si], np.float64),
            cat([a for _, _, rr in items for a in rr.quality], np.int8),
            bounds,
        )

    def in_range(self, latest_source_time_us: int) -> bool:
        """Whether every reading has a plausible time and quality code (one check per segment and batch)."""
        if self.time_us.size == 0:
            return True
        return bool(
            int(self.time_us.min()) >= _EARLIEST_SOURCE_TIME_US
            and int(self.time_us.max()) <= latest_source_time_us
            and int(self.quality.min()) >= 0
            and int(self.quality.max()) <= QUALITY_MAX
        )

    def of_records(self, keep: list[int]) -> tuple[Any, Any, Any, Any]:
        """The readings of the records `keep` (indices, in order): the arrays themselves when that is all."""
        if len(keep) == self.bounds.size - 1:
            return self.time_us, self.tag_index, self.value_si, self.quality
        sel = np.concatenate([np.arange(self.bounds[i], self.bounds[i + 1]) for i in keep]) if keep else \
            np.empty(0, np.int64)
        return self.time_us[sel], self.tag_index[sel], self.value_si[sel], self.quality[sel]


def _index_of_role(
    detector: ports.SegmentDetector, segment_id: str, tag_index: Mapping[str, int]
) -> npt.NDArray[np.int16]:
    """role -> tag index (-1: none), for checkpoints written when the reorder buffer was keyed by role."""
    roles = detector.role_tags(segment_id)
    lookup = np.full(max(roles, default=-1) + 1, -1, np.int16)
    for role, tag in roles.items():
        lookup[role] = tag_index.get(tag, -1)
    return lookup


@dataclass
class _SegmentOutcome:
    alarms: list[alarms_pb2.LeakAlarmEvent]
    health: list[alarms_pb2.SensorHealthEvent]
    readings: int
    checkpoint: Checkpoint | None


class BatchProcessor:
    def __init__(
        self,
        *,
        detector: ports.SegmentDetector,
        store: ports.StateStore,
        metrics: ports.Metrics,
        clock: ports.Clock,
        segments: Mapping[str, SegmentInfo],
        policy: AlarmPolicy,
        reorder_tolerance_us: int,
        reorder_max_readings: int,
        dedupe_records: int,
        max_clock_skew_us: int,
    ) -> None:
        self.detector = detector
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.segments = segments
        self.tracker = AlarmTracker(policy, now_us=clock.now_us)
        self.reorder_tolerance_us = reorder_tolerance_us
        self.reorder_max_readings = reorder_max_readings
        self.dedupe_records = dedupe_records
        self.max_clock_skew_us = max_clock_skew_us
        self._tag_index = {sid: {t: i for i, t in enumerate(detector.detector_tags(sid))} for sid in segments}
        self._index_of_role = {sid: _index_of_role(detector, sid, self._tag_index[sid]) for sid in segments}
        self._tags = {sid: frozenset(info.tag_ids) for sid, info in segments.items()}
        # segment -> (checkpoint bytes it was decoded from / written as, runtime): only runtimes equal to the
        # stored checkpoint; a runtime leaves this while a batch changes it.
        self._cache: dict[str, tuple[bytes, SegmentRuntime]] = {}
        # segment -> (runtime, view) of the last batch, until its checkpoint is written or discarded
        self._unwritten: dict[str, tuple[SegmentRuntime, SegmentView]] = {}
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
        runtime.reorder.rekey_roles(self._index_of_role[segment_id])
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

    def checkpoint(self, result: BatchResult) -> None:
        """Write the batch's checkpoints: call only once its alarms, health events and dead letters are on the
        broker, so that a recovered checkpoint never holds a decision that was not published."""
        try:
            for cp in result.checkpoints:
                runtime, view = self._unwritten.pop(cp.segment_id)
                self.store.put(cp.segment_id, cp.partition, cp.data)
                self._cache[cp.segment_id] = (cp.data, runtime)
                self.views[cp.segment_id] = view
        finally:
            self.discard(result)  # whatever was not written (a store failure) must not pass for written

    def discard(self, result: BatchResult) -> None:
        """The batch's events did not reach the broker: forget what it did to its segments, which resume from
        their last written checkpoint (and the records from it, when the source replays them)."""
        for cp in result.checkpoints:
            if self._unwritten.pop(cp.segment_id, None) is not None:
                self._cache.pop(cp.segment_id, None)

    # --- the batch -----------------------------------------------------------------------------------------
    def process(self, batch: Sequence[RawRecord]) -> BatchResult:
        """Decide on a batch; the caller publishes the result, then calls `checkpoint` (or `discard`)."""
        if self._unwritten:
            raise RuntimeError("the previous batch's checkpoints were neither written nor discarded")
        latest_source_time_us = self.clock.now_us() + self.max_clock_skew_us
        result = BatchResult(records=len(batch))
        by_segment: dict[str, list[tuple[RawRecord, records_pb2.SegmentReadings, RecordReadings]]] = {}
        commands: dict[str, list[tuple[RawRecord, learning_pb2.LearningCommand]]] = {}
        unknown_tags = 0
        for raw in batch:
            if raw.topic == LEAK_LEARNING_COMMANDS.name:
                try:
                    cmd = decode(learning_pb2.LearningCommand, raw.value, topic=raw.topic, partition=raw.partition,
                                 offset=raw.offset)
                    problem = learning.command_problem(cmd, self.segments)
                    if problem is not None:
                        raise self._poison(raw, problem, _COMMAND_TYPE)
                except PoisonRecordError as exc:
                    result.dead_letters.append(DeadLetter(raw.key, raw.value, dead_letter_headers(exc)))
                    continue
                commands.setdefault(cmd.segment_id, []).append((raw, cmd))
                continue
            prev = result.positions.get(raw.partition, -1)
            result.positions[raw.partition] = max(prev, raw.offset)
            try:
                msg = decode(
                    records_pb2.SegmentReadings, raw.value, topic=raw.topic, partition=raw.partition, offset=raw.offset
                )
                sid = msg.segment_id
                if sid not in self.segments:
                    raise self._poison(raw, f"unknown segment {sid!r}")
                try:
                    readings = record_readings(msg, self._tag_index[sid], self._tags[sid])
                except BadContent as exc:
                    raise self._poison(raw, str(exc)) from exc
            except PoisonRecordError as exc:
                result.dead_letters.append(DeadLetter(raw.key, raw.value, dead_letter_headers(exc)))
                continue
            unknown_tags += readings.unknown_tag_series
            by_segment.setdefault(sid, []).append((raw, msg, readings))
        if unknown_tags:
            self.metrics.unknown_tag_series(unknown_tags)
        for segment_id, items in by_segment.items():
            seg_readings = _SegmentReadings.of(items)
            if not seg_readings.in_range(latest_source_time_us):  # the rare path: find the records to dead-letter
                kept = []
                for raw, msg, readings in items:
                    problem = readings.range_problem(latest_source_time_us)
                    if problem is None:
                        kept.append((raw, msg, readings))
                    else:
                        headers = dead_letter_headers(self._poison(raw, problem))
                        result.dead_letters.append(DeadLetter(raw.key, raw.value, headers))
                items = kept
                if not items:
                    continue
                seg_readings = _SegmentReadings.of(items)
            try:
                outcome = self._process_segment(segment_id, items, seg_readings, commands.pop(segment_id, []))
            except Exception as exc:
                # One segment's failure must not take the batch's other segments down with it (faust acks a
                # batch whose loop body raised): its records are dead-lettered rather than acked and lost, and
                # the segment resumes from its last checkpoint.
                log.exception("segment processing failed, its records dead-lettered", extra={"segment_id": segment_id})
                self._cache.pop(segment_id, None)
                self._unwritten.pop(segment_id, None)
                reason = f"processing failed: {type(exc).__name__}: {exc}"
                for raw, _, _ in items:
                    headers = dead_letter_headers(self._poison(raw, reason))
                    result.dead_letters.append(DeadLetter(raw.key, raw.value, headers))
                continue
            result.alarms.extend(outcome.alarms)
            result.health.extend(outcome.health)
            result.readings += outcome.readings
            if outcome.checkpoint is not None:
                result.checkpoints.append(outcome.checkpoint)
        for segment_id, cmds in commands.items():  # segments with commands and no readings in this batch
            try:
                outcome = self._process_segment(segment_id, [], _SegmentReadings.of([]), cmds)
            except Exception as exc:
                log.exception("learning commands failed, dead-lettered", extra={"segment_id": segment_id})
                self._cache.pop(segment_id, None)
                self._unwritten.pop(segment_id, None)
                for raw, _ in cmds:
                    headers = dead_letter_headers(
                        self._poison(raw, f"processing failed: {type(exc).__name__}: {exc}", _COMMAND_TYPE))
                    result.dead_letters.append(DeadLetter(raw.key, raw.value, headers))
                continue
            if outcome.checkpoint is not None:
                result.checkpoints.append(outcome.checkpoint)
        if result.dead_letters:
            self.metrics.poison(len(result.dead_letters))
        result.decided_unix_us = self.clock.now_us()
        return result

    @staticmethod
    def _poison(raw: RawRecord, reason: str, message_type: str = _READINGS_TYPE) -> PoisonRecordError:
        return PoisonRecordError(
            reason, message_type=message_type, topic=raw.topic, partition=raw.partition, offset=raw.offset
        )

    def _process_segment(
        self,
        segment_id: str,
        items: list[tuple[RawRecord, records_pb2.SegmentReadings, RecordReadings]],
        seg_readings: _SegmentReadings,
        commands: Sequence[tuple[RawRecord, learning_pb2.LearningCommand]] = (),
    ) -> _SegmentOutcome:
        runtime = self._runtime(segment_id)
        # From here on the runtime differs from the stored checkpoint until `checkpoint` writes it.
        cached = self._cache.pop(segment_id, None)
        outcome = _SegmentOutcome([], [], 0, None)
        keep: list[int] = []
        replayed = duplicates = 0
        partition = items[0][0].partition if items else commands[0][0].partition
        for i, (raw, msg, _) in enumerate(items):
            if raw.partition == runtime.partition and raw.offset <= runtime.last_offset:
                replayed += 1
                continue
            runtime.partition = raw.partition
            runtime.last_offset = raw.offset
            if runtime.seen(msg.record_id):
                duplicates += 1
                continue
            runtime.remember(msg.record_id, self.dedupe_records)
            keep.append(i)
        if replayed:
            self.metrics.replayed(replayed)
        if replayed == len(items) and not commands and not runtime.pending_commands:
            if cached is not None:
                self._cache[segment_id] = cached  # nothing changed
            return outcome  # no checkpoint
        if duplicates:
            runtime.duplicates += duplicates
            self.metrics.duplicates(duplicates)
        status: ports.SegmentStatusView | None = None
        t, tag_index, values, qualities = seg_readings.of_records(keep)
        if keep and any(items[i][2].time_us for i in keep):
            late, released = runtime.reorder.push(
                t, tag_index, values, qualities, self.reorder_tolerance_us, self.reorder_max_readings
            )
            runtime.readings += int(t.size)
            outcome.readings = int(t.size)
            if late:
                runtime.late_dropped += late
                self.metrics.late_dropped(late)
            rt, rr, rv, rq = released
            events = (
                self.detector.feed(segment_id, runtime.detector_state, rr, rt, rv, rq) if rt.size else []
            )
            status = self.detector.status(segment_id, runtime.detector_state)
            _log_learning(segment_id, events)
            info = self.segments[segment_id]
            out = self.tracker.apply(
                info, runtime, events, runtime.reorder.released_until_us,
                segment_mdlr_kg_per_s=status.mdlr_kg_per_s,
            )
            for alarm in out.alarms:
                self.metrics.alarm(
                    alarms_pb2.AlarmState.Name(alarm.state),
                    [alarms_pb2.DetectionMethod.Name(m) for m in alarm.methods],
                )
            if out.health:
                self.metrics.sensor_health(len(out.health))
            outcome.alarms, outcome.health = out.alarms, out.health
        if commands or runtime.pending_commands:
            if self._apply_commands(segment_id, runtime, commands):
                status = self.detector.status(segment_id, runtime.detector_state)
            elif not keep and not commands:
                if cached is not None:
                    self._cache[segment_id] = cached  # nothing changed
                return outcome
        data = runtime.encode(self.detector.dump(segment_id, runtime.detector_state))
        outcome.checkpoint = Checkpoint(segment_id, partition, data)
        self._unwritten[segment_id] = (runtime, self._view(runtime, status))
        return outcome

    def _apply_commands(self, segment_id: str, runtime: SegmentRuntime,
                        commands: Sequence[tuple[RawRecord, learning_pb2.LearningCommand]]) -> bool:
        """Apply the batch's learning commands (each id once: ids are remembered with the record ids), then the
        waiting "this period was leak-free" ones whose period the readings have passed. Returns whether any
        changed the detector or the segment's command bookkeeping."""
        changed = False
        for _raw, cmd in commands:
            key = f"cmd:{cmd.command_id}"
            if runtime.seen(key):
                self.metrics.duplicates(1)
                continue
            runtime.remember(key, self.dedupe_records)
            changed = True
            if cmd.HasField("learn_now"):
                try:
                    self.detector.learn_now(segment_id, runtime.detector_state, cmd.learn_now.at_unix_us / 1e6)
                    runtime.last_command = _outcome(cmd, "applied", "learning from the given time")
                except LearningError as exc:
                    runtime.last_command = _outcome(cmd, "refused", str(exc))
            elif len(runtime.pending_commands) >= learning.MAX_PENDING:
                runtime.last_command = _outcome(
                    cmd, "refused", f"{learning.MAX_PENDING} leak-free periods already wait for their readings")
            else:
                runtime.pending_commands.append(cmd.SerializeToString())
                runtime.last_command = _outcome(cmd, "pending", "waiting for the readings to pass the period's end")
        waiting: list[bytes] = []
        for blob in runtime.pending_commands:
            cmd = learning_pb2.LearningCommand()
            cmd.ParseFromString(blob)
            m = cmd.mark_leak_free
            try:
                self.detector.mark_leak_free(segment_id, runtime.detector_state, m.start_unix_us / 1e6,
                                             m.end_unix_us / 1e6)
                runtime.last_command = _outcome(cmd, "applied", "baseline refitted from the period")
            except PeriodNotOverError:
                waiting.append(blob)
                continue
            except LearningError as exc:
                runtime.last_command = _outcome(cmd, "refused", str(exc))
            changed = True
        runtime.pending_commands = waiting
        return changed

    def _view(self, runtime: SegmentRuntime, status: ports.SegmentStatusView | None) -> SegmentView:
        info = self.segments[runtime.segment_id]
        active = None
        if runtime.active_alarm is not None and runtime.history:
            last = alarms_pb2.LeakAlarmEvent()
            last.ParseFromString(runtime.history[-1])
            active = last if last.alarm_id == runtime.active_alarm.alarm_id else None
        return SegmentView(
            segment_id=runtime.segment_id,
            district=info.district,
            status=status or self.detector.status(runtime.segment_id, runtime.detector_state),
            active_alarm=active,
            history=tuple(runtime.history),
            readings=runtime.readings,
            late_dropped=runtime.late_dropped,
            duplicates=runtime.duplicates,
            partition=runtime.partition,
            last_command=runtime.last_command,
        )


def _log_learning(segment_id: str, events: Sequence[object]) -> None:
    """Baselines learned (how) and re-learnings rejected (why): what an operator reviews before confirming a
    period as leak-free."""
    for ev in events:
        if isinstance(ev, BaselineLearned):
            log.info("baseline learned",
                     extra={"segment_id": segment_id, "source": _name(LEARN_SOURCE_NAMES, ev.source),
                            "offset_kg_per_s": ev.offset_kg_per_s, "gain": ev.gain, "kappa": ev.kappa})
        elif isinstance(ev, BaselineRejected):
            log.warning("baseline re-learning rejected",
                        extra={"segment_id": segment_id, "reason": _name(REJECT_REASON_NAMES, ev.reason),
                               "offset_step_kg_per_s": ev.offset_step_kg_per_s, "allowed_kg_per_s": ev.allowed_kg_per_s,
                               "window_start_unix_us": ev.window_start_us})


def _name(names: Sequence[str], code: int) -> str:
    return names[code] if 0 <= code < len(names) else str(code)


def _outcome(cmd: learning_pb2.LearningCommand, outcome: str, message: str) -> dict[str, str]:
    return {"command_id": cmd.command_id, "outcome": outcome, "message": message, "requested_by": cmd.requested_by}
