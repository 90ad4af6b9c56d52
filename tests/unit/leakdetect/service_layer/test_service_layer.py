"""Unit tests of the leak detection service layer: state codec, reorder buffer, dedupe/replay, alarms,
garbage in, and the query API."""

from __future__ import annotations

from collections import deque

import grpc
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2 as pb
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as qpb
from services.leakdetect.adapters.faust_state import MemoryStateStore
from services.leakdetect.adapters.metrics import PrometheusMetrics
from services.leakdetect.bootstrap import build_processor
from services.leakdetect.config import LeakdetectConfig
from services.leakdetect.entrypoints.query_grpc import LeakQueryServicer
from services.leakdetect.service_layer.processor import RawRecord
from services.leakdetect.service_layer.segment_state import (
    ActiveAlarm,
    ReorderBuffer,
    SegmentRuntime,
    StateDecodeError,
)
from services.network import load_demo_network
from services.topics import encode
from tests.support.leakdetect_scenario import LeakScenario
from tests.support.tokens import LEAKDETECT_VERIFIER, issue

NETWORK = load_demo_network()


def _processor(**cfg):  # type: ignore[no-untyped-def]
    store = MemoryStateStore()
    proc = build_processor(LeakdetectConfig(**cfg), NETWORK, store, PrometheusMetrics(CollectorRegistry()))
    return proc, store


def _raw(records, partition=0, first_offset=0):  # type: ignore[no-untyped-def]
    return [
        RawRecord("telemetry.readings.v1", partition, first_offset + i, r.segment_id.encode(), encode(r))
        for i, r in enumerate(records)
    ]


def _run(proc, batch):  # type: ignore[no-untyped-def]
    """A batch as the worker runs it: decide, (publish,) write the checkpoints."""
    result = proc.process(batch)
    proc.checkpoint(result)
    return result


def test_reorder_buffer_merges_within_tolerance_and_drops_later() -> None:
    buf = ReorderBuffer()
    i8 = np.int8
    late, out = buf.push(
        np.array([10, 30, 20], np.int64), np.zeros(3, i8), np.array([1.0, 3.0, 2.0]), np.ones(3, i8), tolerance_us=10,
        max_readings=100,
    )
    assert late == 0 and out[0].tolist() == [10, 20]
    late, out = buf.push(np.array([15, 25, 50], np.int64), np.zeros(3, i8), np.zeros(3), np.ones(3, i8), 10, 100)
    assert late == 1  # 15 is behind what was released (20)
    assert out[0].tolist() == [25, 30, 40][:2]


def test_a_flood_within_the_tolerance_releases_the_oldest_early_and_the_buffer_stays_bounded() -> None:
    buf = ReorderBuffer()
    rng = np.random.default_rng(7)
    released: list[int] = []
    for start in range(0, 10_000, 1_000):  # 10,000 readings inside a tolerance of 1 s
        t = np.sort(rng.integers(start, start + 1_000, 1_000)).astype(np.int64)
        t = rng.permutation(t)  # out of order within each push
        late, out = buf.push(t, np.zeros(t.size, np.int16), t.astype(float), np.ones(t.size, np.int8), 10**6, 2_500)
        assert late == 0
        assert len(buf) <= 2_500
        released += out[0].tolist()
        assert out[2].tolist() == out[0].astype(float).tolist()  # values travel with their times
    assert released == sorted(released)  # released in time order, across pushes
    assert len(released) + len(buf) == 10_000  # nothing lost
    late, _ = buf.push(np.array([released[-1] - 1], np.int64), np.zeros(1, np.int16), np.zeros(1), np.ones(1, np.int8),
                       10**6, 2_500)
    assert late == 1  # behind what the cap released: late, as behind the tolerance


