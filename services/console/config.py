"""Configuration of the console, read from ``PIPEWARDEN_*`` environment variables.

| variable | default | meaning |
| --- | --- | --- |
| ``PIPEWARDEN_CONSOLE_ADDRESS`` | ``127.0.0.1:8090`` | web server (loopback; TLS proxy in front) |
| ``PIPEWARDEN_CONSOLE_WORKORDERS_ADDRESS`` | ``127.0.0.1:50053`` | workorders' gRPC API |
| ``PIPEWARDEN_CONSOLE_LEAKDETECT_ADDRESSES`` | empty (segment status off) | leakdetect query APIs, comma-separated |
| ``PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE`` | none: required | Ed25519 key (PEM, 0600) signing users' tokens |
| ``PIPEWARDEN_CONSOLE_SESSION_SECRET`` | none: required, >= 32 bytes | signs the session cookie |
| ``PIPEWARDEN_CONSOLE_USERS_FILE`` | none: required | users, argon2 hashes, roles (adapters/users.py) |
| ``PIPEWARDEN_CONSOLE_SESSION_TTL_S`` | ``28800`` (8 h) | session and token lifetime |
| ``PIPEWARDEN_CONSOLE_SECURE_COOKIES`` | ``1`` | ``Secure`` session cookie |
| ``PIPEWARDEN_CONSOLE_MAKE_SAFE_SLA_S`` | ``7200`` | grade 1 "made safe" countdown when workorders' policy sets none |
| ``PIPEWARDEN_CONSOLE_MAX_LIVE`` | ``2000`` | live (SSE) connections held at once; one more is answered 503 |
| ``PIPEWARDEN_CONSOLE_METRICS_PORT`` | ``-1`` (off) | Prometheus ``/metrics`` (0: any free port) |
| ``PIPEWARDEN_NETWORK_FILE`` | the demo city | network model (schematic, districts) |
| ``PIPEWARDEN_CONSOLE_GRPC_TLS``, ``_GRPC_TLS_CA_FILE`` | off | TLS to workorders and leakdetect (CA file) |
| ``PIPEWARDEN_LOG_LEVEL`` | ``INFO`` | log level |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.grpctls import ClientTLS, TLSFileError


class ConfigError(ValueError):
    """An environment variable has a value the console cannot use; the message names it."""


_P = "PIPEWARDEN_CONSOLE_"


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    jwt_signing_key_file: str
    session_secret: str
    users_file: str
    address: str = "127.0.0.1:8090"
    workorders_address: str = "127.0.0.1:50053"
    leakdetect_addresses: tuple[str, ...] = ()
    session_ttl_s: int = 8 * 3600
    secure_cookies: bool = True
    make_safe_sla_s: int = 2 * 3600
    max_live: int = 2000
    metrics_port: int = -1
    network_file: str | None = None
    log_level: str = "INFO"
    # PIPEWARDEN_CONSOLE_GRPC_TLS=1 / _GRPC_TLS_CA_FILE (+ _GRPC_TLS_CERT_FILE, _KEY_FILE): TLS to workorders and
    # leakdetect (services/grpctls). None: plaintext.
    grpc_tls: ClientTLS | None = None

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsoleConfig:
        env = os.environ if env is None else env

        def required(name: str, minimum_bytes: int = 1) -> str:
            value = env.get(name, "")
            if len(value.encode()) < minimum_bytes:
                need = f"at least {minimum_bytes} bytes" if minimum_bytes > 1 else "set"
                raise ConfigError(f"{name} must be {need}")
            return value

        def integer(name: str, default: int, lo: int, hi: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
            if not lo <= value <= hi:
                raise ConfigError(f"{name} must be from {lo} to {hi}, got {value}")
            return value

        def address(name: str, default: str) -> str:
            value = env.get(name, "").strip() or default
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
                raise ConfigError(f"{name} must be host:port, got {value!r}")
            return value

        flag = env.get(f"{_P}SECURE_COOKIES", "1").strip().lower()
        if flag not in ("0", "1", "true", "false", "yes", "no"):
            raise ConfigError(f"{_P}SECURE_COOKIES must be 1 or 0, got {flag!r}")
        leak = tuple(a.strip() for a in env.get(f"{_P}LEAKDETECT_ADDRESSES", "").split(",") if a.strip())
        for a in leak:
            host, sep, port = a.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ConfigError(f"{_P}LEAKDETECT_ADDRESSES: {a!r} is not host:port")
        try:
            grpc_tls = ClientTLS.from_env(f"{_P}GRPC_", env)
        except TLSFileError as error:
            raise ConfigError(str(error)) from None
        return cls(
            jwt_signing_key_file=required(f"{_P}JWT_SIGNING_KEY_FILE"),
            session_secret=required(f"{_P}SESSION_SECRET", 32),
            users_file=required(f"{_P}USERS_FILE"),
            address=address(f"{_P}ADDRESS", "127.0.0.1:8090"),
            workorders_address=address(f"{_P}WORKORDERS_ADDRESS", "127.0.0.1:50053"),
            leakdetect_addresses=leak,
            session_ttl_s=integer(f"{_P}SESSION_TTL_S", 8 * 3600, 60, 7 * 24 * 3600),
            secure_cookies=flag in ("1", "true", "yes"),
            make_safe_sla_s=integer(f"{_P}MAKE_SAFE_SLA_S", 2 * 3600, 60, 7 * 24 * 3600),
            max_live=integer(f"{_P}MAX_LIVE", 2000, 1, 100_000),
            metrics_port=integer(f"{_P}METRICS_PORT", -1, -1, 65535),
            network_file=env.get("PIPEWARDEN_NETWORK_FILE") or None,
            log_level=env.get("PIPEWARDEN_LOG_LEVEL", "INFO") or "INFO",
            grpc_tls=grpc_tls,
        )
