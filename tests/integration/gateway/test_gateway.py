"""The gateway against real protocol servers and the real telemetry on the real Kafka broker.

One module shares the servers (Modbus simulator, OPC UA server, telemetry process); each test runs its own gateway
process under its own gateway id of the demo city, so its readings are told apart on the shared topic.
"""

from __future__ import annotations

import bisect
import collections
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import pytest

from deploy.demo_gateway import gateway_config, max_rate_per_s, value_at
from services.network import conversion_to_si
from services.network.quality import QUALITY_BAD, QUALITY_GOOD

from .conftest import (
    NETWORK,
    SOURCE_TIME_OFFSET_S,
    Field,
    GatewayProcess,
    Telemetry,
    delete_node,
    readings_on_topic,
    rejected_on_topic,
    start_opcua,
    stop_opcua,
)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
OUTAGE_S = 30.0  # the outage, kept in make test (shared with the kill -9 run)


def from_si(tag_id: str, value_si: float) -> float:
    tag = NETWORK.tags[tag_id]
    return conversion_to_si(tag.kind, tag.unit, NETWORK.gas.specific_gravity).from_si(value_si)


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def test_readings_arrive_with_tags_values_scaling_and_times(
    field_servers: Field, telemetry: Telemetry, gateway_factory: Callable[..., GatewayProcess], kafka_bootstrap: str, tmp_path: Any
) -> None:
    gateway_id = "gw-kb-01"
    opc_tags = {"KB-M01-PT-UP": (1.0, 0.0), "KB-M01-TT-UP": (0.1, -5.0)}  # tag -> scale, offset
    sim = field_servers.modbus[gateway_id]
    mapped = [m for m in field_servers.mapped[gateway_id] if m.tag.tag_id not in opc_tags]
    opc = field_servers.loop.run(start_opcua(list(opc_tags)))
    try:
        config = gateway_config(
            gateway_id, mapped, modbus_port=sim.port, target=telemetry.target, token_file=tmp_path / "x",
            queue_path=tmp_path / "queue.sqlite3", scan_period_s=0.5,
        )  # fmt: skip
        config["opcua"] = [
            {
                "name": "plc-1", "url": opc.url,
                "tags": [{"tag": t, "node_id": opc.node_ids[t], "scale": s, "offset": o, "scan_period_s": 0.2} for t, (s, o) in opc_tags.items()],
            }
        ]  # fmt: skip
        gateway = gateway_factory(config)
        since_us = time.time_ns() // 1000
        gateway.start()
        wait_until(lambda: gateway.health()["acked_readings"] >= 10 * len(mapped), 30, "readings acked")
        assert gateway.stop() == 0, gateway.logs()
    finally:
        field_servers.loop.run(stop_opcua(opc))
    readings = readings_on_topic(kafka_bootstrap, gateway_id, since_us)
    by_tag: dict[str, list[Any]] = collections.defaultdict(list)
    for r in readings:
        by_tag[r.tag_id].append(r)
    assert set(by_tag) == {m.tag.tag_id for m in mapped} | set(opc_tags)
    served = sorted(sim.served)
    served_times = [s[0] for s in served]
    for m in mapped:
        tag = m.tag
        quantum = {"int16": 0.1, "uint32": 0.01}.get(m.data_type, 0.0) or abs(value_at(tag, 0)) * 1e-6
        for r in by_tag[tag.tag_id]:
            assert r.quality == QUALITY_GOOD
            t_s = r.time_us / 1e6
            # the time is the gateway's clock in the middle of a request that read this tag's registers
            i = bisect.bisect_left(served_times, t_s - 0.05)
            near = [s for s in served[i : i + 50] if abs(s[0] - t_s) <= 0.05 and s[1] <= m.address < s[1] + s[2]]
            assert near, f"{tag.tag_id}: no register read of address {m.address} near {t_s}"
            expected = value_at(tag, near[0][0])
            got = from_si(tag.tag_id, r.value_si)
            assert abs(got - expected) <= max_rate_per_s(tag) * 0.05 + quantum, (tag.tag_id, m.data_type, got, expected)
    for tag_id, (scale, offset) in opc_tags.items():
        written = dict(field_servers.loop.run(_copy(opc.written[tag_id])))
        assert len(by_tag[tag_id]) >= 5
        for r in by_tag[tag_id]:
            # the source's timestamp (written 250 ms before the write), not the gateway's clock
            assert r.time_us in written, (tag_id, r.time_us)
            assert abs(from_si(tag_id, r.value_si) - (written[r.time_us] * scale + offset)) < 1e-6
    assert SOURCE_TIME_OFFSET_S > 0


async def _copy(items: list[Any]) -> list[Any]:
    return list(items)
