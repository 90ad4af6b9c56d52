"""Gateway tokens kept as salted scrypt hashes in a file telemetry re-reads on change: a revoked token is refused
on the next stream open (UNAUTHENTICATED) without a restart; the file, the CLI and the cache are checked.

The server runs on a real port with an in-memory publisher (Kafka is not the point here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import pytest

from services.contracts.pipewarden.telemetry.v1 import (
    reading_pb2,
    telemetry_ingest_service_pb2,
    telemetry_ingest_service_pb2_grpc,
)
from services.network import load_demo_network
from services.telemetry.adapters.auth import (
    AuthError,
    GatewayTokens,
    TokenFileError,
    add_token,
    parse_token_hashes,
    revoke_tokens,
)
from services.telemetry.bootstrap import build_server
from services.telemetry.config import TelemetryConfig
from services.telemetry.service_layer import OutRecord

ROOT = Path(__file__).resolve().parents[3]
NETWORK = load_demo_network()


class KeepingPublisher:
    def __init__(self) -> None:
        self.records: list[OutRecord] = []

    async def publish(self, records: Sequence[OutRecord]) -> None:
        self.records.extend(records)


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def test_tokens_are_stored_only_as_salted_hashes_and_verified(tmp_path: Path) -> None:
    path = tmp_path / "hashes"
    first = add_token(path, "gw-ds-01")
    second = add_token(path, "gw-ds-01")  # a second token: a rotation in progress
    other = add_token(path, "gw-kb-01")
    text = path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    for token in (first, second, other):
        assert token.startswith("pwgw.") and token.split(".", 2)[2] not in text
    salts = [line.split("$")[4] for line in text.splitlines() if not line.startswith("#")]
    assert len(set(salts)) == 3  # salted: one salt per token
    tokens = GatewayTokens({}, path, check_every_s=0)
    assert len(tokens) == 3
    assert tokens.gateway_of(_bearer(first)) == "gw-ds-01" == tokens.gateway_of(_bearer(second))
    assert tokens.gateway_of(_bearer(other)) == "gw-kb-01"
    forged = first[: -4] + ("AAAA" if not first.endswith("AAAA") else "BBBB")  # right id, wrong secret
    for bad in (forged, "pwgw.0123456789abcdef.nope", "pwgw.", other + "x"):
        with pytest.raises(AuthError, match="unknown gateway token") as caught:
            tokens.gateway_of(_bearer(bad))
        assert caught.value.reason == "unknown_token" and bad not in str(caught.value)


def test_revocation_and_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "hashes"
    keep, drop = add_token(path, "gw-ds-01"), add_token(path, "gw-kb-01")
    tokens = GatewayTokens({}, path, check_every_s=0)
    assert tokens.gateway_of(_bearer(drop)) == "gw-kb-01"
    started = time.perf_counter()
    for _ in range(200):  # cached: one HMAC each, not one scrypt (tens of ms) each
        tokens.gateway_of(_bearer(drop))
    assert time.perf_counter() - started < 2.0
    [removed] = revoke_tokens(path, "gw-kb-01")
    assert removed.gateway_id == "gw-kb-01"
    with pytest.raises(AuthError, match="unknown"):
        tokens.gateway_of(_bearer(drop))  # the cached verdict went with the old file
    assert tokens.gateway_of(_bearer(keep)) == "gw-ds-01"
    assert revoke_tokens(path, "gw-kb-01") == []
    token_id = keep.split(".")[1]
    assert [e.gateway_id for e in revoke_tokens(path, token_id)] == ["gw-ds-01"]


def test_a_broken_file_keeps_the_last_good_tokens(tmp_path: Path) -> None:
    path = tmp_path / "hashes"
    token = add_token(path, "gw-ds-01")
    tokens = GatewayTokens({}, path, check_every_s=0)
    path.write_text("gw-ds-01 nothex scrypt$1$2\n")
    assert tokens.gateway_of(_bearer(token)) == "gw-ds-01"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("gw-a", "got 1 fields"),
        ("gw-a 0123456789abcdef md5$x", r"expected scrypt\$"),
        ("gw/a 0123456789abcdef scrypt$14$8$1$AA$AA", "bad gateway id"),
        ("gw-a 0123 scrypt$14$8$1$AA$AA", "16 hex"),
        ("gw-a 0123456789abcdef scrypt$40$8$1$AA$AA", "out of range"),
        ("gw-a 0123456789abcdef scrypt$14$8$1$!!$AA", "base64"),
        ("gw-a 0123456789abcdef scrypt$14$8$1$AAAA$AAAA", "salt must be"),
    ],
)
def test_garbage_hash_files_are_named(tmp_path: Path, line: str, words: str) -> None:
    path = tmp_path / "hashes"
    path.write_text("# comment\n" + line + "\n")
    with pytest.raises(TokenFileError, match=words) as caught:
        parse_token_hashes(path)
    assert f"{path}:2" in str(caught.value)
    with pytest.raises(TokenFileError, match="cannot be read"):
        parse_token_hashes(tmp_path / "absent")
    with pytest.raises(TokenFileError, match="gateway id"):
        add_token(path.with_name("new"), "gw a")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Path, str, grpc.aio.Channel]]:
    path = tmp_path / "hashes"
    token = add_token(path, "gw-ds-01")
    add_token(path, "gw-kb-01")
    server = build_server(
        TelemetryConfig(listen_address="127.0.0.1:0", metrics_port=-1, gateway_token_hashes_file=str(path),
                        gateway_token_hashes_check_s=0.0),
        network=NETWORK, publisher=KeepingPublisher(),
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield path, token, channel
    finally:
        await channel.close()
        await server.stop(grace_s=0.5)


async def test_revoked_token_is_refused_at_the_next_stream_open_without_a_restart(
    served: tuple[Path, str, grpc.aio.Channel],
) -> None:
    path, token, channel = served
    stub = telemetry_ingest_service_pb2_grpc.TelemetryIngestServiceStub(channel)
    request = telemetry_ingest_service_pb2.PublishStreamRequest
    batch = reading_pb2.ReadingBatch(gateway_id="gw-ds-01", batch_sequence=1, readings=[reading_pb2.Reading(
        tag_id="DS-M01-PT-UP", source_time_unix_us=time.time_ns() // 1000, value=400.0,
        quality=reading_pb2.QUALITY_GOOD)])
    call = stub.PublishStream(metadata=_bearer(token))
    await call.write(request(batch=batch))
    assert (await call.read()).ack.accepted_count == 1
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK

    cli = subprocess.run([sys.executable, "-m", "services.telemetry", "tokens", "revoke", "gw-ds-01", "--file",
                          str(path)], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 0 and "revoked gw-ds-01" in cli.stderr, cli.stderr

    refused = stub.PublishStream(metadata=_bearer(token))
    assert await refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "unknown gateway token" in await refused.details() and token not in await refused.details()
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await stub.PublishBatch(telemetry_ingest_service_pb2.PublishBatchRequest(batch=batch),
                                metadata=_bearer(token))
    assert unary.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _telemetry(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PIPEWARDEN_")}
    return subprocess.run([sys.executable, "-m", "services.telemetry", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_cli_add_prints_the_token_once_and_list_shows_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "hashes"
    added = _telemetry("tokens", "add", "gw-ds-01", env={"PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE": str(path)})
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert GatewayTokens({}, path).gateway_of(_bearer(token)) == "gw-ds-01"
    listed = _telemetry("tokens", "list", "--file", str(path), env={})
    assert listed.stdout.split() == ["gw-ds-01", token.split(".")[1]] and token.split(".")[2] not in listed.stdout



def test_cli_garbage_is_refused_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.telemetry.__main__ import main

    monkeypatch.delenv("PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE", raising=False)
    path = tmp_path / "hashes"
    add_token(path, "gw-ds-01")
    for args, code, words in [
        (("tokens", "add", "gw a", "--file", str(path)), 2, "gateway id"),
        (("tokens", "revoke", "gw-nope", "--file", str(path)), 1, "no token of gateway"),
        (("tokens", "list"), 2, "give --file"),
        (("tokens", "list", "--file", str(tmp_path / "absent")), 2, "cannot be read"),
        (("--bogus",), 2, "usage"),
    ]:
        capsys.readouterr()
        assert main(list(args)) == code
        assert words in capsys.readouterr().err


def test_telemetry_refuses_to_start_on_an_empty_or_garbage_hash_file(tmp_path: Path) -> None:
    # Without any token source: tests/integration/security/test_secrets_stay_secret.py.
    empty = tmp_path / "hashes"
    empty.write_text("# no tokens yet\n")
    result = _telemetry(env={"PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE": str(empty)})
    assert result.returncode == 2 and "no gateway tokens configured" in result.stderr
    empty.write_text("garbage\n")
    result = _telemetry(env={"PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE": str(empty)})
    assert result.returncode == 2 and f"{empty}:1" in result.stderr and "Traceback" not in result.stderr
