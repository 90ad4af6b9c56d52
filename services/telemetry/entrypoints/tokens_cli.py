"""``python -m services.telemetry tokens``: gateway tokens in the hashed token file telemetry re-reads on change.

  add GATEWAY [--file F]      make a token for GATEWAY, store its scrypt hash, print the token (once: it is
                              stored nowhere; give it to the gateway's token file)
  revoke GATEWAY|TOKEN_ID [--file F]   remove every token of a gateway, or one token; telemetry refuses it on
                              its next use (within PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_CHECK_S), no restart
  list [--file F]             gateway and token id of every token (no secrets)

The file defaults to ``PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE``. Exit 2: bad arguments or file; 1: revoke
found nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from services.telemetry.adapters.auth import TokenFileError, add_token, parse_token_hashes, revoke_tokens

ENV = "PIPEWARDEN_TELEMETRY_GATEWAY_TOKEN_HASHES_FILE"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.telemetry tokens",
                                     description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("add", "revoke", "list"):
        p = sub.add_parser(name)
        if name == "add":
            p.add_argument("gateway")
        elif name == "revoke":
            p.add_argument("which", help="a gateway id (all its tokens) or a token id")
        p.add_argument("--file", default=os.environ.get(ENV) or None, help=f"hashed token file (default ${ENV})")
    args = parser.parse_args(argv)
    if not args.file:
        print(f"error: give --file or set {ENV}", file=sys.stderr)
        return 2
    path = Path(args.file)
    try:
        if args.command == "add":
            token = add_token(path, args.gateway)
            print(f"token for {args.gateway} added to {path}; it is shown only now:", file=sys.stderr)
            print(token)
            return 0
        if args.command == "revoke":
            removed = revoke_tokens(path, args.which)
            if not removed:
                print(f"error: no token of gateway or id {args.which[:100]!r} in {path}", file=sys.stderr)
                return 1
            for entry in removed:
                print(f"revoked {entry.gateway_id} {entry.token_id}", file=sys.stderr)
            return 0
        for entry in parse_token_hashes(path).values():
            print(f"{entry.gateway_id} {entry.token_id}")
        return 0
    except TokenFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
