"""Keep numba's cached machine code for the kernels in step with every file they were compiled from.

numba keys its on-disk cache (``njit(cache=True)``) by a hash of the function's own source file. The kernels call
and inline functions of the other kernel modules and compile the column indices of `layout` in as constants, so
after an edit to another kernel module or to layout.py the cache would hand back code built from the old source.
Two guards, both keyed by one digest of every module of the kernel package and of its dependencies:
- a stamp beside the cache records the digest; when it differs, all the package's cached kernels are deleted
  before numba looks for them (so stale code does not pile up);
- each of the package's functions is cached with the digest in its source stamp (`_DigestStampedLocator`), so code
  saved by a process that imported older sources is never loaded by one that imported newer ones. The stamp alone
  cannot promise that: a process that imported the old sources compiles lazily and may save after a newer process
  rewrote the stamp (this happened while kernels were edited under a running benchmark).
Only numba's default cache location (``__pycache__`` beside the source) is handled; with ``NUMBA_CACHE_DIR`` set,
numba's own locator is used as before.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from numba.core import caching, config

_STAMP = "kernels.deps"
_digest_by_package: dict[Path, str] = {}


class _DigestStampedLocator(caching.InTreeCacheLocator):
    """numba's in-tree locator for the functions of a guarded package, with the package's digest in the stamp."""

    def get_source_stamp(self) -> Any:
        return super().get_source_stamp(), _digest_by_package[Path(self._py_file).resolve().parent]

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if getattr(config, "CACHE_DIR", "") or Path(py_file).resolve().parent not in _digest_by_package:
            return None  # not ours: numba's own locators decide
        return super().from_function(py_func, py_file)


def dependency_digest(package_dir: str | Path, *dependencies: str | Path) -> str:
    sources = sorted(Path(package_dir).glob("*.py"))
    return hashlib.sha256(
        b"".join(p.name.encode() + b"\0" + p.read_bytes() for p in (*sources, *map(Path, dependencies)))
    ).hexdigest()


def key_cache_to_dependencies(package_dir: str | Path, *dependencies: str | Path) -> None:
    """Call before the package's kernels are defined (its ``__init__``)."""
    package = Path(package_dir)
    digest = dependency_digest(package, *dependencies)
    _digest_by_package[package.resolve()] = digest
    # numba has no public hook for a locator: its list of locator classes is a class attribute (numba is pinned)
    if _DigestStampedLocator not in caching.CacheImpl._locator_classes:
        caching.CacheImpl._locator_classes.insert(0, _DigestStampedLocator)
    cache_dir = package / "__pycache__"
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
