"""Callers' bearer tokens: EdDSA (Ed25519) JWTs naming the caller, the role and the districts.

Claims: ``iss`` (who issued it), ``aud`` (the APIs it is for), ``sub`` (who), ``role`` (dispatcher | crew |
supervisor | regulator), ``districts`` (district names, ``["*"]`` for all), ``iat`` and ``exp`` (both required;
``exp - iat`` at most the verifier's maximum lifetime), optionally ``sign_off_roles`` (hazard sign-off positions
held, e.g. ``["unit_head"]``). The header names the key (``kid``); the verifier looks it up in its key set and
accepts only ``EdDSA``, so ``alg: none`` and an HS256 token "signed" with a public key are refused before any
key is touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.tokens.keys import ALGORITHM, SigningKey

ROLES = ("dispatcher", "crew", "supervisor", "regulator")
ALL_DISTRICTS = "*"
DEFAULT_ISSUER = "pipewarden"
WORKORDERS_AUDIENCE = "pipewarden-workorders"
LEAKDETECT_AUDIENCE = "pipewarden-leakdetect"
# A person's token is good for a shift; a stolen one is not good for long. Longer-lived tokens are refused.
DEFAULT_MAX_LIFETIME_S = 24 * 3600.0
# Hosts' clocks differ by a few seconds even with NTP; a minute would let an expired token live too long.
DEFAULT_LEEWAY_S = 30.0
# An Ed25519 JWT with a few districts is a few hundred bytes; anything this big is not ours.
MAX_TOKEN_CHARS = 8192
# Verified tokens remembered per verifier: a client sends the same token on every call, and an Ed25519
# verification costs ~0.1-0.5 ms of CPU. Bounded; emptied when full.
_CACHE_LIMIT = 10_000


class InvalidToken(Exception):
    """Missing, garbled, expired, badly signed or incomplete token (gRPC UNAUTHENTICATED).

    ``reason`` is a short label for metrics (``missing_token``, ``malformed_token``, ``expired_token``,
    ``bad_signature``, ``invalid_token``, ``invalid_claims``); the message is for the caller and never
    repeats the token.
    """

    def __init__(self, message: str, reason: str = "invalid_token") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says."""

    subject: str
    role: str
    districts: frozenset[str]
    sign_off_roles: frozenset[str]
    issued_at_s: int
    expires_at_s: int
    key_id: str

    @property
    def all_districts(self) -> bool:
        return ALL_DISTRICTS in self.districts

    def may_see(self, district: str) -> bool:
        return self.all_districts or district in self.districts


class TokenIssuer:
    """Signs tokens with one signing key (or a callable returning the current one: a reloaded key file)."""

    def __init__(
        self,
        key: SigningKey | Callable[[], SigningKey],
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: Iterable[str] = (WORKORDERS_AUDIENCE, LEAKDETECT_AUDIENCE),
        max_lifetime_s: float = DEFAULT_MAX_LIFETIME_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key if callable(key) else (lambda: key)
        self.issuer = issuer
        self.audience = sorted(set(audience))
        if not self.audience:
            raise ValueError("a token needs at least one audience")
        self.max_lifetime_s = max_lifetime_s
        self._clock = clock

    def issue(
        self,
        subject: str,
        role: str,
        districts: Iterable[str],
        *,
        ttl_s: float = 3600.0,
        now_s: float | None = None,
        sign_off_roles: Iterable[str] = (),
    ) -> str:
        role = str(getattr(role, "value", role))
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if ttl_s > self.max_lifetime_s:
            raise ValueError(f"ttl_s {ttl_s:g} exceeds the maximum token lifetime {self.max_lifetime_s:g} s")
        if not subject:
            raise ValueError("a token needs a subject")
        now = self._clock() if now_s is None else now_s
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "role": role,
            "districts": sorted(set(districts)),
            "iat": int(now),
            "exp": int(now + ttl_s),
        }
        if sign_off_roles:
            claims["sign_off_roles"] = sorted(set(sign_off_roles))
        key = self._key()
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})


