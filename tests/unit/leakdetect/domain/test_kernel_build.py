"""How the kernels are compiled: a regression here costs speed, not results, so no other test would notice."""

from __future__ import annotations

import importlib
import pkgutil

from numba.core.registry import CPUDispatcher

from services.leakdetect.domain import kernels


def _jitted() -> dict[str, CPUDispatcher]:
    out: dict[str, CPUDispatcher] = {}
    for mod in pkgutil.iter_modules(kernels.__path__):
        m = importlib.import_module(f"{kernels.__name__}.{mod.name}")
        for name, f in vars(m).items():
            if isinstance(f, CPUDispatcher) and f.py_func.__module__ == m.__name__:
                out[name] = f
    return out


def test_kernels_and_helpers_are_compiled_without_reference_counting() -> None:
    # with numba's runtime, every call of a helper takes and drops a reference to each array argument (atomic
    # instructions), and an inlined helper does so in the kernel: that was 70 % of the kernel's time (see
    # kernels.common._jit)
    jitted = _jitted()
    assert {"process_kernel", "advance_kernel", "_pressure", "_close_tick", "_decide", "_npw", "_rupture",
            "_methane", "_reading_health"} <= set(jitted)
    counted = sorted(name for name, f in jitted.items() if f.targetoptions.get("_nrt") is not False)
    assert counted == ["group_by_segment"]  # allocates its scratch, calls nothing
    # every kernel is cached on disk (the stamp of _numba_cache keeps that cache in step with the sources)
    assert {type(f._cache).__name__ for f in jitted.values()} == {"FunctionCache"}


def test_the_per_reading_helpers_are_inlined_into_the_kernel() -> None:
    # each runs on every good reading of its kind; as a call it pushes ~110-120 words of array descriptors (flow
    # readings cost 1.6x pressure readings while the held end's flow evidence was a call). The kernel calls them
    # by these names, so no inlined alias of a called copy can hide a regression here
    jitted = _jitted()
    per_reading = {"_pressure", "_npw", "_rupture", "_rupture_flow", "_rate_plausible", "_reading_health",
                   "_smoothing_weights", "_bound_is_evidence"}
    assert {name for name in per_reading if jitted[name].targetoptions.get("inline") != "always"} == set()