def test_a_flood_on_one_segment_keeps_its_checkpoint_under_kafkas_record_limit() -> None:
    # a deployment's smoke runs sent a segment's tags far above their scan rates: 43,679 readings waited within
    # the 5-s tolerance and the 1.08 MB checkpoint crashed both workers (the changelog record is capped at 1 MB)
    proc, store = _processor(reorder_max_readings=2_000)
    records = list(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=300).records(NETWORK))
    # 5 min of readings restamped into 1 s: the same readings, 300x their scan rate, all within the tolerance
    first_us = min(t for rec in records for ser in rec.series for t in ser.source_time_unix_us)
    for rec in records:
        for ser in rec.series:
            squeezed = [first_us + (t - first_us) // 300 for t in ser.source_time_unix_us]
            del ser.source_time_unix_us[:]
            ser.source_time_unix_us.extend(squeezed)
    sent = sum(len(ser.values_si) for rec in records for ser in rec.series)
    assert sent > 3 * 2_000
    result = _run(proc, _raw(records))
    runtime, _ = SegmentRuntime.decode(store.data["TR-01"])
    assert len(runtime.reorder) <= 2_000
    assert result.readings == sent and runtime.late_dropped == 0  # released early, none dropped
    assert len(store.data["TR-01"]) < 2_000 * 19 + 200_000


def test_segment_state_round_trips_and_refuses_garbage() -> None:
    rt = SegmentRuntime("TR-01", partition=3, last_offset=42, recent_ids=deque(["a", "b"]))
    rt.active_alarm = ActiveAlarm("TR-01/npw/1", 2, [2, 1], 5, 6, 7, {2: 6})
    rt.history = [b"x", b"yz"]
    back, blob = SegmentRuntime.decode(rt.encode(b"det"))
    assert blob == b"det" and back.last_offset == 42 and back.seen("a") and back.history == [b"x", b"yz"]
    assert back.active_alarm == rt.active_alarm
    for garbage in (b"", b"PWLD\x01\xff\xff\xff\xff", b"nonsense", rt.encode(b"det")[:-1]):
        with pytest.raises(StateDecodeError):
            SegmentRuntime.decode(garbage)


def test_duplicates_and_replays_do_not_count_twice() -> None:
    proc, _ = _processor()
    records = list(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=50).records(NETWORK))
    first = _run(proc, _raw(records))
    assert first.readings > 0
    again = _run(proc, _raw(records))  # replay of the same offsets after a crash
    assert again.readings == 0
    resent = _run(proc, _raw(records[-10:], first_offset=100))  # a gateway retry: new offsets, same ids
    assert resent.readings == 0
    assert proc.views["TR-01"].duplicates == 10


def test_recovery_from_checkpoint_continues_the_same_state() -> None:
    crashed, store = _processor()
    uninterrupted, other_store = _processor()
    records = list(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=40).records(NETWORK))
    _run(crashed, _raw(records[:20]))
    restarted = build_processor(LeakdetectConfig(), NETWORK, store, PrometheusMetrics(CollectorRegistry()))
    _run(restarted, _raw(records[10:20], first_offset=10))  # uncommitted offsets replayed: skipped
    _run(restarted, _raw(records[20:], first_offset=20))
    _run(uninterrupted, _raw(records))
    assert restarted.views["TR-01"].readings == uninterrupted.views["TR-01"].readings
    assert store.data["TR-01"] == other_store.data["TR-01"]  # bit-identical checkpoints


def _as_role_keyed_checkpoint(data: bytes, index_to_role: dict[int, int]) -> bytes:
    """A checkpoint as written before readings were keyed by tag index: the reorder buffer keyed by role ("r")."""
    import json

    head_len = int.from_bytes(data[5:9], "little")
    header = json.loads(data[9 : 9 + head_len])
    pos, blobs = 9 + head_len, []
    for name, length in header["blobs"]:
        blob = data[pos : pos + length]
        pos += length
        if name == "i":
            index = np.frombuffer(blob, "<i2")
            name, blob = "r", np.array([index_to_role[int(i)] for i in index], np.int8).tobytes()
        blobs.append((name, blob))
    assert [n for n, _ in blobs].count("r") == 1
    header["blobs"] = [[n, len(b)] for n, b in blobs]
    head = json.dumps(header, separators=(",", ":")).encode()
    return data[:5] + len(head).to_bytes(4, "little") + head + b"".join(b for _, b in blobs)


def test_a_checkpoint_keyed_by_role_resumes_as_one_keyed_by_tag_index() -> None:
    """Checkpoints written before the reorder buffer was keyed by tag index hold roles: they resume with the same
    readings and the same decisions as the checkpoint of today's format."""
    tolerance_s = 30.0  # a buffer that holds readings across the restart
    proc, store = _processor(reorder_tolerance_s=tolerance_s)
    records = list(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=60).records(NETWORK))
    _run(proc, _raw(records[:30]))
    buffered, _ = SegmentRuntime.decode(store.data["TR-01"])
    assert len(buffered.reorder) > 0
    core = proc.detector
    index_to_role = {i: core.tag_roles("TR-01")[t] for i, t in enumerate(core.detector_tags("TR-01"))}
    legacy_store = MemoryStateStore()
    legacy_store.data["TR-01"] = _as_role_keyed_checkpoint(store.data["TR-01"], index_to_role)
    assert SegmentRuntime.decode(legacy_store.data["TR-01"])[0].reorder.keyed_by_role
    resumed = [
        build_processor(LeakdetectConfig(reorder_tolerance_s=tolerance_s), NETWORK, s,
                        PrometheusMetrics(CollectorRegistry()))
        for s in (store, legacy_store)
    ]
    for p in resumed:
        _run(p, _raw(records[30:], first_offset=30))
    assert resumed[0].views["TR-01"].readings == resumed[1].views["TR-01"].readings
    assert store.data["TR-01"] == legacy_store.data["TR-01"]  # bit-identical from here on


