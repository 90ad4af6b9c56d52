"""The one-host deployment's secrets: gateway tokens given to telemetry only as hashes, the token signing key pair,
`token`, `rotate-keys` and `gateway-token` (add, printed once; revoke), a secrets file of an earlier version
upgraded, and no secret in supervisord.conf."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.local.config import DEFAULT_FILE, load
from deploy.local.deployment import ensure_secrets, main, render_supervisord_conf
from services.telemetry.adapters.auth import AuthError, GatewayTokens
from services.tokens import LEAKDETECT_AUDIENCE, WORKORDERS_AUDIENCE, InvalidToken, TokenVerifier, load_key_set


def _file(tmp_path: Path) -> Path:
    raw = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    raw["data_dir"] = str(tmp_path / "data")
    path = tmp_path / "pipewarden.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _gateway(hashes: Path, token: str) -> str:
    return GatewayTokens({}, hashes).gateway_of([("authorization", f"Bearer {token}")])


def test_first_up_makes_hashed_gateway_tokens_and_a_signing_key_and_none_reaches_the_config(tmp_path: Path) -> None:
    d = load(_file(tmp_path))
    values = ensure_secrets(d)
    assert "workorders_jwt_secret" not in values
    hashes = d.gateway_token_hashes_file.read_text()
    for gateway, token in values["gateway_tokens"].items():
        assert _gateway(d.gateway_token_hashes_file, token) == gateway and token.split(".")[2] not in hashes
    assert d.gateway_token_hashes_file.stat().st_mode & 0o777 == 0o600
    assert d.signing_key_file.stat().st_mode & 0o777 == 0o600 and len(load_key_set(d.key_set_file)) == 1
    conf = render_supervisord_conf(d, values)
    assert f'PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE="{d.gateway_token_hashes_file}"' in conf
    assert f'PIPEWARDEN_WORKORDERS_JWT_KEYS_FILE="{d.key_set_file}"' in conf
    assert f'PIPEWARDEN_LEAKDETECT_JWT_KEYS_FILE="{d.key_set_file}"' in conf
    key_body = "".join(d.signing_key_file.read_text().splitlines()[1:-1])
    for secret in [*values["gateway_tokens"].values(), values["console_session_secret"], key_body]:
        assert secret not in conf.replace("\n", "")
    again = ensure_secrets(d)  # a second `up` changes nothing
    assert again == values and d.gateway_token_hashes_file.read_text() == hashes


def test_a_secrets_file_of_an_earlier_version_is_upgraded(tmp_path: Path) -> None:
    d = load(_file(tmp_path))
    d.secrets_file.parent.mkdir(parents=True)
    d.secrets_file.write_text(yaml.safe_dump({"gateway_tokens": {"gw-ds-01": "plain-old-token"},
                                              "workorders_jwt_secret": "x" * 48, "console_session_secret": "s" * 48}))
    d.secrets_file.chmod(0o600)
    values = ensure_secrets(d)
    token = values["gateway_tokens"]["gw-ds-01"]
    assert token.startswith("pwgw.") and _gateway(d.gateway_token_hashes_file, token) == "gw-ds-01"
    assert "workorders_jwt_secret" not in yaml.safe_load(d.secrets_file.read_text())
    assert values["console_session_secret"] == "s" * 48  # kept


def test_token_rotate_keys_and_gateway_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = _file(tmp_path)
    d = load(file)
    values = ensure_secrets(d)
    assert main(["--file", str(file), "token", "--role", "dispatcher", "--districts", "Dongsheng"]) == 0
    old = capsys.readouterr().out.strip()
    verifier = TokenVerifier(lambda: load_key_set(d.key_set_file), audience=WORKORDERS_AUDIENCE)
    assert verifier.verify(old).districts == frozenset({"Dongsheng"})
    assert TokenVerifier(load_key_set(d.key_set_file), audience=LEAKDETECT_AUDIENCE).verify(old)
    assert main(["--file", str(file), "rotate-keys"]) == 0
    assert main(["--file", str(file), "token", "--role", "crew"]) == 0
    new = capsys.readouterr().out.strip()
    assert verifier.verify(old) and verifier.verify(new)  # both keys verify during the rollover
    assert main(["--file", str(file), "rotate-keys", "--keep", "1"]) == 0
    with pytest.raises(InvalidToken, match="not in the key set"):
        verifier.verify(old)
    assert main(["--file", str(file), "token", "--role", "admin"]) == 2
    assert main(["--file", str(file), "rotate-keys", "--keep", "0"]) == 2

    # A gateway's token revoked: gone from the hashes and from the secrets file; a new one printed once.
    hashes = d.gateway_token_hashes_file
    simulated = values["gateway_tokens"]["gw-kb-01"]
    assert main(["--file", str(file), "gateway-token", "--revoke", "gw-kb-01"]) == 0
    with pytest.raises(AuthError):
        _gateway(hashes, simulated)
    assert "gw-kb-01" not in yaml.safe_load(d.secrets_file.read_text())["gateway_tokens"]
    assert main(["--file", str(file), "gateway-token", "--revoke", "gw-kb-01"]) == 1
    capsys.readouterr()
    assert main(["--file", str(file), "gateway-token", "--gateway", "gw-kb-01"]) == 0
    printed = capsys.readouterr()
    assert _gateway(hashes, printed.out.strip()) == "gw-kb-01" and "shown only now" in printed.err
    assert main(["--file", str(file), "gateway-token", "--gateway", "gw kb"]) == 2
    # The next `up` gives the simulated gateway a secrets-file token again, beside the printed one.
    again = ensure_secrets(d)["gateway_tokens"]["gw-kb-01"]
    assert again != simulated and _gateway(hashes, again) == "gw-kb-01"
    assert _gateway(hashes, printed.out.strip()) == "gw-kb-01"
