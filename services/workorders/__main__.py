"""``python -m services.workorders serve | report <name> | rebuild`` (wiring only: see entrypoints/cli.py)."""

import sys

from services.workorders.entrypoints.cli import main

if __name__ == "__main__":
    sys.exit(main())
