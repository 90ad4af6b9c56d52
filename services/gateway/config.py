"""Gateway configuration: one YAML file (``--config GATEWAY.yaml``), checked against the network model.

Every problem is refused with the file, the entry and what is wrong, e.g.
``gw.yaml: modbus[0] (rtu-1).tags[3] (DS-M01-PT-UP): data_type must be one of int16, ..., got 'float'``.
The layout and every setting with its default is in services/gateway/README.md.

Environment: ``PIPEWARDEN_GATEWAY_CONFIG`` (the file when ``--config`` is not given),
``PIPEWARDEN_GATEWAY_LOG_LEVEL`` (else ``PIPEWARDEN_LOG_LEVEL``, else INFO), ``PIPEWARDEN_NETWORK_FILE`` (the
network model when the file names none).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.network import Network, NetworkFileError, load_demo_network, load_network

from .domain import DATA_TYPES, DataType, RegisterTable, WordOrder
from .domain.scan import MAX_REGISTERS_PER_READ
from .service_layer import QueueFullPolicy


class GatewayConfigError(ValueError):
    """A configuration that cannot be used; the message names the file, the entry and the problem."""


@dataclass(frozen=True)
class ModbusTag:
    tag_id: str
    unit_id: int
    table: RegisterTable
    address: int
    data_type: DataType
    word_order: WordOrder
    scale: float
    offset: float
    scan_period_s: float


@dataclass(frozen=True)
class ModbusDevice:
    name: str
    host: str
    port: int
    timeout_s: float
    max_gap: int
    tags: tuple[ModbusTag, ...]


@dataclass(frozen=True)
class OpcUaTag:
    tag_id: str
    node_id: str
    scale: float
    offset: float
    scan_period_s: float


@dataclass(frozen=True)
class OpcUaServer:
    name: str
    url: str
    subscribe: bool  # False: poll (servers without subscriptions)
    timeout_s: float
    tags: tuple[OpcUaTag, ...]


@dataclass(frozen=True)
class TelemetrySettings:
    target: str
    token_file: Path
    tls_root_cert_file: Path | None = None
    tls_server_name: str | None = None
    # Mutual TLS: this gateway's certificate (naming its gateway id) and key, for a telemetry that requires one.
    tls_client_cert_file: Path | None = None
    tls_client_key_file: Path | None = None
    max_readings_per_batch: int = 5000
    max_in_flight_batches: int = 16
    ack_timeout_s: float = 15.0
    linger_s: float = 0.1
    backfill_readings_per_s: float = 100_000.0


@dataclass(frozen=True)
class QueueSettings:
    path: Path
    max_readings: int = 10_000_000
    when_full: QueueFullPolicy = QueueFullPolicy.DROP_OLDEST
    synchronous: str = "FULL"
    max_bytes: int | None = None


@dataclass(frozen=True)
class GatewayConfig:
    source_file: str
    gateway_id: str
    network: Network = field(repr=False)
    telemetry: TelemetrySettings
    queue: QueueSettings
    modbus: tuple[ModbusDevice, ...] = ()
    opcua: tuple[OpcUaServer, ...] = ()
    health_host: str = "127.0.0.1"
    health_port: int = 0  # 0: any free port; -1: off
    log_level: str = "INFO"

    @property
    def tag_count(self) -> int:
        return sum(len(d.tags) for d in self.modbus) + sum(len(s.tags) for s in self.opcua)


class _Checker:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, where: str, problem: str) -> GatewayConfigError:
        return GatewayConfigError(f"{self.file}: {where}: {problem}" if where else f"{self.file}: {problem}")

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping, got {type(value).__name__}")
        return value

    def keys(self, entry: Mapping[str, Any], where: str, allowed: set[str], required: set[str]) -> None:
        unknown = sorted(set(map(str, entry)) - allowed)
        if unknown:
            raise self.fail(where, f"unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        missing = sorted(required - set(entry))
        if missing:
            raise self.fail(where, f"missing {', '.join(missing)}")

    def text(self, entry: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = entry.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"{key} must be a non-empty string, got {value!r}")
        return value.strip()

    def integer(self, entry: Mapping[str, Any], key: str, where: str, default: int | None, lo: int, hi: int) -> int:
        value = entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"{key} must be an integer, got {value!r}")
        if not lo <= value <= hi:
            raise self.fail(where, f"{key} must be in [{lo}, {hi}], got {value}")
        return value

    def number(
        self, entry: Mapping[str, Any], key: str, where: str, default: float, *, positive: bool = False
    ) -> float:
        value = entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(where, f"{key} must be a finite number, got {value!r}")
        if positive and value <= 0:
            raise self.fail(where, f"{key} must be > 0, got {value}")
        return float(value)

    def choice(self, entry: Mapping[str, Any], key: str, where: str, default: str, choices: tuple[str, ...]) -> str:
        value = entry.get(key, default)
        if value not in choices:
            raise self.fail(where, f"{key} must be one of {', '.join(choices)}, got {value!r}")
        return str(value)


_TOP = {"gateway_id", "network_file", "telemetry", "queue", "health", "modbus", "opcua", "log_level"}
_TELEMETRY = {
    "target",
    "token_file",
    "tls_root_cert_file",
    "tls_server_name",
    "tls_client_cert_file",
    "tls_client_key_file",
    "max_readings_per_batch",
    "max_in_flight_batches",
    "ack_timeout_s",
    "linger_s",
    "backfill_readings_per_s",
}
_QUEUE = {"path", "max_readings", "when_full", "synchronous", "max_bytes"}
_MODBUS = {"name", "host", "port", "timeout_s", "max_gap", "tags"}
_MODBUS_TAG = {"tag", "unit_id", "register", "address", "data_type", "word_order", "scale", "offset", "scan_period_s"}
_OPCUA = {"name", "url", "subscribe", "timeout_s", "tags"}
_OPCUA_TAG = {"tag", "node_id", "scale", "offset", "scan_period_s"}


def load_config(
    path: str | Path, env: Mapping[str, str] | None = None, network: Network | None = None
) -> GatewayConfig:
    env = os.environ if env is None else env
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise GatewayConfigError(f"{file}: cannot be read: {error}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise GatewayConfigError(f"{file}: not valid YAML: {error}") from None
    return parse_config(raw, file, env, network)


def parse_config(raw: Any, file: str, env: Mapping[str, str], network: Network | None = None) -> GatewayConfig:
    c = _Checker(file)
    top = c.mapping(raw, "")
    c.keys(top, "top level", _TOP, {"gateway_id", "telemetry", "queue"})
    base = Path(file).resolve().parent

    def relative(value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p

    if network is None:
        network_file = top.get("network_file") or env.get("PIPEWARDEN_NETWORK_FILE") or None
        try:
            network = load_network(relative(str(network_file))) if network_file else load_demo_network()
        except NetworkFileError as error:
            raise c.fail("network_file", str(error)) from None
    gateway_id = c.text(top, "gateway_id", "gateway_id")
    if gateway_id not in network.gateways:
        raise c.fail(
            "gateway_id", f"{gateway_id!r} is not a gateway of network {network.name!r} ({', '.join(network.gateways)})"
        )

    t = c.mapping(top["telemetry"], "telemetry")
    c.keys(t, "telemetry", _TELEMETRY, {"target", "token_file"})
    token_file = relative(c.text(t, "token_file", "telemetry"))
    cert = t.get("tls_root_cert_file")
    telemetry = TelemetrySettings(
        target=c.text(t, "target", "telemetry"),
        token_file=token_file,
        tls_root_cert_file=relative(c.text(t, "tls_root_cert_file", "telemetry")) if cert is not None else None,
        tls_server_name=c.text(t, "tls_server_name", "telemetry") if t.get("tls_server_name") is not None else None,
        tls_client_cert_file=relative(c.text(t, "tls_client_cert_file", "telemetry"))
        if t.get("tls_client_cert_file") is not None else None,
        tls_client_key_file=relative(c.text(t, "tls_client_key_file", "telemetry"))
        if t.get("tls_client_key_file") is not None else None,
        max_readings_per_batch=c.integer(t, "max_readings_per_batch", "telemetry", 5000, 1, 10_000),
        max_in_flight_batches=c.integer(t, "max_in_flight_batches", "telemetry", 16, 1, 1024),
        ack_timeout_s=c.number(t, "ack_timeout_s", "telemetry", 15.0, positive=True),
        linger_s=c.number(t, "linger_s", "telemetry", 0.1, positive=True),
        backfill_readings_per_s=c.number(t, "backfill_readings_per_s", "telemetry", 100_000.0, positive=True),
    )
    if (telemetry.tls_client_cert_file is None) != (telemetry.tls_client_key_file is None):
        raise c.fail("telemetry", "tls_client_cert_file and tls_client_key_file must be given together")
    for name, p in (("token_file", token_file), ("tls_root_cert_file", telemetry.tls_root_cert_file),
                    ("tls_client_cert_file", telemetry.tls_client_cert_file),
                    ("tls_client_key_file", telemetry.tls_client_key_file)):
        if p is not None and not p.is_file():
            raise c.fail("telemetry", f"{name} {p} does not exist or is not a file")

    q = c.mapping(top["queue"], "queue")
    c.keys(q, "queue", _QUEUE, {"path"})
    max_bytes = q.get("max_bytes")
    queue = QueueSettings(
        path=relative(c.text(q, "path", "queue")),
        max_readings=c.integer(q, "max_readings", "queue", 10_000_000, 1, 10**12),
        when_full=QueueFullPolicy(
            c.choice(q, "when_full", "queue", "drop_oldest", tuple(p.value for p in QueueFullPolicy))
        ),
        synchronous=c.choice(q, "synchronous", "queue", "FULL", ("FULL", "NORMAL")),
        max_bytes=None if max_bytes is None else c.integer(q, "max_bytes", "queue", None, 65536, 10**15),
    )

    h = c.mapping(top.get("health", {}) or {}, "health")
    c.keys(h, "health", {"host", "port"}, set())
    health_host = c.text(h, "host", "health", "127.0.0.1")
    health_port = c.integer(h, "port", "health", 0, -1, 65535)

    seen: dict[str, str] = {}

    def network_tag(entry: Mapping[str, Any], where: str) -> tuple[str, float]:
        tag_id = c.text(entry, "tag", where)
        tag = network.tags.get(tag_id)
        if tag is None:
            raise c.fail(where, f"tag {tag_id!r} is not in network {network.name!r}")
        if tag.gateway_id != gateway_id:
            raise c.fail(where, f"tag {tag_id!r} belongs to gateway {tag.gateway_id!r}, not {gateway_id!r}")
        if tag_id in seen:
            raise c.fail(where, f"tag {tag_id!r} is already mapped by {seen[tag_id]}")
        seen[tag_id] = where
        return tag_id, c.number(entry, "scan_period_s", where, tag.scan_period_s, positive=True)

    def names(kind: str) -> list[Mapping[str, Any]]:
        value = top.get(kind, []) or []
        if not isinstance(value, list):
            raise c.fail(kind, f"must be a list, got {type(value).__name__}")
        return value

    modbus: list[ModbusDevice] = []
    device_names: set[str] = set()
    for i, raw_device in enumerate(names("modbus")):
        where = f"modbus[{i}]"
        d = c.mapping(raw_device, where)
        if isinstance(d.get("name"), str):
            where = f"modbus[{i}] ({d['name']})"
        c.keys(d, where, _MODBUS, {"name", "host", "tags"})
        name = c.text(d, "name", where)
        if name in device_names:
            raise c.fail(where, f"source name {name!r} is used twice")
        device_names.add(name)
        raw_tags = d["tags"]
        if not isinstance(raw_tags, list) or not raw_tags:
            raise c.fail(where, "tags must be a non-empty list")
        tags = []
        for j, raw_tag in enumerate(raw_tags):
            tw = f"{where}.tags[{j}]"
            e = c.mapping(raw_tag, tw)
            if isinstance(e.get("tag"), str):
                tw = f"{tw} ({e['tag']})"
            c.keys(e, tw, _MODBUS_TAG, {"tag", "address", "data_type"})
            tag_id, period = network_tag(e, tw)
            data_type = DataType(c.choice(e, "data_type", tw, "", DATA_TYPES))
            scale = c.number(e, "scale", tw, 1.0)
            if scale == 0:
                raise c.fail(tw, "scale must not be 0")
            tags.append(
                ModbusTag(
                    tag_id=tag_id,
                    unit_id=c.integer(e, "unit_id", tw, 1, 0, 255),
                    table=RegisterTable(c.choice(e, "register", tw, "holding", tuple(r.value for r in RegisterTable))),
                    address=c.integer(e, "address", tw, None, 0, 65535 - 3),
                    data_type=data_type,
                    word_order=WordOrder(c.choice(e, "word_order", tw, "big", tuple(w.value for w in WordOrder))),
                    scale=scale,
                    offset=c.number(e, "offset", tw, 0.0),
                    scan_period_s=period,
                )
            )
        modbus.append(
            ModbusDevice(
                name=name,
                host=c.text(d, "host", where),
                port=c.integer(d, "port", where, 502, 1, 65535),
                timeout_s=c.number(d, "timeout_s", where, 1.0, positive=True),
                max_gap=c.integer(d, "max_gap", where, 0, 0, MAX_REGISTERS_PER_READ),
                tags=tuple(tags),
            )
        )

    opcua: list[OpcUaServer] = []
    for i, raw_server in enumerate(names("opcua")):
        where = f"opcua[{i}]"
        s = c.mapping(raw_server, where)
        if isinstance(s.get("name"), str):
            where = f"opcua[{i}] ({s['name']})"
        c.keys(s, where, _OPCUA, {"name", "url", "tags"})
        name = c.text(s, "name", where)
        if name in device_names:
            raise c.fail(where, f"source name {name!r} is used twice")
        device_names.add(name)
        url = c.text(s, "url", where)
        if not url.startswith("opc.tcp://"):
            raise c.fail(where, f"url must start with opc.tcp://, got {url!r}")
        subscribe = s.get("subscribe", True)
        if not isinstance(subscribe, bool):
            raise c.fail(where, f"subscribe must be true or false, got {subscribe!r}")
        raw_tags = s["tags"]
        if not isinstance(raw_tags, list) or not raw_tags:
            raise c.fail(where, "tags must be a non-empty list")
        otags = []
        for j, raw_tag in enumerate(raw_tags):
            tw = f"{where}.tags[{j}]"
            e = c.mapping(raw_tag, tw)
            if isinstance(e.get("tag"), str):
                tw = f"{tw} ({e['tag']})"
            c.keys(e, tw, _OPCUA_TAG, {"tag", "node_id"})
            tag_id, period = network_tag(e, tw)
            node_id = c.text(e, "node_id", tw)
            if not _plausible_node_id(node_id):
                raise c.fail(tw, f"node_id {node_id!r} is not an OPC UA node id (e.g. ns=2;s=Name or ns=2;i=1001)")
            otags.append(
                OpcUaTag(tag_id, node_id, c.number(e, "scale", tw, 1.0), c.number(e, "offset", tw, 0.0), period)
            )
        opcua.append(
            OpcUaServer(name, url, subscribe, c.number(s, "timeout_s", where, 4.0, positive=True), tuple(otags))
        )

    if not modbus and not opcua:
        raise c.fail("", "no sources: give at least one modbus or opcua entry")
    log_level = str(
        top.get("log_level") or env.get("PIPEWARDEN_GATEWAY_LOG_LEVEL") or env.get("PIPEWARDEN_LOG_LEVEL") or "INFO"
    )
    return GatewayConfig(
        source_file=file,
        gateway_id=gateway_id,
        network=network,
        telemetry=telemetry,
        queue=queue,
        modbus=tuple(modbus),
        opcua=tuple(opcua),
        health_host=health_host,
        health_port=health_port,
        log_level=log_level,
    )


def _plausible_node_id(node_id: str) -> bool:
    parts = dict(p.split("=", 1) for p in node_id.split(";") if "=" in p)
    return any(k in parts and parts[k] for k in ("s", "i", "g", "b"))


def read_token(path: Path) -> str:
    """The bearer token: the file's content without surrounding whitespace (never logged)."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise GatewayConfigError(f"telemetry.token_file {path}: cannot be read: {error}") from None
    if not token or any(ch.isspace() for ch in token):
        raise GatewayConfigError(f"telemetry.token_file {path}: must hold one token (no spaces), found none or several")
    return token
