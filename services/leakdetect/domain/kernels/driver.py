"""The kernels' entry points: `process_kernel` walks a batch grouped by segment (`group_by_segment`) reading by
reading (order, quality, range, rate checks; sensor health; the tick and block clock) and hands each good
reading to its method's module; `advance_kernel` moves the clocks on without readings. A saturated reading
(QUALITY_SATURATED, or beyond the meter's range) is used at its range end where that bound can only understate
the evidence (`_bound_is_evidence`), and counted out of range otherwise.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from services.network.quality import (
    QUALITY_BAD,
    QUALITY_MAX,
    QUALITY_SATURATED,
    QUALITY_UNCERTAIN,
    QUALITY_UNSPECIFIED,
    SATURATION_MARGIN_SPANS,
)

from ..layout import (
    C_ACCEPTED,
    C_BAD_QUALITY,
    C_LATE,
    C_NONFINITE,
    C_OUT_OF_ORDER,
    C_OUT_OF_RANGE,
    C_UNKNOWN_SLOT,
    GI_BLK_INVALID,
    GI_CLOCK,
    GI_T_START,
    GI_TICK,
    HEALTH_OK,
    N_PSLOTS,
    N_ROLES,
    P_TICK_US,
    ROLE_FLOW_IN,
    ROLE_FLOW_OUT,
    ROLE_METHANE_0,
    ROLE_METHANE_END,
    ROLE_PRESSURE_DOWN,
    ROLE_PRESSURE_MID0,
    ROLE_PRESSURE_UP,
    SC_PRESENT,
    SC_RANGE_MAX,
    SC_RANGE_MIN,
    SF_CUR_N,
    SF_CUR_SUM,
    SF_EW_SLOW,
    SF_LAST_GOOD_VALUE,
    SF_LAST_VALUE,
    SF_NXT_N,
    SF_NXT_SUM,
    SF_RAW,
    SI_FLAT_N,
    SI_FLAT_T0,
    SI_GOOD_RUN,
    SI_HEALTH,
    SI_LAST_GOOD_TIME,
    SI_LAST_TIME,
    SI_RAW_TIME,
    SI_READINGS,
    SI_STUCK_N,
)
from .balance import _advance_segment
from .common import _jit, _jit_inline, _set_health
from .health import _health_limits, _rate_plausible, _reading_health
from .methane import _methane
from .pressure import _expire_fronts, _fronts_pending, _npw, _npw_start, _smoothing_weights
from .rupture import _rupture, _rupture_flow, _rupture_front


@_jit_inline
def _pressure(s, role, slot, t, v, prev_v, prev_t, rup_front, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i,
              hist_t, hist_v, counters, ev_i, ev_f, n_ev):
    """A good pressure reading: the NPW front detector, then the rupture detector (both inlined: the most
    frequent path, half the readings at 1 Hz and most at 10 Hz)."""
    # the transmitter's history row: the ends (up, down), then the mid-line meters
    ps = s * N_PSLOTS + (role - ROLE_PRESSURE_UP if role <= ROLE_PRESSURE_DOWN else role - ROLE_PRESSURE_MID0 + 2)
    if prev_t < 0:
        _npw_start(slot, ps, t, v, slot_cfg, slot_f, slot_i, hist_t, hist_v)
        return
    dts = (t - prev_t) * 1e-6
    _smoothing_weights(slot, dts, params, slot_f)
    _npw(s, role, slot, ps, t, v, prev_v, dts, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, hist_t, hist_v,
         counters, ev_i, ev_f, n_ev)
    _rupture(s, role, slot, t, v, prev_t, rup_front, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, counters,
             ev_i, ev_f, n_ev)


@_jit_inline
def _bound_is_evidence(role, at_top):
    """Whether a reading pinned at this end of its meter's range is still evidence for the detectors: when the
    truth beyond it can only make the leak evidence larger. An inflow pinned high or an outflow pinned low (a
    rupture draws from both ends) makes the imbalance a lower bound; methane pinned high is gas at least that
    strong. The other ends would overstate the evidence (false alarms), and a pinned pressure or temperature
    would bias the line pack: those are counted out of range, as before."""
    if role == ROLE_FLOW_IN or ROLE_METHANE_0 <= role < ROLE_METHANE_END:
        return at_top
    if role == ROLE_FLOW_OUT:
        return not at_top
    return False


@_jit
def process_kernel(starts, readings, r_begin, r_end, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring,
                   hist_t, hist_v, counters, ev_i, ev_f, n_ev):
    """Process readings[r_begin:r_end] of a batch grouped by `group_by_segment`: segment s has the readings
    readings[starts[s]:starts[s + 1]], in time order for best results (the API sorts); unknown segments come last.
    """
    n_seg = seg_cfg.shape[0]
    tick_us = np.int64(params[P_TICK_US])
    health_limits = _health_limits(params)
    s = -1
    seg_end = starts[0]
    rup_front = np.nan
    for r in range(r_begin, r_end):
        if r >= seg_end:
            while r >= seg_end:  # on to the group this reading is in (skipping segments without readings)
                s += 1
                seg_end = starts[s + 1]
            if s < n_seg:
                # the segment's constants the per-reading path needs, once per group
                rup_front = _rupture_front(s, params, seg_cfg)
        if s >= n_seg:  # the last group: readings of unknown segments, only counted
            counters[C_UNKNOWN_SLOT] += r_end - r
            break
        rd = readings[r]
        role = np.int64(rd.role)
        if role < 0 or role >= N_ROLES:
            counters[C_UNKNOWN_SLOT] += 1
            continue
        base_slot = s * N_ROLES
        slot = base_slot + role
        if slot_cfg[slot, SC_PRESENT] == 0.0:
            counters[C_UNKNOWN_SLOT] += 1
            continue
        t = np.int64(rd.time_us)
        if t <= slot_i[slot, SI_LAST_TIME]:
            counters[C_OUT_OF_ORDER] += 1
            continue
        v = rd.value
        quality = rd.quality
        # segment clock and ticks
        # the tick of this reading without a 64-bit division in the common cases (open tick or the next)
        k_open = seg_i[s, GI_TICK]
        t_open = k_open * tick_us
        if k_open >= 0 and t_open <= t < t_open + tick_us:
            tick = k_open
        elif k_open >= 0 and t_open + tick_us <= t < t_open + 2 * tick_us:
            tick = k_open + 1
        else:
            tick = t // tick_us
        if k_open < 0:
            seg_i[s, GI_TICK] = tick
            seg_i[s, GI_T_START] = t
            seg_i[s, GI_BLK_INVALID] = 1
        elif tick >= seg_i[s, GI_TICK] + 2:
            _advance_segment(s, tick, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring, counters,
                             ev_i, ev_f, n_ev)
        if t > seg_i[s, GI_CLOCK]:
            seg_i[s, GI_CLOCK] = t
        slot_i[slot, SI_LAST_TIME] = t
        if quality != QUALITY_BAD and math.isfinite(v):
            slot_f[slot, SF_RAW] = v
            slot_i[slot, SI_RAW_TIME] = t
        if quality == QUALITY_BAD or (quality == QUALITY_UNCERTAIN and not ROLE_METHANE_0 <= role < ROLE_METHANE_END):
            # UNCERTAIN is a clipped or out-of-calibration value: wrong for a balance, still an alarm for methane
            counters[C_BAD_QUALITY] += 1
            continue
        if not math.isfinite(v):
            counters[C_NONFINITE] += 1
            continue
        r_lo = slot_cfg[slot, SC_RANGE_MIN]
        r_hi = slot_cfg[slot, SC_RANGE_MAX]
        pinned = quality == QUALITY_SATURATED
        if pinned or v < r_lo or v > r_hi:
            # a saturated meter (flagged, or beyond its range but within SATURATION_MARGIN_SPANS of it): its value
            # is a bound on the truth, kept as evidence where the bound is on the safe side (_bound_is_evidence)
            margin = SATURATION_MARGIN_SPANS * (r_hi - r_lo)
            if (v < r_lo - margin or v > r_hi + margin) or not _bound_is_evidence(role, v > 0.5 * (r_lo + r_hi)):
                counters[C_OUT_OF_RANGE] += 1
                continue
            v = min(max(v, r_lo), r_hi)
            pinned = True
        prev_t = slot_i[slot, SI_LAST_GOOD_TIME]
        plausible, prev_v = _rate_plausible(s, role, slot, t, v, slot_f[slot, SF_LAST_VALUE],
                                            slot_f[slot, SF_LAST_GOOD_VALUE], prev_t, slot_cfg, slot_i, seg_f,
                                            counters, ev_i, ev_f, n_ev)
        slot_f[slot, SF_LAST_VALUE] = v
        if not plausible:
            continue
        slot_f[slot, SF_LAST_GOOD_VALUE] = v
        slot_i[slot, SI_GOOD_RUN] += 1
        slot_i[slot, SI_LAST_GOOD_TIME] = t
        slot_i[slot, SI_READINGS] += 1
        counters[C_ACCEPTED] += 1
        if pinned:
            # a pinned meter repeats its range end: a bound, not a flat-lined or stuck sensor
            slot_i[slot, SI_FLAT_N] = 0
            slot_i[slot, SI_FLAT_T0] = t
            slot_i[slot, SI_STUCK_N] = 0
        new_h = _reading_health(s, role, slot, t, v, prev_v, prev_t, health_limits, seg_cfg, slot_cfg, slot_f,
                                slot_i)
        if new_h != slot_i[slot, SI_HEALTH]:
            _set_health(slot_i, seg_f, slot, s, role, new_h, t, ev_i, ev_f, n_ev, counters)
        # accumulate into the open tick, the next one, or (late) the open one
        k_open = seg_i[s, GI_TICK]
        if tick <= k_open:
            if tick < k_open:
                counters[C_LATE] += 1
            slot_f[slot, SF_CUR_SUM] += v
            slot_f[slot, SF_CUR_N] += 1.0
        else:
            slot_f[slot, SF_NXT_SUM] += v
            slot_f[slot, SF_NXT_N] += 1.0
        if new_h != HEALTH_OK:
            continue
        if role <= ROLE_FLOW_OUT:
            # a held end's flow jump and the operation marks, against the slow reference before this reading (inlined:
            # half the readings; as a call it pushed ~120 words of array descriptors each time)
            _rupture_flow(s, role, slot, t, v, prev_v, prev_t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i,
                          counters, ev_i, ev_f, n_ev)
            # slow flow references: the rupture detector's supply-cut veto, the NPW flow-consistency check
            if prev_t < 0 or slot_f[slot, SF_EW_SLOW] != slot_f[slot, SF_EW_SLOW]:
                slot_f[slot, SF_EW_SLOW] = v
            else:
                slot_f[slot, SF_EW_SLOW] += min(1.0, (t - prev_t) * 1e-6 / 60.0) * (v - slot_f[slot, SF_EW_SLOW])
        elif role in (ROLE_PRESSURE_UP, ROLE_PRESSURE_DOWN) or role >= ROLE_PRESSURE_MID0:
            _pressure(s, role, slot, t, v, prev_v, prev_t, rup_front, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f,
                      seg_i, hist_t, hist_v, counters, ev_i, ev_f, n_ev)
            if _fronts_pending(s, seg_i):
                _expire_fronts(s, t, params, seg_cfg, seg_f, seg_i, counters, ev_i, ev_f, n_ev)
        elif ROLE_METHANE_0 <= role < ROLE_METHANE_END:
            _methane(s, role, slot, t, v, prev_v, prev_t, params, slot_cfg, slot_f, slot_i, counters, ev_i, ev_f,
                     n_ev)


@_jit
def advance_kernel(now_us, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring, counters, ev_i, ev_f,
                   n_ev):
    """Advance every started segment's clock to now_us: closes ticks so that silent tags turn stale."""
    tick_us = np.int64(params[P_TICK_US])
    tick = now_us // tick_us
    for s in range(seg_cfg.shape[0]):
        if seg_i[s, GI_TICK] < 0:
            continue
        if tick >= seg_i[s, GI_TICK] + 2:
            _advance_segment(s, tick, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, ring, counters,
                             ev_i, ev_f, n_ev)
        if _fronts_pending(s, seg_i):
            _expire_fronts(s, now_us, params, seg_cfg, seg_f, seg_i, counters, ev_i, ev_f, n_ev)


