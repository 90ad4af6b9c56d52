"""The stream worker's learning-command consumer (`BatchProcessor` on leak.learning-commands.v1 records): a
command is applied once per id by the segment's worker, a leak-free period waits until the readings pass it,
refusals are recorded with their reason, and garbage records are dead-lettered with the problem named while
the batch's other records are used."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from services.contracts.pipewarden.leakdetect.v1 import learning_pb2
from services.leakdetect.adapters.faust_state import MemoryStateStore
from services.leakdetect.adapters.metrics import PrometheusMetrics
from services.leakdetect.bootstrap import build_processor
from services.leakdetect.config import LeakdetectConfig
from services.leakdetect.service_layer.processor import RawRecord
from services.leakdetect.service_layer.segment_state import SegmentRuntime
from services.network import load_demo_network
from services.topics import LEAK_LEARNING_COMMANDS, TELEMETRY_READINGS, encode
from services.topics.codecs import DLQ_ERROR
from tests.support.leakdetect_scenario import T0_US, LeakScenario

NETWORK = load_demo_network()
SEG = "TR-01"
SCENARIO = LeakScenario(segment_id=SEG, seconds=1800, leak_start_s=None, pressure_hz=1)


class FixedClock:
    def now_us(self) -> int:
        return T0_US + 10**12  # far after the scenario: no reading is "ahead of the processing clock"


def _processor():  # type: ignore[no-untyped-def]
    store = MemoryStateStore()
    return build_processor(LeakdetectConfig(), NETWORK, store, PrometheusMetrics(CollectorRegistry()),
                           FixedClock()), store


def _readings(start_s: int, stop_s: int, offset0: int = 0) -> list[RawRecord]:
    return [RawRecord(TELEMETRY_READINGS.name, 0, offset0 + i, SEG.encode(), encode(r))
            for i, r in enumerate(SCENARIO.records(NETWORK, start_s, stop_s))]


def _cmd(offset: int, command_id: str, **kind: object) -> RawRecord:
    cmd = learning_pb2.LearningCommand(command_id=command_id, segment_id=SEG, requested_by="supervisor:ann",
                                       **kind)  # type: ignore[arg-type]
    return RawRecord(LEAK_LEARNING_COMMANDS.name, 0, offset, SEG.encode(), encode(cmd))


def _free(start_s: float, end_s: float) -> learning_pb2.MarkLeakFree:
    return learning_pb2.MarkLeakFree(start_unix_us=T0_US + int(start_s * 1e6), end_unix_us=T0_US + int(end_s * 1e6))


def _run(proc, batch):  # type: ignore[no-untyped-def]
    result = proc.process(batch)
    proc.checkpoint(result)
    return result


@pytest.fixture(scope="module")
def fed():  # type: ignore[no-untyped-def]
    proc, store = _processor()
    _run(proc, _readings(0, 1500))
    return proc, store


def test_a_leak_free_period_waits_for_its_readings_then_refits_once(fed) -> None:  # type: ignore[no-untyped-def]
    proc, store = fed
    # a period the readings have not passed: pending, and kept in the segment's checkpoint
    _run(proc, [_cmd(0, "c-1", mark_leak_free=_free(600, 1600))])
    assert proc.views[SEG].last_command["outcome"] == "pending"
    runtime, _ = SegmentRuntime.decode(store.get(SEG))
    assert len(runtime.pending_commands) == 1 and runtime.last_command["command_id"] == "c-1"
    _run(proc, _readings(1500, 1700, offset0=1500))
    view = proc.views[SEG]
    assert view.last_command == {"command_id": "c-1", "outcome": "applied",
                                 "message": "baseline refitted from the period", "requested_by": "supervisor:ann"}
    b = view.status.baseline
    assert b.source == "leak_free" and b.learned and b.window_start_unix_s == pytest.approx(T0_US / 1e6 + 600)
    learned_at = b.learned_unix_s
    # the same command again (a producer's retry, a replay): applied once
    _run(proc, [_cmd(1, "c-1", mark_leak_free=_free(600, 1600))])
    assert proc.views[SEG].status.baseline.learned_unix_s == learned_at


def test_refusals_are_recorded_with_their_reason(fed) -> None:  # type: ignore[no-untyped-def]
    proc, _ = fed
    _run(proc, [_cmd(2, "c-2", mark_leak_free=_free(0, 300))])  # long out of the ring's reach
    last = proc.views[SEG].last_command
    assert last["outcome"] == "refused" and "before the detector's oldest block" in last["message"]


def test_learn_now_is_applied_by_the_owning_worker(fed) -> None:  # type: ignore[no-untyped-def]
    proc, _ = fed
    _run(proc, [_cmd(3, "c-3", learn_now=learning_pb2.LearnNow(at_unix_us=T0_US + 1700 * 1_000_000))])
    assert proc.views[SEG].last_command["outcome"] == "applied"
    _run(proc, _readings(1700, 1800, offset0=1700))
    assert proc.views[SEG].status.baseline.learning == "learn_now"


@pytest.mark.parametrize(("value", "problem"), [
    (None, "value is null"),
    (b"\xff\xfe not protobuf", "pipewarden.leakdetect.v1.LearningCommand"),
    (encode(learning_pb2.LearningCommand(segment_id=SEG, learn_now=learning_pb2.LearnNow(at_unix_us=T0_US))),
     "command_id"),
    (encode(learning_pb2.LearningCommand(command_id="g", segment_id="NO-SUCH",
                                         learn_now=learning_pb2.LearnNow(at_unix_us=T0_US))), "unknown segment"),
    (encode(learning_pb2.LearningCommand(command_id="g", segment_id=SEG)), "names no action"),
    (encode(learning_pb2.LearningCommand(command_id="g", segment_id=SEG, learn_now=learning_pb2.LearnNow())),
     "before 2000-01-01"),
    (encode(learning_pb2.LearningCommand(command_id="g", segment_id=SEG, mark_leak_free=learning_pb2.MarkLeakFree(
        start_unix_us=T0_US, end_unix_us=T0_US))), "must end after it starts"),
])
def test_garbage_commands_are_dead_lettered_and_the_readings_beside_them_used(value, problem) -> None:  # type: ignore[no-untyped-def]
    proc, store = _processor()
    bad = RawRecord(LEAK_LEARNING_COMMANDS.name, 0, 0, SEG.encode(), value)
    result = _run(proc, [*_readings(0, 20), bad])
    (dead,) = result.dead_letters
    assert dead.value == value  # kept unchanged
    error = dict(dead.headers)[DLQ_ERROR].decode()
    assert problem in error
    assert result.readings > 0 and store.get(SEG) is not None  # the readings were used
    assert proc.views[SEG].last_command is None
