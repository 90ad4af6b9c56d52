"""Independent cross-checks run in the same run, on the same target: ghz (a Go gRPC load tool, built from
the Go module proxy into the git-ignored .cache/ on first use) on PublishBatch with the load's payload
and token, and Kafka's own ProducerPerformance against the deployment's broker (for the ramp's knee)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from loadtest import REPO, transport
from services.kafkaconn import KafkaSecurity

GHZ_MODULE = "github.com/bojand/ghz/cmd/ghz"
GHZ_VERSION = "v0.121.0"
GO_CACHE = REPO / ".cache" / "go"
GHZ_BIN = REPO / ".cache" / "go-bin" / "ghz"
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"
PROTO = REPO / "protos" / "pipewarden" / "telemetry" / "v1" / "telemetry_ingest_service.proto"
PERF_CLASS = "org.apache.kafka.tools.ProducerPerformance"
PERF_TOPIC = "loadtest.producer-perf"


def ensure_ghz(log: Any = print) -> tuple[Path | None, str | None]:
    """(path, None) or (None, why it is missing)."""
    if GHZ_BIN.exists():
        return GHZ_BIN, None
    go = shutil.which("go")
    if go is None:
        return None, "no Go toolchain (`go`) on PATH to build ghz"
    log(f"building ghz {GHZ_VERSION} from the Go module proxy into {GHZ_BIN.parent} (first use)")
    env = dict(os.environ, GOBIN=str(GHZ_BIN.parent), GOPATH=str(GO_CACHE), GOMODCACHE=str(GO_CACHE / "mod"),
               GOFLAGS="-modcacherw")
    try:
        done = subprocess.run([go, "install", f"{GHZ_MODULE}@{GHZ_VERSION}"], env=env, capture_output=True,
                              text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        return None, f"`go install {GHZ_MODULE}@{GHZ_VERSION}` did not finish within 900 s"
    if done.returncode != 0 or not GHZ_BIN.exists():
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        return None, f"`go install {GHZ_MODULE}@{GHZ_VERSION}` failed (exit {done.returncode}): {tail}"
    return GHZ_BIN, None


def ghz(telemetry: str, token: str, request: bytes, duration_s: float, concurrency: int,
        log: Any = print) -> dict[str, Any]:
    """ghz on PublishBatch with ``request`` (an encoded PublishStreamRequest, the same message shape as
    PublishBatchRequest: field 1 = the batch). Each call gets its own batch_sequence (a template)."""
    from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as pb

    binary, why = ensure_ghz(log)
    if binary is None:
        return {"rps": None, "p99_ms": None, "errors": None, "missing": why}
    message = pb.PublishBatchRequest.FromString(request)
    readings = len(message.batch.readings)
    data = json_format.MessageToDict(message, preserving_proto_field_name=True)
    base = time.time_ns() // 1000 + 500_000_000_000  # far above the load's sequences of this run
    data["batch"]["batch_sequence"] = "__SEQ__"
    template = json.dumps(data).replace('"__SEQ__"', f"{{{{add {base} .RequestNumber}}}}")
    config = {
        "call": "pipewarden.telemetry.v1.TelemetryIngestService.PublishBatch",
        "host": telemetry,
        **({"cacert": ca} if (ca := os.environ.get(transport.CA_ENV)) else {"insecure": True}),
        # Mutual TLS: the certificate of the gateway whose batch it sends.
        **(dict(zip(("cert", "key"), files, strict=True))
           if (files := transport.gateway_cert_files(message.batch.gateway_id)) and ca else {}),
        # The service's own .proto (ghz's server-reflection client finds no symbol on grpcio's reflection).
        "proto": str(PROTO), "import-paths": [str(REPO / "protos")],
        "metadata": {"authorization": f"Bearer {token}"},
        "duration": f"{duration_s:.0f}s", "concurrency": concurrency, "connections": min(concurrency, 4),
        "timeout": "10s", "format": "json",
        # Calls in flight when the duration ends are awaited, not cut (ghz's default, "close", reports them
        # as Unavailable "use of closed network connection": its own shutdown, not the server's answer).
        "duration-stop": "wait",
    }
    with tempfile.TemporaryDirectory(prefix="loadtest-ghz-") as tmp:
        data_file = Path(tmp) / "data.json"
        data_file.write_text(template)
        config["data-file"] = str(data_file)
        config_file = Path(tmp) / "ghz.json"
        # The token stays out of the command line (process listings): in a 0600 config file.
        fd = os.open(config_file, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, json.dumps(config).encode())
        os.close(fd)
        try:
            done = subprocess.run([str(binary), "--config", str(config_file)], capture_output=True, text=True,
                                  timeout=duration_s + 60, check=False)
        except subprocess.TimeoutExpired:
            return {"rps": None, "p99_ms": None, "errors": None, "missing": "ghz did not finish in time"}
    try:
        out = json.loads(done.stdout)
    except ValueError:
        return {"rps": None, "p99_ms": None, "errors": None,
                "missing": f"ghz exit {done.returncode}: {(done.stderr or done.stdout).strip()[-400:]}"}
    p99 = next((d["latency"] for d in out.get("latencyDistribution") or [] if d.get("percentage") == 99), None)
    statuses = out.get("statusCodeDistribution") or {}
    errors = sum(n for code, n in statuses.items() if code != "OK")
    rps = float(out.get("rps") or 0.0)
    return {
        "rps": round(rps, 1),
        "readings_per_s": round(rps * readings, 1),
        "readings_per_call": readings,
        "p99_ms": None if p99 is None else round(p99 / 1e6, 3),  # ghz reports nanoseconds
        "p50_ms": next((round(d["latency"] / 1e6, 3) for d in out.get("latencyDistribution") or []
                        if d.get("percentage") == 50), None),
        "errors": errors,
        "status_codes": statuses,
        "error_messages": dict(list((out.get("errorDistribution") or {}).items())[:5]),
        "calls": out.get("count"),
        "concurrency": concurrency,
        "duration_s": duration_s,
        "version": GHZ_VERSION,
    }


def producer_perf(bootstrap: str, record_size: int, records: int, log: Any = print) -> dict[str, Any]:
    """Kafka's ProducerPerformance on the deployment's broker: records the size of one reading, acks=all,
    idempotent, on a topic of its own (created for it, deleted after)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    jars = REPO / ".cache" / "kafka" / "lib"
    if not any(jars.glob("kafka-tools-[0-9]*.jar")):
        return {"records_per_s": None, "missing": f"no kafka-tools jar in {jars} (`make kafka-jars`)"}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="loadtest-perf", **transport.kafka_kwargs())
    # A TLS / SASL broker: the same settings as Java client properties, in a 0600 file deleted after the run.
    props = KafkaSecurity.from_env().java_client_properties()
    config_dir = tempfile.TemporaryDirectory(prefix="loadtest-perf-")
    config_file = Path(config_dir.name) / "client.properties"
    config_file.touch(mode=0o600)
    config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()), encoding="utf-8")
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(PERF_TOPIC, num_partitions=12, replication_factor=1)])
        command = [str(KAFKA_SH), "run-class", PERF_CLASS, "--topic", PERF_TOPIC, "--num-records", str(records),
                   "--record-size", str(record_size), "--throughput", "-1", "--producer-props",
                   f"bootstrap.servers={bootstrap}", "acks=all", "enable.idempotence=true", "linger.ms=5",
                   "batch.size=262144", *(["--command-config", str(config_file)] if props else [])]
        log(f"running {PERF_CLASS} ({records} records of {record_size} B) on {bootstrap}")
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, cwd=REPO)
    finally:
        with contextlib.suppress(Exception):  # left behind is harmless: the next run reuses it
            admin.delete_topics([PERF_TOPIC])
        admin.close()
        config_dir.cleanup()
    lines = [line for line in done.stdout.splitlines() if "records sent" in line]
    match = re.search(r"([\d.]+) records/sec", lines[-1]) if lines else None
    if done.returncode != 0 or match is None:
        return {"records_per_s": None, "missing": f"ProducerPerformance exit {done.returncode}: "
                                                  f"{(done.stderr or done.stdout).strip()[-400:]}"}
    return {"records_per_s": float(match.group(1)), "summary": lines[-1].strip(), "record_size_bytes": record_size,
            "records": records}
