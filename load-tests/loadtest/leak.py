"""A leak injected during the run and timed through the whole chain: onset -> alarm on leak.alarms.v1
-> work order on a dispatcher's Watch.

The leak is replayed by a subprocess (loadtest.leakinject: gasflow physics, time-compressed history of
one gateway, as deploy/demo_leak.py does) whose gateway is left out of the load. Its wall clock and
source clock are recorded, so that the detector's own time to detect (alarm detection time - onset,
source time) is separated from what the deployment adds after the data that let it detect was sent:

  leak_to_workorder_s = time_to_detect_s + (work order seen - the detecting data sent)  (wall)

which is what onset -> work order would be for a leak happening in real time.

A run may inject several leaks (``--leaks N``): one replay, each leak on its own segment of the gateway
(none with an alarm still open: it would not raise another), onsets one detection window apart, each timed
to its own alarm and work order. The replay can only start after the detectors' clock for the gateway's
segments (older readings are dropped): on a deployment that already took a leak, the history left is the
time since the last replay. The onsets are placed inside it (never after its end, which made a second run
on the same deployment inject nothing); when it is shorter than a settling time plus a detection window per
leak, the replay runs on into real time (its clock never passes the wall clock: telemetry refuses readings
from the future), so the rest of it goes at 1x during the load instead of the run waiting for history.

Where a first run's time goes (a smoke run on a fresh deployment): the replay's physics (gasflow, 78 min of
source time of the gateway's 24 tags, ~416,000 readings, sampled before anything is sent), then the
history the detectors learn their baseline from (70 min), sent in bulk (HISTORY_TIME_SCALE, batches of
HISTORY_BATCH_SOURCE_S: ~89,000 readings/s offered, a few seconds; the deployment keeps up, leakdetect
learns from it in source time as it would live), then the load with the tail. The subprocess is launched
before the load tester's own set-up (target check, Kafka probes, streams), which overlaps its start.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import grpc

from loadtest import REPO, transport
from loadtest.target import Target

LEAK_GATEWAY = "gw-transmission"
PREFERRED_SEGMENT = "TR-03"
RATE_KG_PER_S = 3.0  # big enough for a pressure-wave location (demo_leak)
LEARN_S, AFTER_LEAK_S, MARGIN_S = 70 * 60.0, 8 * 60.0, 60.0
# With less history than LEARN_S (the detectors learned from an earlier replay): the replay's first seconds,
# before any onset (the simulation settles), and the least source time each leak gets before the next onset or
# the end (a rupture is detected within ~10 s of source time; the balance needs minutes and gets them when
# the history allows, up to AFTER_LEAK_S).
MIN_SETTLE_S, MIN_WINDOW_S = 30.0, 45.0
MAX_LEAKS = 4
# The history (the detectors' learning, before the tail) goes in bulk before the load: 3000x in batches of a
# minute of source time (~5,300 readings each, telemetry takes up to 10,000): ~89,000 readings/s offered, 70 min
# in ~1.5 s of wall time where the acks allow (a first smoke measured 4 s at load average 8-11, leakdetect caught
# up 1 s later). At 300x in 10-s batches it took 16 s, the longest part of a first smoke run after the physics.
HISTORY_TIME_SCALE, HISTORY_BATCH_SOURCE_S = 3000.0, 60.0
TIME_SCALE = 300.0  # the tail's fastest
# The replay's tail (from a minute before the first onset) goes slower, during the load: over about half the
# load's duration, at least TAIL_MIN_TIME_SCALE, at most TIME_SCALE, in batches of BATCH_SOURCE_S (the time
# the detecting data was sent is read from the replay's progress at that grain).
TAIL_LEAD_S, TAIL_MIN_TIME_SCALE = 60.0, 10.0
READY_TIMEOUT_S = 120.0  # the most the replay's physics (then its history) may take before the load starts anyway
BATCH_SOURCE_S = 10.0  # the tail's batches (leakinject --batch-source-s)


@dataclass(frozen=True)
class PlannedLeak:
    segment: str
    position_m: float
    onset: float


@dataclass
class LeakPlan:
    gateway: str
    leaks: list[PlannedLeak]
    start: float
    end: float
    note: str = ""

    @property
    def segments(self) -> list[str]:
        return [leak.segment for leak in self.leaks]


def place(count: int, clock_s: float, now: float) -> tuple[float, float, list[float]]:
    """(start, end, onsets) of a replay of ``count`` leaks starting after the detectors' clock ``clock_s`` and
    ending just before ``now``; when that leaves less than a settling time and a detection window per leak, it
    ends that much after its start, in the future: the replay's clock never passes the wall clock, so that part
    goes in real time (during the load) instead of the run waiting for the history to grow."""
    end = now - 1.0
    # Right after the clock: a gap in a segment's data after the previous replay has been taken for a rupture
    # at the replay's start (TR-01, detected 30 s before its leak's onset, in a run of 2026-12-06).
    start = float(math.ceil(max(end - LEARN_S - count * AFTER_LEAK_S, clock_s + 0.1)))
    end = max(end, start + MIN_SETTLE_S + count * MIN_WINDOW_S)
    window = min(AFTER_LEAK_S, (end - start - MIN_SETTLE_S) / count)
    return start, end, [end - (count - i) * window for i in range(count)]


def _auth(target: Target) -> tuple[tuple[str, str], ...]:
    # The query API wants a caller's token: the load test's all-district dispatcher reads the segments.
    return (("authorization", f"Bearer {target.dispatcher_token}"),) if target.dispatcher_token else ()


def _leakdetect(target: Target) -> list[Any]:
    from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2_grpc

    return [leak_query_service_pb2_grpc.LeakQueryServiceStub(transport.channel(a))
            for a in target.leakdetect_query]


def plan(target: Target, count: int = 1, now: float | None = None) -> LeakPlan | str:
    """Where and when the ``count`` leaks go; a string says why there is none (module docstring)."""
    from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as q

    network = target.network
    if LEAK_GATEWAY not in network.gateways or LEAK_GATEWAY not in target.gateway_tokens:
        return f"the network has no gateway {LEAK_GATEWAY} (with a token) to replay a leak through"
    now = time.time() if now is None else now
    segments = sorted({t.segment_id for t in network.tags_of_gateway(LEAK_GATEWAY)})
    active: set[str] = set()
    clock_us = 0
    for stub in _leakdetect(target):
        # The detectors drop readings older than a segment's clock: the replay starts after it, and a
        # segment with an alarm still open would not raise another.
        with contextlib.suppress(grpc.RpcError):
            active |= {a.segment_id for a in stub.ListActiveAlarms(q.ListActiveAlarmsRequest(), timeout=5,
                                                                      metadata=_auth(target)).alarms}
        for segment in segments:
            with contextlib.suppress(grpc.RpcError):
                status = stub.GetSegmentStatus(q.GetSegmentStatusRequest(segment_id=segment), timeout=5,
                                             metadata=_auth(target)).status
                if status.served_here:
                    clock_us = max(clock_us, status.clock_unix_us)
    candidates = list(dict.fromkeys(s for s in [PREFERRED_SEGMENT, *segments] if s in segments and s not in active))
    if not candidates:
        return f"every segment of {LEAK_GATEWAY} has an alarm open ({', '.join(sorted(active & set(segments)))})"
    chosen = candidates[:count]
    note = ""
    if len(chosen) < count:
        note = (f"{count} leaks asked, {len(chosen)} injected: the other segments of {LEAK_GATEWAY} have an alarm "
                f"open ({', '.join(sorted(active & set(segments)))})")
    placed = place(len(chosen), clock_us / 1e6, now)
    start, end, onsets = placed
    full = LEARN_S + len(chosen) * AFTER_LEAK_S
    if end - start < full - 1.0:
        ahead = max(0.0, end - (now - 1.0))
        note = "; ".join(filter(None, [note, (
            f"the detectors had {LEAK_GATEWAY}'s data up to {(now - clock_us / 1e6) / 60:.1f} min ago (an earlier "
            f"replay): the replay covers {(end - start) / 60:.1f} min instead of {full / 60:.0f}, "
            f"{(end - onsets[-1]):.0f} s after the last onset"
            + (f", its last {ahead:.0f} s in real time" if ahead else ""))]))
    leaks = [PlannedLeak(segment, 3000.0 if segment == PREFERRED_SEGMENT else 0.4 * network.segments[segment].length_m,
                         onset) for segment, onset in zip(chosen, onsets, strict=True)]
    return LeakPlan(LEAK_GATEWAY, leaks, start, end, note)


def physics_network_file(target: Target) -> str | None:
    """The network the leak's physics runs on: the demo city (None) when the target's network holds its
    gw-transmission unchanged (the demo city embedded in a network generated for a rate, loadtest.network: the
    generated mains are not connected to it, and simulating them would cost minutes), else the target's file."""
    from services.network import load_demo_network

    network_file = getattr(target.deployment, "network_file", None)
    if not network_file:
        return None
    demo, own = load_demo_network(), target.network
    if LEAK_GATEWAY in demo.gateways and LEAK_GATEWAY in own.gateways:
        tags = demo.tags_of_gateway(LEAK_GATEWAY)
        segments = {t.segment_id for t in tags}
        if (tags == own.tags_of_gateway(LEAK_GATEWAY) and demo.gas == own.gas
                and all(own.segments.get(s) == demo.segments[s] for s in segments)):
            return None
    return str(network_file)


