"""What every kernel module shares: the numba compile options, the event writer and per-slot helpers.

`_emit` is the only writer of the event arrays (the columns `EI_*` / `EF_*` of `layout`); the meaning of each
kind's columns is decoded in `events.py`, beside it in this package.
"""

from __future__ import annotations

from numba import njit

from ..layout import (
    C_EVENTS_DROPPED,
    EF_AUX1,
    EF_AUX2,
    EF_AUX3,
    EF_SIGMA,
    EF_VALUE,
    EI_CODE,
    EI_KIND,
    EI_ONSET,
    EI_ROLE,
    EI_SEG,
    EI_TIME,
    EV_HEALTH,
    GF_MDLR0,
    HEALTH_OK,
    SC_PRESENT,
    SC_SIGMA_ABS,
    SC_SIGMA_REL,
    SF_HELD,
    SI_HEALTH,
)

# Every function here but `group_by_segment` is compiled without numba's runtime (NRT): none of them allocates,
# and the arrays they are passed belong to the caller for the whole call. With the runtime, each call would take and
# drop a reference to every array argument, and numba's pruning pass cannot remove these across branches (numba
# issue #2350): a locked (atomic) increment or decrement each, ~20 cycles, 26 of them per pressure reading alone,
# which was 70 % of the kernel's time. `_nrt=False` is the option numba uses for its own hot helpers (it is not in
# numba's type stubs); an allocation in such a function fails to compile instead of leaking.
_jit = njit(cache=True, error_model="numpy", _nrt=False)  # type: ignore[call-overload]
# the pressure path is the most frequent one (half the readings at 1 Hz, most of them at 10 Hz): inlined into the
# kernel, it is not a call that pushes ~110 words of array descriptors onto the stack for every pressure reading
# (without reference counting, inlining costs nothing else)
_jit_inline = njit(cache=True, error_model="numpy", _nrt=False, inline="always")  # type: ignore[call-overload]


@_jit
def _emit(ev_i, ev_f, n_ev, counters, kind, seg, role, t, onset, code, v, sg, a1, a2, a3):
    k = n_ev[0]
    if k >= ev_i.shape[0]:
        counters[C_EVENTS_DROPPED] += 1
        return
    ev_i[k, EI_KIND] = kind
    ev_i[k, EI_SEG] = seg
    ev_i[k, EI_ROLE] = role
    ev_i[k, EI_TIME] = t
    ev_i[k, EI_ONSET] = onset
    ev_i[k, EI_CODE] = code
    ev_f[k, EF_VALUE] = v
    ev_f[k, EF_SIGMA] = sg
    ev_f[k, EF_AUX1] = a1
    ev_f[k, EF_AUX2] = a2
    ev_f[k, EF_AUX3] = a3
    n_ev[0] = k + 1


@_jit
def _alpha(dt, tau):
    """Weight of a new sample in an exponential average of time constant tau: 1 - exp(-x) ~ x / (1 + x),
    exact enough for smoothing and free of a transcendental call per reading."""
    x = dt / tau
    return x / (1.0 + x)


@_jit
def _sigma2(slot_cfg, slot, v):
    """Variance of one reading of this slot at value v."""
    r = slot_cfg[slot, SC_SIGMA_REL] * v
    a = slot_cfg[slot, SC_SIGMA_ABS]
    return r * r + a * a


@_jit
def _healthy(slot_cfg, slot_i, slot):
    return slot_cfg[slot, SC_PRESENT] != 0.0 and slot_i[slot, SI_HEALTH] == HEALTH_OK


@_jit
def _usable(slot_cfg, slot_f, slot_i, slot):
    """Healthy and with a tick mean to hold (NaN until the first tick with a reading has closed)."""
    return _healthy(slot_cfg, slot_i, slot) and slot_f[slot, SF_HELD] == slot_f[slot, SF_HELD]


@_jit
def _set_health(slot_i, seg_f, slot, seg, role, new, t, ev_i, ev_f, n_ev, counters):
    old = slot_i[slot, SI_HEALTH]
    if new != old:
        slot_i[slot, SI_HEALTH] = new
        _emit(ev_i, ev_f, n_ev, counters, EV_HEALTH, seg, role, t, t, new, seg_f[seg, GF_MDLR0 + 2], 0.0,
              float(old), 0.0, 0.0)


@_jit_inline
def p_over_z(p, z0, z1, z2):
    """The gas's p / Z(p) (Pa) with Z(p) = z0 + z1 p + z2 p^2 (the segment's GC_Z_Q0..2,
    `network_config.z_quadratic_fit`), and its derivative d(p/Z)/dp = (z0 - z2 p^2) / Z^2: gas mass is V p / (R T Z),
    and it is d(p/Z)/dp, not 1/Z, that moves the mass with the pressure."""
    z = z0 + (z1 + z2 * p) * p
    return p / z, (z0 - z2 * p * p) / (z * z)


@_jit_inline
def _ring_pos(i, nr):
    """i % nr (Python's, in 0..nr-1) for a position in a ring of nr rows, without an integer division where i is within
    one ring length of it, as ring positions a window or a block reaches back are: a division and its sign fix-up
    per ring row read were ~30 % of the window and step tests' time (perf, the speed suite's steady state)."""
    if i < 0:
        i += nr
        if i < 0:
            return i % nr
    elif i >= nr:
        i -= nr
        if i >= nr:
            return i % nr
    return i
