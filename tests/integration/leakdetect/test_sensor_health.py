"""Sensor-health changes reach `leak.sensor-health.v1`: a flow meter that stops reporting turns STALE, the
event id is deterministic (a second worker group replaying the same readings publishes the same ids), and
the silent meter raises no leak alarm."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2 as pb
from services.contracts.pipewarden.telemetry.v1 import records_pb2
from services.network import load_demo_network
from services.topics import LEAK_SENSOR_HEALTH
from tests.fixtures.kafka import consume_all
from tests.support.leakdetect_scenario import T0_US, LeakScenario

from .conftest import alarms_for, produce, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

NETWORK = load_demo_network()
SEGMENT = "DS-M01"  # no other integration test uses it: the topics are shared by the session
DEAD_TAG = f"{SEGMENT}-FT-DN"
SECONDS = 240
DIES_AT_S = 120  # the downstream flow meter's last reading is at 119 s


def _records() -> Iterator[records_pb2.SegmentReadings]:
    sc = LeakScenario(
        segment_id=SEGMENT,
        gateway_id=NETWORK.tags[f"{SEGMENT}-FT-UP"].gateway_id,
        leak_start_s=None,
        seconds=SECONDS,
        seed=17,
    )
    for sec, rec in enumerate(sc.records(NETWORK)):
        if sec >= DIES_AT_S:
            kept = [s for s in rec.series if s.tag_id != DEAD_TAG]
            del rec.series[:]
            rec.series.extend(kept)
        yield rec


def _health_events(bootstrap: str) -> list[pb.SensorHealthEvent]:
    out = []
    for r in consume_all(bootstrap, LEAK_SENSOR_HEALTH.name, timeout_s=20):
        ev = pb.SensorHealthEvent()
        ev.ParseFromString(r.value or b"")
        if ev.segment_id == SEGMENT:
            out.append(ev)
    return out


def _stale(events: list[pb.SensorHealthEvent]) -> list[pb.SensorHealthEvent]:
    return [e for e in events if e.tag_id == DEAD_TAG and e.health == pb.SENSOR_HEALTH_STALE]


def test_meter_that_stops_reporting_turns_stale_on_the_health_topic(kafka_bootstrap: str, worker_factory) -> None:
    produce(kafka_bootstrap, _records())
    worker = worker_factory("w1")
    worker.start()
    wait_for(lambda: worker.status(SEGMENT).readings_processed >= SECONDS * 21, 120, f"{SEGMENT} fully processed")
    stale = wait_for(lambda: _stale(_health_events(kafka_bootstrap)), 60, f"{DEAD_TAG} reported STALE")
    assert len(stale) == 1, [(e.event_id, e.health) for e in stale]
    ev = stale[0]
    assert ev.event_id == f"{DEAD_TAG}/{ev.change_time_unix_us}"
    assert ev.district and ev.previous_health != pb.SENSOR_HEALTH_STALE
    last_reading_us = T0_US + (DIES_AT_S - 1) * 1_000_000
    # stale after the allowed silence (>= 5 s) counted in source time, well before the data ends
    assert last_reading_us + 5_000_000 <= ev.change_time_unix_us <= last_reading_us + 60_000_000
    sensors = {t.tag_id: t.health for t in worker.status(SEGMENT).sensors}
    assert sensors[DEAD_TAG] == pb.SENSOR_HEALTH_STALE, sensors
    assert alarms_for(kafka_bootstrap, SEGMENT) == []

    # Another consumer group replays the same readings: the same change, the same event id.
    replay = worker_factory("replay")
    replay.app_id = f"pw-ld-test-{uuid.uuid4().hex[:8]}"
    replay.start()
    wait_for(lambda: replay.status(SEGMENT).readings_processed >= SECONDS * 21, 120, f"{SEGMENT} replayed")
    again = wait_for(
        lambda: (s := _stale(_health_events(kafka_bootstrap))) and len(s) >= 2 and s, 60, "the replayed STALE event"
    )
    assert [e.event_id for e in again] == [ev.event_id, ev.event_id]
    assert again[1] == ev
    assert alarms_for(kafka_bootstrap, SEGMENT) == []
