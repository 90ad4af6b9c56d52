"""Sign-in: a user of the users file with the right password gets a session naming the signed token
workorders accepts (role and districts as the users file gives them)."""

from __future__ import annotations

from dataclasses import dataclass

from services.console.service_layer.ports import TokenIssuer, User, Users


class SignInRefused(Exception):
    """Unknown user or wrong password (one message for both: the form must not tell which)."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    token: str


def sign_in(users: Users, tokens: TokenIssuer, username: str, password: str) -> SignedIn:
    if not username or not password or len(username) > 150 or len(password) > 1024:
        raise SignInRefused("wrong user name or password")
    user = users.verify(username, password)
    if user is None:
        raise SignInRefused("wrong user name or password")
    return SignedIn(user, tokens.issue(user))
