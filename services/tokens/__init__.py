"""Signed bearer tokens for Pipewarden's APIs: EdDSA (Ed25519) JWTs with key ids and a key set, so keys roll over.

Issue with a signing key, verify with a key set; both files are re-read when they change::

    from services.tokens import TokenIssuer, TokenVerifier, signing_key_file, key_set_file, WORKORDERS_AUDIENCE

    issuer = TokenIssuer(signing_key_file("keys/signing.pem").current)
    token = issuer.issue("li", "dispatcher", ["Dongsheng"], ttl_s=8 * 3600)
    claims = TokenVerifier(key_set_file("keys/jwks.json").current, audience=WORKORDERS_AUDIENCE).verify(token)

A verifier checks the algorithm (EdDSA only: ``alg: none`` and HS256 are refused), the key id, the signature,
issuer, audience, ``iat``/``exp`` with a clock leeway and a maximum lifetime, and the claims' shapes.
``python -m services.tokens rotate|issue|verify`` is the operators' side (a new key beside the old one, a token
for a person or script). Modules: ``keys`` (key files, JWKS), ``bearer`` (issue, verify), ``files`` (reloading).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from services.tokens.bearer import (
    ALL_DISTRICTS,
    DEFAULT_ISSUER,
    DEFAULT_LEEWAY_S,
    DEFAULT_MAX_LIFETIME_S,
    LEAKDETECT_AUDIENCE,
    ROLES,
    WORKORDERS_AUDIENCE,
    Claims,
    InvalidToken,
    TokenIssuer,
    TokenVerifier,
    bearer_from_metadata,
)
from services.tokens.files import WatchedFile
from services.tokens.keys import (
    KeyFileError,
    KeySet,
    SigningKey,
    generate_signing_key,
    load_key_set,
    load_signing_key,
    rotate,
    write_key_set,
    write_private_file,
    write_signing_key,
)

__all__ = [
    "ALL_DISTRICTS",
    "DEFAULT_ISSUER",
    "DEFAULT_LEEWAY_S",
    "DEFAULT_MAX_LIFETIME_S",
    "DEV_KEYS_DIR",
    "LEAKDETECT_AUDIENCE",
    "ROLES",
    "WORKORDERS_AUDIENCE",
    "Claims",
    "InvalidToken",
    "KeyFileError",
    "KeySet",
    "SigningKey",
    "TokenIssuer",
    "TokenVerifier",
    "WatchedFile",
    "api_verifier",
    "bearer_from_metadata",
    "dev_keys",
    "generate_signing_key",
    "key_set_file",
    "load_key_set",
    "load_signing_key",
    "rotate",
    "signing_key_file",
    "write_key_set",
    "write_private_file",
    "write_signing_key",
]

_log = logging.getLogger("services.tokens")


def _reload_failed(path: str | os.PathLike[str]) -> Callable[[Exception], None]:
    def report(error: Exception) -> None:
        _log.error("key file changed but cannot be used; keeping the previous keys",
                   extra={"file": str(path), "error": str(error)})
    return report


def key_set_file(path: str | os.PathLike[str], *, check_every_s: float = 1.0) -> WatchedFile[KeySet]:
    """The key set of a JWKS file, re-read when the file changes (a rollover needs no restart)."""
    return WatchedFile(path, load_key_set, check_every_s=check_every_s, on_error=_reload_failed(path))


def signing_key_file(path: str | os.PathLike[str], *, check_every_s: float = 1.0) -> WatchedFile[SigningKey]:
    """The signing key of a PEM file (0600), re-read when the file changes."""
    return WatchedFile(path, load_signing_key, check_every_s=check_every_s, on_error=_reload_failed(path))


# Where --dev services (workorders, leakdetect's query API, the console) find or make their throwaway keys, so
# that they agree and `python -m services.tokens issue --signing-key var/dev/tokens/signing-key.pem` works.
DEV_KEYS_DIR = "var/dev/tokens"


def dev_keys(directory: str | os.PathLike[str] = DEV_KEYS_DIR) -> tuple[str, str]:
    """(signing key file, key set file) of a development key pair, made on first use. Never for production."""
    from pathlib import Path

    signing, key_set = Path(directory) / "signing-key.pem", Path(directory) / "jwks.json"
    if not signing.exists() or not key_set.exists():
        rotate(signing, key_set, keep=1)
    return str(signing), str(key_set)


def api_verifier(keys_file: str | None, audience: str, *, dev: bool, missing: str) -> TokenVerifier:
    """The verifier of an API's callers, from its key set file (re-read on change). Without one the API cannot
    authenticate anyone: ValueError(`missing`, which says how to get one), unless `dev`, which uses the throwaway
    keys of `dev_keys` (logged, with how to issue a token). A file that cannot be used raises KeyFileError."""
    if not keys_file:
        if not dev:
            raise ValueError(missing)
        signing, keys_file = dev_keys()
        _log.warning("dev mode: callers' tokens are checked against throwaway keys; issue one with "
                     "`python -m services.tokens issue --signing-key %s --role ...`", signing)
    return TokenVerifier(key_set_file(keys_file).current, audience=audience)
