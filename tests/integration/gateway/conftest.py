"""Real servers for the gateway's integration tests, shared by the module: a pymodbus Modbus TCP simulator and an
asyncua OPC UA server (both in a background thread with their own event loop, values changing over time), and
telemetry as a real process (``python -m services.telemetry``) on the session's Kafka broker, which the tests can
kill and restart on the same port. Gateways run as real processes too (``python -m services.gateway``)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import processes
from deploy.demo_gateway import MappedTag, ModbusFieldSimulator, free_port, layout
from services.contracts.pipewarden.telemetry.v1 import records_pb2
from services.network import Network, load_demo_network
from services.topics import TELEMETRY_READINGS
from services.topics.admin import ensure_topics
from tests.fixtures.kafka import consume_all

ROOT = Path(__file__).resolve().parents[3]
NETWORK = load_demo_network()
TOKENS = {g: f"tok-gateway-tests-{g}" for g in NETWORK.gateways}


class LoopThread:
    """An event loop in a daemon thread, for servers shared by synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="gateway-test-servers")
        self.thread.start()

    def run(self, coro: Any, timeout_s: float = 120.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class OpcUaField:
    """An asyncua server with one variable per tag; ``values`` written every ``period_s`` with a SourceTimestamp
    250 ms before the write, so the tests can tell the source's time from the gateway's."""

    server: Any
    url: str
    variables: dict[str, Any]  # tag id -> node
    node_ids: dict[str, str]
    written: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # tag -> (source time us, raw value)
    task: asyncio.Task[None] | None = None
    deleted: set[str] = field(default_factory=set)


SOURCE_TIME_OFFSET_S = 0.25


async def start_opcua(tags: list[str], period_s: float = 0.2) -> OpcUaField:
    from asyncua import Server, ua

    port = free_port()
    server = Server()
    await server.init()
    url = f"opc.tcp://127.0.0.1:{port}/pipewarden-tests/"
    server.set_endpoint(url)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace("urn:pipewarden:tests")
    rtu = await server.nodes.objects.add_object(idx, "RTU")
    variables, node_ids = {}, {}
    for tag in tags:
        node = await rtu.add_variable(ua.NodeId(ua.String(tag), ua.Int16(idx)), tag, 0.0)
        variables[tag] = node
        node_ids[tag] = node.nodeid.to_string()
    await server.start()
    opc = OpcUaField(server, url, variables, node_ids, {t: [] for t in tags})

    async def writer() -> None:
        k = 0
        while True:
            k += 1
            now = datetime.datetime.now(datetime.UTC)
            source = now - datetime.timedelta(seconds=SOURCE_TIME_OFFSET_S)
            for tag, node in list(opc.variables.items()):
                if tag in opc.deleted:
                    continue
                raw = 100.0 + (k % 50) + len(tag) / 10.0  # in range of every tag used (kPa_g, kg/h, degC)
                dv = ua.DataValue(ua.Variant(raw, ua.VariantType.Double), SourceTimestamp=source, ServerTimestamp=now)  # type: ignore[arg-type]
                try:
                    await node.write_value(dv)
                except Exception:
                    continue
                opc.written[tag].append((int(source.timestamp() * 1_000_000), raw))
            await asyncio.sleep(period_s)

    opc.task = asyncio.ensure_future(writer())
    return opc


async def delete_node(opc: OpcUaField, tag: str) -> None:
    opc.deleted.add(tag)
    await opc.server.delete_nodes([opc.variables[tag]])


async def stop_opcua(opc: OpcUaField) -> None:
    if opc.task is not None:
        opc.task.cancel()
    await opc.server.stop()


@dataclass
class Field:
    loop: LoopThread
    modbus: dict[str, ModbusFieldSimulator]  # gateway id -> simulator of its tags
    mapped: dict[str, list[MappedTag]]


@pytest.fixture(scope="module")
def field_servers() -> Iterator[Field]:
    import logging

    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    loop = LoopThread()
    sims, mapped = {}, {}
    for gateway in ("gw-kb-01", "gw-eh-01", "gw-ds-01"):
        m = layout(NETWORK.tags_of_gateway(gateway))
        sim = ModbusFieldSimulator(m, record=True, nan_tags={"DS-M01-PT-UP"})
        loop.run(sim.start())
        sims[gateway], mapped[gateway] = sim, m
    try:
        yield Field(loop, sims, mapped)
    finally:
        for sim in sims.values():
            loop.run(sim.stop())
        loop.close()


# The gateways' readings go to a topic of their own, not the session's telemetry.readings.v1: they carry the
# wall clock's times for the demo city's district segments, which the leakdetect integration tests replay
# from January 2026 on the shared broker (a later reading of a segment makes theirs late, and dropped).
READINGS_TOPIC = dataclasses.replace(TELEMETRY_READINGS, name="gateway-tests.readings.v1")


@pytest.fixture(scope="session")
def readings_topic(kafka_bootstrap: str) -> str:
    """``READINGS_TOPIC`` on the session's broker (its topics are created explicitly, not on first use)."""
    ensure_topics(kafka_bootstrap, [READINGS_TOPIC])
    return READINGS_TOPIC.name


class Telemetry:
    """``python -m services.telemetry`` on a fixed port: kill() (SIGKILL) and start() again on the same port.
    It writes the readings to ``READINGS_TOPIC``."""

    def __init__(self, bootstrap: str, log_dir: Path) -> None:
        self.port = free_port()
        self.bootstrap = bootstrap
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        env = {
            **os.environ,
            "PIPEWARDEN_KAFKA_BOOTSTRAP": self.bootstrap,
            "PIPEWARDEN_TELEMETRY_READINGS_TOPIC": READINGS_TOPIC.name,
            "PIPEWARDEN_TELEMETRY_LISTEN": self.target,
            "PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS": ",".join(f"{g}={t}" for g, t in TOKENS.items()),
            "PIPEWARDEN_TELEMETRY_METRICS_PORT": "-1",
            "PIPEWARDEN_TELEMETRY_PUBLISH_TIMEOUT_S": "5",
            "PIPEWARDEN_TELEMETRY_LOG_LEVEL": "WARNING",
        }
        log = (self.log_dir / f"telemetry-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.telemetry"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        wait_for_port(self.port, self.process, "telemetry", 60)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for_port(port: int, process: subprocess.Popen[bytes], name: str, timeout_s: float) -> None:
    processes.wait_for_port("127.0.0.1", port, process, name, timeout_s=timeout_s)


@pytest.fixture(scope="module")
def telemetry(
    kafka_bootstrap: str, readings_topic: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Telemetry]:
    running = Telemetry(kafka_bootstrap, tmp_path_factory.mktemp("telemetry"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@dataclass
class GatewayProcess:
    config_path: Path
    health_port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        log = self.log_path.with_suffix(f".{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.gateway", "--config", str(self.config_path)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.health_port, self.process, "gateway", 30)

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/health", timeout=3) as reply:
                return dict(json.load(reply))
        except urllib.error.HTTPError as error:
            return dict(json.load(error))

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/metrics", timeout=3) as reply:
            return str(reply.read().decode())

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.log_path.parent.glob(self.log_path.stem + ".*.log"))
        )


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], GatewayProcess]]:
    made: list[GatewayProcess] = []

    def make(config: dict[str, Any]) -> GatewayProcess:
        token_file = tmp_path / f"{config['gateway_id']}.token"
        token_file.write_text(TOKENS[config["gateway_id"]] + "\n")
        config["telemetry"]["token_file"] = str(token_file)
        config.setdefault("health", {})["port"] = port = free_port()
        path = tmp_path / f"{config['gateway_id']}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        gateway = GatewayProcess(path, port, tmp_path / f"{config['gateway_id']}-gateway")
        made.append(gateway)
        return gateway

    try:
        yield make
    finally:
        for gateway in made:
            if gateway.process is not None and gateway.process.poll() is None:
                gateway.process.kill()
                gateway.process.wait()