def test_roles_of_an_older_checkpoint_map_to_the_tag_indices_of_today() -> None:
    """On a segment whose one detector tag is a methane sensor (role 5, index 0), buffered readings stored under
    their role reach the detector under the tag's index."""
    from services.contracts.pipewarden.telemetry.v1 import records_pb2

    tolerance_s = 600.0
    proc, store = _processor(reorder_tolerance_s=tolerance_s)
    sid, tag = "EH-C01", "EH-C01-CH4-MH1"
    assert list(proc.detector.detector_tags(sid)) == [tag] and proc.detector.tag_roles(sid)[tag] == 5
    t0 = 1_767_225_600_000_000  # 2026-01-01
    old = SegmentRuntime(sid)
    old.reorder = ReorderBuffer(
        time_us=np.array([t0, t0 + 1_000_000], np.int64), tag_index=np.array([0, 0], np.int16),
        value=np.array([1.0, 2.0]), quality=np.zeros(2, np.int8),
    )
    old.reorder.newest_us = t0 + 1_000_000
    today = old.encode(proc.detector.dump(sid, proc.detector.new_state(sid)))
    store.data[sid] = _as_role_keyed_checkpoint(today, {0: 5})
    assert SegmentRuntime.decode(store.data[sid])[0].reorder.tag_index.tolist() == [5, 5]
    msg = records_pb2.SegmentReadings(record_id=f"g/1/{sid}", segment_id=sid, gateway_id="g", batch_sequence=1)
    msg.series.add(tag_id=tag, source_time_unix_us=[t0 + 2_000_000], values_si=[3.0])
    resumed = build_processor(LeakdetectConfig(reorder_tolerance_s=tolerance_s), NETWORK, store,
                              PrometheusMetrics(CollectorRegistry()))
    _run(resumed, [RawRecord("telemetry.readings.v1", 0, 0, sid.encode(), msg.SerializeToString())])
    after, _ = SegmentRuntime.decode(store.data[sid])
    assert not after.reorder.keyed_by_role
    assert after.reorder.tag_index.tolist() == [0, 0, 0] and after.reorder.value.tolist() == [1.0, 2.0, 3.0]


def test_a_detector_state_of_another_version_restarts_the_detector_only() -> None:
    """After an upgrade that changed the detector's state layout: offsets, the reading ids seen and the open
    alarm survive; an unreadable segment state as a whole starts the segment afresh."""
    proc, store = _processor()
    records = list(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=40).records(NETWORK))
    _run(proc, _raw(records[:20]))
    runtime, _ = SegmentRuntime.decode(store.data["TR-01"])
    runtime.active_alarm = ActiveAlarm("TR-01/mb/1", 0, [1], 5, 6, 7, {1: 6}, mass_balance_active=True)
    store.data["TR-01"] = runtime.encode(b"PWDS detector state of another version")
    upgraded = build_processor(LeakdetectConfig(), NETWORK, store, PrometheusMetrics(CollectorRegistry()))
    assert _run(upgraded, _raw(records[:20])).readings == 0  # replayed offsets: still known, skipped
    assert _run(upgraded, _raw(records[20:], first_offset=20)).readings > 0
    after, _ = SegmentRuntime.decode(store.data["TR-01"])
    assert after.active_alarm is not None and after.active_alarm.alarm_id == "TR-01/mb/1"
    assert after.last_offset == 39

    store.data["TR-01"] = b"not a segment state"
    fresh = build_processor(LeakdetectConfig(), NETWORK, store, PrometheusMetrics(CollectorRegistry()))
    assert _run(fresh, _raw(records[:20])).readings > 0  # nothing known: read again
    assert SegmentRuntime.decode(store.data["TR-01"])[0].active_alarm is None


def test_garbage_goes_to_dead_letters() -> None:
    proc, _ = _processor()
    batch = [
        RawRecord("telemetry.readings.v1", 1, 7, b"k", b"\xff\xfe garbage"),
        RawRecord("telemetry.readings.v1", 1, 8, b"k", None),
        RawRecord("telemetry.readings.v1", 1, 9, b"k", b""),
        RawRecord(
            "telemetry.readings.v1",
            1,
            10,
            b"k",
            encode(
                LeakScenario(segment_id="TR-01", seconds=1)
                .records(NETWORK)
                .__next__()
                .__class__(record_id="g/1/NOPE", segment_id="NOPE", gateway_id="g")
            ),
        ),
    ]
    result = _run(proc, batch)
    assert len(result.dead_letters) == 4
    headers = dict(result.dead_letters[0].headers)
    assert headers["pw-dlq-source-offset"] == b"7" and headers["pw-dlq-source-partition"] == b"1"


