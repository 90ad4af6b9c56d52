"""End to end: a simulated field with a physical leak on TR-03 -> telemetry gRPC -> Kafka -> a leakdetect
worker subprocess -> an alarm on ``leak.alarms.v1`` for TR-03, located within tolerance.

The detectors work on source time and learn a baseline for an hour first, so the gateways replay stored
history time-compressed ("store-and-forward" catch-up): source time starts 100 simulated minutes in the
past and runs ``TIME_SCALE`` times faster than real time, never beyond now.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2 as pb
from services.fieldsim import Fleet, FleetConfig
from services.gasflow import LeakSpec
from services.gasflow.fieldsource import SimulatedValues
from services.network import load_demo_network
from services.telemetry.bootstrap import build_server
from services.telemetry.config import TelemetryConfig
from services.topics import TELEMETRY_READINGS
from tests.integration.leakdetect.conftest import WorkerProcess, alarms_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]

NETWORK = load_demo_network()
SEGMENT, GATEWAY = "TR-03", "gw-transmission"
TOKENS = {GATEWAY: "tok-e2e-transmission"}
LEAK_POSITION_M = 3000.0
LEAK_KG_PER_S = 3.0  # NPW needs a front well above the 2.5 MPa-span transmitters noise (~0.9 kPa)
LEARN_S = 70 * 60.0  # the detectors learn their baseline over the first 60 simulated minutes
AFTER_LEAK_S = 10 * 60.0
TIME_SCALE = 200.0


def _start_group_at_the_end(bootstrap: str, group_id: str) -> None:
    """Commit the readings topic's current end offsets for the worker's group, so that it reads only this
    test's history: other tests publish TR-03 readings at the present time on the shared broker, and the
    worker drops readings older than a segment's clock as late."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(TELEMETRY_READINGS.name, p)
            for p in sorted(consumer.partitions_for_topic(TELEMETRY_READINGS.name) or ())
        ]
        ends = consumer.end_offsets(partitions)
        consumer.commit({tp: OffsetAndMetadata(ends[tp], "", -1) for tp in partitions})
    finally:
        consumer.close()


def _run_alarms(bootstrap: str, onset_unix_s: float) -> list[pb.LeakAlarmEvent]:
    # the session broker is shared: only alarms from this run's history count
    return [e for e in alarms_for(bootstrap, SEGMENT) if e.onset_time_unix_us >= (onset_unix_s - LEARN_S) * 1e6]


def _located_alarms(bootstrap: str, onset_unix_s: float) -> list[pb.LeakAlarmEvent]:
    return [e for e in _run_alarms(bootstrap, onset_unix_s) if e.HasField("location")]


async def test_simulated_leak_reaches_an_alarm_for_the_right_segment_and_place(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    app_id = f"pw-e2e-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(_start_group_at_the_end, kafka_bootstrap, app_id)
    worker = WorkerProcess(kafka_bootstrap, app_id, tmp_path, "leakdetect")
    worker.start()  # first, so that it is up (numba caches loaded) while the history streams
    server = build_server(
        TelemetryConfig(
            listen_address="127.0.0.1:0", kafka_bootstrap=kafka_bootstrap, gateway_tokens=TOKENS,
            metrics_port=-1, kafka_linger_ms=5, kafka_start_timeout_s=30.0,
        ),
        network=NETWORK,
    )  # fmt: skip
    port = await server.start()
    start = float(int(time.time() - LEARN_S - AFTER_LEAK_S - 600.0))
    onset = start + LEARN_S
    values = SimulatedValues(
        NETWORK, seed=11, leaks=(LeakSpec(SEGMENT, LEAK_POSITION_M, onset, rate_kg_per_s=LEAK_KG_PER_S),)
    )
    try:
        fleet = Fleet(
            NETWORK,
            FleetConfig(
                target=f"127.0.0.1:{port}", tokens=TOKENS, first_sequence=1 + time.time_ns() // 1000, seed=11,
                start_unix_s=start, time_scale=TIME_SCALE, batch_source_s=10.0,
                end_unix_s=onset + AFTER_LEAK_S, ack_timeout_s=30.0,
            ),
            values,
        )  # fmt: skip
        report = await asyncio.wait_for(fleet.run(), 240)
        summary = report.summary()
        assert summary["batches_failed"] == summary["batches_dropped"] == 0, summary
        assert summary["readings_rejected"] == 0, summary

        deadline = time.monotonic() + 120
        alarms: list[pb.LeakAlarmEvent] = []
        while not alarms and time.monotonic() < deadline:
            alarms = await asyncio.to_thread(_located_alarms, kafka_bootstrap, onset)
            if not alarms:
                await asyncio.sleep(3)
        if not alarms:
            try:
                status = str(await asyncio.to_thread(worker.status, SEGMENT))
            except Exception as error:  # the worker may be the problem
                status = repr(error)
            any_alarm = await asyncio.to_thread(alarms_for, kafka_bootstrap, SEGMENT)
            raise AssertionError(
                f"no located alarm on {SEGMENT} (onset {onset:.0f}); alarms on the topic: {any_alarm}\n"
                f"status: {status}\nworker log:\n{worker.log_text()[-1500:]}"
            )
    finally:
        await server.stop(grace_s=1.0)
        worker.stop()

    length_km = NETWORK.segments[SEGMENT].length_m / 1000.0
    # A leak of this size is a rupture (>= 20 % of TR-03's nominal flow): the rupture check may raise the alarm
    # before the pressure wave has located it, so the RAISED event need not carry the location its updates do.
    everything = _run_alarms(kafka_bootstrap, onset)
    raised = [a for a in everything if a.state == pb.ALARM_STATE_RAISED]
    assert len({a.alarm_id for a in raised}) == 1, [(a.alarm_id, a.state) for a in everything]
    assert {a.alarm_id for a in alarms} == {raised[0].alarm_id}  # located updates of that one incident
    # The pressure wave dates the onset to seconds; a mass-balance update may move it to its 1-min block.
    assert abs(raised[0].onset_time_unix_us / 1e6 - onset) <= 30.0, (raised[0].onset_time_unix_us, onset)
    for alarm in alarms:
        assert alarm.district == NETWORK.segments[SEGMENT].district
        assert abs(alarm.onset_time_unix_us / 1e6 - onset) <= 180.0
        tolerance_km = max(0.1 * length_km, alarm.location.uncertainty_km)
        assert abs(alarm.location.position_km - LEAK_POSITION_M / 1000.0) <= tolerance_km, alarm.location
