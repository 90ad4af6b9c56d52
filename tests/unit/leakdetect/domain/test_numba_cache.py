"""The kernels' numba cache is dropped when any kernel module or the layout compiled into them changes, and kept
otherwise; code cached from older sources is never loaded, even where the stamp was rewritten before it was saved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from services.leakdetect.domain._numba_cache import dependency_digest
from services.leakdetect.domain._numba_cache import key_cache_to_dependencies as drop_if_dependencies_changed


def _cached(pkg: Path) -> list[str]:
    return sorted(p.name for p in (pkg / "__pycache__").glob("*.nb?"))


def test_cache_survives_until_a_dependency_changes(tmp_path: Path) -> None:
    pkg = tmp_path / "kernels"
    pkg.mkdir()
    driver, balance, layout = pkg / "driver.py", pkg / "balance.py", tmp_path / "layout.py"
    driver.write_text("def f(): ...\n")
    balance.write_text("def g(): ...\n")
    layout.write_text("N_WINDOWS = 4\n")
    cache = pkg / "__pycache__"
    cache.mkdir()
    (cache / "driver.f-1.py311.nbi").write_bytes(b"old")
    (tmp_path / "other.g-1.py311.nbi").write_bytes(b"not ours")

    drop_if_dependencies_changed(pkg, layout)  # no stamp: unknown vintage, dropped
    assert _cached(pkg) == []
    (cache / "driver.f-1.py311.nbi").write_bytes(b"compiled against N_WINDOWS = 4")
    (cache / "driver.f-1.py311.0.nbc").write_bytes(b"code")

    drop_if_dependencies_changed(pkg, layout)  # nothing changed: kept
    assert _cached(pkg) == ["driver.f-1.py311.0.nbc", "driver.f-1.py311.nbi"]

    layout.write_text("N_WINDOWS = 6\n")
    drop_if_dependencies_changed(pkg, layout)
    assert _cached(pkg) == []
    assert (tmp_path / "other.g-1.py311.nbi").exists()

    # a callee in another kernel module changed: the callers' cached code (which inlines it) goes too
    (cache / "driver.f-1.py311.nbi").write_bytes(b"inlines g")
    drop_if_dependencies_changed(pkg, layout)
    assert _cached(pkg) == ["driver.f-1.py311.nbi"]
    balance.write_text("def g(): return 1\n")
    drop_if_dependencies_changed(pkg, layout)
    assert _cached(pkg) == []



def test_code_cached_from_older_sources_is_not_loaded_after_the_stamp_was_rewritten(tmp_path: Path) -> None:
    # the race: a process that imported the old callee compiles lazily and saves after a newer process rewrote the
    # stamp; the caller's own file never changed, so numba's per-file stamp alone would load the old inlined callee
    pkg = tmp_path / "guarded"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from pathlib import Path\n"
        "from services.leakdetect.domain._numba_cache import key_cache_to_dependencies\n"
        "key_cache_to_dependencies(Path(__file__).parent)\n")
    callee = "from numba import njit\n\n@njit(cache=True)\ndef g():\n    return {}\n"
    (pkg / "callee.py").write_text(callee.format(1))
    (pkg / "caller.py").write_text("from numba import njit\nfrom .callee import g\n\n"
                                   "@njit(cache=True)\ndef f():\n    return g()\n")
    project = Path(__file__).resolve().parents[4]
    program = (f"import sys; sys.path[:0] = [{str(tmp_path)!r}, {str(project)!r}]; import guarded.caller as c; "
               "print(c.f(), len(c.f.stats.cache_hits))")

    def run() -> str:
        return subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True,
                              timeout=240, check=True).stdout.strip()

    assert run() == "1 0"  # compiled and saved
    assert run() == "1 1"  # loaded from the cache (else the last step would prove nothing)
    (pkg / "callee.py").write_text(callee.format(2))
    (pkg / "__pycache__" / "kernels.deps").write_text(dependency_digest(pkg))  # the old code stays cached
    assert run() == "2 0"
