"""The kernels' entry points: `process_kernel` walks a batch grouped by segment (`group_by_segment`) reading by
reading (order, quality, range, rate checks; sensor health; the tick and block clock) and hands each good
reading to its method's module; `advance_kernel` moves the clocks on without readings. A saturated reading
(QUALITY_SATURATED, or beyond the meter's range) is used at its range end where that bound can only understate
the evidence (`_bound_is_evidence`), and counted out of range otherwise.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

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
def process_kernel(starts, readings, t0_us, r_begin, r_end, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i,
                   ring, hist_t, hist_v, counters, ev_i, ev_f, n_ev):
    """Process readings[r_begin:r_end] of a batch grouped by `group_by_segment` (its times after t0_us): segment s has
    the readings readings[starts[s]:starts[s + 1]], in time order for best results (`detector.process_batch` sees to
    it); unknown segments come last.
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
        t, role, quality = _unpack_key(rd.key, t0_us)
        if role < 0 or role >= N_ROLES:
            counters[C_UNKNOWN_SLOT] += 1
            continue
        base_slot = s * N_ROLES
        slot = base_slot + role
        if slot_cfg[slot, SC_PRESENT] == 0.0:
            counters[C_UNKNOWN_SLOT] += 1
            continue
        if t <= slot_i[slot, SI_LAST_TIME]:
            counters[C_OUT_OF_ORDER] += 1
            continue
        v = rd.value
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

# One reading as the kernel reads it, grouped by segment (`group_by_segment`; the segment is implied by the group):
# its value and one 64-bit key holding the rest, the time after the batch's earliest (`t0_us`) in the high bits,
# then role + 1 (0 for a role outside 0..N_ROLES-1) and the quality code. 16 bytes and two stores a reading rather
# than 24 bytes and four stores with time, value, role and quality in fields of their own (10,000 segments, the
# speed suite's 5.45 M readings: the grouping 14.5 -> 11.1 ns a reading, a sequential read of the records 2.6 -> 2.0)
GROUPED_DTYPE = np.dtype([("value", np.float64), ("key", np.int64)])
KEY_QUALITY_BITS = 3
KEY_ROLE_BITS = 4
KEY_TIME_SHIFT = KEY_QUALITY_BITS + KEY_ROLE_BITS
# a batch's readings must lie within this many microseconds of its earliest (2^56 us: 2,283 years) for the key to
# hold their times; `detector.process_batch` splits a batch that does not
KEY_SPAN_US = 1 << (63 - KEY_TIME_SHIFT)
assert N_ROLES + 1 < 1 << KEY_ROLE_BITS and QUALITY_MAX < 1 << KEY_QUALITY_BITS


@_jit_inline
def _unpack_key(key, t0_us):
    """(time in us, role or -1, quality code) of a grouped reading's key (`GROUPED_DTYPE`)."""
    role = ((key >> KEY_QUALITY_BITS) & ((1 << KEY_ROLE_BITS) - 1)) - 1
    return t0_us + (key >> KEY_TIME_SHIFT), role, key & ((1 << KEY_QUALITY_BITS) - 1)


@_jit
def time_sorted(time_us):
    """Whether time_us never decreases: one pass that stops at the first step back (numpy's
    `np.any(t[1:] < t[:-1])` reads the batch's times twice and writes a temporary as long)."""
    for i in range(1, time_us.shape[0]):  # noqa: SIM110 (a loop: no generator in a kernel)
        if time_us[i] < time_us[i - 1]:
            return False
    return True


@_jit
def groups_in_time_order(readings, starts, n_seg):
    """Whether the readings `group_by_segment` grouped are in time order within each known segment's group (its
    output `readings` and `starts`): one pass that stops at the first step back."""
    for s in range(n_seg):
        for k in range(starts[s] + 1, starts[s + 1]):
            if readings[k].key >> KEY_TIME_SHIFT < readings[k - 1].key >> KEY_TIME_SHIFT:
                return False
    return True


@njit(cache=True, error_model="numpy")
def group_by_segment(seg_idx, role_idx, time_us, value, quality, n_seg, t0_us, starts, out):
    """Stable counting sort of a batch by segment into `out` (records of `GROUPED_DTYPE`, times after t0_us, which
    every time_us must be at or after by less than KEY_SPAN_US): segment s gets out[starts[s]:starts[s + 1]],
    readings of unknown segments come last (starts has n_seg + 2 entries).

    Segments share no state, so processing a batch segment by segment gives the same result as in time order,
    while each segment's state stays in cache for all its readings. One record array rather than one array per
    column: the scatter then keeps one partly written cache line per segment, which fits in L2, instead of one
    per segment and column, which did not (3x slower). The segment is implied by the group. Roles outside
    0..N_ROLES-1 become -1 and qualities outside 0..QUALITY_MAX become UNSPECIFIED, which the kernel treats alike,
    so that no value beyond the key's bits wraps into a valid one.
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
        out[k].key = 0
    # (no prefetch of each group's next line: with 16-byte records it cost 0.5-2 ns a reading, 3 to 12 records ahead)
    for i in range(n):
        s = seg_idx[i]
        # unsigned indices (b and k are never negative): numba then leaves out the wrap-around of a negative index,
        # which was ~1.3 ns of the scatter's ~12 per reading
        b = np.uint64(s if (s >= 0 and s < n_seg) else n_seg)
        k = pos[b]
        pos[b] = k + 1
        role = role_idx[i]
        qual = quality[i]
        role_code = role + 1 if (role >= 0 and role < N_ROLES) else 0
        qual_code = qual if (qual >= QUALITY_UNSPECIFIED and qual <= QUALITY_MAX) else QUALITY_UNSPECIFIED
        o = out[np.uint64(k)]
        o.value = value[i]
        o.key = ((time_us[i] - t0_us) << KEY_TIME_SHIFT) | (role_code << KEY_QUALITY_BITS) | qual_code
