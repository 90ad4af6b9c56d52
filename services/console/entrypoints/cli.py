"""``python -m services.console serve | hash-password``.

``serve`` reads the configuration from the environment (``config.py``) and runs the web server.
``hash-password`` reads a password from stdin (or asks for it) and prints its argon2 hash for the users file.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from services.console.config import ConfigError, ConsoleConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.console", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the console (settings from PIPEWARDEN_CONSOLE_*)")
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
    try:
        config = ConsoleConfig.from_env()
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
