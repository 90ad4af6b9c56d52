"""Where the load goes and with which credentials: a deployment file (deploy/local) or explicit addresses.

Everything the run talks to comes from here; nothing else is contacted (traffic only to the addresses
given). A target that cannot be used is refused with ``TargetError`` before any load is sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml

from loadtest import transport
from services.network import Network, load_demo_network, load_network


class TargetError(ValueError):
    """The target cannot be used (unreachable, wrong token, bad file); the message says which and why."""


@dataclass
class Target:
    name: str
    telemetry: str  # host:port of TelemetryIngestService
    gateway_tokens: dict[str, str]
    network: Network
    kafka_bootstrap: str | None = None
    workorders: str | None = None
    dispatcher_token: str | None = None
    leakdetect_query: list[str] = field(default_factory=list)
    deployment: Any = None  # deploy.local.config.Deployment when given by a deployment file

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "telemetry": self.telemetry, "kafka": self.kafka_bootstrap,
                "workorders": self.workorders, "leakdetect_query": self.leakdetect_query,
                "gateways": len(self.gateway_tokens), "network": self.network.name}


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TargetError(f"{what} {path}: cannot be read: {error.strerror or error}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise TargetError(f"{what} {path}: not valid YAML: {str(error).splitlines()[0]}") from None


def read_tokens(path: Path) -> dict[str, str]:
    """Gateway tokens: a deployment secrets file (``gateway_tokens:`` mapping), a plain mapping, or
    ``gateway=token`` lines (telemetry's tokens-file format)."""
    raw = _read_yaml(path, "token file")
    if isinstance(raw, dict):
        tokens = raw.get("gateway_tokens", raw)
    elif isinstance(raw, str):
        tokens = {}
        for line in raw.split():
            gateway, sep, token = line.partition("=")
            if sep:
                tokens[gateway.strip()] = token.strip()
    else:
        tokens = None
    if not isinstance(tokens, dict) or not tokens or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in tokens.items()
    ):
        raise TargetError(f"token file {path}: expected gateway_tokens (gateway: token) or gateway=token lines")
    return dict(tokens)


def from_deployment(file: Path) -> Target:
    from deploy.local.config import DeploymentError, load
    from services.tokens import KeyFileError, TokenIssuer, load_signing_key

    try:
        d = load(file)
    except DeploymentError as error:
        raise TargetError(str(error)) from None
    if not d.secrets_file.exists():
        raise TargetError(f"{d.secrets_file} does not exist: the deployment of {d.file} was never started "
                          "(`make up DEPLOYMENT=...`)")
    secrets = _read_yaml(d.secrets_file, "secrets file") or {}
    if not isinstance(secrets, dict) or not isinstance(secrets.get("gateway_tokens"), dict):
        raise TargetError(f"secrets file {d.secrets_file}: no gateway_tokens")
    if not all(isinstance(v, str) and v for v in secrets["gateway_tokens"].values()):
        raise TargetError(f"secrets file {d.secrets_file}: gateway_tokens must map gateways to non-empty tokens")
    try:
        network = load_network(d.network_file) if d.network_file else load_demo_network()
    except (OSError, ValueError) as error:
        raise TargetError(f"network file {d.network_file} of {d.file}: {error}") from None
    # A dispatcher of every district, minted like `make token ROLE=dispatcher` (the deployment's signing key):
    # it watches the work orders.
    dispatcher = None
    if d.signing_key_file.exists():
        try:
            issuer = TokenIssuer(load_signing_key(d.signing_key_file))
        except KeyFileError as error:
            raise TargetError(str(error)) from None
        dispatcher = issuer.issue("loadtest", "dispatcher", ["*"], ttl_s=4 * 3600)
    transport.use_deployment(d)  # tls: true -> TLS to its servers, SASL_SSL to its broker
    return Target(
        name=f"deployment {d.file}",
        telemetry=f"127.0.0.1:{d.telemetry_port}",
        gateway_tokens={str(k): str(v) for k, v in secrets["gateway_tokens"].items()},
        network=network,
        kafka_bootstrap=d.kafka_bootstrap,
        workorders=f"127.0.0.1:{d.workorders_grpc_port}",
        dispatcher_token=dispatcher,
        leakdetect_query=[f"127.0.0.1:{d.leakdetect_grpc_port + i}" for i in range(d.leakdetect_workers)],
        deployment=d,
    )


def from_addresses(telemetry: str, token_file: Path, network_file: Path | None, kafka: str | None,
                   workorders: str | None, dispatcher_token_file: Path | None,
                   leakdetect_query: list[str]) -> Target:
    host, sep, port = telemetry.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TargetError(f"--target {telemetry!r}: expected host:port")
    try:
        network = load_network(network_file) if network_file else load_demo_network()
    except (OSError, ValueError) as error:
        raise TargetError(f"network file {network_file}: {error}") from None
    dispatcher = None
    if dispatcher_token_file is not None:
        try:
            dispatcher = dispatcher_token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise TargetError(f"dispatcher token file {dispatcher_token_file}: {error.strerror}") from None
    return Target(name=telemetry, telemetry=telemetry, gateway_tokens=read_tokens(token_file), network=network,
                  kafka_bootstrap=kafka, workorders=workorders, dispatcher_token=dispatcher,
                  leakdetect_query=leakdetect_query)


def check(target: Target, gateways: list[str], timeout_s: float = 3.0) -> None:
    """Refuse an unreachable telemetry or a token it does not take, before any load (a few seconds at most)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from services.contracts.pipewarden.telemetry.v1 import (
        reading_pb2,
        telemetry_ingest_service_pb2,
        telemetry_ingest_service_pb2_grpc,
    )

    missing = [g for g in gateways if g not in target.gateway_tokens]
    if missing:
        raise TargetError(f"no token for gateway(s) {', '.join(missing)} of network {target.network.name!r}")
    # As the first gateway: telemetry with mutual TLS takes no connection without a gateway's certificate.
    with transport.channel(target.telemetry, gateway=gateways[0] if gateways else None) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.RpcError as error:
            code = error.code().name  # type: ignore[attr-defined]
            raise TargetError(f"telemetry at {target.telemetry} is unreachable (gRPC health check: {code})") from None
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise TargetError(f"telemetry at {target.telemetry} is not serving "
                              f"({health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)})")
    for gateway in gateways:
        with transport.channel(target.telemetry, gateway=gateway) as channel:  # its own certificate
            stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
            # One real reading of the gateway's first tag, now: a token telemetry refuses fails here.
            tag = target.network.tags_of_gateway(gateway)[0]
            batch = reading_pb2.ReadingBatch(
                gateway_id=gateway, batch_sequence=time.time_ns() // 1000,
                readings=[reading_pb2.Reading(tag_id=tag.tag_id, source_time_unix_us=time.time_ns() // 1000,
                                              value=(tag.range_min + tag.range_max) / 2,
                                              quality=reading_pb2.QUALITY_GOOD)])
            try:
                stub.PublishBatch(telemetry_ingest_service_pb2.PublishBatchRequest(batch=batch),
                                  metadata=[("authorization", f"Bearer {target.gateway_tokens[gateway]}")],
                                  timeout=max(timeout_s, 10.0))
            except grpc.RpcError as error:
                code = error.code()  # type: ignore[attr-defined]
                if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    raise TargetError(f"telemetry at {target.telemetry} refuses the token of gateway {gateway} "
                                      f"({code.name}: {error.details()})") from None  # type: ignore[attr-defined]
                raise TargetError(f"telemetry at {target.telemetry}: a probe batch of {gateway} failed "
                                  f"({code.name}: {error.details()})") from None  # type: ignore[attr-defined]
