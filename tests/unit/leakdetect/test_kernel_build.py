"""How the kernels are compiled: a regression here costs speed, not results, so no other test would notice."""

from __future__ import annotations

from numba.core.registry import CPUDispatcher

from services.leakdetect.domain import kernels as K


def test_helpers_are_compiled_without_reference_counting() -> None:
    # with numba's runtime, every call of a helper takes and drops a reference to each array argument (atomic
    # instructions); that was 70 % of the kernel's time (see kernels._helper)
    helpers = {name: f for name, f in vars(K).items() if isinstance(f, CPUDispatcher) and name.startswith("_")}
    assert "_pressure" in helpers and "_close_tick" in helpers
    counted = sorted(name for name, f in helpers.items() if f.targetoptions.get("_nrt") is not False)
    assert counted == []
