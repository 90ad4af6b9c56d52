"""The demo's leak act: replay a physically simulated leak through telemetry (time-compressed), then show
the alarm from ``leak.alarms.v1``, the work order it opened and the replacement-programme report.

The simulated truth is printed beside the detector's estimate for comparison; the detector never sees it.
"""

from __future__ import annotations

import asyncio
import datetime
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as wpb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as wgrpc
from services.fieldsim import Fleet, FleetConfig
from services.gasflow import LeakSpec
from services.gasflow.fieldsource import SimulatedValues
from services.network import load_demo_network
from services.telemetry.config import parse_gateway_tokens
from services.tokens import TokenIssuer, load_signing_key
from services.topics.registry import LEAK_ALARMS
from services.workorders.adapters.tokens import issue_token
from services.workorders.domain import replacement_id_for

from .progress import ticking
from .topic_reader import read_topic

SEGMENT, POSITION_M, RATE_KG_PER_S = "TR-03", 3000.0, 3.0  # big enough for a pressure-wave location
GATEWAY = "gw-transmission"
LEARN_S, AFTER_LEAK_S, TIME_SCALE = 70 * 60.0, 8 * 60.0, 200.0
PROBLEM_PIPES = (("DS-M02", "material"), ("DS-M04", "material"))  # grey cast iron mains


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def _alarms(bootstrap: str, since_us: int) -> list[alarms_pb2.LeakAlarmEvent]:
    out = []
    for record in read_topic(bootstrap, LEAK_ALARMS.name):
        event = alarms_pb2.LeakAlarmEvent.FromString(record.value)
        if event.segment_id == SEGMENT and event.onset_time_unix_us >= since_us:
            out.append(event)
    return out


def _stream_leak(telemetry: str, tokens: str) -> tuple[float, float]:
    network = load_demo_network()
    start = float(int(time.time() - LEARN_S - AFTER_LEAK_S - 300.0))
    onset = start + LEARN_S
    values = SimulatedValues(
        network, seed=5, leaks=(LeakSpec(SEGMENT, POSITION_M, onset, rate_kg_per_s=RATE_KG_PER_S),)
    )
    config = FleetConfig(
        target=telemetry,
        tokens=parse_gateway_tokens(tokens, source="demo"),
        gateways=(GATEWAY,),
        first_sequence=time.time_ns() // 1000,
        seed=5,
        start_unix_s=start,
        time_scale=TIME_SCALE,
        batch_source_s=10.0,
        end_unix_s=onset + AFTER_LEAK_S,
        ack_timeout_s=30.0,
    )
    with ticking("replaying the leak's history through telemetry"):
        report = asyncio.run(Fleet(network, config, values).run())
    s = report.summary()
    print(f"   {s['readings_accepted']} readings accepted, {s['readings_rejected']} rejected in {s['duration_s']} s")
    return start, onset


def _utc(us: int) -> str:
    return datetime.datetime.fromtimestamp(us / 1e6, datetime.UTC).strftime("%H:%M:%S")


def stream_leak(telemetry: str, tokens: str) -> tuple[float, float]:
    """Replay the leak's history (time-compressed) through telemetry; returns (start, onset) Unix s."""
    network = load_demo_network()
    segment = network.segments[SEGMENT]
    say(
        f"Simulated leak: {SEGMENT} ({segment.district}, {segment.length_m / 1000:.1f} km), "
        f"{RATE_KG_PER_S} kg/s at {POSITION_M / 1000:.2f} km"
    )
    print(
        f"   gasflow physics; {GATEWAY} catches up {(LEARN_S + AFTER_LEAK_S) / 60:.0f} minutes of stored history "
        f"(leak after {LEARN_S / 60:.0f}: the detectors learn their baseline for 60) at up to {TIME_SCALE:.0f}x"
    )
    return _stream_leak(telemetry, tokens)