def test_leak_raises_one_alarm_with_location_then_updates() -> None:
    proc, _ = _processor()
    sc = LeakScenario(segment_id="TR-01", leak_position_m=2500.0)
    alarms = []
    recs = list(sc.records(NETWORK))
    for i in range(0, len(recs), 300):
        alarms += _run(proc, _raw(recs[i : i + 300], first_offset=i)).alarms
    assert alarms and alarms[0].state == pb.ALARM_STATE_RAISED
    assert len({a.alarm_id for a in alarms}) == 1
    assert [a.alarm_sequence for a in alarms] == list(range(len(alarms)))
    # The scenario's 25 kPa wave is rupture-sized, so the raise may come from the rupture detector before the
    # pressure-wave pair is located; the location arrives on the same incident.
    located = [a for a in alarms if a.HasField("location")]
    assert located and abs(located[0].location.position_km - 2.5) < 0.3
    assert any(pb.DETECTION_METHOD_MASS_BALANCE in a.methods for a in alarms)


class _Abort(Exception):
    pass


class _Ctx:
    def invocation_metadata(self):  # type: ignore[no-untyped-def]
        return (("authorization", "Bearer " + issue("regulator", ["*"])),)

    def abort(self, code, details):  # type: ignore[no-untyped-def]
        self.code = code
        raise _Abort(details)


def test_query_api_answers_and_refuses_garbage() -> None:
    proc, _ = _processor()
    _run(proc, _raw(list(LeakScenario(segment_id="TR-01", leak_start_s=None, seconds=20).records(NETWORK))))
    servicer = LeakQueryServicer(NETWORK, lambda: proc.views.copy(), LEAKDETECT_VERIFIER)
    status = servicer.GetSegmentStatus(qpb.GetSegmentStatusRequest(segment_id="TR-01"), _Ctx()).status
    assert status.served_here and status.readings_processed > 0 and len(status.windows) >= 1
    other = servicer.GetSegmentStatus(qpb.GetSegmentStatusRequest(segment_id="TR-02"), _Ctx()).status
    assert not other.served_here
    for bad, code in (
        ("", grpc.StatusCode.INVALID_ARGUMENT),
        ("x" * 500, grpc.StatusCode.INVALID_ARGUMENT),
        ("NOPE", grpc.StatusCode.NOT_FOUND),
    ):
        ctx = _Ctx()
        with pytest.raises(_Abort):
            servicer.GetAlarmHistory(qpb.GetAlarmHistoryRequest(segment_id=bad), ctx)
        assert ctx.code == code
    assert servicer.ListActiveAlarms(qpb.ListActiveAlarmsRequest(), _Ctx()).alarms == []


def test_config_from_env_refuses_garbage() -> None:
    assert LeakdetectConfig.from_env({"PIPEWARDEN_LEAKDETECT_BATCH_MAX": "500"}).batch_max == 500
    with pytest.raises(ValueError, match="BATCH_MAX"):
        LeakdetectConfig.from_env({"PIPEWARDEN_LEAKDETECT_BATCH_MAX": "many"})
    with pytest.raises(ValueError):
        LeakdetectConfig.from_env({"PIPEWARDEN_LEAKDETECT_DETECTOR": "magic"})
    assert LeakdetectConfig.from_env({"PIPEWARDEN_LEAKDETECT_DATA_DIR": "/srv/ld"}).data_dir == "/srv/ld"
    with pytest.raises(ValueError, match="DATA_DIR"):
        LeakdetectConfig(data_dir=" ")
    assert LeakdetectConfig.from_env({"PIPEWARDEN_LEAKDETECT_REORDER_MAX_READINGS": "500"}).reorder_max_readings == 500
    for garbage in ("0", "-3", "lots", "1e9"):
        with pytest.raises(ValueError, match="REORDER_MAX_READINGS"):
            LeakdetectConfig.from_env({"PIPEWARDEN_LEAKDETECT_REORDER_MAX_READINGS": garbage})


