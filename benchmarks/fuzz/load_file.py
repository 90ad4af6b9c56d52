"""``python -m benchmarks.fuzz.load_file network|history PATH``: one file loader in a fresh process, for the
sampled cases of the loader targets that cross the process boundary (``make fuzz`` runs the rest in process).

Prints the status the in-process target reports (``loaded``; ``read`` or ``read, rows refused``) and exits 0;
a refused file prints ``NetworkFileError: <message>`` / ``HistoryFileError: <message>`` on stderr and exits 2
(refused rows with no file:line example: ``rows refused: `` and exit 2). Anything else escapes as a traceback,
which the fuzzer counts as a crash.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ("network", "history"):
        print("usage: python -m benchmarks.fuzz.load_file network|history PATH", file=sys.stderr)
        return 64
    kind, path = args
    if kind == "network":
        from services.network import NetworkFileError, load_network

        try:
            load_network(path)
        except NetworkFileError as error:
            print(f"NetworkFileError: {error}", file=sys.stderr)
            return 2
        print("loaded")
        return 0
    from services.leakdetect.adapters.history_file import HistoryFileError, read_history

    from .file_targets import history_status, history_tags

    try:
        history = read_history(path, history_tags())
    except HistoryFileError as error:
        print(f"HistoryFileError: {error}", file=sys.stderr)
        return 2
    if history.refused_rows and not history.examples:
        print("rows refused: ", file=sys.stderr)
        return 2
    print(history_status(history))
    return 0


if __name__ == "__main__":
    sys.exit(main())
