"""The kernels' numba cache is dropped when any kernel module or the layout compiled into them changes, and kept
otherwise."""

from __future__ import annotations

from pathlib import Path

from services.leakdetect.domain._numba_cache import drop_if_dependencies_changed


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
