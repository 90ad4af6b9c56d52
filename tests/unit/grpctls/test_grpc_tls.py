"""TLS on workorders' and leakdetect's gRPC servers, and their clients (ctl, the console) with services/grpctls:
a client trusting the deployment's CA is served, a plaintext one or one trusting another CA is not; unusable
certificate files are named."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.local.pki import CertPair, ensure_ca
from services.console.adapters.leakdetect_grpc import GrpcLeakQuery
from services.grpctls import ClientTLS, TLSFileError, channel, server_credentials
from services.leakdetect.entrypoints.query_grpc import LeakQueryServicer, QueryServer
from services.network import load_demo_network
from services.workorders.bootstrap import build_runtime
from services.workorders.entrypoints.ctl import TOKEN_ENV
from services.workorders.entrypoints.ctl import main as ctl
from services.workorders.entrypoints.grpc_api import GrpcServer, WorkOrdersServicer
from services.workorders.entrypoints.runtime import Runtime
from tests.support.tls import local_pki
from tests.support.tokens import LEAKDETECT_VERIFIER, issue
from tests.support.workorders_api import VERIFIER, token


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertPair, CertPair]:
    return local_pki(tmp_path_factory.mktemp("pki"))


def _health(address: str, tls: ClientTLS | None) -> str:
    with channel(address, tls) as ch:
        try:
            health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError as error:
            return error.code().name  # type: ignore[attr-defined, no-any-return]
    return "SERVING"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = build_runtime(f"sqlite:///{tmp_path}/workorders.sqlite3")
    try:
        yield rt
    finally:
        rt.stop()


@pytest.fixture
def workorders_tls(runtime: Runtime, pki: tuple[CertPair, CertPair]) -> Iterator[str]:
    _, server = pki
    started = GrpcServer(WorkOrdersServicer(runtime.app, VERIFIER), "127.0.0.1:0",
                         credentials=server_credentials(server.cert, server.key)).start()
    try:
        yield started.address
    finally:
        started.stop(0.2)


def test_workorders_over_tls_with_ctl(
    workorders_tls: str, pki: tuple[CertPair, CertPair], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ca, _ = pki
    monkeypatch.setenv(TOKEN_ENV, token("dispatcher", ["Dongsheng"], subject="ana"))
    assert _health(workorders_tls, ClientTLS(str(ca.cert))) == "SERVING"
    assert _health(workorders_tls, None) == "UNAVAILABLE"
    assert ctl(["--address", workorders_tls, "--tls-ca", str(ca.cert), "list"]) == 0
    assert ctl(["--address", workorders_tls, "--timeout", "3", "list"]) != 0  # plaintext: no answer
    assert "cannot reach workorders" in capsys.readouterr().err
    other = ensure_ca(tmp_path / "other", name="someone else's CA")
    assert ctl(["--address", workorders_tls, "--timeout", "3", "--tls-ca", str(other.cert), "list"]) != 0
    assert ctl(["--address", workorders_tls, "--tls-ca", str(tmp_path / "missing.pem"), "list"]) == 2
    assert "--tls-ca" in capsys.readouterr().err


def test_leakdetect_query_api_over_tls_with_the_console_client(pki: tuple[CertPair, CertPair]) -> None:
    ca, server = pki
    query = QueryServer(LeakQueryServicer(load_demo_network(), dict, LEAKDETECT_VERIFIER), port=0,
                        credentials=server_credentials(server.cert, server.key))
    query.start()
    address = f"127.0.0.1:{query.port}"
    try:
        assert _health(address, ClientTLS(str(ca.cert))) == "SERVING"
        assert _health(address, None) == "UNAVAILABLE"

        async def ask(tls: ClientTLS | None) -> str:
            client = GrpcLeakQuery([address], lambda: issue("regulator", ["*"]), tls=tls)
            try:
                return (await client.segment_status("DS-M02")).note
            finally:
                await client.close()

        assert "no leakdetect worker has seen" in asyncio.run(ask(ClientTLS(str(ca.cert))))
        assert "no leakdetect worker has seen" not in asyncio.run(ask(None))
    finally:
        query.stop(0.2)


def test_unusable_certificate_files_are_named(tmp_path: Path, pki: tuple[CertPair, CertPair]) -> None:
    _, server = pki
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"\x00\xff not pem")
    with pytest.raises(TLSFileError, match=re.escape(f"TLS certificate {garbage}: not a PEM file")):
        server_credentials(garbage, server.key)
    with pytest.raises(TLSFileError, match=re.escape("TLS key /nonexistent/key.pem: cannot be read")):
        server_credentials(server.cert, "/nonexistent/key.pem")
    with pytest.raises(TLSFileError, match="P_TLS must be 1 or 0"):
        ClientTLS.from_env("P_", {"P_TLS": "maybe"})
    with pytest.raises(TLSFileError, match="must be set together"):
        ClientTLS.from_env("P_", {"P_TLS_CERT_FILE": "x"})
    assert ClientTLS.from_env("P_", {}) is None and ClientTLS.from_env("P_", {"P_TLS": "1"}) == ClientTLS()
