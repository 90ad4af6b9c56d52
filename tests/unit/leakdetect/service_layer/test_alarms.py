"""Unit tests of the alarm lifecycle: incident ids, methane details, the MDLR of sensor-health events, and
the configuration the lifecycle depends on."""

from __future__ import annotations

import json
import math
import struct

import pytest

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2 as pb
from services.leakdetect.config import LeakdetectConfig
from services.leakdetect.domain import events as E
from services.leakdetect.service_layer.alarms import AlarmPolicy, AlarmTracker, SegmentInfo
from services.leakdetect.service_layer.segment_state import SegmentRuntime

BUCKET_US = 600_000_000
T0_US = 1_800_000_000_000_000 - 1_800_000_000_000_000 % BUCKET_US  # start of an onset bucket
S_US = 1_000_000
INFO = SegmentInfo("TR-01", "Dongsheng", 6200.0, 4.5, {5: "CH4-1"}, {"CH4-1": 1000.0}, {"CH4-1": True})


def _tracker() -> AlarmTracker:
    return AlarmTracker(
        AlarmPolicy(
            hold_us=1800 * S_US, update_min_interval_us=60 * S_US, onset_bucket_us=BUCKET_US, history_per_segment=50
        ),
        lambda: 0,
    )


def _methane(t_us: int, lel: float = 12.0) -> E.MethaneLevel:
    return E.MethaneLevel(0, 5, t_us, level=1, lel_pct=lel, rise_lel_pct_per_min=1.5, grade_hint=2, confined=False)


def _cleared(t_us: int) -> E.MethaneCleared:
    return E.MethaneCleared(0, 5, t_us, lel_pct=0.0, rise_lel_pct_per_min=0.0, confined=False)


def _apply(tracker: AlarmTracker, runtime: SegmentRuntime, ev: E.DetectorEvent) -> list[pb.LeakAlarmEvent]:
    return tracker.apply(INFO, runtime, [ev], ev.time_us).alarms


def _without_header_key(data: bytes, key: str) -> bytes:
    """The checkpoint as a version that did not write `key` would have written it."""
    (n,) = struct.unpack_from("<I", data, 5)
    header = json.loads(data[9 : 9 + n])
    del header[key]
    head = json.dumps(header, separators=(",", ":")).encode()
    return data[:5] + struct.pack("<I", len(head)) + head + data[9 + n :]


# --- 3. a second incident in the same onset bucket ----------------------------------------------------------
def test_a_new_incident_in_the_same_onset_bucket_gets_new_ids_and_a_replay_the_same() -> None:
    tracker, runtime = _tracker(), SegmentRuntime("TR-01")
    first = _apply(tracker, runtime, _methane(T0_US + 10 * S_US))
    cleared = _apply(tracker, runtime, _cleared(T0_US + 40 * S_US))
    checkpoint = runtime.encode(b"det")
    second = _apply(tracker, runtime, _methane(T0_US + 70 * S_US, lel=25.0))
    assert [a.state for a in first + cleared + second] == [
        pb.ALARM_STATE_RAISED,
        pb.ALARM_STATE_CLEARED,
        pb.ALARM_STATE_RAISED,
    ]
    assert first[0].alarm_id == cleared[0].alarm_id != second[0].alarm_id
    assert len({a.event_id for a in first + cleared + second}) == 3
    # Deterministic: resumed from the checkpoint taken before it, the second incident gets the same ids.
    resumed, _ = SegmentRuntime.decode(checkpoint)
    replayed = _apply(_tracker(), resumed, _methane(T0_US + 70 * S_US, lel=25.0))
    assert [a.event_id for a in replayed] == [a.event_id for a in second]


def test_a_checkpoint_written_before_incidents_were_counted_still_loads() -> None:
    runtime = SegmentRuntime("TR-01", partition=2, last_offset=9)
    runtime.incidents = 4
    old = _without_header_key(runtime.encode(b"det"), "incidents")
    back, blob = SegmentRuntime.decode(old)
    assert blob == b"det" and back.last_offset == 9 and back.incidents == 0
    assert SegmentRuntime.decode(runtime.encode(b"det"))[0].incidents == 4


# --- 4. sensor-health MDLR -----------------------------------------------------------------------------------
def test_sensor_health_mdlr_is_the_one_after_the_change_and_finite() -> None:
    stale = E.SensorHealthChanged(0, 5, T0_US, health=pb.SENSOR_HEALTH_STALE, previous=1, mdlr_kg_per_s=0.2)
    after = _tracker().apply(INFO, SegmentRuntime("TR-01"), [stale], T0_US, segment_mdlr_kg_per_s=0.9).health
    assert [h.segment_mdlr_kg_per_s for h in after] == [0.9]
    for not_monitoring in (math.inf, math.nan):
        blind = _tracker().apply(
            INFO, SegmentRuntime("TR-01"), [stale], T0_US, segment_mdlr_kg_per_s=not_monitoring
        ).health
        assert [h.segment_mdlr_kg_per_s for h in blind] == [0.0]


# --- 7. methane details --------------------------------------------------------------------------------------
def test_methane_alarms_carry_the_rise_rate_and_the_grade_hint_of_either_kind() -> None:
    rise = E.MethaneRise(0, 5, T0_US, lel_pct=12.0, rise_lel_pct_per_min=20.0, grade_hint=2, confined=False)
    (raised,) = _apply(_tracker(), SegmentRuntime("TR-01"), rise)
    assert raised.grade_hint == pb.GRADE_HINT_2 and raised.methane.rise_rate_pct_per_min == 20.0
    (level,) = _apply(_tracker(), SegmentRuntime("TR-01"), _methane(T0_US))
    assert level.grade_hint == pb.GRADE_HINT_2 and level.methane.rise_rate_pct_per_min == 1.5


# --- 6. configuration ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PIPEWARDEN_LEAKDETECT_HISTORY", "0"),
        ("PIPEWARDEN_LEAKDETECT_HISTORY", "-3"),
        ("PIPEWARDEN_LEAKDETECT_ALARM_HOLD_S", "-1"),
        ("PIPEWARDEN_LEAKDETECT_ALARM_HOLD_S", "nan"),
        ("PIPEWARDEN_LEAKDETECT_UPDATE_MIN_INTERVAL_S", "-1"),
        ("PIPEWARDEN_LEAKDETECT_ONSET_BUCKET_S", "0"),
        ("PIPEWARDEN_LEAKDETECT_MAX_CLOCK_SKEW_S", "-5"),
        ("PIPEWARDEN_LEAKDETECT_MAX_CLOCK_SKEW_S", "inf"),
    ],
)
def test_config_refuses_values_the_alarm_lifecycle_cannot_use(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable.removeprefix("PIPEWARDEN_LEAKDETECT_")):
        LeakdetectConfig.from_env({variable: value})


def test_config_accepts_the_edges_and_the_policy_refuses_an_empty_history() -> None:
    cfg = LeakdetectConfig.from_env(
        {"PIPEWARDEN_LEAKDETECT_HISTORY": "1", "PIPEWARDEN_LEAKDETECT_ALARM_HOLD_S": "0",
         "PIPEWARDEN_LEAKDETECT_MAX_CLOCK_SKEW_S": "0"}
    )
    assert cfg.history_per_segment == 1 and cfg.alarm_hold_s == 0.0 and cfg.max_clock_skew_us == 0
    with pytest.raises(ValueError, match="history"):
        AlarmPolicy(hold_us=0, update_min_interval_us=0, onset_bucket_us=1, history_per_segment=0)
