"""The tests' one way to get callers' tokens: a test signing key, its key set, and helpers to issue and write them.

One key pair per test process (Ed25519 generation is cheap); ``write_keys(dir)`` puts the same pair in files for
services started as processes (``PIPEWARDEN_*_JWT_KEYS_FILE``, ``PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from services.tokens import (
    LEAKDETECT_AUDIENCE,
    WORKORDERS_AUDIENCE,
    KeySet,
    TokenIssuer,
    TokenVerifier,
    generate_signing_key,
    write_key_set,
    write_signing_key,
)

SIGNING_KEY = generate_signing_key()
KEY_SET = KeySet([SIGNING_KEY.public])
ISSUER = TokenIssuer(SIGNING_KEY)
# What workorders' servicer is given in tests (it verifies with the test key set).
WORKORDERS_VERIFIER = TokenVerifier(KEY_SET, audience=WORKORDERS_AUDIENCE)
LEAKDETECT_VERIFIER = TokenVerifier(KEY_SET, audience=LEAKDETECT_AUDIENCE)


def issue(role: str, districts: Iterable[str], *, subject: str = "tester", ttl_s: float = 600.0,
          sign_off_roles: Iterable[str] = ()) -> str:
    return ISSUER.issue(subject, role, districts, ttl_s=ttl_s, sign_off_roles=sign_off_roles)


def foreign_token(role: str = "supervisor", districts: Iterable[str] = ("*",), subject: str = "mallory") -> str:
    """A well-formed token signed by a key the test key set does not hold."""
    return TokenIssuer(generate_signing_key()).issue(subject, role, districts)


def write_keys(directory: Path) -> tuple[Path, Path]:
    """(signing key file, key set file) holding the test key pair."""
    signing, key_set = directory / "signing-key.pem", directory / "jwks.json"
    write_signing_key(signing, SIGNING_KEY)
    write_key_set(key_set, KEY_SET)
    return signing, key_set


def signed(claims: dict[str, object]) -> str:
    """Arbitrary claims (over the usual iss, aud, iat, exp) signed by the test key: a valid signature on a token
    whose contents may be wrong."""
    import time

    import jwt

    now = int(time.time())
    full: dict[str, object] = {"iss": ISSUER.issuer, "aud": ISSUER.audience, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(full, SIGNING_KEY.private, algorithm="EdDSA", headers={"kid": SIGNING_KEY.kid})
