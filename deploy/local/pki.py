"""A local certificate authority for one host: the CA, server and client certificates, made in Python.

Used by ``make up`` with ``tls: true`` (the deployment's ``<data_dir>/secrets/tls/``) and by the TLS tests.
Keys are written 0600 (PKCS#8 PEM, unencrypted: Kafka's PEM keystore and gRPC read them as they are); an
existing CA or certificate is kept, so a second ``up`` changes nothing. ECDSA P-256 keeps it quick.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.secretfiles import write_private_file

CA_DAYS = 3650
LEAF_DAYS = 825


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def ensure_ca(directory: Path, name: str = "Pipewarden local CA") -> CertPair:
    """The CA of ``directory`` (ca.pem, ca-key.pem), made on first use."""
    pair = CertPair(directory / "ca.pem", directory / "ca-key.pem")
    if pair.cert.is_file() and pair.key.is_file():
        return pair
    key = ec.generate_private_key(ec.SECP256R1())
    if len(name) > 64:  # X.509's upper bound for a CN; the deployment's name holds its data dir, of any length
        name = name[:30] + "..." + name[-31:]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private_file(pair.key, _key_pem(key))
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair


def issue(
    ca: CertPair,
    directory: Path,
    name: str,
    *,
    common_name: str,
    dns: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    server: bool = True,
    client: bool = False,
    replace: bool = False,
) -> CertPair:
    """``<name>.pem`` / ``<name>-key.pem`` in ``directory``, signed by ``ca`` (kept when present).

    A gateway's client certificate names the gateway id as its CN and as a DNS SAN: telemetry's mutual TLS
    compares it with the readings' gateway_id.
    """
    pair = CertPair(directory / f"{name}.pem", directory / f"{name}-key.pem")
    if not replace and pair.cert.is_file() and pair.key.is_file():
        return pair
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca.key}: not the EC key this module makes")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    write_private_file(pair.key, _key_pem(key))
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair


def issue_client(ca: CertPair, directory: Path, name: str, *, replace: bool = False) -> CertPair:
    """A client-only certificate naming ``name`` (CN and DNS SAN, no IP): a gateway's for telemetry's mutual TLS
    (telemetry compares the name with the gateway of the token and of the readings), or an operator tool's."""
    return issue(ca, directory, name, common_name=name, dns=(name,), ips=(), server=False, client=True,
                 replace=replace)


def certificate_names(cert: Path) -> set[str]:
    """The CN and DNS SANs a certificate names."""
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    names = {str(a.value) for a in loaded.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
    with contextlib.suppress(x509.ExtensionNotFound):
        names |= set(loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                     .get_values_for_type(x509.DNSName))
    return names