def show_results(bootstrap: str, workorders: str, db_url: str, signing_key: Path, start: float, onset: float) -> None:
    network = load_demo_network()
    segment = network.segments[SEGMENT]
    say(f"{LEAK_ALARMS.name}: alarms on {SEGMENT}")
    deadline = time.monotonic() + 120
    alarms: list[alarms_pb2.LeakAlarmEvent] = []
    with ticking("waiting for leakdetect's alarms (at most 120 s)"):
        while time.monotonic() < deadline:
            alarms = _alarms(bootstrap, int(start * 1e6))
            if any(a.HasField("location") for a in alarms) or (alarms and time.monotonic() > deadline - 60):
                break
            time.sleep(3)
    if not alarms:
        print("   none within 120 s (see var/demo/leakdetect.log)")
    for a in alarms[:8]:
        methods = ", ".join(
            alarms_pb2.DetectionMethod.Name(m).removeprefix("DETECTION_METHOD_").lower() for m in a.methods
        )
        where = (
            f"{a.location.position_km:.2f} ± {a.location.uncertainty_km:.2f} km"
            if a.HasField("location")
            else "not located"
        )
        state = alarms_pb2.AlarmState.Name(a.state).removeprefix("ALARM_STATE_")
        rate = a.leak_rate
        print(
            f"   {state:<8} {a.segment_id} {a.district:<10} [{methods}] "
            + (
                f"{rate.rate_kg_per_s:.2f} kg/s ({rate.rate_pct_of_nominal_flow:.0f} % of nominal)"
                if rate.rate_kg_per_s > 0
                else "rate not yet estimated"
            )
            + f", location {where}; "
            f"onset {_utc(a.onset_time_unix_us)}, detected {_utc(a.detection_time_unix_us)} (source time)"
        )
    print(
        f"   truth:   {RATE_KG_PER_S:.2f} kg/s at {POSITION_M / 1000:.2f} km from {segment.from_node}, "
        f"onset {_utc(int(onset * 1e6))}"
    )

    issuer = TokenIssuer(load_signing_key(signing_key))
    dispatcher = issue_token(issuer, "demo-dispatcher", "dispatcher", ["*"])
    supervisor = issue_token(issuer, "demo-supervisor", "supervisor", ["*"])
    inspector = issue_token(issuer, "demo-inspector", "supervisor", ["*"])  # verifies what the other completed
    with grpc.insecure_channel(workorders) as channel:
        stub = wgrpc.WorkOrdersServiceStub(channel)
        say("Work order (gRPC, dispatcher token)")
        order = None
        deadline = time.monotonic() + 30
        while order is None and time.monotonic() < deadline:
            listed = stub.ListWorkOrders(
                wpb.ListWorkOrdersRequest(), metadata=(("authorization", f"Bearer {dispatcher}"),), timeout=10
            )
            order = next((o for o in listed.work_orders if o.segment_id == SEGMENT), None)
            if order is None:
                time.sleep(1)
        if order is None:
            print("   no work order for the alarm within 30 s (see var/demo/workorders.log)")
        else:
            print(
                f"   {order.work_order_id}: grade {order.grade}, state {order.state}, {order.segment_id} "
                f"{order.district} {order.pipe_class} {order.material}, alarm {order.alarm_id}"
            )

        say("Seeding the replacement programme (supervisor tokens): problem pipelines, a target, one job")
        year = datetime.datetime.now(datetime.UTC).year
        main = network.segments["DS-M02"]
        job = replacement_id_for(main.segment_id, year)
        length_km = main.length_m / 1000
        R = wpb.ExecuteReplacementCommandRequest
        steps: list[tuple[str, str, wpb.ExecuteReplacementCommandRequest]] = [
            *(
                (f"flag {seg_id} ({reason})", supervisor, R(flag_problem_pipeline=wpb.FlagProblemPipelineCommand(
                    segment_id=seg_id, reason=reason)))
                for seg_id, reason in PROBLEM_PIPES
            ),
            (f"target {main.district}/{main.pipe_class} {year}: 5 km", supervisor, R(
                set_target=wpb.SetReplacementTargetCommand(
                    district=main.district, pipe_class=str(main.pipe_class), year=year, target_km=5.0))),
            (f"open {job}", supervisor, R(
                open=wpb.OpenReplacementCommand(segment_id=main.segment_id, length_km=length_km, year=year))),
            (f"progress {length_km:.2f} km", supervisor, R(
                replacement_id=job, report_progress=wpb.ReportReplacementProgressCommand(km_done=length_km))),
            ("complete", supervisor, R(replacement_id=job, complete=wpb.CompleteReplacementCommand())),
            ("verify (another supervisor)", inspector, R(replacement_id=job, verify=wpb.VerifyReplacementCommand())),
        ]  # fmt: skip
        for what, token, request in steps:
            request.context.command_id = uuid.uuid4().hex
            try:
                stub.ExecuteReplacementCommand(request, metadata=(("authorization", f"Bearer {token}"),), timeout=10)
                print(f"   {what}: ok")
            except grpc.RpcError as error:
                print(f"   {what}: {error.code().name} {error.details()}")  # type: ignore[attr-defined]
    time.sleep(1.0)  # the projection applies the new events
    for report in ("open-work-orders", "replacement", "inventory"):
        say(f"python -m services.workorders report {report}")
        done = subprocess.run(
            [sys.executable, "-m", "services.workorders", "report", report, "--db", db_url],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        print(done.stdout.rstrip() or done.stderr.rstrip()[-2000:])
