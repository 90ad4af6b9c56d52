"""Redundant meters (issue 19): a role filled by two or more meters (`Tag.redundancy_group`). `vote_kernel` runs
before the detectors on a batch: it takes the members' readings, cross-checks them, outvotes a failed one and
hands the role one voted reading per reading of its leader (the first healthy member), in SI.

How a member is judged, after the group has learned (its first `LEARN_N` leader readings with every member
fresh) each member's fixed offset from the group mean (`MF_ALIGN`: a ratio for meters whose error is a share of
the reading, else in SI) and the group's offset from the physical model (`RGF_REF_ANCHOR`):

- flat-lined: exactly the same value `FLAT_N` readings running (`layout.HEALTH_FLATLINED`);
- noisy: its reading-to-reading scatter (1 s.d., from first differences) beyond its stated 1 s.d. total error and
  `NOISY_K` times the quietest other's (`HEALTH_OUTVOTED`);
- with two or more healthy partners: drifted, its deviation from the median (itself included, so that the
  healthy ones are not pulled) averaged over `DEV_N` readings beyond `DRIFT_K` times its 1 s.d. stated error, i.e.
  beyond its stated 95 % accuracy (`HEALTH_OUTVOTED`; `HEALTH_STUCK` when it stopped moving while the median
  moved);
- with one partner: when the two disagree beyond `DRIFT_K` s.d. of the worse, the physical model arbitrates: the
  balance (a flow meter against the other end's flow and the line pack's rate), the steady friction model (a
  pressure against the other end's pressure and the flow, p_u^2 - p_d^2 = k q|q|, k the segment's prior) or a
  witness (a temperature against the segment's other temperature transmitter, `REF_WITNESS`), each member's
  offset from the model (SI) averaged over `REF_N` readings (`REF_MAX_S` at most) against the pair's offset while
  it last agreed (`RGF_AGREE`: the model's slow errors, line pack, friction, the ends' temperature difference,
  cancel). The model's own scatter over that averaging is learned while the pair agrees (`RGF_MODEL_VAR`); the one
  it puts
  `ARB_RATIO` times farther off, beyond its 1 s.d. error and `ARB_FAIL_Z` s.d. of the model's scatter while the
  other is within `ARB_OK_Z` of it, in `ARB_PERSIST` readings running, is failed (the scatter trusted after
  `MODEL_MIN_WINDOWS` windows of agreement). From `SUSPECT_K` s.d. apart until then, the one the model decisively
  sides with votes alone; not decisive, a flow pair votes the member that puts less gas into the balance (the
  lower inflow, the higher outflow: neither one's drift is taken for a leak), any other pair the one nearer the
  model (its mean without one). Without a model (a missing meter, a temperature pair without a witness) the pair
  stays undecided.

The voted value: the median of the healthy, fresh members' aligned values (the mean of two, the one of one); a
failed member recovers after `RECOVER_N` readings within its error. Health changes of members are events of
their own (`RV_*` columns), named by tag by the facade (`_pipeline`). Kernel and `reference.redundancy` (its
oracle) follow the same steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from services.network.quality import QUALITY_BAD, QUALITY_UNCERTAIN

from ..events import SensorHealthChanged
from ..layout import (
    GF_TLP1,
    GF_TLP2,
    HEALTH_FLATLINED,
    HEALTH_OK,
    HEALTH_OUTVOTED,
    HEALTH_STUCK,
    N_ROLES,
    ROLE_FLOW_IN,
    ROLE_FLOW_OUT,
    ROLE_PRESSURE_DOWN,
    ROLE_PRESSURE_UP,
    SF_HELD,
)
from .common import _jit

MAXM = 4  # members per group at most

# --- group configuration (float) ---
# RG_WIT_SCAN_S: the witness's scan period (REF_WITNESS)
RG_SEG, RG_ROLE, RG_N, RG_REF, RG_K, RG_XFRAC, RG_WIT_SCAN_S = range(7)
N_RG = 7
# reference model of RG_REF: none, the other end's flow, friction from the other end, mid-line friction, a witness
# (another transmitter of the same quantity on the segment, outside the group: a temperature pair's other end)
REF_NONE, REF_FLOW_OTHER_END, REF_PRESSURE_UP, REF_PRESSURE_DOWN, REF_PRESSURE_MID, REF_WITNESS = range(6)
WITNESS = MAXM  # the member index of a group's witness readings (no member's)
# --- member configuration (float) ---
MC_SIGMA_REL, MC_SIGMA_ABS, MC_SCAN_S, MC_RATIO = range(4)
N_MC = 4
# --- group state (float) ---
# RGF_AGREE: the pair's offset from the model while it last agreed (its arbitration's anchor, SI); while it agrees,
# RGF_MODEL_MEAN and RGF_MODEL_VAR: the slow mean of a member's averaged offset from the model and its mean square
# deviation from it (the model's own scatter over the averaging, SI^2), over RGF_MODEL_N updates
# RGF_WIT_V, RGF_WIT_T: the witness's last reading (SI) and its time (us, -1: none yet)
(RGF_LEARN_N, RGF_REF_SUM, RGF_REF_N, RGF_REF_ANCHOR, RGF_LEARNED, RGF_AGREE, RGF_MODEL_MEAN, RGF_MODEL_VAR,
 RGF_MODEL_N, RGF_WIT_V, RGF_WIT_T) = range(11)
N_RGF = 11
# --- member state (float) ---
(MF_VALUE, MF_TIME, MF_ALIGN, MF_ALIGN_SUM, MF_EW_DEV, MF_NOISE_VAR, MF_EW_REF, MF_STUCK_ANCHOR,
 MF_CONS_ANCHOR) = range(9)
N_MF = 9
# --- member state (int) ---
# MI_ARB_N: consecutive arbitrations of its pair that put it at fault
MI_HEALTH, MI_FLAT_N, MI_STUCK_N, MI_CLEAR_N, MI_N, MI_DEV_N, MI_REF_N, MI_ARB_N = range(8)
N_MI = 8
# --- member events: ints (group, member, time, new health, old health), floats (deviation / s.d., noise ratio) ---
RV_GROUP, RV_MEMBER, RV_TIME, RV_NEW, RV_OLD = range(5)
N_RV = 5
RVF_DEV, RVF_NOISE, RVF_CAUSE = range(3)
N_RVF = 3
# why a member was outvoted (RVF_CAUSE)
CAUSE_DEVIATES, CAUSE_NOISY, CAUSE_MODEL = range(3)

LEARN_N = 600  # leader readings with every member fresh that the offsets are learned over
FRESH_SCANS = 3.0  # a member's last reading is current within this many scan periods
DEV_N = 60.0  # readings the deviation from the partners is averaged over
# ... and the offset from the model: long, because the balance's model error is the line pack's, whose rate over a
# window is the line pack's change across it divided by its length (bounded: it averages away as 1 / window), while
# a tick's rate scatters by tens of percent of the flow on a 50-km line (benchmarks.meter_suites, layouts 108, 126)
REF_N = 1200.0
# ... but over at most this long (a slow-scanned member, a temperature at 10 s: the witness's offset changes over
# hours, and REF_N of its readings would be 3 h)
REF_MAX_S = 1200.0
NOISE_N = 60.0  # ... and the reading-to-reading scatter
FLAT_N = 60  # exactly equal readings in a row: flat-lined
DRIFT_K = 2.0  # s.d. of the stated error (its 95 % accuracy) a member may deviate by
NOISY_K = 3.0  # scatter this many times the quietest partner's (and beyond its stated error): noisy
STUCK_FRAC = 0.05  # changes below this share of the s.d. count as not moving
STUCK_N = 60  # readings not moving while the median moved beyond DRIFT_K s.d.: stuck
ARB_RATIO = 2.0  # the model must put one member this many times farther off than the other ...
ARB_PERSIST = 30  # ... in this many consecutive readings of the pair
# ... and decisively given the model's own scatter (RGF_MODEL_VAR): the one it blames beyond ARB_FAIL_Z s.d. of it,
# the one it sides with within ARB_OK_Z s.d. (or its own stated 1 s.d. error); else the pair stays undecided
ARB_FAIL_Z = 3.0
ARB_OK_Z = 2.0
MODEL_SLOW = 4.0  # the slow mean that scatter is taken about: this many model windows (per member)
# the scatter is trusted after this many model windows of agreement (over one, a red noise has barely moved: a
# long line's balance scattered 3x its estimate then)
MODEL_MIN_WINDOWS = 2.0
SUSPECT_K = 1.0  # a pair this many s.d. apart is suspect: the model's favourite votes alone, the anchor freezes
RECOVER_N = 600  # readings within its error before a failed member votes again


@_jit
def _ref_n(mem_cfg, ms):
    """Readings member slot ms's offset from the model is averaged over: REF_N, at most REF_MAX_S of its scans."""
    scan = mem_cfg[ms, MC_SCAN_S]
    return min(REF_N, REF_MAX_S / scan) if scan > 0.0 else REF_N


