"""Telemetry with mutual TLS (PIPEWARDEN_TELEMETRY_TLS_CLIENT_CA_FILE): a gateway's client certificate must be
signed by the configured CA and name the gateway (CN or SAN) whose token it sends, and so the gateway_id of its
readings; anything else is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

from deploy.local.pki import CertPair, ensure_ca
from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as api
from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2_grpc
from services.gateway.adapters.telemetry_link import GrpcTelemetryLink
from services.grpctls import ClientTLS, aio_channel
from tests.support.tls import gateway_certificate, local_pki

from .conftest import NETWORK, TOKENS, auth, make_batch, unique_sequence

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertPair, CertPair, Path]:
    directory = tmp_path_factory.mktemp("mtls")
    ca, server = local_pki(directory)
    return ca, server, directory


@pytest.fixture
async def mtls(start_telemetry: Any, pki: tuple[CertPair, CertPair, Path]) -> Any:
    ca, server, _ = pki
    return await start_telemetry(tls_cert_file=str(server.cert), tls_key_file=str(server.key),
                                 tls_client_ca_file=str(ca.cert))


async def _publish(target: str, tls: ClientTLS, token_of: str, batch_of: str) -> Any:
    batch = make_batch(NETWORK, batch_of, unique_sequence())
    async with aio_channel(target, tls) as channel:
        stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
        return await stub.PublishBatch(api.PublishBatchRequest(batch=batch), metadata=auth(token_of), timeout=20)


def _as(pki: tuple[CertPair, CertPair, Path], gateway: str) -> ClientTLS:
    ca, _, directory = pki
    pair = gateway_certificate(ca, directory, gateway)
    return ClientTLS(str(ca.cert), str(pair.cert), str(pair.key))


async def test_a_gateway_with_its_own_certificate_gets_its_ack(mtls: Any, pki: Any) -> None:
    reply = await _publish(mtls.target, _as(pki, "gw-ds-01"), "gw-ds-01", "gw-ds-01")
    assert reply.ack.accepted_count > 0 and reply.ack.gateway_id == "gw-ds-01"


async def test_a_certificate_naming_another_gateway_is_permission_denied(mtls: Any, pki: Any) -> None:
    # gw-kb-01's certificate with gw-ds-01's token (and readings): a stolen token is not enough.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _publish(mtls.target, _as(pki, "gw-kb-01"), "gw-ds-01", "gw-ds-01")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "names gw-kb-01, not gateway 'gw-ds-01'" in (caught.value.details() or "")


async def test_readings_of_another_gateway_are_permission_denied(mtls: Any, pki: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _publish(mtls.target, _as(pki, "gw-ds-01"), "gw-ds-01", "gw-kb-01")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_no_client_certificate_or_one_from_another_ca_gets_no_connection(
    mtls: Any, pki: Any, tmp_path: Path
) -> None:
    ca, _, _ = pki
    other = ensure_ca(tmp_path / "other", name="someone else's CA")
    stranger = gateway_certificate(other, tmp_path, "gw-ds-01")
    for tls in (ClientTLS(str(ca.cert)), ClientTLS(str(ca.cert), str(stranger.cert), str(stranger.key))):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _publish(mtls.target, tls, "gw-ds-01", "gw-ds-01")
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_the_gateway_link_presents_its_client_certificate(mtls: Any, pki: Any) -> None:
    ca, _, directory = pki
    pair = gateway_certificate(ca, directory, "gw-ds-01")
    link = GrpcTelemetryLink(mtls.target, "gw-ds-01", TOKENS["gw-ds-01"], root_cert=ca.cert.read_bytes(),
                         client_cert=pair.cert.read_bytes(), client_key=pair.key.read_bytes())
    try:
        await asyncio.wait_for(link.channel.channel_ready(), 15)  # the handshake needs the certificate
    finally:
        await link.channel.close()
