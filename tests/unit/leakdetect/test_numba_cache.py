"""The kernels' numba cache is dropped when the layout compiled into them changes, and kept otherwise."""

from __future__ import annotations

from pathlib import Path

from services.leakdetect.domain._numba_cache import drop_if_dependencies_changed


def _cached(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "__pycache__").glob("kernels.*.nb?"))


def test_cache_survives_until_a_dependency_changes(tmp_path: Path) -> None:
    kernels, layout = tmp_path / "kernels.py", tmp_path / "layout.py"
    kernels.write_text("def f(): ...\n")
    layout.write_text("N_WINDOWS = 4\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    (cache / "kernels.f-1.py311.nbi").write_bytes(b"old")
    (cache / "other.g-1.py311.nbi").write_bytes(b"not ours")

    drop_if_dependencies_changed(str(kernels), str(layout))  # no stamp: unknown vintage, dropped
    assert _cached(tmp_path) == []
    (cache / "kernels.f-1.py311.nbi").write_bytes(b"compiled against N_WINDOWS = 4")
    (cache / "kernels.f-1.py311.0.nbc").write_bytes(b"code")

    drop_if_dependencies_changed(str(kernels), str(layout))  # nothing changed: kept
    assert _cached(tmp_path) == ["kernels.f-1.py311.0.nbc", "kernels.f-1.py311.nbi"]

    layout.write_text("N_WINDOWS = 6\n")
    drop_if_dependencies_changed(str(kernels), str(layout))
    assert _cached(tmp_path) == []
    assert (cache / "other.g-1.py311.nbi").exists()
