"""A consumer-group rebalance in the middle of a leak: the segment's partition moves to another worker, which
resumes the incident from the changelogged state instead of raising it a second time."""

from __future__ import annotations

import signal

import pytest

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2 as pb
from services.network import load_demo_network
from tests.support.leakdetect_scenario import LeakScenario

from .conftest import alarms_for, produce, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

NETWORK = load_demo_network()
SEGMENT = "TR-04"  # no other integration test uses it: the alarm topic is shared by the session


def _wave_speed(segment_id: str) -> float:
    from services.leakdetect.adapters.core_detector import CoreDetector
    from services.leakdetect.domain import layout as L

    det = CoreDetector(NETWORK)
    return float(det.new_state(segment_id).config.seg_cfg[0, L.GC_WAVE_SPEED])


def test_leak_keeps_its_alarm_when_the_segment_moves_to_another_worker(kafka_bootstrap: str, worker_factory) -> None:
    sc = LeakScenario(segment_id=SEGMENT, leak_position_m=3000.0, wave_speed_m_per_s=_wave_speed(SEGMENT), seed=13)
    # Learning period and the leak's pressure fronts (the leak starts at 4500 s), all for worker 1 alone.
    produce(kafka_bootstrap, sc.records(NETWORK, 0, 4560))
    w1, w2 = worker_factory("w1"), worker_factory("w2")
    w1.start()
    raised = wait_for(
        lambda: [e for e in alarms_for(kafka_bootstrap, SEGMENT) if e.state == pb.ALARM_STATE_RAISED],
        150,
        f"the raise on {SEGMENT} by worker 1",
    )
    alarm_id = raised[0].alarm_id
    wait_for(lambda: w1.status(SEGMENT).active_alarm.alarm_id == alarm_id, 30, "worker 1 holding the alarm")

    # Worker 2 joins the group (first rebalance), then worker 1 leaves gracefully (second rebalance): the
    # segment's partition ends up on worker 2 whichever worker the first rebalance gave it to.
    w2.start()
    wait_for(lambda: "Worker ready" in w2.log_path.read_text(errors="replace"), 90, "worker 2 in the group")
    w1.stop()
    assert w1.proc is not None and w1.proc.returncode not in (None, -signal.SIGKILL), "worker 1 did not stop gracefully"

    before_move = alarms_for(kafka_bootstrap, SEGMENT)

    # The leak continues; worker 2 alone sees the rest of it (a worker serves a segment once it has read it).
    produce(kafka_bootstrap, sc.records(NETWORK, 4560))
    wait_for(lambda: w2.status(SEGMENT).served_here, 120, f"worker 2 serving {SEGMENT}", interval_s=2)
    assert w2.status(SEGMENT).active_alarm.alarm_id == alarm_id
    wait_for(
        lambda: any(pb.DETECTION_METHOD_MASS_BALANCE in e.methods for e in alarms_for(kafka_bootstrap, SEGMENT)),
        150,
        f"the mass balance to confirm the {SEGMENT} leak on worker 2",
    )
    events = alarms_for(kafka_bootstrap, SEGMENT)
    states = [(e.alarm_id, pb.AlarmState.Name(e.state), e.alarm_sequence) for e in events]
    assert [e for e in events if e.state == pb.ALARM_STATE_RAISED] == raised[:1], states
    assert {e.alarm_id for e in events} == {alarm_id}, states
    assert events[: len(before_move)] == before_move, states
    after_move = events[len(before_move) :]  # published by worker 2
    assert after_move and all(e.state == pb.ALARM_STATE_UPDATED for e in after_move), states
    assert any(pb.DETECTION_METHOD_MASS_BALANCE in e.methods for e in after_move), states
    assert len({e.event_id for e in events}) == len(events), states
    assert [e.alarm_sequence for e in events] == sorted({e.alarm_sequence for e in events}), states
    status = w2.status(SEGMENT)
    assert status.served_here and status.active_alarm.alarm_id == alarm_id
