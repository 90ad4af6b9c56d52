"""Tokens in workorders' own format (HS256 JWT: sub, role, districts, sign_off_roles, exp), signed with
the key workorders verifies them with. The format is workorders'; it is issued here through its function."""

from __future__ import annotations

from services.console.service_layer.ports import User
from services.workorders.adapters.tokens import check_secret, issue_token

# The console's own Watch: read-only (regulator) over all districts; it only learns which streams changed
# and tells each browser only about its user's districts.
SERVICE_SUBJECT = "console-feed"


class JwtIssuer:
    def __init__(self, secret: str, ttl_s: float) -> None:
        self._secret = check_secret(secret)
        self.ttl_s = ttl_s

    def issue(self, user: User) -> str:
        return issue_token(self._secret, user.username, user.role, user.districts, ttl_s=self.ttl_s,
                           sign_off_roles=user.sign_off_roles)

    def service_token(self) -> str:
        return issue_token(self._secret, SERVICE_SUBJECT, "regulator", ["*"], ttl_s=3600.0)
