"""Drop numba's cached machine code for the kernels when any file they were compiled from changes.

numba keys its on-disk cache (``njit(cache=True)``) by the timestamp of the function's own source file. The
kernels call and inline functions of the other kernel modules and compile the column indices of `layout` in as
constants, so after an edit to another kernel module or to layout.py the cache would hand back code built from
the old source. A stamp beside the cache records the digest of every module of the kernel package and of its
dependencies; when it differs, all the package's cached kernels are deleted before numba looks for them. Only
numba's default cache location (``__pycache__`` beside the source) is handled.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_STAMP = "kernels.deps"


def drop_if_dependencies_changed(package_dir: str | Path, *dependencies: str | Path) -> None:
    package = Path(package_dir)
    cache_dir = package / "__pycache__"
    sources = sorted(package.glob("*.py"))
    digest = hashlib.sha256(
        b"".join(p.name.encode() + b"\0" + p.read_bytes() for p in (*sources, *map(Path, dependencies)))
    ).hexdigest()
    stamp = cache_dir / _STAMP
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass  # no stamp yet: whatever is cached is of unknown vintage
    try:
        for cached in [*cache_dir.glob("*.nbi"), *cache_dir.glob("*.nbc")]:
            cached.unlink(missing_ok=True)
        cache_dir.mkdir(exist_ok=True)
        tmp = cache_dir / f"{_STAMP}.{os.getpid()}"
        tmp.write_text(digest)
        tmp.replace(stamp)
    except OSError:
        pass  # a read-only install: numba cannot cache there either
