"""gRPC TLS credentials from PEM files, and the names a mutual-TLS peer's certificate carries."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID


class TLSFileError(ValueError):
    """A certificate, key or CA file that cannot be used; the message names the file."""


def _read(path: str | Path, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise TLSFileError(f"{what} {path}: cannot be read: {error.strerror or error}") from None
    if b"-----BEGIN" not in data:
        raise TLSFileError(f"{what} {path}: not a PEM file")
    return data


def server_credentials(
    cert_file: str | Path, key_file: str | Path, *, client_ca_file: str | Path | None = None
) -> grpc.ServerCredentials:
    """Server TLS; with ``client_ca_file`` every client must present a certificate signed by that CA."""
    pair = [(_read(key_file, "TLS key"), _read(cert_file, "TLS certificate"))]
    if client_ca_file is None:
        return grpc.ssl_server_credentials(pair)
    return grpc.ssl_server_credentials(pair, root_certificates=_read(client_ca_file, "TLS client CA"),
                                       require_client_auth=True)


@dataclass(frozen=True)
class ClientTLS:
    """How a client checks a server (``ca_file``; None: the system roots) and, for mutual TLS, who it is."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise TLSFileError("a TLS client certificate and its key must be given together")

    @classmethod
    def from_env(cls, prefix: str, env: Mapping[str, str] | None = None) -> ClientTLS | None:
        """``<prefix>TLS_CA_FILE`` / ``_TLS_CERT_FILE`` / ``_TLS_KEY_FILE``; None when ``<prefix>TLS`` is off and
        no file is set (plaintext)."""
        env = os.environ if env is None else env

        def opt(name: str) -> str | None:
            return env.get(prefix + name, "").strip() or None

        flag = (opt("TLS") or "").lower()
        ca, cert, key = opt("TLS_CA_FILE"), opt("TLS_CERT_FILE"), opt("TLS_KEY_FILE")
        if flag in ("0", "false", "no", "off") or (not flag and not (ca or cert or key)):
            return None
        if flag and flag not in ("1", "true", "yes", "on"):
            raise TLSFileError(f"{prefix}TLS must be 1 or 0, got {flag!r}")
        if (cert is None) != (key is None):
            raise TLSFileError(f"{prefix}TLS_CERT_FILE and {prefix}TLS_KEY_FILE must be set together")
        return cls(ca, cert, key)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file, "TLS CA") if self.ca_file else None,
            private_key=_read(self.key_file, "TLS key") if self.key_file else None,
            certificate_chain=_read(self.cert_file, "TLS certificate") if self.cert_file else None,
        )


def channel(target: str, tls: ClientTLS | None, options: Sequence[tuple[str, Any]] | None = None) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, tls.credentials(), options=options)


def aio_channel(
    target: str, tls: ClientTLS | None, options: Sequence[tuple[str, Any]] | None = None
) -> grpc.aio.Channel:
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, tls.credentials(), options=options)


def peer_certificate_names(context: Any) -> frozenset[str]:
    """The subject CN and the DNS / URI SANs of the client certificate of a call (empty without mutual TLS).

    ``context`` is a grpc (or grpc.aio) ServicerContext; its auth context holds the verified chain's leaf.
    """
    auth = context.auth_context() or {}
    pem = auth.get("x509_pem_cert")
    if not pem:
        return frozenset()
    try:
        cert = x509.load_pem_x509_certificate(pem[0])
    except ValueError:
        return frozenset()
    names = {a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME) if isinstance(a.value, str)}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        names.update(san.get_values_for_type(x509.DNSName))
        names.update(san.get_values_for_type(x509.UniformResourceIdentifier))
    return frozenset(names)
