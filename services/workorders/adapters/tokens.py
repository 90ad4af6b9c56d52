"""Bearer tokens: HS256 JWTs (pyjwt) naming the caller, the role and the districts.

Claims: ``sub`` (who), ``role`` (dispatcher | crew | supervisor | regulator), ``districts`` (list of
district names, ``["*"]`` for all), ``exp`` (required), ``iat``, and optionally ``sign_off_roles`` (the
hazard sign-off positions the caller holds, e.g. ``["unit_head"]``). ``issue_token`` is for tests, the
benchmark and operators' scripts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import jwt

from services.workorders.service_layer.auth import CallerRole, Principal

ALGORITHM = "HS256"
# HS256 keys shorter than the hash output are brute-forceable; pyjwt warns, we refuse.
MIN_SECRET_BYTES = 32
_LEEWAY_S = 5


class InvalidToken(Exception):
    """Missing, garbled, expired, badly signed or incomplete token (gRPC UNAUTHENTICATED).

    ``reason`` is a short label for metrics (``missing_token``, ``malformed_token``, ``expired_token``,
    ``bad_signature``, ``invalid_token``, ``invalid_claims``); the message is for the caller.
    """

    def __init__(self, message: str, reason: str = "invalid_token") -> None:
        super().__init__(message)
        self.reason = reason


def check_secret(secret: str) -> str:
    if not isinstance(secret, str) or len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")
    return secret


def issue_token(
    secret: str,
    subject: str,
    role: CallerRole | str,
    districts: Iterable[str],
    *,
    ttl_s: float = 3600.0,
    now_s: float | None = None,
    sign_off_roles: Iterable[str] = (),
) -> str:
    now = time.time() if now_s is None else now_s
    claims: dict[str, object] = {
        "sub": subject,
        "role": CallerRole(role).value,
        "districts": sorted(set(districts)),
        "iat": int(now),
        "exp": int(now + ttl_s),
    }
    if sign_off_roles:
        claims["sign_off_roles"] = sorted(set(sign_off_roles))
    return jwt.encode(claims, check_secret(secret), algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> Principal:
    """The principal a valid token names; raises ``InvalidToken`` with a reason otherwise."""
    if not token:
        raise InvalidToken("missing bearer token", "missing_token")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "role"]},
            leeway=_LEEWAY_S,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired", "expired_token") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("token signature does not verify", "bad_signature") from None
    except jwt.PyJWTError as error:
        raise InvalidToken(f"invalid token: {error}") from None
    subject, role, districts = claims.get("sub"), claims.get("role"), claims.get("districts", [])
    if not isinstance(subject, str) or not subject or len(subject) > 150 or not subject.isprintable():
        raise InvalidToken("token 'sub' must be a non-empty printable string", "invalid_claims")
    try:
        caller_role = CallerRole(str(role))
    except ValueError:
        raise InvalidToken(f"token 'role' must be one of {[r.value for r in CallerRole]}", "invalid_claims") from None
    if not isinstance(districts, list) or not all(isinstance(d, str) and d for d in districts):
        raise InvalidToken("token 'districts' must be a list of district names", "invalid_claims")
    sign_off_roles = claims.get("sign_off_roles", [])
    if not isinstance(sign_off_roles, list) or not all(isinstance(r, str) and r for r in sign_off_roles):
        raise InvalidToken("token 'sign_off_roles' must be a list of role names", "invalid_claims")
    return Principal(
        subject=subject, role=caller_role, districts=frozenset(districts), sign_off_roles=frozenset(sign_off_roles)
    )


def bearer_from_metadata(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    """The token of the ``authorization: Bearer <token>`` metadata entry ('' when absent)."""
    for key, value in metadata:
        if key.lower() != "authorization":
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("authorization metadata must be 'Bearer <token>'", "malformed_token")
        return token.strip()
    return ""
