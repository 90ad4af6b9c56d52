"""``python -m loadtest``: a load tester for a running Pipewarden deployment (see load-tests/README.md)."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# deploy.local (the deployment file and its supervisor) lives at the repository root, beside load-tests/.
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))