def test_refined_rate_from_the_core_is_published_as_an_update_of_the_same_incident() -> None:
    from services.leakdetect.domain import events as E
    from services.leakdetect.service_layer.alarms import AlarmPolicy, AlarmTracker, SegmentInfo
    from services.leakdetect.service_layer.segment_state import SegmentRuntime

    minute_us = 60_000_000
    tracker = AlarmTracker(
        AlarmPolicy(
            hold_us=minute_us,
            update_min_interval_us=10 * minute_us,
            onset_bucket_us=15 * minute_us,
            history_per_segment=10,
        ),
        lambda: 0,
    )
    info = SegmentInfo("TR-01", "Dongsheng", 6200.0, 4.5, {}, {}, {})
    runtime = SegmentRuntime("TR-01")
    t0 = 1_800_000_000_000_000
    raised = tracker.apply(
        info, runtime, [E.LeakRaised(0, t0, t0 - minute_us, 0.9, 0.2, statistic=0.0, test=0, mdlr_kg_per_s=0.0)], t0
    ).alarms
    refined = tracker.apply(
        info,
        runtime,
        [E.LeakUpdated(0, t0 + 5 * minute_us, 0, 1.6, 0.1, blocks=10, cusum=0.0, mdlr_kg_per_s=0.0)],
        t0 + 5 * minute_us,
    ).alarms
    assert [a.state for a in raised] == [pb.ALARM_STATE_RAISED]
    assert [a.state for a in refined] == [pb.ALARM_STATE_UPDATED]
    assert refined[0].alarm_id == raised[0].alarm_id and refined[0].alarm_sequence == 1
    assert refined[0].leak_rate.rate_kg_per_s == 1.6
    # Without an active incident a refinement is not an alarm.
    assert (
        tracker.apply(
            info, SegmentRuntime("TR-02"), [E.LeakUpdated(0, t0, 0, 1.0, 0.0, 10, 0.0, 0.0)], t0
        ).alarms
        == []
    )


def test_an_alarm_says_how_its_position_was_found_also_after_a_restart() -> None:
    """The method that gave the position is kept with the alarm (and its checkpoint): a balance alarm that a
    pressure wave located, the gradient not yet, is "pressure_wave"; a checkpoint from before the method was kept
    falls back to the methods that saw the alarm."""
    from services.leakdetect.service_layer.alarms import MB, NPW, leak_location

    alarm = ActiveAlarm("TR-01/mb/1", 0, [MB, NPW], 5, 6, 7, {}, mass_balance_active=True, position_m=3000.0,
                        position_sigma_m=100.0, position_method="pressure_wave")
    rt = SegmentRuntime("TR-01", active_alarm=alarm)
    restored = SegmentRuntime.decode(rt.encode(b"det"))[0].active_alarm
    assert restored is not None and leak_location(restored, 10_000.0).method == "pressure_wave"
    older = ActiveAlarm.from_json({k: v for k, v in alarm.to_json().items() if k != "position_method"})
    assert leak_location(older, 10_000.0).method == "pressure_gradient+pressure_wave"


def test_the_published_interval_is_clamped_to_the_bracketing_sub_segment_and_survives_a_restart() -> None:
    """A mid-line flow station's sub-segment balance brackets the leak: the interval on leak.alarms.v1 lies in
    that sub-segment (the position inside it), as the facade's does; a point outside it keeps its own interval."""
    from services.leakdetect.domain import events as E
    from services.leakdetect.service_layer.alarms import MB, _locate, leak_location

    alarm = ActiveAlarm("TR-01/mb/1", 0, [MB], 5, 6, 7, {}, mass_balance_active=True)
    located = E.LeakLocated(0, 7, 5, 1, 12_000.0, 2_500.0, 12_000.0, 2_500.0, 600.0, 9_500.0, 14_000.0)
    _locate(alarm, located, 20_000.0)
    loc = leak_location(alarm, 20_000.0)
    assert (loc.ci_low_km, loc.ci_high_km) == (9.5, 14.0)  # 12 ± 4.9 km, clamped to the 9.5-14 km sub-segment
    restored = SegmentRuntime.decode(SegmentRuntime("TR-01", active_alarm=alarm).encode(b"det"))[0].active_alarm
    assert restored is not None and leak_location(restored, 20_000.0) == loc
    older = ActiveAlarm.from_json({k: v for k, v in alarm.to_json().items() if not k.startswith("bracket")})
    assert leak_location(older, 20_000.0).ci_low_km == pytest.approx(12.0 - 1.959964 * 2.5, abs=1e-3)
    alarm.position_m = 16_000.0  # a pressure wave's point beyond the bracket: its upper side is its own
    outside = leak_location(alarm, 20_000.0)
    assert outside.ci_low_km == pytest.approx(16.0 - 1.959964 * 2.5, abs=1e-3) and outside.ci_high_km == 20.0
