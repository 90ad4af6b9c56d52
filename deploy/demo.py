"""``make demo``: start Kafka, telemetry, leakdetect and workorders, stream the simulated demo city for ~30 s,
show what arrived, then replay a physically simulated leak (time-compressed) and show the alarm, the
work order it opened and the replacement-programme report.

Everything runs on private ports with a fresh data directory under ``var/demo/``, so the demo never
touches a developer's broker and its summary counts this run only. Every process is stopped at the end,
also on Ctrl-C or failure.
"""

from __future__ import annotations

import argparse
import collections
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from services.tokens import rotate

from . import processes
from .demo_console import console, keep_running
from .demo_gateway import modbus_gateway
from .progress import ticking

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEMO_DIR = REPO / "var" / "demo"
KAFKA_PORT, KAFKA_CONTROLLER_PORT = 29092, 29093
TELEMETRY_ADDRESS = "127.0.0.1:29051"
WORKORDERS_ADDRESS = "127.0.0.1:29053"
LEAKDETECT_QUERY_ADDRESS = "127.0.0.1:29071"
FIELD_GATEWAY = "gw-eh-01"  # read by services.gateway from a simulated Modbus RTU; fieldsim plays the others


BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


@contextmanager
def kafka_broker() -> Iterator[None]:
    env = {
        **os.environ,
        "PIPEWARDEN_KAFKA_PORT": str(KAFKA_PORT),
        "PIPEWARDEN_KAFKA_CONTROLLER_PORT": str(KAFKA_CONTROLLER_PORT),
        "PIPEWARDEN_KAFKA_DATA_DIR": str(DEMO_DIR / "kafka"),
        "PIPEWARDEN_KAFKA_WATCH_PID": str(os.getpid()),
        "PIPEWARDEN_PYTHON": PYTHON,
    }
    script = str(REPO / "deploy" / "kafka" / "kafka.sh")
    subprocess.run([script, "down"], env=env, check=False, capture_output=True)
    subprocess.run(["rm", "-rf", str(DEMO_DIR / "kafka")], check=True)
    subprocess.run([script, "up"], env=env, check=True)
    try:
        yield
    finally:
        subprocess.run([script, "down"], env=env, check=False)


@contextmanager
def service(name: str, args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    log_path = DEMO_DIR / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [PYTHON, *args], env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )
    print(f"   {name} started (pid {process.pid}, log {log_path.relative_to(REPO)})")
    try:
        yield process
    finally:
        processes.stop(process, grace_s=20)


def wait_for_port(address: str, timeout_s: float, process: subprocess.Popen[bytes], name: str) -> None:
    host, port = address.rsplit(":", 1)
    try:
        processes.wait_for_port(host, int(port), process, name, timeout_s=timeout_s, poll_s=0.2)
    except (processes.ProcessExited, processes.NotListening) as error:
        raise SystemExit(f"{error}; see var/demo/{name}.log") from None


