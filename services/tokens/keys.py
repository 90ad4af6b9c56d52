"""Ed25519 signing keys and key sets (JWKS: RFC 7517, OKP keys: RFC 8037) with key ids (RFC 7638 thumbprints).

A *signing key* is one private key in a PEM file (PKCS#8, mode 0600), held by whoever issues tokens. A *key set*
is a JSON file ``{"keys": [JWK, ...]}`` of public keys, newest first, held by whoever verifies. During a rollover
it holds the new key and the old one, so tokens signed by either verify; the old one is dropped once its last
token has expired. A key's id (``kid``) is its RFC 7638 thumbprint, so it is never stored apart from the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.secretfiles import write_private_file

ALGORITHM = "EdDSA"
_MAX_FILE_BYTES = 1 << 20  # a key set of a few keys is a few hundred bytes; refuse to read anything huge


class KeyFileError(ValueError):
    """A key or key set file that cannot be used; the message names the file and the problem (never key bytes)."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint: base64url SHA-256 of the canonical JSON of the key's required members."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(public))},
                           separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(_raw_public(public)), "kid": key_id(public),
            "use": "sig", "alg": ALGORITHM}


@dataclass(frozen=True)
class SigningKey:
    """One Ed25519 private key and its id. ``repr`` never shows the key."""

    private: Ed25519PrivateKey
    kid: str

    @classmethod
    def of(cls, private: Ed25519PrivateKey) -> SigningKey:
        return cls(private, key_id(private.public_key()))

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


def generate_signing_key() -> SigningKey:
    return SigningKey.of(Ed25519PrivateKey.generate())


class KeySet(Mapping[str, Ed25519PublicKey]):
    """Public keys by key id, in the file's order (newest first)."""

    def __init__(self, keys: Iterable[Ed25519PublicKey] = ()) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for public in keys:
            self._keys.setdefault(key_id(public), public)

    def __getitem__(self, kid: str) -> Ed25519PublicKey:
        return self._keys[kid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeySet({list(self._keys)})"

    def with_key(self, public: Ed25519PublicKey, *, keep: int) -> KeySet:
        """This set with ``public`` first, keeping the ``keep`` newest keys in all."""
        if keep < 1:
            raise ValueError("keep must be at least 1")
        return KeySet([public, *self._keys.values()][:keep])

    def to_jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(public) for public in self._keys.values()]}

    @classmethod
    def from_jwks(cls, document: object, source: str) -> KeySet:
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
            raise KeyFileError(f"{source}: expected a JWKS document {{\"keys\": [...]}} with at least one key")
        keys = []
        for i, jwk in enumerate(document["keys"]):
            where = f"{source}: keys[{i}]"
            if not isinstance(jwk, dict):
                raise KeyFileError(f"{where}: expected a JSON object")
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                raise KeyFileError(f"{where}: only Ed25519 keys (kty OKP, crv Ed25519) are accepted")
            if "d" in jwk:
                raise KeyFileError(f"{where}: holds a private key ('d'); a key set holds public keys only")
            if jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
                raise KeyFileError(f"{where}: alg must be {ALGORITHM} and use 'sig'")
            x = jwk.get("x")
            try:
                public = Ed25519PublicKey.from_public_bytes(_unb64url(x)) if isinstance(x, str) else None
            except (ValueError, UnsupportedAlgorithm):
                public = None
            if public is None:
                raise KeyFileError(f"{where}: 'x' must be the base64url 32-byte Ed25519 public key")
            kid = jwk.get("kid")
            if kid is not None and kid != key_id(public):
                raise KeyFileError(f"{where}: kid {str(kid)[:60]!r} is not the key's RFC 7638 thumbprint")
            keys.append(public)
        return cls(keys)


def _read_limited(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_FILE_BYTES + 1)
    except OSError as error:
        raise KeyFileError(f"{what} {path}: cannot be read: {error.strerror or error}") from None
    if len(data) > _MAX_FILE_BYTES:
        raise KeyFileError(f"{what} {path}: larger than {_MAX_FILE_BYTES} bytes")
    return data


def load_key_set(path: str | os.PathLike[str]) -> KeySet:
    path = Path(path)
    data = _read_limited(path, "key set")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise KeyFileError(f"key set {path}: not JSON: {error}") from None
    return KeySet.from_jwks(document, f"key set {path}")


def load_signing_key(path: str | os.PathLike[str]) -> SigningKey:
    """The Ed25519 private key of a PEM file that only its owner can read (as ssh demands of its keys)."""
    path = Path(path)
    data = _read_limited(path, "signing key")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(f"signing key {path}: mode {mode:04o} lets others read it; chmod 600 it")
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"signing key {path}: not an unencrypted PEM private key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyFileError(f"signing key {path}: not an Ed25519 key (tokens are signed with {ALGORITHM})")
    return SigningKey.of(private)


def write_signing_key(path: str | os.PathLike[str], key: SigningKey) -> None:
    pem = key.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    write_private_file(path, pem)


def write_key_set(path: str | os.PathLike[str], keys: KeySet) -> None:
    # Public keys: readable by the services that verify (0644), written atomically so a reader never sees half.
    write_private_file(path, (json.dumps(keys.to_jwks(), indent=2) + "\n").encode(), mode=0o644)


def rotate(signing_key_path: str | os.PathLike[str], key_set_path: str | os.PathLike[str], *,
           keep: int = 2) -> SigningKey:
    """A new signing key, first in the key set (which keeps ``keep`` keys: the old one still verifies).

    The key set is written before the signing key: a verifier knows the new key before any token bears it.
    """
    key = generate_signing_key()
    key_set_path = Path(key_set_path)
    current = load_key_set(key_set_path) if key_set_path.exists() else KeySet()
    write_key_set(key_set_path, current.with_key(key.public, keep=keep))
    write_signing_key(signing_key_path, key)
    return key
