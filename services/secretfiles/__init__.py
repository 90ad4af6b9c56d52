"""Files that hold secrets: written atomically with mode 0600, never readable by others, not even for a moment.

Every secret Pipewarden writes goes through `write_private_file`: signing keys and gateway token hashes
(`services.tokens`, telemetry), the Kafka SCRAM password (`services.kafkaconn.rotation`), the local deployment's
secrets file, supervisord's configuration and the local CA's keys (`deploy.local`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_private_file"]


def write_private_file(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o600) -> None:
    """Atomically replace ``path`` with ``data`` (str as UTF-8), created with ``mode`` (0600: never readable by
    others, even briefly); the parent folders are made as needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data.encode() if isinstance(data, str) else data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
