"""Gateway authentication: bearer tokens per gateway, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping


class AuthError(Exception):
    """The caller is not a known gateway; the message says what was wrong (never the token).

    ``reason`` labels the refusal in metrics: ``missing_token``, ``malformed_token`` or ``unknown_token``.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class GatewayTokens:
    def __init__(self, tokens: Mapping[str, str]) -> None:
        # Looked up by the token's SHA-256, then confirmed with compare_digest: the dict lookup's
        # timing depends only on a hash of the secret, and the comparison on nothing at all.
        self._by_digest: dict[bytes, tuple[str, bytes]] = {}
        for gateway_id, token in tokens.items():
            raw = token.encode()
            self._by_digest[hashlib.sha256(raw).digest()] = (gateway_id, raw)

    def __len__(self) -> int:
        return len(self._by_digest)

    def gateway_of(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
        """The gateway whose token is in the ``authorization: Bearer <token>`` entry; AuthError otherwise."""
        header: str | bytes | None = None
        for key, value in metadata or ():
            if key == "authorization":
                header = value
                break
        if header is None:
            raise AuthError(
                "missing 'authorization' metadata: send 'authorization: Bearer <gateway token>'", "missing_token"
            )
        if isinstance(header, bytes):
            header = header.decode("latin-1")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("malformed 'authorization' metadata: expected 'Bearer <gateway token>'", "malformed_token")
        raw = token.strip().encode()
        entry = self._by_digest.get(hashlib.sha256(raw).digest())
        if entry is None or not hmac.compare_digest(entry[1], raw):
            raise AuthError("unknown gateway token", "unknown_token")
        return entry[0]