class TokenVerifier:
    """Verifies tokens against a key set (a mapping, or a callable returning the current one: a reloaded file)."""

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey] | Callable[[], Mapping[str, Ed25519PublicKey]],
        *,
        audience: str,
        issuer: str = DEFAULT_ISSUER,
        max_lifetime_s: float = DEFAULT_MAX_LIFETIME_S,
        leeway_s: float = DEFAULT_LEEWAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys if callable(keys) else (lambda: keys)
        self.audience = audience
        self.issuer = issuer
        self.max_lifetime_s = max_lifetime_s
        self.leeway_s = leeway_s
        self._clock = clock
        # token -> (its claims, the key set that verified it): a hit stands only while that key set is the
        # current one (a rollover that drops the key drops the token) and the token has not expired.
        self._verified: dict[str, tuple[Claims, object]] = {}

    def verify(self, token: str) -> Claims:
        """The claims of a valid token; ``InvalidToken`` with a reason otherwise."""
        keys = self._keys()
        hit = self._verified.get(token)
        if hit is not None and hit[1] is keys:
            if self._clock() > hit[0].expires_at_s + self.leeway_s:
                raise InvalidToken("token expired", "expired_token")
            return hit[0]
        claims = self._verify(token, keys)
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = (claims, keys)
        return claims

    def _verify(self, token: str, keys: Mapping[str, Ed25519PublicKey]) -> Claims:
        if not token:
            raise InvalidToken("missing bearer token", "missing_token")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken(f"token longer than {MAX_TOKEN_CHARS} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken(f"invalid token: {error}") from None
        # Checked before any key is chosen: 'none' is no signature, and HS256 would "verify" with a public key.
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise InvalidToken(f"token algorithm {str(alg)[:20]!r} is not accepted (only {ALGORITHM})")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token header has no key id (kid)")
        public = keys.get(kid)
        if public is None:
            raise InvalidToken(f"token key id {kid[:60]!r} is not in the key set", "bad_signature")
        try:
            claims = jwt.decode(
                token,
                public,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # Times are checked below against this verifier's clock (pyjwt would read its own).
                options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_exp": False,
                         "verify_iat": False, "verify_nbf": False},
            )
        except jwt.InvalidSignatureError:
            raise InvalidToken("token signature does not verify", "bad_signature") from None
        except (jwt.MissingRequiredClaimError, jwt.InvalidIssuerError, jwt.InvalidAudienceError) as error:
            raise InvalidToken(f"invalid token: {error}", "invalid_claims") from None
        except jwt.PyJWTError as error:
            raise InvalidToken(f"invalid token: {error}") from None
        return self._claims(claims, kid)

    def _claims(self, claims: dict[str, object], kid: str) -> Claims:
        iat, exp, nbf = claims["iat"], claims["exp"], claims.get("nbf")
        if not all(type(t) is int for t in (iat, exp, nbf if nbf is not None else 0)):
            raise InvalidToken("token 'iat', 'exp' and 'nbf' must be whole seconds", "invalid_claims")
        assert isinstance(iat, int) and isinstance(exp, int)
        now = self._clock()
        if now > exp + self.leeway_s:
            raise InvalidToken("token expired", "expired_token")
        if max(iat, nbf if isinstance(nbf, int) else iat) > now + self.leeway_s:
            raise InvalidToken("token is not yet valid (iat or nbf in the future)", "invalid_claims")
        if exp - iat > self.max_lifetime_s:
            raise InvalidToken(
                f"token lifetime {exp - iat} s exceeds the maximum {self.max_lifetime_s:g} s", "invalid_claims"
            )
        subject, role, districts = claims.get("sub"), claims.get("role"), claims.get("districts", [])
        if not isinstance(subject, str) or not subject or len(subject) > 150 or not subject.isprintable():
            raise InvalidToken("token 'sub' must be a non-empty printable string", "invalid_claims")
        if role not in ROLES:
            raise InvalidToken(f"token 'role' must be one of {list(ROLES)}", "invalid_claims")
        if not isinstance(districts, list) or not all(isinstance(d, str) and d for d in districts):
            raise InvalidToken("token 'districts' must be a list of district names", "invalid_claims")
        sign_off_roles = claims.get("sign_off_roles", [])
        if not isinstance(sign_off_roles, list) or not all(isinstance(r, str) and r for r in sign_off_roles):
            raise InvalidToken("token 'sign_off_roles' must be a list of role names", "invalid_claims")
        return Claims(
            subject=subject, role=str(role), districts=frozenset(districts), sign_off_roles=frozenset(sign_off_roles),
            issued_at_s=iat, expires_at_s=exp, key_id=kid,
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
