"""Certificates for the TLS tests: a self-signed one (openssl), and a local CA with server and gateway client
certificates (deploy/local/pki.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from deploy.local.pki import CertPair, ensure_ca, issue


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) in ``directory``, valid for a day; skips the test where openssl is missing."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def local_pki(directory: Path) -> tuple[CertPair, CertPair]:
    """(CA, server certificate for localhost / 127.0.0.1) made by the deployment's own local CA code (Python)."""
    ca = ensure_ca(directory / "ca")
    return ca, issue(ca, directory / "ca", "server", common_name="localhost")


def gateway_certificate(ca: CertPair, directory: Path, gateway_id: str) -> CertPair:
    """A client certificate naming ``gateway_id`` (CN and DNS SAN), for telemetry's mutual TLS."""
    return issue(ca, directory, f"client-{gateway_id}", common_name=gateway_id, dns=(gateway_id,), ips=(),
                 server=False, client=True)
