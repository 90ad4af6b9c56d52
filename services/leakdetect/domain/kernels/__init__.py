"""The numba kernels of the leak detector, one module per method: one pass over a batch of readings, all state in
preallocated arrays (columns named in `..layout`, compiled in as constants).

Modules: `driver` (entry points `process_kernel`, `advance_kernel`, `group_by_segment`; per-reading checks),
`health` (sensor health), `balance` (ticks, blocks, line pack accumulation) with `line_pack` and `decision`
(baseline, CUSUM, window and step tests, the alarm), `pressure` (negative pressure waves), `rupture`, `methane`
`common` (compile options, the event writer) and `events` (the event array's columns and their decoding into the
named events of `..events`: the only module that knows them). Everything is `njit(cache=True)` in nopython mode.

Exports: `process_kernel`, `advance_kernel`, `group_by_segment`, `time_sorted`.
"""

from __future__ import annotations

from pathlib import Path

from .. import _numba_cache

# numba keys a cached kernel by its own file only: a kernel calls (and inlines) functions of the other modules
# here and compiles in the layout's columns, so an edit to any of them must invalidate every cached kernel
_numba_cache.key_cache_to_dependencies(Path(__file__).parent, Path(__file__).parent.parent / "layout.py")

from .driver import advance_kernel, group_by_segment, process_kernel, time_sorted  # noqa: E402

__all__ = ["advance_kernel", "group_by_segment", "process_kernel", "time_sorted"]
