"""``python -m services.tokens``: make and roll over signing keys, issue and check tokens.

  rotate --signing-key FILE --key-set FILE [--keep 2]
      a new Ed25519 signing key (FILE, mode 0600) put first in the key set (JWKS), which keeps the --keep newest
      keys: tokens signed by the previous key still verify. The first run creates both files. Run it again with
      --keep 1 once the last token of the old key has expired (the maximum lifetime) to retire that key.
  issue --signing-key FILE --role ROLE [--districts A,B] [--subject NAME] [--ttl-s S] [--sign-off-roles R,..]
      prints a token signed by the current key.
  verify --key-set FILE --audience AUD  (token on stdin)
      prints the token's claims, or why it is refused (exit 1).

Exit 2: bad arguments or an unusable key file (named, with the problem).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from services.tokens import (
    DEFAULT_MAX_LIFETIME_S,
    LEAKDETECT_AUDIENCE,
    WORKORDERS_AUDIENCE,
    InvalidToken,
    KeyFileError,
    TokenIssuer,
    TokenVerifier,
    load_key_set,
    load_signing_key,
    rotate,
)


def _names(raw: str) -> list[str]:
    return [x.strip() for x in raw.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.tokens", description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("rotate", help="a new signing key, added to the key set")
    r.add_argument("--signing-key", required=True)
    r.add_argument("--key-set", required=True)
    r.add_argument("--keep", type=int, default=2, help="keys kept in the key set, the new one included")
    i = sub.add_parser("issue", help="print a token signed by the current key")
    i.add_argument("--signing-key", required=True)
    i.add_argument("--role", required=True)
    i.add_argument("--districts", default="")
    i.add_argument("--subject", default=os.environ.get("USER") or "operator")
    i.add_argument("--ttl-s", type=float, default=8 * 3600.0)
    i.add_argument("--sign-off-roles", default="")
    v = sub.add_parser("verify", help="check a token read from stdin")
    v.add_argument("--key-set", required=True)
    v.add_argument("--audience", default=WORKORDERS_AUDIENCE, choices=(WORKORDERS_AUDIENCE, LEAKDETECT_AUDIENCE))
    args = parser.parse_args(argv)
    try:
        if args.command == "rotate":
            if not 1 <= args.keep <= 10:
                print("error: --keep must be 1 to 10", file=sys.stderr)
                return 2
            key = rotate(args.signing_key, args.key_set, keep=args.keep)
            print(f"new signing key {key.kid} in {args.signing_key}; key set {args.key_set}", file=sys.stderr)
            return 0
        if args.command == "issue":
            if not 0 < args.ttl_s <= DEFAULT_MAX_LIFETIME_S:
                print(f"error: --ttl-s must be in (0, {DEFAULT_MAX_LIFETIME_S:g}]", file=sys.stderr)
                return 2
            issuer = TokenIssuer(load_signing_key(args.signing_key))
            print(issuer.issue(args.subject, args.role, _names(args.districts), ttl_s=args.ttl_s,
                               sign_off_roles=_names(args.sign_off_roles)))
            return 0
        verifier = TokenVerifier(load_key_set(args.key_set), audience=args.audience)
        try:
            claims = verifier.verify(sys.stdin.read().strip())
        except InvalidToken as error:
            print(f"refused ({error.reason}): {error}", file=sys.stderr)
            return 1
        print(json.dumps({"sub": claims.subject, "role": claims.role, "districts": sorted(claims.districts),
                          "sign_off_roles": sorted(claims.sign_off_roles), "iat": claims.issued_at_s,
                          "exp": claims.expires_at_s, "kid": claims.key_id}))
        return 0
    except (KeyFileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
