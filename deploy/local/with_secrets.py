"""``python -m deploy.local.with_secrets SECRETS_FILE VAR=key [...] -- COMMAND ARGS...``

Sets each environment variable ``VAR`` to the secret ``key`` of the secrets file and execs the command
(same pid: the supervisor signals the service itself). Keeps secrets out of supervisord.conf and its
process listing; only the service's own environment holds them.
"""

from __future__ import annotations

import os
import sys

import yaml


def main(argv: list[str]) -> int:
    if "--" not in argv or len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    secrets_file, assignments, command = argv[0], argv[1:split], argv[split + 1 :]
    with open(secrets_file, encoding="utf-8") as f:
        secrets = yaml.safe_load(f) or {}
    env = dict(os.environ)
    for assignment in assignments:
        var, _, key = assignment.partition("=")
        value = secrets.get(key)
        if not isinstance(value, str) or not value:
            print(f"with_secrets: {secrets_file} has no secret {key!r}", file=sys.stderr)
            return 2
        env[var] = value
    os.execvpe(command[0], command, env)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
