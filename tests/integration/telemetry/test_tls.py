"""Telemetry with TLS configured: a gateway that trusts the certificate gets its ack; plaintext fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as api
from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2_grpc
from tests.support.tls import self_signed_certificate

from .conftest import NETWORK, auth, make_batch, unique_sequence

pytestmark = pytest.mark.integration


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path)


async def test_tls(start_telemetry: Any, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    running = await start_telemetry(tls_cert_file=str(cert), tls_key_file=str(key))
    batch = make_batch(NETWORK, "gw-ds-01", unique_sequence())
    credentials = grpc.ssl_channel_credentials(cert.read_bytes())
    async with grpc.aio.secure_channel(running.target, credentials) as channel:
        stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
        reply = await stub.PublishBatch(
            api.PublishBatchRequest(batch=batch), metadata=auth("gw-ds-01"), timeout=20
        )
        assert reply.ack.accepted_count == len(batch.readings)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.stub.PublishBatch(api.PublishBatchRequest(batch=batch), metadata=auth("gw-ds-01"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
