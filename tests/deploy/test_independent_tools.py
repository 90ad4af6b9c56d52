"""Ops' own tools against the deployment, with no project code: grpcurl (reflection, describe, health, a
call) and kcat (topic metadata, records), as the README's Deploy section shows them."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.deploy.support import Running

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "deploy" / "tools" / "tools.sh"


def _tool(name: str) -> str:
    done = subprocess.run([str(TOOLS), name], capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"tools.sh {name} failed:\n{done.stderr[-3000:]}"
    return done.stdout.strip().splitlines()[-1]


def _run(*argv: str, timeout_s: float = 60) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s, check=False)
    assert done.returncode == 0, f"{' '.join(argv[:4])} ... failed ({done.returncode}):\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def grpcurl() -> str:
    return _tool("grpcurl")


@pytest.fixture(scope="module")
def kcat() -> str:
    return _tool("kcat")


# its fixture builds grpcurl from the Go module proxy on a fresh clone: a minute or two on a quiet machine, past the
# suite's 300-s timeout under load (a CI run on 2026-12-07); the build's own limit (900 s) bounds it instead
@pytest.mark.timeout(960)
def test_grpcurl_lists_describes_checks_health_and_calls(grpcurl: str, local: Running) -> None:
    d = local.deployment
    telemetry, workorders = f"127.0.0.1:{d.telemetry_port}", f"127.0.0.1:{d.workorders_grpc_port}"
    leakdetect = f"127.0.0.1:{d.leakdetect_grpc_port}"

    assert {"pipewarden.telemetry.v1.TelemetryIngestService", "grpc.health.v1.Health"} <= set(
        _run(grpcurl, "-plaintext", telemetry, "list").split()
    )
    assert "pipewarden.leakdetect.v1.LeakQueryService" in _run(grpcurl, "-plaintext", leakdetect, "list").split()
    described = _run(grpcurl, "-plaintext", workorders, "describe", "pipewarden.workorders.v1.WorkOrdersService")
    assert "rpc Watch" in described and "rpc ExecuteWorkOrderCommand" in described
    for address in (telemetry, workorders, leakdetect):
        health = json.loads(_run(grpcurl, "-plaintext", address, "grpc.health.v1.Health/Check"))
        assert health == {"status": "SERVING"}, address

    token = local.secrets()["gateway_tokens"]["gw-ds-01"]
    reading = {"tag_id": "DS-M01-PT-UP", "source_time_unix_us": str(time.time_ns() // 1000), "value": 400,
               "quality": "QUALITY_GOOD"}
    batch = {"batch": {"gateway_id": "gw-ds-01", "batch_sequence": str(time.time_ns()), "readings": [reading]}}
    ack = json.loads(_run(
        grpcurl, "-plaintext", "-H", f"authorization: Bearer {token}", "-d", json.dumps(batch), telemetry,
        "pipewarden.telemetry.v1.TelemetryIngestService/PublishBatch",
    ))
    assert ack["ack"]["accepted_count"] == 1, ack  # grpcurl prints the proto field names


def test_kcat_lists_the_topics_and_reads_records_keyed_by_segment(kcat: str, local: Running) -> None:
    broker = f"127.0.0.1:{local.deployment.kafka_port}"
    metadata = json.loads(_run(kcat, "-b", broker, "-L", "-J"))
    partitions = {t["topic"]: len(t["partitions"]) for t in metadata["topics"]}
    assert partitions["telemetry.readings.v1"] == 12 and partitions["leak.alarms.v1"] == 6

    keys = _run(kcat, "-b", broker, "-C", "-t", "telemetry.readings.v1", "-o", "beginning", "-e", "-q",
                "-f", "%k\n", timeout_s=120).split()
    assert "DS-M01" in keys  # what the grpcurl call (or the load test before it) published
