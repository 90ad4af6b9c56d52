"""One field gateway against a simulated Modbus TCP RTU, as one of the demo city's gateways.

What ``make demo`` needs (deploy/demo.py wires it in)::

    from .demo_gateway import modbus_gateway
    with modbus_gateway(TELEMETRY_ADDRESS, "gw-eh-01", token_of["gw-eh-01"], DEMO_DIR) as gw:
        ...                      # fieldsim streams the other gateways (--gateways without gw-eh-01)
    print(gw.summary())          # what the gateway took, queued and had acked (from its health endpoint)

Also the simulator on its own: ``python -m deploy.demo_gateway simulate --port 1502 --gateway gw-eh-01`` (prints
the gateway configuration that reads it), used by the gateway's tests and benchmark too: ``ModbusFieldSimulator``
serves every tag of a gateway from holding registers whose values follow ``value_at`` (slow waves inside each
tag's range), encoded in a mix of data types and word orders, so that decoding and scaling are exercised.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pymodbus.client import ModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from deploy import processes
from services.network import Network, Tag, load_demo_network

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# data type, word order, scale, offset: the encodings the simulator cycles through (raw = (value - offset) / scale)
ENCODINGS: tuple[tuple[str, str, float, float], ...] = (
    ("float32", "big", 1.0, 0.0),
    ("float32", "little", 1.0, 0.0),
    ("int16", "big", 0.1, 0.0),
    ("uint32", "little", 0.01, -40000.0),
    ("float64", "big", 1.0, 0.0),
)
_STRUCT = {"float32": ("f", 2), "float64": ("d", 4), "int16": ("h", 1), "uint32": ("I", 2)}
WAVE_PERIOD_S = 60.0


@dataclass(frozen=True)
class MappedTag:
    tag: Tag
    address: int
    data_type: str
    word_order: str
    scale: float
    offset: float

    @property
    def count(self) -> int:
        return _STRUCT[self.data_type][1]


def layout(tags: Sequence[Tag], *, start: int = 0) -> list[MappedTag]:
    """Consecutive holding registers for the tags, encodings cycling through ENCODINGS."""
    mapped, address = [], start
    for index, tag in enumerate(tags):
        data_type, order, scale, offset = ENCODINGS[index % len(ENCODINGS)]
        if data_type == "int16" and max(abs(tag.range_min), abs(tag.range_max)) / scale > 32000:
            data_type, order, scale, offset = ENCODINGS[0]  # would not fit: plain float32
        m = MappedTag(tag, address, data_type, order, scale, offset)
        mapped.append(m)
        address += m.count
    return mapped


def value_at(tag: Tag, t_s: float) -> float:
    """The simulated process value of ``tag`` at time ``t_s`` (its own unit): a slow wave inside its range."""
    span = tag.range_max - tag.range_min
    phase = (sum(map(ord, tag.tag_id)) % 100) / 100.0
    return tag.range_min + span * (0.5 + 0.3 * math.sin(2 * math.pi * (t_s / WAVE_PERIOD_S + phase)))


def max_rate_per_s(tag: Tag) -> float:
    """Bound of |d value_at / dt|: how far a reading may drift per second of timing error."""
    return (tag.range_max - tag.range_min) * 0.3 * 2 * math.pi / WAVE_PERIOD_S


def encode(m: MappedTag, value: float) -> list[int]:
    import struct

    code, count = _STRUCT[m.data_type]
    raw = (value - m.offset) / m.scale
    number: float = round(raw) if code in "hI" else raw
    words = list(struct.unpack(f">{count}H", struct.pack(">" + code, number)))
    return words if m.word_order == "big" else words[::-1]


@dataclass
class ModbusFieldSimulator:
    """A Modbus TCP RTU (pymodbus's own server) whose registers follow ``value_at`` at the time of each request.

    ``nan_tags``: tags whose registers hold NaN (illegal values); ``served``: (time, address, count) of every
    register read when ``record`` is set (the tests count the readings the gateway took from it)."""

    mapped: list[MappedTag]
    unit_id: int = 1
    nan_tags: set[str] = field(default_factory=set)
    record: bool = False
    served: list[tuple[float, int, int]] = field(default_factory=list)
    server: ModbusTcpServer | None = None
    port: int = 0

    def __post_init__(self) -> None:
        self._by_address = sorted(self.mapped, key=lambda m: m.address)
        self._starts = [m.address for m in self._by_address]
        self.size = max((m.address + m.count for m in self.mapped), default=1)

    async def _action(
        self, function_code: int, start_address: int, address: int, count: int, registers: list[int], values: Any
    ) -> None:
        import bisect

        now = time.time()
        if self.record:
            self.served.append((now, address, count))
        i = max(0, bisect.bisect_right(self._starts, address) - 1)
        while i < len(self._by_address) and self._by_address[i].address < address + count:
            m = self._by_address[i]
            i += 1
            if m.address + m.count <= address:
                continue
            value = math.nan if m.tag.tag_id in self.nan_tags else value_at(m.tag, now)
            if m.data_type in ("int16", "uint32") and not math.isfinite(value):
                value = m.offset  # integers have no NaN
            words = encode(m, value)
            base = m.address - start_address
            registers[base : base + m.count] = words
        return None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        if port == 0:
            port = free_port()
        device = SimDevice(
            self.unit_id,
            simdata=[SimData(0, count=self.size, values=0, datatype=SimType.REGISTERS)],
            action=self._action,
        )
        self.server = ModbusTcpServer(device, address=(host, port))
        await self.server.serve_forever(background=True)
        self.port = port
        return port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None


def free_port() -> int:
    """A free port on 127.0.0.1, below Linux's ephemeral range (see tests/fixtures/kafka.py for why)."""
    import random

    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def gateway_config(
    gateway_id: str,
    mapped: Sequence[MappedTag],
    *,
    modbus_port: int,
    target: str,
    token_file: Path,
    queue_path: Path,
    unit_id: int = 1,
    health_port: int = 0,
    device_name: str = "rtu-1",
    extra_telemetry: dict[str, Any] | None = None,
    extra_queue: dict[str, Any] | None = None,
    scan_period_s: float | None = None,
) -> dict[str, Any]:
    """The gateway YAML (as a dict) that reads ``mapped`` from a simulator on ``modbus_port``."""
    tags = []
    for m in mapped:
        entry: dict[str, Any] = {
            "tag": m.tag.tag_id,
            "unit_id": unit_id,
            "address": m.address,
            "data_type": m.data_type,
            "word_order": m.word_order,
            "scale": m.scale,
            "offset": m.offset,
        }
        if scan_period_s is not None:
            entry["scan_period_s"] = scan_period_s
        tags.append(entry)
    return {
        "gateway_id": gateway_id,
        "telemetry": {"target": target, "token_file": str(token_file), **(extra_telemetry or {})},
        "queue": {"path": str(queue_path), **(extra_queue or {})},
        "health": {"port": health_port},
        "modbus": [{"name": device_name, "host": "127.0.0.1", "port": modbus_port, "tags": tags}],
    }


@dataclass
class DemoGateway:
    health_port: int
    process: subprocess.Popen[bytes]
    simulator: subprocess.Popen[bytes]

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/health", timeout=2) as reply:
                return dict(json.load(reply))
        except urllib.error.HTTPError as error:  # 503 still carries the document
            return dict(json.load(error))

    def summary(self) -> str:
        try:
            h = self.health()
        except OSError as error:
            return f"gateway health endpoint not reachable: {error}"
        sources = ", ".join(f"{name}: {s['errors']} read errors" for name, s in h.get("sources", {}).items())
        return (
            f"gateway {h.get('gateway_id')} (Modbus TCP): {h.get('acked_readings')} readings acked by telemetry, "
            f"{h.get('queue_depth')} queued, oldest unsent {h.get('oldest_unsent_age_s')} s, {sources}"
        )


@contextmanager
def modbus_gateway(
    telemetry_address: str, gateway_id: str, token: str, work_dir: Path, network: Network | None = None
) -> Iterator[DemoGateway]:
    """Start a Modbus simulator for ``gateway_id``'s tags and ``python -m services.gateway`` reading it; both are
    stopped (SIGTERM, then SIGKILL) on exit. Logs: ``work_dir/modbus-sim.log``, ``work_dir/gateway.log``."""
    network = network or load_demo_network()
    work_dir.mkdir(parents=True, exist_ok=True)
    modbus_port, health_port = free_port(), free_port()
    token_file = work_dir / f"{gateway_id}.token"
    token_file.write_text(token + "\n", encoding="utf-8")
    os.chmod(token_file, 0o600)
    queue = work_dir / f"{gateway_id}.queue.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{queue}{suffix}").unlink(missing_ok=True)
    config = gateway_config(
        gateway_id,
        layout(network.tags_of_gateway(gateway_id)),
        modbus_port=modbus_port,
        target=telemetry_address,
        token_file=token_file,
        queue_path=queue,
        health_port=health_port,
    )
    config_path = work_dir / f"{gateway_id}.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    started: list[subprocess.Popen[bytes]] = []
    try:
        with (work_dir / "modbus-sim.log").open("wb") as log:
            sim = subprocess.Popen(
                [PYTHON, "-m", "deploy.demo_gateway", "simulate", "--port", str(modbus_port), "--gateway", gateway_id],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(sim)
        _wait_port(modbus_port, sim, "modbus simulator")
        with (work_dir / "gateway.log").open("wb") as log:
            gateway = subprocess.Popen(
                [PYTHON, "-m", "services.gateway", "--config", str(config_path)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(gateway)
        _wait_port(health_port, gateway, "gateway")
        yield DemoGateway(health_port, gateway, sim)
    finally:
        for process in reversed(started):
            processes.stop(process)


def _wait_port(port: int, process: subprocess.Popen[bytes], name: str, timeout_s: float = 30.0) -> None:
    processes.wait_for_port("127.0.0.1", port, process, name, timeout_s=timeout_s)


def read_once(port: int, address: int, count: int, unit_id: int = 1) -> list[int]:
    """One synchronous register read (a check that the simulator answers)."""
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=2)
    try:
        client.connect()
        return list(client.read_holding_registers(address, count=count, device_id=unit_id).registers)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.demo_gateway", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="serve a gateway's tags from a simulated Modbus TCP RTU")
    sim.add_argument("--port", type=int, required=True)
    sim.add_argument("--gateway", default="gw-eh-01")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    network = load_demo_network()
    if args.gateway not in network.gateways:
        parser.error(f"--gateway {args.gateway!r} is not a gateway of {network.name} ({', '.join(network.gateways)})")
    simulator = ModbusFieldSimulator(layout(network.tags_of_gateway(args.gateway)))

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await simulator.start(port=args.port)
        print(f"modbus simulator for {args.gateway}: 127.0.0.1:{args.port}, {len(simulator.mapped)} tags", flush=True)
        await stop.wait()
        await simulator.stop()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
