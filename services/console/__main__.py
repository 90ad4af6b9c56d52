"""``python -m services.console serve | hash-password``: the CLI (entrypoints/cli.py) parses, the
composition root (bootstrap.py) wires."""

import sys

from services.console.entrypoints.cli import main

if __name__ == "__main__":
    sys.exit(main())
