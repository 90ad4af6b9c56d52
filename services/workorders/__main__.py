"""``python -m services.workorders serve | report <name> | rebuild``: the CLI (entrypoints/cli.py) parses,
the composition root (bootstrap.py) wires."""

import sys

from services.workorders.entrypoints.cli import main

if __name__ == "__main__":
    sys.exit(main())
