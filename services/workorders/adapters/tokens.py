"""Callers' bearer tokens as workorders sees them: a verified token (``services.tokens``) turned into a ``Principal``.

The token format, signing and checks (EdDSA, key ids and key set, issuer, audience, lifetime, leeway) are
``services.tokens``'; this adapter maps its claims onto workorders' roles. ``issue_token`` is for tests, the
benchmarks and operators' scripts holding a signing key.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.tokens import InvalidToken, TokenIssuer, TokenVerifier, bearer_from_metadata
from services.workorders.service_layer.auth import CallerRole, Principal

__all__ = ["InvalidToken", "bearer_from_metadata", "issue_token", "principal_of", "verify_token"]


def issue_token(
    issuer: TokenIssuer,
    subject: str,
    role: CallerRole | str,
    districts: Iterable[str],
    *,
    ttl_s: float = 3600.0,
    now_s: float | None = None,
    sign_off_roles: Iterable[str] = (),
) -> str:
    return issuer.issue(subject, CallerRole(role).value, districts, ttl_s=ttl_s, now_s=now_s,
                        sign_off_roles=sign_off_roles)


def verify_token(verifier: TokenVerifier, token: str) -> Principal:
    """The principal a valid token names; raises ``InvalidToken`` with a reason otherwise."""
    claims = verifier.verify(token)
    return Principal(subject=claims.subject, role=CallerRole(claims.role), districts=claims.districts,
                     sign_off_roles=claims.sign_off_roles)


def principal_of(verifier: TokenVerifier, metadata: Iterable[tuple[str, str | bytes]]) -> Principal:
    """The principal of a call's ``authorization: Bearer`` metadata."""
    return verify_token(verifier, bearer_from_metadata(metadata))
