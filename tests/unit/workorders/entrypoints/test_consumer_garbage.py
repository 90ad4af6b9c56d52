"""Garbage on the alarm and sensor-health topics is never taken for a transient database error.

The consumers retry only what ``is_transient_error`` calls transient and dead-letter everything else, so
a record that fails the same way on every attempt must never be classified transient: that is what
stalled a partition for good (issue "Fix first", 1). Here every generated record goes the consumer's way
(decode, parse, handler on a real SQLite event store) and whatever it raises must be a refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.eventstore import is_transient_error
from services.topics import decode, encode
from services.workorders.adapters.alarms import alarm_facts
from services.workorders.adapters.sensor_health import sensor_health_facts
from services.workorders.bootstrap import build_runtime
from services.workorders.entrypoints.runtime import Runtime

_SEGMENT = "TR-01"  # in the demo network
_text = st.one_of(
    st.sampled_from(["", _SEGMENT, "Dongsheng", "x" * 199, "x" * 200, "x" * 201, "a\x00b", "\x07", "é" * 150]),
    st.text(max_size=260),
)
_times = st.one_of(st.sampled_from([0, 1_700_000_000_000_000]), st.integers(min_value=-(2**63), max_value=2**63 - 1))
_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    path: Path = tmp_path_factory.mktemp("garbage")
    rt = build_runtime(f"sqlite:///{path}/workorders.sqlite3")
    try:
        yield rt
    finally:
        rt.stop()


def _apply_like_the_consumer(runtime: Runtime, value: bytes, message_type: type, parse, handle) -> None:  # type: ignore[no-untyped-def]
    try:
        message: Any = decode(message_type, value, topic="t", partition=0, offset=0)
        facts = parse(message)
        handle(facts, message.event_id)
    except Exception as error:  # the point: whatever it is, it is not "try again"
        assert not is_transient_error(error), f"{type(error).__name__}: {error}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event_id=_text,
    alarm_id=_text,
    segment_id=st.one_of(st.just(_SEGMENT), _text),
    district=_text,
    sequence=st.integers(min_value=0, max_value=2**32 - 1),
    state=st.integers(min_value=0, max_value=5),
    times=st.tuples(_times, _times, _times),
    rate=_floats,
    position=_floats,
    interval=st.tuples(_floats, _floats, _floats),  # ci_low_km, ci_high_km, confidence_level
    method=_text,
    clear_reason=_text,
    methane_tag=st.one_of(st.none(), _text),
)
def test_garbage_alarms_are_refused_never_retried(
    runtime: Runtime,
    event_id,
    alarm_id,
    segment_id,
    district,  # type: ignore[no-untyped-def]
    sequence,
    state,
    times,
    rate,
    position,
    interval,
    method,
    clear_reason,
    methane_tag,
):
    message = alarms_pb2.LeakAlarmEvent(
        event_id=event_id,
        alarm_id=alarm_id,
        alarm_sequence=sequence,
        state=state,
        segment_id=segment_id,
        district=district,
        methods=[alarms_pb2.DETECTION_METHOD_MASS_BALANCE],
        onset_time_unix_us=times[0],
        detection_time_unix_us=times[1],
        event_time_unix_us=times[2],
        clear_reason=clear_reason,
    )
    message.leak_rate.rate_kg_per_s = rate
    message.location.position_km = position
    message.location.ci_low_km, message.location.ci_high_km, message.location.confidence_level = interval
    message.location.method = method
    if methane_tag is not None:
        message.methane.tag_id = methane_tag
        message.methane.lel_pct = 30.0
    _apply_like_the_consumer(runtime, encode(message), alarms_pb2.LeakAlarmEvent, alarm_facts, runtime.app.handle_alarm)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event_id=_text,
    tag_id=_text,
    segment_id=st.one_of(st.just(_SEGMENT), _text),
    district=_text,
    detail=_text,
    health=st.integers(min_value=0, max_value=7),
    change_time=_times,
    mdlr=_floats,
)
def test_garbage_sensor_health_is_refused_never_retried(
    runtime: Runtime,
    event_id,
    tag_id,
    segment_id,  # type: ignore[no-untyped-def]
    district,
    detail,
    health,
    change_time,
    mdlr,
):
    message = alarms_pb2.SensorHealthEvent(
        event_id=event_id,
        tag_id=tag_id,
        segment_id=segment_id,
        district=district,
        health=health,
        detail=detail,
        change_time_unix_us=change_time,
        segment_mdlr_kg_per_s=mdlr,
    )
    _apply_like_the_consumer(
        runtime, encode(message), alarms_pb2.SensorHealthEvent, sensor_health_facts, runtime.app.handle_sensor_health
    )


@pytest.mark.parametrize("value", [b"", b"\x00", b"\xff" * 40, b"\x0a\x05abc", bytes(range(256))])
def test_undecodable_bytes_are_refused_never_retried(runtime: Runtime, value: bytes) -> None:
    _apply_like_the_consumer(runtime, value, alarms_pb2.LeakAlarmEvent, alarm_facts, runtime.app.handle_alarm)
