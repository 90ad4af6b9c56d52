"""Drop numba's cached machine code for the kernels when the layout they were compiled against changes.

numba keys its on-disk cache (``njit(cache=True)``) by the timestamp of the function's own source file. The
kernels compile the column indices of `layout` in as constants, so after an edit to layout.py alone the
cache would hand back code that reads the state arrays at the old columns. A stamp beside the cache records
the digest of the files the kernels depend on; when it differs, the cached kernels are deleted before numba
looks for them. Only numba's default cache location (``__pycache__`` beside the source) is handled.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def drop_if_dependencies_changed(kernel_file: str, *dependencies: str) -> None:
    source = Path(kernel_file)
    cache_dir = source.parent / "__pycache__"
    digest = hashlib.sha256(b"".join(Path(d).read_bytes() for d in (kernel_file, *dependencies))).hexdigest()
    stamp = cache_dir / f"{source.stem}.deps"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass  # no stamp yet: whatever is cached is of unknown vintage
    try:
        for cached in [*cache_dir.glob(f"{source.stem}.*.nbi"), *cache_dir.glob(f"{source.stem}.*.nbc")]:
            cached.unlink(missing_ok=True)
        cache_dir.mkdir(exist_ok=True)
        tmp = cache_dir / f"{source.stem}.deps.{os.getpid()}"
        tmp.write_text(digest)
        tmp.replace(stamp)
    except OSError:
        pass  # a read-only install: numba cannot cache there either