PAGE_BYTES = 4096  # the memory page (x86-64, arm64 by default)
# How far ahead in its own group the scatter asks for the line it will write next (records; 8 x 24 bytes is three
# 64-byte lines): a group's next record comes a whole scan period later (~45,000 readings of 10,000 segments),
# when the line has been fetched into L2 instead of missing there then (10,000 segments, 5.2 M readings: the
# grouping's CPU time 19.5-22.7 -> 15.9-18.4 ns per reading, min of 6, alternating; 3, 5 and 16 ahead did no better)
PREFETCH_AHEAD = 8


@intrinsic
def _prefetch_for_write(typingctx, arr, idx):  # type: ignore[no-untyped-def]
    """A hint (llvm.prefetch: for writing, kept in L2, data) that arr[idx] will be written soon: no other effect,
    never a fault."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic("llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(),
                                                                                     [i8p, i32, i32, i32]))
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
        builder.call(fn, [ptr, ir.Constant(i32, 1), ir.Constant(i32, 2), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@_jit
def time_sorted(time_us):
    """Whether time_us never decreases: one pass that stops at the first step back (numpy's
    `np.any(t[1:] < t[:-1])` reads the batch's times twice and writes a temporary as long)."""
    for i in range(1, time_us.shape[0]):  # noqa: SIM110 (a loop: no generator in a kernel)
        if time_us[i] < time_us[i - 1]:
            return False
    return True


@njit(cache=True, error_model="numpy")
def group_by_segment(seg_idx, role_idx, time_us, value, quality, n_seg, starts, out):
    """Stable counting sort of a batch by segment into `out` (records of `detector.READING_DTYPE`): segment s gets
    out[starts[s]:starts[s + 1]], readings of unknown segments come last (starts has n_seg + 2 entries).

    Segments share no state, so processing a batch segment by segment gives the same result as in time order,
    while each segment's state stays in cache for all its readings. One record array rather than one array per
    column: the scatter then keeps one partly written cache line per segment, which fits in L2, instead of one
    per segment and column, which did not (3x slower). The segment is implied by the group. Roles outside
    0..N_ROLES-1 become -1 and qualities outside 0..3 become UNSPECIFIED, which the kernel treats alike, so that no
    value beyond the record's int32 wraps into a valid one.
    """
    n = seg_idx.shape[0]
    starts[:] = 0
    for i in range(n):
        s = seg_idx[i]
        b = s if (s >= 0 and s < n_seg) else n_seg
        starts[b + 1] += 1
    for b in range(1, n_seg + 2):
        starts[b] += starts[b - 1]
    pos = starts[: n_seg + 1].copy()
    # the caller's `out` is usually fresh memory: touched here in order, page by page, before the scatter touches
    # it at 10,000 places at once (measured on 10,000 segments: 39 ns per reading into fresh memory, 19 into touched
    # memory, 3 for this pass)
    for k in range(0, n, max(1, PAGE_BYTES // out.itemsize)):
        out[k].time_us = 0
    last = n - 1
    for i in range(n):
        s = seg_idx[i]
        b = s if (s >= 0 and s < n_seg) else n_seg
        k = pos[b]
        pos[b] = k + 1
        _prefetch_for_write(out, min(k + PREFETCH_AHEAD, last))  # type: ignore[call-arg]
        role = role_idx[i]
        qual = quality[i]
        o = out[k]
        o.time_us = time_us[i]
        o.value = value[i]
        o.role = role if (role >= 0 and role < N_ROLES) else -1
        o.quality = qual if (qual >= QUALITY_UNSPECIFIED and qual <= QUALITY_MAX) else QUALITY_UNSPECIFIED