@_jit
def _sigma(mem_cfg, ms, v):
    r = mem_cfg[ms, MC_SIGMA_REL] * v
    a = mem_cfg[ms, MC_SIGMA_ABS]
    return math.sqrt(r * r + a * a)


@_jit
def _aligned(mem_cfg, mem_f, ms, v):
    if mem_cfg[ms, MC_RATIO] != 0.0:
        return v / (1.0 + mem_f[ms, MF_ALIGN])
    return v - mem_f[ms, MF_ALIGN]


@_jit
def _fresh(mem_cfg, mem_f, ks, t):
    """Whether member slot ks has a reading and it is current at time t (us)."""
    last = mem_f[ks, MF_TIME]
    return last >= 0.0 and float(t) - last <= FRESH_SCANS * mem_cfg[ks, MC_SCAN_S] * 1e6


@_jit
def _median(buf, n):
    """Median of buf[:n] (n <= MAXM), sorting it in place (insertion sort: a handful of values)."""
    for i in range(1, n):
        x = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > x:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = x
    if n % 2 == 1:
        return buf[n // 2]
    return 0.5 * (buf[n // 2 - 1] + buf[n // 2])


@_jit
def _reference(g, grp_cfg, grp_f, slot_f, seg_f, tick_s, t):
    """The model's value of the group's quantity at time t (us) from the detectors' held tick means or the group's
    witness (nan: none)."""
    kind = int(grp_cfg[g, RG_REF])
    if kind == REF_WITNESS:
        # the segment's other temperature transmitter: the gas along a buried line relaxes to the ground's
        # temperature, so the two ends differ by an amount that changes over hours (learned as the pair's anchor),
        # while a member's drift shows against it within minutes
        last = grp_f[g, RGF_WIT_T]
        if last >= 0.0 and float(t) - last <= FRESH_SCANS * grp_cfg[g, RG_WIT_SCAN_S] * 1e6:
            return grp_f[g, RGF_WIT_V]
        return math.nan
    seg = int(grp_cfg[g, RG_SEG])
    base = seg * N_ROLES
    if kind == REF_FLOW_OTHER_END:
        # the balance: the other end's flow and the line pack's rate over the last tick (a demand ramp unpacks the
        # line: the ends' flows differ by percent meanwhile)
        rate = (seg_f[seg, GF_TLP1] - seg_f[seg, GF_TLP2]) / tick_s
        if rate != rate:
            rate = 0.0
        if int(grp_cfg[g, RG_ROLE]) == ROLE_FLOW_IN:
            return slot_f[base + ROLE_FLOW_OUT, SF_HELD] + rate
        return slot_f[base + ROLE_FLOW_IN, SF_HELD] - rate
    if kind == REF_NONE:
        return math.nan
    q = 0.5 * (slot_f[base + ROLE_FLOW_IN, SF_HELD] + slot_f[base + ROLE_FLOW_OUT, SF_HELD])
    kq = grp_cfg[g, RG_K] * q * abs(q)
    if kind == REF_PRESSURE_UP:
        pd = slot_f[base + ROLE_PRESSURE_DOWN, SF_HELD]
        p2 = pd * pd + kq
    else:
        pu = slot_f[base + ROLE_PRESSURE_UP, SF_HELD]
        p2 = pu * pu - (kq if kind == REF_PRESSURE_DOWN else grp_cfg[g, RG_XFRAC] * kq)
    return math.sqrt(p2) if p2 > 0.0 else math.nan


@_jit
def _arbiter(mem_f, ms, os_, anchor, model_var, sig, sig_o):
    """The model's verdict on a pair (members ms, os_), from each one's averaged offset from it against the pair's
    while it agreed (SI): 0 none (not decisive given the model's scatter `model_var`), 1 ms is off, 2 os_ is off."""
    e_m = abs(mem_f[ms, MF_EW_REF] - anchor)
    e_o = abs(mem_f[os_, MF_EW_REF] - anchor)
    # an offset is the difference of two of the model's averages (now and the anchor's, a window or more apart): twice
    # one average's variance, which is its variance about the slow mean times (1 + 1 / MODEL_SLOW) (an exponential
    # average about a MODEL_SLOW times slower one keeps MODEL_SLOW / (1 + MODEL_SLOW) of a red noise's variance)
    sd = math.sqrt(2.0 * (1.0 + 1.0 / MODEL_SLOW) * model_var)
    if e_m > ARB_RATIO * e_o and e_m > sig and e_m > ARB_FAIL_Z * sd and e_o <= max(ARB_OK_Z * sd, sig_o):
        return 1
    if e_o > ARB_RATIO * e_m and e_o > sig_o and e_o > ARB_FAIL_Z * sd and e_m <= max(ARB_OK_Z * sd, sig):
        return 2
    return 0


@_jit
def _set_member_health(g, m, ms, new, t, dev, noise, mem_i, ev_i, ev_f, n_ev, cause=CAUSE_DEVIATES):
    old = mem_i[ms, MI_HEALTH]
    if new == old:
        return
    mem_i[ms, MI_HEALTH] = new
    mem_i[ms, MI_CLEAR_N] = 0
    k = n_ev[0]
    if k < ev_i.shape[0]:
        ev_i[k, RV_GROUP] = g
        ev_i[k, RV_MEMBER] = m
        ev_i[k, RV_TIME] = t
        ev_i[k, RV_NEW] = new
        ev_i[k, RV_OLD] = old
        ev_f[k, RVF_DEV] = dev
        ev_f[k, RVF_NOISE] = noise
        ev_f[k, RVF_CAUSE] = cause
        n_ev[0] = k + 1


@_jit
def vote_kernel(grp, mem, time_us, value, quality, grp_cfg, mem_cfg, grp_f, mem_f, mem_i, slot_f, seg_f, tick_s,
                out_seg, out_role, out_t, out_v, ev_i, ev_f, n_ev, scratch):
    """Readings of redundant members (group index, member index, time us, SI value, quality), in time order, in;
    voted readings of their roles (segment, role, time, value) out. Returns how many were written. `scratch`: MAXM
    floats of the caller's (the kernel allocates nothing: compiled without numba's runtime, as every kernel)."""
    n_out = 0
    buf = scratch
    for r in range(grp.shape[0]):
        g = grp[r]
        m = mem[r]
        if g < 0 or g >= grp_cfg.shape[0]:
            continue
        v = value[r]
        t = time_us[r]
        if quality[r] == QUALITY_BAD or quality[r] == QUALITY_UNCERTAIN or not math.isfinite(v):
            continue
        if m == WITNESS:
            # the group's witness votes not: its last reading is the pair's model (REF_WITNESS)
            if float(t) > grp_f[g, RGF_WIT_T]:
                grp_f[g, RGF_WIT_V] = v
                grp_f[g, RGF_WIT_T] = float(t)
            continue
        if m < 0 or m >= int(grp_cfg[g, RG_N]):
            continue
        ms = g * MAXM + m
        prev_t = mem_f[ms, MF_TIME]
        if float(t) <= prev_t:
            continue  # a retry's duplicate or out of order
        n_m = int(grp_cfg[g, RG_N])
        prev_v = mem_f[ms, MF_VALUE]
        sig = _sigma(mem_cfg, ms, v)
        fresh_us = FRESH_SCANS * mem_cfg[ms, MC_SCAN_S] * 1e6
        # reading-to-reading scatter and exact repeats
        if prev_t >= 0.0 and float(t) - prev_t <= fresh_us:
            d = v - prev_v
            if mem_i[ms, MI_N] < 2:
                mem_f[ms, MF_NOISE_VAR] = 0.5 * d * d
            else:
                mem_f[ms, MF_NOISE_VAR] += (0.5 * d * d - mem_f[ms, MF_NOISE_VAR]) / NOISE_N
        if prev_t >= 0.0 and v == prev_v:
            mem_i[ms, MI_FLAT_N] += 1
        else:
            mem_i[ms, MI_FLAT_N] = 0
        mem_f[ms, MF_VALUE] = v
        mem_f[ms, MF_TIME] = float(t)
        mem_i[ms, MI_N] += 1
        a_m = _aligned(mem_cfg, mem_f, ms, v)
        m_ok = mem_i[ms, MI_HEALTH] == HEALTH_OK
        # the healthy, fresh partners
        n_oth = 0
        other = -1
        min_noise = math.inf
        for k in range(n_m):
            ks = g * MAXM + k
            if k == m or mem_i[ks, MI_HEALTH] != HEALTH_OK or not _fresh(mem_cfg, mem_f, ks, t):
                continue
            buf[n_oth] = _aligned(mem_cfg, mem_f, ks, mem_f[ks, MF_VALUE])
            n_oth += 1
            other = k
            min_noise = min(min_noise, mem_f[ks, MF_NOISE_VAR])
        cons = math.nan
        if n_oth == 1:
            cons = buf[0]
        elif n_oth >= 2:
            if m_ok:
                buf[n_oth] = a_m
                cons = _median(buf, n_oth + 1)
            else:
                cons = _median(buf, n_oth)
        if cons == cons:
            if mem_i[ms, MI_DEV_N] == 0:
                mem_f[ms, MF_EW_DEV] = a_m - cons
            else:
                mem_f[ms, MF_EW_DEV] += (a_m - cons - mem_f[ms, MF_EW_DEV]) / DEV_N
            mem_i[ms, MI_DEV_N] += 1
        ref = _reference(g, grp_cfg, grp_f, slot_f, seg_f, tick_s, t)
        if ref == ref:
            # in SI for every kind: a ratio to the model would put its scatter into the denominator
            off = a_m - ref
            # the running mean until REF_N readings, then exponentially weighted (a first reading's model error
            # would otherwise linger for REF_N readings)
            mem_i[ms, MI_REF_N] += 1
            mem_f[ms, MF_EW_REF] += (off - mem_f[ms, MF_EW_REF]) / min(float(mem_i[ms, MI_REF_N]), _ref_n(mem_cfg, ms))
        if grp_f[g, RGF_LEARNED] == 0.0:
            # learning the members' offsets from the group mean, on the primary's readings with every member fresh
            all_fresh = m == 0
            mean = 0.0
            for k in range(n_m):
                ks = g * MAXM + k
                if not _fresh(mem_cfg, mem_f, ks, t):
                    all_fresh = False
                mean += mem_f[ks, MF_VALUE]
            mean /= n_m
            if all_fresh and mean != 0.0:
                for k in range(n_m):
                    ks = g * MAXM + k
                    vk = mem_f[ks, MF_VALUE]
                    mem_f[ks, MF_ALIGN_SUM] += vk / mean - 1.0 if mem_cfg[ks, MC_RATIO] != 0.0 else vk - mean
                grp_f[g, RGF_LEARN_N] += 1.0
                if ref == ref:
                    grp_f[g, RGF_REF_SUM] += mean - ref
                    grp_f[g, RGF_REF_N] += 1.0
                if grp_f[g, RGF_LEARN_N] >= LEARN_N:
                    for k in range(n_m):
                        ks = g * MAXM + k
                        mem_f[ks, MF_ALIGN] = mem_f[ks, MF_ALIGN_SUM] / grp_f[g, RGF_LEARN_N]
                        mem_i[ks, MI_DEV_N] = 0
                        mem_i[ks, MI_REF_N] = 0
                    grp_f[g, RGF_REF_ANCHOR] = (grp_f[g, RGF_REF_SUM] / grp_f[g, RGF_REF_N]
                                                if grp_f[g, RGF_REF_N] >= 0.5 * LEARN_N else math.nan)
                    grp_f[g, RGF_AGREE] = grp_f[g, RGF_REF_ANCHOR]
                    grp_f[g, RGF_LEARNED] = 1.0
        elif m_ok:
            noise_ratio = math.sqrt(mem_f[ms, MF_NOISE_VAR]) / sig if sig > 0.0 else 0.0
            dev_ratio = mem_f[ms, MF_EW_DEV] / sig if sig > 0.0 else 0.0
            # not moving while the median moved (three or more: the median is the truth's stand-in)
            if abs(v - mem_f[ms, MF_STUCK_ANCHOR]) <= STUCK_FRAC * sig and cons == cons:
                mem_i[ms, MI_STUCK_N] += 1
            else:
                mem_i[ms, MI_STUCK_N] = 0
                mem_f[ms, MF_STUCK_ANCHOR] = v
                mem_f[ms, MF_CONS_ANCHOR] = cons
            if mem_i[ms, MI_FLAT_N] >= FLAT_N:
                _set_member_health(g, m, ms, HEALTH_FLATLINED, t, dev_ratio, noise_ratio, mem_i, ev_i, ev_f, n_ev)
            elif (n_oth >= 1 and mem_i[ms, MI_N] > NOISE_N and noise_ratio > 1.0
                  and mem_f[ms, MF_NOISE_VAR] > NOISY_K * NOISY_K * min_noise):
                _set_member_health(g, m, ms, HEALTH_OUTVOTED, t, dev_ratio, noise_ratio, mem_i, ev_i, ev_f, n_ev,
                                   CAUSE_NOISY)
            elif (n_oth >= 2 and mem_i[ms, MI_STUCK_N] >= STUCK_N
                  and abs(cons - mem_f[ms, MF_CONS_ANCHOR]) > DRIFT_K * sig):
                _set_member_health(g, m, ms, HEALTH_STUCK, t, dev_ratio, noise_ratio, mem_i, ev_i, ev_f, n_ev)
            elif n_oth >= 2 and mem_i[ms, MI_DEV_N] >= DEV_N and abs(dev_ratio) > DRIFT_K:
                _set_member_health(g, m, ms, HEALTH_OUTVOTED, t, dev_ratio, noise_ratio, mem_i, ev_i, ev_f, n_ev)
            elif n_oth == 1 and mem_i[ms, MI_DEV_N] >= DEV_N:
                os_ = g * MAXM + other
                sig_o = _sigma(mem_cfg, os_, mem_f[os_, MF_VALUE])
                lim = max(sig, sig_o)
                anchor = grp_f[g, RGF_AGREE]
                ref_n = _ref_n(mem_cfg, ms)
                both_ref = mem_i[ms, MI_REF_N] >= ref_n and mem_i[os_, MI_REF_N] >= _ref_n(mem_cfg, os_)
                if abs(mem_f[ms, MF_EW_DEV]) < SUSPECT_K * lim:
                    # agreeing: the anchor follows the model's slow errors (line pack, friction) up to now, and the
                    # model's scatter about it is learned
                    if both_ref and anchor == anchor:
                        e_ref = mem_f[ms, MF_EW_REF]
                        grp_f[g, RGF_MODEL_N] += 1.0
                        # (each member's reading updates it: a pair's two make a window of 2 ref_n updates)
                        gain = 1.0 / min(grp_f[g, RGF_MODEL_N], 2.0 * MODEL_SLOW * ref_n)
                        d_ref = e_ref - grp_f[g, RGF_MODEL_MEAN]
                        grp_f[g, RGF_MODEL_MEAN] += d_ref * gain
                        grp_f[g, RGF_MODEL_VAR] += (d_ref * d_ref - grp_f[g, RGF_MODEL_VAR]) * gain
                        # the anchor: the pair's offset from the model up to now (its members' averages, each long
                        # enough that a beginning drift has barely entered it when the pair turns suspect)
                        grp_f[g, RGF_AGREE] += (e_ref - anchor) / DEV_N
                    mem_i[ms, MI_ARB_N] = 0
                    mem_i[os_, MI_ARB_N] = 0
                elif (abs(mem_f[ms, MF_EW_DEV]) > DRIFT_K * lim and anchor == anchor and both_ref
                      and grp_f[g, RGF_MODEL_N] >= 2.0 * MODEL_MIN_WINDOWS * ref_n):
                    # the model arbitrates: each one's offset from it against the pair's while it agreed (SI)
                    verdict = _arbiter(mem_f, ms, os_, anchor, grp_f[g, RGF_MODEL_VAR], sig, sig_o)
                    if verdict == 1:
                        mem_i[ms, MI_ARB_N] += 1
                        mem_i[os_, MI_ARB_N] = 0
                    elif verdict == 2:
                        mem_i[os_, MI_ARB_N] += 1
                        mem_i[ms, MI_ARB_N] = 0
                    else:
                        mem_i[ms, MI_ARB_N] = 0
                        mem_i[os_, MI_ARB_N] = 0
                    stuck_m = mem_f[ms, MF_NOISE_VAR] < STUCK_FRAC * STUCK_FRAC * mem_f[os_, MF_NOISE_VAR]
                    stuck_o = mem_f[os_, MF_NOISE_VAR] < STUCK_FRAC * STUCK_FRAC * mem_f[ms, MF_NOISE_VAR]
                    if mem_i[ms, MI_ARB_N] >= ARB_PERSIST:
                        _set_member_health(g, m, ms, HEALTH_STUCK if stuck_m else HEALTH_OUTVOTED, t, dev_ratio,
                                           noise_ratio, mem_i, ev_i, ev_f, n_ev, CAUSE_MODEL)
                    elif mem_i[os_, MI_ARB_N] >= ARB_PERSIST:
                        o_noise = math.sqrt(mem_f[os_, MF_NOISE_VAR]) / sig_o if sig_o > 0.0 else 0.0
                        _set_member_health(g, other, os_, HEALTH_STUCK if stuck_o else HEALTH_OUTVOTED, t,
                                           -mem_f[ms, MF_EW_DEV] / sig_o, o_noise, mem_i, ev_i, ev_f, n_ev,
                                           CAUSE_MODEL)
        else:
            # a failed member votes again after RECOVER_N readings within its error
            noise_ratio = math.sqrt(mem_f[ms, MF_NOISE_VAR]) / sig if sig > 0.0 else 0.0
            dev_ratio = mem_f[ms, MF_EW_DEV] / sig if sig > 0.0 else 0.0
            if (cons == cons and mem_i[ms, MI_FLAT_N] == 0 and abs(dev_ratio) < 1.0 and noise_ratio <= 1.0
                    and mem_f[ms, MF_NOISE_VAR] <= NOISY_K * NOISY_K * min_noise):
                mem_i[ms, MI_CLEAR_N] += 1
                if mem_i[ms, MI_CLEAR_N] >= RECOVER_N:
                    _set_member_health(g, m, ms, HEALTH_OK, t, dev_ratio, noise_ratio, mem_i, ev_i, ev_f, n_ev)
            else:
                mem_i[ms, MI_CLEAR_N] = 0
        # the vote, on the leader's readings: the first healthy, fresh member
        if mem_i[ms, MI_HEALTH] != HEALTH_OK:
            continue
        leader = True
        for k in range(m):
            ks = g * MAXM + k
            if mem_i[ks, MI_HEALTH] == HEALTH_OK and _fresh(mem_cfg, mem_f, ks, t):
                leader = False
                break
        if not leader:
            continue
        n_ok = 0
        for k in range(n_m):
            ks = g * MAXM + k
            if k == m:
                buf[n_ok] = a_m
                n_ok += 1
            elif mem_i[ks, MI_HEALTH] == HEALTH_OK and _fresh(mem_cfg, mem_f, ks, t):
                buf[n_ok] = _aligned(mem_cfg, mem_f, ks, mem_f[ks, MF_VALUE])
                n_ok += 1
        value_out = _median(buf, n_ok)
        if n_ok == 2 and grp_f[g, RGF_LEARNED] != 0.0:
            # a suspect pair (apart beyond SUSPECT_K s.d., not decided yet): the one the model decisively sides with
            # votes alone, so that the drifting one's half does not reach the balance meanwhile; not decisive, both
            k2 = -1
            for k in range(n_m):
                if k != m and mem_i[g * MAXM + k, MI_HEALTH] == HEALTH_OK and _fresh(mem_cfg, mem_f, g * MAXM + k, t):
                    k2 = k
            ks2 = g * MAXM + k2
            sig2 = _sigma(mem_cfg, ks2, mem_f[ks2, MF_VALUE])
            anchor = grp_f[g, RGF_AGREE]
            if abs(mem_f[ms, MF_EW_DEV]) >= SUSPECT_K * max(sig, sig2):
                verdict = 0
                ref_n = _ref_n(mem_cfg, ms)
                ready = (anchor == anchor and ref == ref and mem_i[ms, MI_REF_N] >= ref_n
                         and mem_i[ks2, MI_REF_N] >= _ref_n(mem_cfg, ks2))
                if ready and grp_f[g, RGF_MODEL_N] >= 2.0 * MODEL_MIN_WINDOWS * ref_n:
                    verdict = _arbiter(mem_f, ms, ks2, anchor, grp_f[g, RGF_MODEL_VAR], sig, sig2)
                a_o = _aligned(mem_cfg, mem_f, ks2, mem_f[ks2, MF_VALUE])
                role = int(grp_cfg[g, RG_ROLE])
                if verdict == 1:
                    value_out = a_o
                elif verdict == 2:
                    value_out = a_m
                elif role == ROLE_FLOW_IN:
                    # not decided: the one that puts less gas into the balance, so that neither one's drift is
                    # taken for a leak while the model gathers evidence (a leak meanwhile must exceed the gap)
                    value_out = min(a_m, a_o)
                elif role == ROLE_FLOW_OUT:
                    value_out = max(a_m, a_o)
                elif ready:
                    # a pressure or temperature: the one nearer the model (the role's value moves to the healthy
                    # one's early; a step back at the decision would move the line pack)
                    nearer_m = abs(mem_f[ms, MF_EW_REF] - anchor) <= abs(mem_f[ks2, MF_EW_REF] - anchor)
                    value_out = a_m if nearer_m else a_o
        out_seg[n_out] = int(grp_cfg[g, RG_SEG])
        out_role[n_out] = int(grp_cfg[g, RG_ROLE])
        out_t[n_out] = t
        out_v[n_out] = value_out
        n_out += 1
    return n_out


_CAUSE = {HEALTH_FLATLINED: "exactly the same value for too long, while its redundant partners move",
          HEALTH_STUCK: "stopped following its redundant partners (and the model)",
          HEALTH_OK: "agrees with its redundant partners again"}


def member_events(ev_i: np.ndarray, ev_f: np.ndarray, groups: Sequence[Any], mdlr_kg_per_s: np.ndarray
                  ) -> list[SensorHealthChanged]:
    """The vote's member events as `SensorHealthChanged` naming the member's tag and why; `groups` are the
    `network_config.RedundantGroup`s the kernel ran with, `mdlr_kg_per_s` each segment's (4-min window)."""
    out = []
    for row, (dev, noise, why) in zip(ev_i, ev_f, strict=True):
        grp = groups[int(row[RV_GROUP])]
        tag = grp.tag_ids[int(row[RV_MEMBER])]
        new = int(row[RV_NEW])
        if new == HEALTH_OUTVOTED and int(why) == CAUSE_NOISY:
            cause = f"outvoted: scatter {noise:.1f} x its stated 1 s.d. error, beyond its redundant partners'"
        elif new == HEALTH_OUTVOTED:
            cause = f"outvoted: reads {dev:+.1f} s.d. of its stated error off its redundant partners"
        else:
            cause = _CAUSE.get(new, "")
        if int(why) == CAUSE_MODEL and new != HEALTH_OK:
            model = {REF_FLOW_OTHER_END: "balance", REF_WITNESS: "segment's other temperature transmitter"}.get(
                grp.reference, "friction model")
            cause += f" (the pair disagreed; the {model} sided with its partner)"
        out.append(SensorHealthChanged(grp.segment, grp.role, int(row[RV_TIME]), new, int(row[RV_OLD]),
                                       float(mdlr_kg_per_s[grp.segment]), tag_id=tag, cause=cause))
    return out


def new_state(n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grp_f, mem_f, mem_i) of a fresh vote: every member healthy (it proves otherwise), nothing seen."""
    mem_f = np.zeros((n_groups * MAXM, N_MF))
    mem_f[:, MF_TIME] = -1.0
    mem_i = np.zeros((n_groups * MAXM, N_MI), np.int64)
    mem_i[:, MI_HEALTH] = HEALTH_OK
    grp_f = np.zeros((n_groups, N_RGF))
    grp_f[:, RGF_AGREE] = np.nan
    grp_f[:, RGF_WIT_T] = -1.0
    return grp_f, mem_f, mem_i
