"""Gateway authentication: bearer tokens per gateway.

Two sources, both optional:

- plain tokens (``PIPEWARDEN_TELEMETRY_GATEWAY_TOKENS`` / ``_FILE``, ``gw=token``), read once, compared in
  constant time: for development and tests;
- a *hashed token file* (``PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE``): one line per token,
  ``<gateway_id> <token_id> scrypt$<log2 n>$<r>$<p>$<salt>$<hash>``, re-read when it changes (mtime, size, inode),
  so that a token is added or revoked without a restart. The file holds no token: a token is
  ``pwgw.<token_id>.<secret>``, shown once when it is made (``python -m services.telemetry tokens add``); the
  token id finds its line, scrypt (salted, memory-hard) checks the secret.

Telemetry authenticates every stream open and every unary call, and scrypt costs tens of milliseconds by
design, so a verified token is remembered under an HMAC of it with a per-process random key (the cache holds no
token either), and the cache is emptied whenever the file changes: a revoked token is refused on its next use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from services.tokens import WatchedFile, write_private_file

log = logging.getLogger(__name__)

TOKEN_PREFIX = "pwgw"
# scrypt's cost: 2^14 x 8 x 128 B = 16 MiB and tens of ms per check (RFC 7914's interactive-login figure).
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 14, 8, 1
_TOKEN = re.compile(r"pwgw\.([0-9a-f]{16})\.([A-Za-z0-9_-]{32,128})")
_GATEWAY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
_CACHE_LIMIT = 10_000


class AuthError(Exception):
    """The caller is not a known gateway; the message says what was wrong (never the token).

    ``reason`` labels the refusal in metrics: ``missing_token``, ``malformed_token`` or ``unknown_token``.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TokenFileError(ValueError):
    """A hashed token file that cannot be used; names the file, the line and the problem."""


@dataclass(frozen=True, slots=True)
class HashedToken:
    gateway_id: str
    token_id: str
    log2_n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    def line(self) -> str:
        b64 = base64.b64encode
        return (f"{self.gateway_id} {self.token_id} scrypt${self.log2_n}${self.r}${self.p}$"
                f"{b64(self.salt).decode()}${b64(self.digest).decode()}")

    def matches(self, secret: bytes) -> bool:
        candidate = hashlib.scrypt(secret, salt=self.salt, n=1 << self.log2_n, r=self.r, p=self.p,
                                   maxmem=256 * 1024 * 1024, dklen=len(self.digest))
        return hmac.compare_digest(candidate, self.digest)


def token_id_of(token: str) -> str:
    """The id of a token in the hashed format ('' for any other string)."""
    match = _TOKEN.fullmatch(token)
    return match.group(1) if match else ""


def hash_token(gateway_id: str, token: str) -> HashedToken:
    """The hashed entry of ``token`` (``pwgw.<id>.<secret>``) for ``gateway_id``, with a fresh salt."""
    if not _GATEWAY_ID.fullmatch(gateway_id):
        raise TokenFileError(f"gateway id {gateway_id[:100]!r} must be letters, digits and . _ : - (at most 100)")
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise TokenFileError(f"the token of {gateway_id} is not of the form {TOKEN_PREFIX}.<16 hex>.<secret>")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(match.group(2).encode(), salt=salt, n=1 << SCRYPT_LOG2_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=32)
    return HashedToken(gateway_id, match.group(1), SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, salt, digest)


def new_token(gateway_id: str) -> tuple[str, HashedToken]:
    """A fresh token for ``gateway_id`` and its hashed entry (the token itself is stored nowhere)."""
    token = f"{TOKEN_PREFIX}.{secrets.token_hex(8)}.{secrets.token_urlsafe(32)}"
    return token, hash_token(gateway_id, token)


