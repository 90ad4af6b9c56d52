"""`make up` with `tls: true` makes a client certificate per gateway of the network (CN and SAN = the gateway id)
and turns telemetry's mutual TLS on; a gateway presenting another gateway's certificate for its readings is
refused. Fast: the deployment's own certificate code and telemetry's own server (in-memory publisher, no Kafka),
as `make up` configures it; the whole deployment is `make test-tls` (tests/deploy/test_tls_deployment.py)."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from deploy.local import deployment as local
from deploy.local.config import Deployment, load
from deploy.local.pki import certificate_names
from services.contracts.pipewarden.telemetry.v1 import reading_pb2
from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as api
from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2_grpc as api_grpc
from services.fieldsim import Fleet, FleetConfig
from services.grpctls import ClientTLS, aio_channel
from services.network import load_demo_network

NETWORK = load_demo_network()
GATEWAYS = sorted(NETWORK.gateways)
TOKENS = {g: f"test-token-{g}" for g in GATEWAYS}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    base = tmp_path_factory.mktemp("tls-deployment")
    file = base / "pipewarden.yaml"
    file.write_text(yaml.safe_dump({"data_dir": str(base / "data"), "tls": True}))
    d = load(file)
    local.ensure_tls(d)
    return d


class _Publisher:
    def __init__(self) -> None:
        self.records = 0

    async def publish(self, records: Any) -> None:
        self.records += len(records)


@pytest.fixture(scope="module")
def telemetry(deployment: Deployment) -> Iterator[str]:
    """Telemetry with the TLS settings `make up` gives it (its supervisord environment), on a free port."""
    from benchmarks.fuzz.grpc_targets import LoopThread
    from services.telemetry.bootstrap import build_server
    from services.telemetry.config import TelemetryConfig

    program = next(p for p in deployment.programs() if p.kind == "telemetry")
    _, env = local._program_command(deployment, program)
    config = TelemetryConfig(
        listen_address="127.0.0.1:0", gateway_tokens=TOKENS, metrics_port=-1, kafka_bootstrap="127.0.0.1:1",
        tls_cert_file=env["PIPEWARDEN_TELEMETRY_TLS_CERT_FILE"], tls_key_file=env["PIPEWARDEN_TELEMETRY_TLS_KEY_FILE"],
        tls_client_ca_file=env["PIPEWARDEN_TELEMETRY_TLS_CLIENT_CA_FILE"],
    )
    loop = LoopThread("test-telemetry-mtls")
    holder: dict[str, Any] = {}

    async def up() -> int:
        holder["server"] = build_server(config, network=NETWORK, publisher=_Publisher())
        return int(await holder["server"].start())

    port = loop.call(up())
    try:
        yield f"127.0.0.1:{port}"
    finally:
        loop.call(holder["server"].stop(grace_s=0.5))
        loop.close()


def test_every_gateway_of_the_network_gets_a_certificate_naming_it(deployment: Deployment) -> None:
    for gateway in GATEWAYS:
        cert, key = deployment.tls_gateway_cert(gateway)
        assert certificate_names(cert) == {gateway}
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    program = next(p for p in deployment.programs() if p.kind == "telemetry")
    assert local._program_command(deployment, program)[1]["PIPEWARDEN_TELEMETRY_TLS_CLIENT_CA_FILE"] == str(
        deployment.tls_ca_file)
    before = {p: p.read_bytes() for p in deployment.tls_dir.rglob("*.pem")}
    local.ensure_tls(deployment)  # a second `up` keeps every certificate
    assert {p: p.read_bytes() for p in deployment.tls_dir.rglob("*.pem")} == before


def _as(deployment: Deployment, gateway: str) -> ClientTLS:
    cert, key = deployment.tls_gateway_cert(gateway)
    return ClientTLS(str(deployment.tls_ca_file), str(cert), str(key))


def _publish(target: str, tls: ClientTLS, token_of: str, readings_of: str) -> Any:
    tag = NETWORK.tags_of_gateway(readings_of)[0]
    now_us = time.time_ns() // 1000
    batch = reading_pb2.ReadingBatch(gateway_id=readings_of, batch_sequence=now_us, readings=[reading_pb2.Reading(
        tag_id=tag.tag_id, source_time_unix_us=now_us, value=(tag.range_min + tag.range_max) / 2,
        quality=reading_pb2.QUALITY_GOOD)])

    async def call() -> Any:
        async with aio_channel(target, tls) as channel:
            return await api_grpc.TelemetryIngestServiceStub(channel).PublishBatch(
                api.PublishBatchRequest(batch=batch), metadata=[("authorization", f"Bearer {TOKENS[token_of]}")],
                timeout=10)

    return asyncio.run(call())


def test_a_gateway_with_its_own_certificate_is_acked(deployment: Deployment, telemetry: str) -> None:
    for gateway in GATEWAYS:
        assert _publish(telemetry, _as(deployment, gateway), gateway, gateway).ack.accepted_count == 1


@pytest.mark.parametrize("cert_of", GATEWAYS[1:])
def test_another_gateways_certificate_for_its_readings_is_refused(
    deployment: Deployment, telemetry: str, cert_of: str
) -> None:
    victim = GATEWAYS[0]
    # Another gateway's certificate with the victim's token and readings (a stolen token is not enough), and with
    # its own token but the victim's readings.
    for token_of in (victim, cert_of):
        with pytest.raises(grpc.RpcError) as caught:
            _publish(telemetry, _as(deployment, cert_of), token_of, victim)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value  # type: ignore[attr-defined]


def test_the_operators_certificate_or_none_publishes_nothing(deployment: Deployment, telemetry: str) -> None:
    ops_cert, ops_key = deployment.tls_ops_cert
    with pytest.raises(grpc.RpcError) as caught:
        _publish(telemetry, ClientTLS(str(deployment.tls_ca_file), str(ops_cert), str(ops_key)), GATEWAYS[0],
                 GATEWAYS[0])
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as caught:
        _publish(telemetry, ClientTLS(str(deployment.tls_ca_file)), GATEWAYS[0], GATEWAYS[0])
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert local._grpc_health_of(int(telemetry.rsplit(":", 1)[1]), deployment.tls_ca_file,
                                 deployment.tls_ops_cert) is None  # `make status` gets in with it


def test_the_simulated_fleet_presents_each_gateways_own_certificate(deployment: Deployment, telemetry: str) -> None:
    certs = {g: (deployment.tls_gateway_cert(g)[0].read_bytes(), deployment.tls_gateway_cert(g)[1].read_bytes())
             for g in GATEWAYS}
    config = FleetConfig(target=telemetry, tokens=TOKENS, duration_s=2.5, batch_interval_s=0.5,
                         tls_root_cert=deployment.tls_ca_file.read_bytes(), tls_client_certs=certs, seed=1)
    report = asyncio.run(Fleet(NETWORK, config).run())
    for gateway in GATEWAYS:
        stats = report.gateways[gateway]
        assert stats.batches_acked > 0 and stats.batches_failed == 0, (gateway, stats)


def test_the_load_tests_gateways_pick_their_own_certificate(deployment: Deployment,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "load-tests"))
    transport = importlib.import_module("loadtest.transport")
    for name in (transport.CA_ENV, transport.GATEWAY_CERT_DIR_ENV):
        monkeypatch.delenv(name, raising=False)
    # use_deployment sets the load tester's process environment (the deployment's Kafka security included): put it
    # back after, or every broker and client the session starts later inherits SASL_SSL
    saved = dict(os.environ)
    try:
        transport.use_deployment(deployment)
        tls = transport.grpc_tls(GATEWAYS[1])
        assert tls is not None and tls.cert_file == str(deployment.tls_gateway_cert(GATEWAYS[1])[0])
        assert transport.grpc_tls().cert_file is None  # no gateway: the CA only
    finally:
        os.environ.clear()
        os.environ.update(saved)
