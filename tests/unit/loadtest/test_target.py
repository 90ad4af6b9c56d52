"""Where the load goes: token files and addresses given by hand are checked before any load; garbage is
refused naming the file or the option (TargetError), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from loadtest.target import TargetError, from_addresses, from_deployment, read_tokens


def test_token_files_in_every_accepted_shape(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("gateway_tokens:\n  gw-ds-01: abc\n  gw-kb-01: def\nworkorders_jwt_secret: x\n")
    assert read_tokens(secrets) == {"gw-ds-01": "abc", "gw-kb-01": "def"}
    lines = tmp_path / "tokens"
    lines.write_text("gw-ds-01=abc\ngw-kb-01=def\n")
    assert read_tokens(lines) == {"gw-ds-01": "abc", "gw-kb-01": "def"}
    mapping = tmp_path / "map.yaml"
    mapping.write_text("gw-ds-01: abc\n")
    assert read_tokens(mapping) == {"gw-ds-01": "abc"}


@pytest.mark.parametrize(
    "content",
    [b"", b"- a\n- b\n", b"gateway_tokens: 5\n", b"gw-ds-01: 5\n", b"gw-ds-01: ''\n", b"just words\n",
     b"\xff\xfe\x00\x01", b"gateway_tokens: {gw: [1]}\n", b"{{{"],
)
def test_garbage_token_files_are_refused(tmp_path: Path, content: bytes) -> None:
    file = tmp_path / "tokens"
    file.write_bytes(content)
    with pytest.raises(TargetError) as error:
        read_tokens(file)
    assert f"token file {file}" in str(error.value)


def test_addresses_and_files_given_by_hand_are_checked(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("gw-ds-01=abc\n")
    for bad in ("no-port", ":50051", "host:port", "host:0", "host:70000"):
        with pytest.raises(TargetError, match="expected host:port"):
            from_addresses(bad, tokens, None, None, None, None, [])
    with pytest.raises(TargetError, match="cannot be read"):
        from_addresses("127.0.0.1:1", tmp_path / "missing", None, None, None, None, [])
    with pytest.raises(TargetError, match="network file"):
        from_addresses("127.0.0.1:1", tokens, tmp_path / "missing.yaml", None, None, None, [])
    with pytest.raises(TargetError, match="dispatcher token file"):
        from_addresses("127.0.0.1:1", tokens, None, None, None, tmp_path / "missing.jwt", [])
    target = from_addresses("127.0.0.1:1", tokens, None, None, None, None, [])
    assert target.telemetry == "127.0.0.1:1" and target.kafka_bootstrap is None and target.workorders is None


def test_a_deployment_never_started_or_broken_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "deploy.yaml"
    file.write_text(f"data_dir: {tmp_path / 'data'}\n")
    with pytest.raises(TargetError, match="was never started"):
        from_deployment(file)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secrets.yaml").write_text("gateway_tokens: [1, 2]\n")
    with pytest.raises(TargetError, match="no gateway_tokens"):
        from_deployment(file)
    file.write_text("kafka: {port: nope}\n")
    with pytest.raises(TargetError, match=r"kafka\.port"):
        from_deployment(file)
