"""Users' tokens for workorders' and leakdetect's APIs, signed with the console's key (``services.tokens``).

The console signs with the deployment's signing key (re-read when it rolls over); the APIs verify against the
key set that holds its public half.
"""

from __future__ import annotations

from collections.abc import Callable

from services.console.service_layer.ports import User
from services.tokens import DEFAULT_MAX_LIFETIME_S, SigningKey, TokenIssuer

# The console's own Watch: read-only (regulator) over all districts; it only learns which streams changed
# and tells each browser only about its user's districts.
SERVICE_SUBJECT = "console-feed"


class JwtIssuer:
    def __init__(self, key: SigningKey | Callable[[], SigningKey], ttl_s: float) -> None:
        if not isinstance(key, SigningKey) and not callable(key):
            raise ValueError("the console needs an Ed25519 signing key (PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE)")
        self._issuer = TokenIssuer(key)
        # A session may outlast the longest token the APIs accept; its token then expires first and the user
        # signs in again.
        self.ttl_s = min(ttl_s, DEFAULT_MAX_LIFETIME_S)

    def issue(self, user: User) -> str:
        return self._issuer.issue(user.username, user.role, user.districts, ttl_s=self.ttl_s,
                                  sign_off_roles=user.sign_off_roles)

    def service_token(self) -> str:
        return self._issuer.issue(SERVICE_SUBJECT, "regulator", ["*"], ttl_s=3600.0)
