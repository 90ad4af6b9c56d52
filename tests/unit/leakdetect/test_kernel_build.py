"""How the kernels are compiled: a regression here costs speed, not results, so no other test would notice."""

from __future__ import annotations

from numba.core.registry import CPUDispatcher

from services.leakdetect.domain import kernels as K


def test_kernels_and_helpers_are_compiled_without_reference_counting() -> None:
    # with numba's runtime, every call of a helper takes and drops a reference to each array argument (atomic
    # instructions), and an inlined helper does so in the kernel: that was 70 % of the kernel's time (see kernels._jit)
    jitted = {name: f for name, f in vars(K).items() if isinstance(f, CPUDispatcher)}
    assert {"process_kernel", "advance_kernel", "_pressure", "_close_tick"} <= set(jitted)
    counted = sorted(name for name, f in jitted.items() if f.targetoptions.get("_nrt") is not False)
    assert counted == ["group_by_segment"]  # allocates its scratch, calls nothing