def parse_token_hashes(path: Path) -> dict[str, HashedToken]:
    """token id -> entry; ``TokenFileError`` naming the file and line for anything else."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TokenFileError(f"gateway token hashes {path}: cannot be read: {error}") from None
    entries: dict[str, HashedToken] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"gateway token hashes {path}:{number}"
        fields = line.split()
        if len(fields) != 3:
            raise TokenFileError(f"{where}: expected '<gateway_id> <token_id> scrypt$...', got {len(fields)} fields")
        gateway_id, token_id, hashed = fields
        if not _GATEWAY_ID.fullmatch(gateway_id):
            raise TokenFileError(f"{where}: bad gateway id {gateway_id[:100]!r}")
        if not re.fullmatch(r"[0-9a-f]{16}", token_id):
            raise TokenFileError(f"{where}: token id must be 16 hex digits")
        if token_id in entries:
            raise TokenFileError(f"{where}: token id {token_id} is listed twice")
        parts = hashed.split("$")
        try:
            if len(parts) != 6 or parts[0] != "scrypt":
                raise ValueError("expected scrypt$<log2 n>$<r>$<p>$<salt>$<hash>")
            log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            if not (10 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 4):
                raise ValueError("scrypt parameters out of range (log2 n 10-20, r 1-32, p 1-4)")
            salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
            if len(salt) < 16 or len(digest) < 32:
                raise ValueError("salt must be >= 16 bytes and hash >= 32 bytes")
        except ValueError as error:  # binascii.Error is a ValueError
            raise TokenFileError(f"{where}: {error}") from None
        entries[token_id] = HashedToken(gateway_id, token_id, log2_n, r, p, salt, digest)
    return entries


def write_token_hashes(path: Path, entries: Iterable[HashedToken]) -> None:
    header = ("# Gateway token hashes (services/telemetry/adapters/auth.py): <gateway_id> <token_id> scrypt$...\n"
              "# Re-read by telemetry when it changes. Add: python -m services.telemetry tokens add GATEWAY;\n"
              "# revoke: python -m services.telemetry tokens revoke GATEWAY|TOKEN_ID.\n")
    write_private_file(path, (header + "".join(e.line() + "\n" for e in entries)).encode())


def add_token(path: Path, gateway_id: str) -> str:
    """Append a new token of ``gateway_id`` to the file (created 0600 if absent); returns the token."""
    entries = parse_token_hashes(path) if path.exists() else {}
    token, entry = new_token(gateway_id)
    write_token_hashes(path, [*entries.values(), entry])
    return token


def revoke_tokens(path: Path, which: str) -> list[HashedToken]:
    """Remove every token of gateway ``which``, or the token whose id is ``which``; returns what was removed."""
    entries = parse_token_hashes(path)
    removed = [e for e in entries.values() if which in (e.gateway_id, e.token_id)]
    if removed:
        write_token_hashes(path, [e for e in entries.values() if e not in removed])
    return removed


class GatewayTokens:
    def __init__(self, tokens: Mapping[str, str], hashes_file: str | os.PathLike[str] | None = None, *,
                 check_every_s: float = 1.0) -> None:
        # Looked up by the token's SHA-256, then confirmed with compare_digest: the dict lookup's
        # timing depends only on a hash of the secret, and the comparison on nothing at all.
        self._by_digest: dict[bytes, tuple[str, bytes]] = {}
        for gateway_id, token in tokens.items():
            raw = token.encode()
            self._by_digest[hashlib.sha256(raw).digest()] = (gateway_id, raw)
        self._hashes: WatchedFile[dict[str, HashedToken]] | None = None
        if hashes_file is not None:
            self._hashes = WatchedFile(hashes_file, parse_token_hashes, check_every_s=check_every_s,
                                       on_error=self._reload_failed)
        self._cache_key = secrets.token_bytes(32)
        self._cache: dict[bytes, str | None] = {}  # HMAC(token) -> gateway id, None: refused
        self._cached_entries: dict[str, HashedToken] | None = None
        self._lock = threading.Lock()

    def _reload_failed(self, error: Exception) -> None:
        log.error("gateway token hashes changed but cannot be used; keeping the previous tokens",
                  extra={"error": str(error)})

    def __len__(self) -> int:
        return len(self._by_digest) + (len(self._hashes.current()) if self._hashes is not None else 0)

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
        if self._hashes is not None and raw.startswith(b"pwgw."):
            gateway = self._hashed_gateway_of(raw)
            if gateway is not None:
                return gateway
            raise AuthError("unknown gateway token", "unknown_token")
        entry = self._by_digest.get(hashlib.sha256(raw).digest())
        if entry is None or not hmac.compare_digest(entry[1], raw):
            raise AuthError("unknown gateway token", "unknown_token")
        return entry[0]

    def _hashed_gateway_of(self, raw: bytes) -> str | None:
        assert self._hashes is not None
        entries = self._hashes.current()
        key = hmac.new(self._cache_key, raw, hashlib.sha256).digest()
        with self._lock:
            if entries is not self._cached_entries:  # the file changed: forget every earlier verdict
                self._cache.clear()
                self._cached_entries = entries
            if key in self._cache:
                return self._cache[key]
        match = _TOKEN.fullmatch(raw.decode("latin-1"))
        entry = entries.get(match.group(1)) if match else None
        gateway = entry.gateway_id if entry is not None and match and entry.matches(match.group(2).encode()) else None
        with self._lock:
            if entries is self._cached_entries:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                self._cache[key] = gateway
        return gateway
