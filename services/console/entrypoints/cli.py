"""``python -m services.console serve | hash-password``.

``serve`` reads the configuration from the environment (``config.py``) and runs the web server; without its
secrets it refuses to start. ``serve --dev`` (development only) signs tokens with the throwaway key of
``var/dev/tokens`` (the one ``workorders serve --dev`` verifies with) and a session key made at start.
``hash-password`` reads a password from stdin (or asks for it) and prints its argon2 hash for the users file.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from services.console.config import ConfigError, ConsoleConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.console", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="run the console (settings from PIPEWARDEN_CONSOLE_*)")
    serve_parser.add_argument("--dev", action="store_true",
                       help="development only: throwaway token key and session key when none is configured")
    sub.add_parser("hash-password", help="print the argon2 hash of a password read from stdin")
    options = parser.parse_args(argv)
    if options.command == "hash-password":
        from services.console.adapters.users import hash_password

        password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        if not password:
            print("hash-password: empty password refused", file=sys.stderr)
            return 2
        print(hash_password(password))
        return 0
    env = dict(os.environ)
    if options.dev:
        import secrets

        from services.tokens import dev_keys

        if not env.get("PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE"):
            env["PIPEWARDEN_CONSOLE_JWT_SIGNING_KEY_FILE"] = dev_keys()[0]
            print("console: dev mode: users' tokens signed with the throwaway key of var/dev/tokens", file=sys.stderr)
        if not env.get("PIPEWARDEN_CONSOLE_SESSION_SECRET"):
            env["PIPEWARDEN_CONSOLE_SESSION_SECRET"] = secrets.token_urlsafe(48)  # sessions end with the process
    try:
        config = ConsoleConfig.from_env(env)
    except ConfigError as error:
        print(f"console: {error}", file=sys.stderr)
        return 2
    from services.console.adapters.users import UsersFileError
    from services.console.bootstrap import serve
    from services.tokens import KeyFileError

    try:
        serve(config)
    except (UsersFileError, KeyFileError) as error:
        print(f"console: {error}", file=sys.stderr)
        return 2
    return 0
