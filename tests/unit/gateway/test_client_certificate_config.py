"""The gateway's mutual-TLS settings (telemetry.tls_client_cert_file / tls_client_key_file): both or neither,
existing files, named when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.gateway.config import GatewayConfigError, load_config

from .test_config import good, write


def test_client_certificate_and_key_load_together(tmp_path: Path) -> None:
    (tmp_path / "gw.pem").write_text("cert")
    (tmp_path / "gw-key.pem").write_text("key")
    doc = good(tmp_path)
    doc["telemetry"].update(tls_client_cert_file=str(tmp_path / "gw.pem"),
                            tls_client_key_file=str(tmp_path / "gw-key.pem"))
    config = load_config(write(tmp_path, doc))
    assert config.telemetry.tls_client_cert_file == tmp_path / "gw.pem"
    assert config.telemetry.tls_client_key_file == tmp_path / "gw-key.pem"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"tls_client_cert_file": "gw.pem"}, "tls_client_cert_file and tls_client_key_file must be given together"),
        ({"tls_client_cert_file": "missing.pem", "tls_client_key_file": "missing-key.pem"},
         "tls_client_cert_file .*missing.pem does not exist"),
        ({"tls_client_cert_file": 12, "tls_client_key_file": "k"}, "tls_client_cert_file"),
    ],
)
def test_bad_client_certificate_settings_are_named(tmp_path: Path, settings: dict[str, object], message: str) -> None:
    (tmp_path / "gw.pem").write_text("cert")
    doc = good(tmp_path)
    doc["telemetry"].update({k: str(tmp_path / v) if isinstance(v, str) else v for k, v in settings.items()})
    with pytest.raises(GatewayConfigError, match=message):
        load_config(write(tmp_path, doc))