@dataclass
class LeakRun:
    target: Target
    plan: LeakPlan
    progress: list[tuple[float, float]] = field(default_factory=list)  # (wall, source)
    alarms: list[tuple[float, Any]] = field(default_factory=list)  # (wall seen, LeakAlarmEvent)
    work_orders: list[tuple[float, Any]] = field(default_factory=list)  # (wall seen, WorkOrder)
    summary: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    load_s: float = 30.0  # the load's duration: the tail is spread over about half of it
    _ready: threading.Event = field(default_factory=threading.Event)
    _tail: threading.Event = field(default_factory=threading.Event)
    _watch_call: Any = None
    wall: dict[str, float] = field(default_factory=dict)  # wall time the replay was launched, ready, at its tail
    baseline: dict[str, dict[str, Any]] = field(default_factory=dict)  # the leak segments' (cli: after the load)

    def start(self) -> None:
        self.launch()
        self.wait_tail()

    def launch(self) -> None:
        """Start watching the alarms and work orders, and the replay's subprocess (its physics and history)."""
        self._threads = [threading.Thread(target=self._alarms, daemon=True, name="leak-alarms"),
                         threading.Thread(target=self._watch, daemon=True, name="leak-watch")]
        for t in self._threads:
            t.start()
        p = self.plan
        env = dict(os.environ, LOADTEST_LEAK_TOKEN=self.target.gateway_tokens[p.gateway],
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "load-tests"), os.environ.get("PYTHONPATH")])))
        network = physics_network_file(self.target)
        leaks = [arg for x in p.leaks for arg in ("--leak", f"{x.segment},{x.position_m},{x.onset}")]
        tail_from, tail_scale = self.tail()
        command = [sys.executable, "-m", "loadtest.leakinject", "--target", self.target.telemetry,
                   "--gateway", p.gateway, *leaks, "--rate-kg-per-s", str(RATE_KG_PER_S), "--start", str(p.start),
                   "--end", str(p.end), "--time-scale", str(HISTORY_TIME_SCALE),
                   "--history-batch-source-s", str(HISTORY_BATCH_SOURCE_S), "--batch-source-s", str(BATCH_SOURCE_S),
                   "--tail-from", str(tail_from), "--tail-time-scale", str(tail_scale),
                   *(["--network", str(network)] if network else [])]
        self.wall["launched"] = time.time()
        self._proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
        reader = threading.Thread(target=self._read_progress, daemon=True, name="leak-progress")
        reader.start()
        self._threads.append(reader)

    def wait_tail(self) -> None:
        """Return once the replay's tail begins (the load starts then)."""
        # The replay's physics runs before it sends anything: wait for it, so that it does not share the CPU
        # with the load (a smoke run on two cores saw its ack p99 tripled by it).
        if not self._ready.wait(READY_TIMEOUT_S):
            self.problems.append(f"the leak's simulation was not ready within {READY_TIMEOUT_S:.0f} s")
        # Nor its history (the detectors' learning, a burst): the load starts with the tail.
        if not self._tail.wait(READY_TIMEOUT_S):
            self.problems.append(f"the leak's replay did not reach its tail within {READY_TIMEOUT_S:.0f} s")

    def tail(self) -> tuple[float, float]:
        """Where the replay's tail begins (source time, on the history's batch grid) and its time scale."""
        p = self.plan
        grid = HISTORY_BATCH_SOURCE_S
        tail_from = p.start + max(0.0, (p.leaks[0].onset - TAIL_LEAD_S - p.start) // grid * grid)
        scale = (p.end - tail_from) / max(1.0, 0.5 * self.load_s)
        return tail_from, min(TIME_SCALE, max(TAIL_MIN_TIME_SCALE, scale))

    def phases(self) -> dict[str, float | None]:
        """Wall seconds of the replay's set-up: its physics (launch -> ready), its history (ready -> tail)."""
        w = self.wall

        def span(a: str, b: str) -> float | None:
            return round(w[b] - w[a], 2) if a in w and b in w else None

        return {"leak_physics_s": span("launched", "ready"), "leak_history_s": span("ready", "tail")}

    def baselines(self) -> dict[str, dict[str, Any]]:
        """The leak segments' learned baselines as leakdetect reports them (after the history: learned from it)."""
        from google.protobuf.json_format import MessageToDict

        from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as q

        out: dict[str, dict[str, Any]] = {}
        for stub in _leakdetect(self.target):
            for segment in self.plan.segments:
                with contextlib.suppress(grpc.RpcError):
                    status = stub.GetSegmentStatus(q.GetSegmentStatusRequest(segment_id=segment), timeout=5,
                                                 metadata=_auth(self.target)).status
                    if status.served_here:
                        b = MessageToDict(status.baseline, preserving_proto_field_name=True)
                        out[segment] = {k: b.get(k) for k in ("learned", "source", "learned_unix_us",
                                                              "window_start_unix_us", "blocks", "kappa")}
        return out

    def _read_progress(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if "summary" in item:
                    self.summary = item["summary"]
                elif "ready" in item:
                    self.wall["ready"] = time.time()
                    self._ready.set()
                elif "tail" in item:
                    self.wall["tail"] = time.time()
                    self._tail.set()
                else:
                    self.progress.append((float(item["wall"]), float(item["source"])))
        self._ready.set()  # the replay ended (or failed): nothing more to wait for
        self._tail.set()

    def _alarms(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
        from services.topics import LEAK_ALARMS

        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        segments = set(self.plan.segments)
        if not self.target.kafka_bootstrap:
            self.problems.append("no Kafka address: alarms not watched")
            return
        try:
            consumer = KafkaConsumer(bootstrap_servers=self.target.kafka_bootstrap, group_id=None,
                                     enable_auto_commit=False, client_id="loadtest-alarms", **transport.kafka_kwargs())
            tps = [TopicPartition(LEAK_ALARMS.name, p) for p in consumer.partitions_for_topic(LEAK_ALARMS.name) or []]
            consumer.assign(tps)
            consumer.seek_to_end(*tps)
            for tp in tps:
                consumer.position(tp)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=200).values():
                    now = time.time()
                    for r in records:
                        event = alarms_pb2.LeakAlarmEvent.FromString(r.value)
                        if event.segment_id in segments and event.state == alarms_pb2.ALARM_STATE_RAISED:
                            self.alarms.append((now, event))
            consumer.close()
        except Exception as error:  # reported in the run's report
            self.problems.append(f"alarm watch: {type(error).__name__}: {error}")

    def _watch(self) -> None:
        from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as wpb
        from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as wgrpc

        if not (self.target.workorders and self.target.dispatcher_token):
            self.problems.append("no workorders address or dispatcher token: work orders not watched")
            return
        metadata = (("authorization", f"Bearer {self.target.dispatcher_token}"),)
        segments = set(self.plan.segments)
        try:
            with transport.channel(self.target.workorders) as channel:
                stub = wgrpc.WorkOrdersServiceStub(channel)
                before = {o.work_order_id for o in stub.ListWorkOrders(wpb.ListWorkOrdersRequest(),
                                                                       metadata=metadata, timeout=10).work_orders}
                self._watch_call = stub.Watch(wpb.WatchRequest(after_position=0), metadata=metadata)
                for message in self._watch_call:
                    if message.HasField("work_order"):
                        order = message.work_order
                        if order.segment_id in segments and order.work_order_id not in before:
                            before.add(order.work_order_id)
                            self.work_orders.append((time.time(), order))
        except grpc.RpcError as error:
            if not self._stop.is_set():
                self.problems.append(f"Watch: {error.code().name} {error.details()}")  # type: ignore[attr-defined]

    def complete(self) -> bool:
        """Every leak's alarm has its work order, and the replay is over."""
        if self._proc is None or self._proc.poll() is None:
            return False
        alarms = [self._alarm_of(x) for x in self.plan.leaks]
        return all(a is not None and self._order_of(a[1].alarm_id) is not None for a in alarms)

    def wait(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.complete():
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(10)
            if self._proc.poll() is None:
                self._proc.kill()
        if self._proc is not None and self._proc.returncode not in (0, None, -15):
            err = (self._proc.stderr.read() if self._proc.stderr else "")[-500:]
            self.problems.append(f"leak replay exited {self._proc.returncode}: {err}")
        if self._watch_call is not None:
            self._watch_call.cancel()
        for t in self._threads:
            t.join(timeout=5)

    def wall_at(self, source_s: float) -> float | None:
        """Wall time at which the replay's source clock reached ``source_s`` (interpolated)."""
        if not self.progress:
            return None
        sources = [s for _, s in self.progress]
        i = bisect.bisect_left(sources, source_s)
        if i >= len(sources):
            return None
        if i == 0:
            return self.progress[0][0]
        (w0, s0), (w1, s1) = self.progress[i - 1], self.progress[i]
        return w0 + (w1 - w0) * (source_s - s0) / (s1 - s0) if s1 > s0 else w1

    def _alarm_of(self, leak: PlannedLeak) -> tuple[float, Any] | None:
        """The first alarm raised on the leak's segment detected at or after the leak's onset (source time): an
        alarm detected before it is not this leak's (the detector's onset estimate, though, may be early)."""
        return next(((w, a) for w, a in self.alarms if a.segment_id == leak.segment
                     and a.detection_time_unix_us / 1e6 >= leak.onset), None)

    def _order_of(self, alarm_id: str) -> tuple[float, Any] | None:
        return next(((w, o) for w, o in self.work_orders if o.alarm_id == alarm_id), None)

    def results(self) -> list[dict[str, Any]]:
        """One entry per leak injected (the report's ``leaks``)."""
        return [self.result(leak) for leak in self.plan.leaks]

    def result(self, leak: PlannedLeak) -> dict[str, Any]:
        p = self.plan
        out: dict[str, Any] = {"segment": leak.segment, "gateway": p.gateway, "position_m": leak.position_m,
                               "rate_kg_per_s": RATE_KG_PER_S, "time_scale": HISTORY_TIME_SCALE,
                               "tail_time_scale": round(self.tail()[1], 2), "baseline": self.baseline.get(leak.segment),
                               "replay_start_unix_s": p.start, "onset_unix_s": leak.onset, "note": p.note,
                               "replay": self.summary, "problems": self.problems}
        alarm = self._alarm_of(leak)
        order = None if alarm is None else self._order_of(alarm[1].alarm_id)
        out["alarm"] = None if alarm is None else {
            "alarm_id": alarm[1].alarm_id, "onset_unix_s": alarm[1].onset_time_unix_us / 1e6,
            "detection_unix_s": alarm[1].detection_time_unix_us / 1e6}
        out["work_order"] = None if order is None else {"work_order_id": order[1].work_order_id,
                                                       "alarm_id": order[1].alarm_id, "grade": order[1].grade}
        if alarm is None or order is None:
            out["leak_to_workorder_s"] = None
            return out
        detect_s = (alarm[1].detection_time_unix_us / 1e6) - leak.onset
        sent = self.wall_at(alarm[1].detection_time_unix_us / 1e6)
        overhead = None if sent is None else order[0] - sent
        out.update({
            "time_to_detect_s": round(detect_s, 3),
            "workorder_after_detecting_data_s": None if overhead is None else round(overhead, 3),
            "leak_to_workorder_s": None if overhead is None else round(detect_s + overhead, 3),
            "alarm_to_watch_s": round(order[0] - alarm[0], 3),
        })
        return out