@dataclass(frozen=True)
class TopicReading:
    record_id: str
    gateway_id: str
    batch_sequence: int
    tag_id: str
    time_us: int
    value_si: float
    quality: int
    position: tuple[int, int, int]  # partition, offset, index in the record: consumption order


def readings_on_topic(bootstrap: str, gateway_id: str, since_us: int) -> list[TopicReading]:
    out = []
    for record in consume_all(bootstrap, READINGS_TOPIC.name, timeout_s=30):
        message = records_pb2.SegmentReadings.FromString(record.value or b"")
        if message.gateway_id != gateway_id:
            continue
        index = 0
        for series in message.series:
            for t, v, q in zip(series.source_time_unix_us, series.values_si, series.quality, strict=True):
                if t >= since_us:
                    out.append(
                        TopicReading(
                            message.record_id,
                            message.gateway_id,
                            message.batch_sequence,
                            series.tag_id,
                            t,
                            v,
                            q,
                            (record.partition, record.offset, index),
                        )
                    )
                index += 1
    return out


def rejected_on_topic(bootstrap: str, gateway_id: str, since_us: int) -> list[records_pb2.RejectedReading]:
    out = []
    for record in consume_all(bootstrap, "telemetry.rejected.v1", timeout_s=30):
        message = records_pb2.RejectedReading.FromString(record.value or b"")
        if message.gateway_id == gateway_id and message.reading.source_time_unix_us >= since_us:
            out.append(message)
    return out


def to_si(network: Network, tag_id: str, value: float) -> float:
    from services.network import conversion_to_si

    tag = network.tags[tag_id]
    return conversion_to_si(tag.kind, tag.unit, network.gas.specific_gravity).to_si(value)