def summarise_topics(since_us: int = 0) -> None:
    """Readings per segment with source time from ``since_us`` on (the live part), rejects by reason."""
    from services.contracts.pipewarden.telemetry.v1 import reading_pb2, records_pb2
    from services.topics.registry import TELEMETRY_READINGS, TELEMETRY_REJECTED

    from .topic_reader import read_topic

    readings_per_segment: collections.Counter[str] = collections.Counter()
    records = 0
    for record in read_topic(BOOTSTRAP, TELEMETRY_READINGS.name):
        message = records_pb2.SegmentReadings.FromString(record.value)
        records += 1
        readings_per_segment[message.segment_id] += sum(
            sum(1 for t in s.source_time_unix_us if t >= since_us) for s in message.series
        )
    rejects: collections.Counter[str] = collections.Counter()
    for record in read_topic(BOOTSTRAP, TELEMETRY_REJECTED.name):
        rejected = records_pb2.RejectedReading.FromString(record.value)
        rejects[reading_pb2.RejectReason.Name(rejected.reason)] += 1

    say(f"{TELEMETRY_READINGS.name}: {sum(readings_per_segment.values())} live readings ({records} records in all)")
    for segment_id, count in sorted(readings_per_segment.items()):
        print(f"   {segment_id:<10} {count:>7} readings")
    say(f"{TELEMETRY_REJECTED.name}: {sum(rejects.values())} rejected readings")
    for reason, count in rejects.most_common():
        print(f"   {reason:<40} {count:>5}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of simulated field traffic")
    parser.add_argument(
        "--keep", action="store_true", help="leave the stack and the dispatcher console running (Ctrl-C stops)"
    )
    options = parser.parse_args()
    if options.duration <= 0:
        parser.error("--duration must be > 0")
    DEMO_DIR.mkdir(parents=True, exist_ok=True)

    from services.network import load_demo_network

    network = load_demo_network()
    tokens = ",".join(f"{gw}={secrets.token_urlsafe(16)}" for gw in sorted(network.gateways))
    say(f"Pipewarden demo: {network.name}, {len(network.segments)} segments, {len(network.tags)} tags")

    with ExitStack() as stack:
        say("Starting Kafka (KRaft, single node)")
        stack.enter_context(kafka_broker())
        say("Starting telemetry")
        telemetry = stack.enter_context(
            service(
                "telemetry",
                ["-m", "services.telemetry"],
                {
                    "PIPEWARDEN_KAFKA_BOOTSTRAP": BOOTSTRAP,
                    "PIPEWARDEN_TELEMETRY_LISTEN": TELEMETRY_ADDRESS,
                    "PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS": tokens,
                    "PIPEWARDEN_TELEMETRY_METRICS_PORT": "0",
                },
            )
        )
        wait_for_port(TELEMETRY_ADDRESS, 60, telemetry, "telemetry")
        say("Starting leakdetect and workorders")
        # Throwaway keys for this run (the services have no insecure default): the console signs users' tokens
        # with the private key, workorders and leakdetect's query API verify against the key set.
        signing_key, key_set = DEMO_DIR / "tokens" / "signing-key.pem", DEMO_DIR / "tokens" / "jwks.json"
        rotate(signing_key, key_set, keep=1)
        stack.enter_context(
            service(
                "leakdetect",
                ["-m", "services.leakdetect"],
                {
                    "PIPEWARDEN_KAFKA_BOOTSTRAP": BOOTSTRAP,
                    "PIPEWARDEN_LEAKDETECT_APP_ID": "pipewarden-demo-leakdetect",
                    "PIPEWARDEN_LEAKDETECT_GRPC_PORT": LEAKDETECT_QUERY_ADDRESS.rsplit(":", 1)[1],
                    "PIPEWARDEN_LEAKDETECT_JWT_KEYS_FILE": str(key_set),
                    "PIPEWARDEN_LEAKDETECT_METRICS_PORT": "-1",
                    "PIPEWARDEN_LEAKDETECT_COMMIT_INTERVAL_S": "0.5",
                },
            )
        )
        db_path = DEMO_DIR / "workorders.sqlite3"
        db_path.unlink(missing_ok=True)
        db_url = f"sqlite:///{db_path}"
        workorders = stack.enter_context(
            service(
                "workorders",
                ["-m", "services.workorders", "serve"],
                {
                    "PIPEWARDEN_KAFKA_BOOTSTRAP": BOOTSTRAP,
                    "PIPEWARDEN_WORKORDERS_DB_URL": db_url,
                    "PIPEWARDEN_WORKORDERS_GRPC_ADDRESS": WORKORDERS_ADDRESS,
                    "PIPEWARDEN_WORKORDERS_JWT_KEYS_FILE": str(key_set),
                    "PIPEWARDEN_WORKORDERS_CONSUMER_GROUP": "pipewarden-demo-workorders",
                    "PIPEWARDEN_WORKORDERS_REPORT_UTC_OFFSET_H": "8",  # the demo city is in China
                },
            )
        )
        wait_for_port(WORKORDERS_ADDRESS, 90, workorders, "workorders")
        say("Starting the dispatcher console")
        demo_console = stack.enter_context(
            console(service, WORKORDERS_ADDRESS, signing_key, DEMO_DIR, leakdetect_addresses=LEAKDETECT_QUERY_ADDRESS)
        )
        from .demo_leak import show_results, stream_leak

        leak_start, leak_onset = stream_leak(TELEMETRY_ADDRESS, tokens)
        live_since_us = (time.time_ns() // 1000) - 60_000_000  # the replayed history ends 5 min before now
        # One of the city's gateways is the real field gateway (services.gateway) reading a simulated Modbus
        # TCP RTU; fieldsim plays the others (two clients as one gateway id would collide on sequences).
        token_of = dict(pair.split("=", 1) for pair in tokens.split(","))
        say(f"Starting the field gateway {FIELD_GATEWAY} against a simulated Modbus TCP RTU")
        field_gateway = stack.enter_context(
            modbus_gateway(TELEMETRY_ADDRESS, FIELD_GATEWAY, token_of[FIELD_GATEWAY], DEMO_DIR / "gateway")
        )
        simulated = len(network.gateways) - 1
        say(f"Streaming {simulated} simulated gateways and the field gateway for {options.duration:.0f} s")
        print("   5 % of batches carry one bad reading, to show the rejects")
        # The tokens go by environment, never on a command line (`ps` shows every user's argv).
        fieldsim_args = ["--target", TELEMETRY_ADDRESS, "--duration", str(options.duration)]
        fieldsim_args += ["--gateways", ",".join(g for g in sorted(network.gateways) if g != FIELD_GATEWAY)]
        with ticking("simulated gateways streaming", total_s=options.duration):
            field = subprocess.run(
                [PYTHON, "-m", "services.fieldsim", *fieldsim_args, "--bad-fraction", "0.05", "--log-level", "WARNING"],
                cwd=REPO,
                env=dict(os.environ, PIPEWARDEN_FIELDSIM_GATEWAY_TOKENS=tokens),
                capture_output=True,
                text=True,
                check=False,
            )
        print(field.stdout)
        print("   " + field_gateway.summary())
        if field.returncode != 0:
            print(field.stderr, file=sys.stderr)
            raise SystemExit("the simulated field reported failed batches")
        summarise_topics(live_since_us)
        show_results(BOOTSTRAP, WORKORDERS_ADDRESS, db_url, signing_key, leak_start, leak_onset)
        if options.keep:
            keep_running(demo_console)
    say("Demo finished; everything stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
