"""`python -m services.leakdetect`: the stream worker (wired in `bootstrap`), configured from the environment.
`python -m services.leakdetect replay --help`: replay a historian export through the detectors."""

from __future__ import annotations

import sys

USAGE = """usage: python -m services.leakdetect [--dev | replay ...]

  (no arguments)   run the stream worker: telemetry.readings.v1 -> leak.alarms.v1 (PIPEWARDEN_* settings, README)
  --dev            the same, for development: without PIPEWARDEN_LEAKDETECT_JWT_KEYS_FILE, throwaway token keys
  replay ...       replay a historian export through the detectors: python -m services.leakdetect replay --help
  learn ...        learning commands (learn now, this period was leak-free, status): ... learn --help
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["replay"]:
        import os

        from services.leakdetect.entrypoints.replay import main as replay

        try:
            code = replay(args[1:])
            sys.stdout.flush()  # inside the try: a closed pipe shows here rather than at interpreter exit
            return code
        except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as other tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
    if args[:1] == ["learn"]:
        from services.leakdetect.entrypoints.learn_cli import main as learn

        return learn(args[1:])
    dev = args == ["--dev"]
    if args and not dev:
        print(USAGE, file=sys.stderr if args[0] not in ("-h", "--help") else sys.stdout, end="")
        return 0 if args[0] in ("-h", "--help") else 2
    from services.leakdetect.bootstrap import query_verifier, serve
    from services.leakdetect.config import LeakdetectConfig

    try:
        config = LeakdetectConfig.from_env()
        verifier = query_verifier(config, dev=dev) if config.grpc_port >= 0 else None
    except ValueError as error:  # configuration (KeyFileError too): said before anything starts
        print(f"leakdetect: {error}", file=sys.stderr)
        return 2
    serve(config, verifier)
    return 0


if __name__ == "__main__":
    sys.exit(main())
