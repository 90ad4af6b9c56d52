"""The load tester is a package under load-tests/ (run as ``PYTHONPATH=load-tests python -m loadtest``)."""

import sys
from pathlib import Path

LOAD_TESTS = Path(__file__).resolve().parents[3] / "load-tests"
if str(LOAD_TESTS) not in sys.path:
    sys.path.insert(0, str(LOAD_TESTS))
