"""Rupture (e): a break of rupture size (>= `rupture_min_flow_frac` of nominal flow), decided within seconds of its
first wave reaching an end; never waits for a balance window. Two kinds of evidence, one per kind of end:

- `_rupture` (a pressure reading): the pressure far below its 10-s reference and held, by 1.5 % of it or by the
  Joukowsky front of the smallest rupture if that is less (never by less than 4 s.d. of one reading), with the flow
  at that end moving towards the break: more in at the upstream end; at the downstream end less out, or the same
  (an offtake that draws a set flow); and by as much below where the line's falling trend has brought it
  (`_trend_trail`: a second 10-s stage of the reference measures the trail, the least of both ends' beyond its
  noise; a supply ramp lowers the outlet with the offtake's flow unchanged too, but moves both ends). Where the
  smallest rupture's front is under 4 stated s.d. of a reading, the 1-s average also counts (`_fast_threshold`:
  against the measured noise and the shares of it both averages carry since their restarts, `_noise_shares`;
  issue 19's layout 16 mid-line, decided 54.3 s after the wave, now 1.8 s). An end whose
  pressure is held (a regulator, a supply) sees no collapse ...
- `_rupture_flow` (a flow reading): ... but a flow jump: the break's wave, reflected at the held pressure, draws
  about the break's outflow through that end's meter (less with distance, friction spreading the front). An
  inflow jump of `rupture_flow_jump_frac` of the smallest rupture (at least 4 s.d.), held 3 s over two readings,
  with the upstream pressure not rising over its 1-min average by half the Joukowsky rise of the jump (a raised
  set-point packs the line through the same meter) is a rupture. The jump is measured from the flow's level
  before the rise began (its 1-min average then): a far break's front arrives spread over tens of seconds and the
  1-min average would follow it. It must pass the threshold within `RUPTURE_FRONT_S` of the flow leaving its
  reference (a demand wave from the far end or the line packing rises over minutes); a gradual first crossing
  with the inlet pressure already risen is a set-point ramp. Without the spread-front reading, when decided the
  inflow must have stopped climbing (its last scan under half the scan that passed the threshold: a valve's ramp
  adds as much every scan).
  A saturated meter's reading is its range end, a lower bound of the jump. On issue 19's random layouts
  (`--suites rupture`, diagnostic replay) the spread fronts took the regulated ends from 9 to 11 of 12 decided (8
  within 10 s of the first wave).
- `_outflow_dip` (a flow reading at the downstream end): a break's front passes the outlet as a sharp dip of the
  outflow with the pressure falling with it (an offtake's own dip raises the pressure); it decides far breaks on
  long lines whose spread front never stands 4 s.d. below the 10-s pressure reference (issue 19's layouts 11, 16:
  undecided and 28.5 s after the wave, now 6.9 and 4.6 s).

The spread-front reading of a gradual inflow rise and `_outflow_dip` can be turned off (`rupture_spread_front`,
`rupture_outflow_dip`, on by default). Without the first a held inlet's jump must be sharp where it passes the
threshold and then hold. Set-point ramps are what they must tell from a break (issue 19: 28 rupture false alarms on
the demo city's leak-free days before these checks, 0 after): a set-point rise packs the line through the held inlet
as gradually as a far break's front, so a gradual front (or one still climbing when first decided) is a rupture only
once another transmitter has seen the break's wave fall beyond its trend (`_far_side_saw_break`) and the inlet has
neither moved nor marked an operation (`_held_end_moved`: a lowered set-point's inflow climbing back as the ramp
ends); it waits for that up to the line's travel time. At the end of a set-point ramp-down the outflow dips as the
pipe beyond the meter unpacks, with the outlet pressure still falling: the dip's fall counts beyond the line's trend
before it, and not while the line settles from an inflow move (`_inlet_settling`). Every flow jump's verdict
also wants the inlet pressure's 1-s average not risen beyond 3 s.d. of its measured noise (a valve reopened below
the supply raises it far less than the Joukowsky rise), and a transmitter back from a silence of more than
`RUPTURE_GAP_S` restarts its collapse reference (an operation while it was silent is no front).

What a break cannot be: the wave of an operation at the other end. An end marks an operation (`GF_RUP_OP_*`) when
its flow moves the way no break inside moves it (less in upstream, more out downstream), or its pressure collapsed
with such flows; what the other end sees within the wave's travel time over the segment (with the pairing tolerance
and the confirmation) is that operation's wave: a demand step at the outlet reaches a regulated inlet as a flow
jump, a supply cut or a lowered set-point reaches the outlet as a collapse with the offtake's flow unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from ..layout import (
    EV_RUPTURE,
    GC_AREA_M2,
    GC_LENGTH_M,
    GC_NOMINAL_FLOW,
    GC_WAVE_SPEED,
    GF_RUP_IN_MOVED,
    GF_RUP_OP_DN,
    GF_RUP_OP_UP,
    GI_RUPTURE_UNTIL,
    HEALTH_OK,
    N_ROLES,
    P_NPW_CONFIRM_S,
    P_NPW_MIN_DROP,
    P_NPW_PAIR_TOL,
    P_RUP_CONFIRM,
    P_RUP_FLOW_JUMP,
    P_RUP_FRAC,
    P_RUP_MIN_FLOW,
    P_RUP_OUTFLOW_DIP,
    P_RUP_REFRACT_S,
    P_RUP_SPREAD,
    P_RUP_TAU,
    P_SETTLE_MAX_S,
    P_SETTLE_WAVE,
    ROLE_FLOW_IN,
    ROLE_FLOW_OUT,
    ROLE_PRESSURE_DOWN,
    ROLE_PRESSURE_MID0,
    ROLE_PRESSURE_UP,
    RUP_FLOW,
    RUP_PRESSURE,
    SC_PRESENT,
    SF_A_FAST,
    SF_A_REF,
    SF_EW_FAST,
    SF_EW_REF,
    SF_EW_SLOW,
    SF_FAST_VAR,
    SF_NOISE_VAR,
    SF_P_MIN,
    SF_RAW,
    SF_REF_COV,
    SF_REF_VAR,
    SF_RUP_REF2,
    SF_RUP_T0,
    SI_HEALTH,
    SI_NPW_PHASE,
    SI_NPW_T_DET,
    SI_RAW_TIME,
    SI_RUP_N,
)
from .common import _emit, _jit, _jit_inline, _sigma2

RUPTURE_FLOW_WAIT_S = 5.0  # a 1 Hz flow meter has spoken by then
RUPTURE_MAX_WAIT_S = 60.0
RUPTURE_GAP_S = 30.0  # a pressure reading this long after the one before restarts the collapse reference
P_MIN_TAU_S = 60.0  # the pressure's 1-min average: the time scale of the flows' slow reference
# A break's front at a held end, even spread by friction over a long line, takes the inflow from near its reference
# (half the arming level) past the threshold within this; an operation's wave from the other end, spread over
# minutes, or a slow packing, does not (a demand step 28 km away: 1.5 kg/s in ~60 s at the inlet)
RUPTURE_FRONT_S = 20.0
# The downstream end's outflow dip that arms the pressure-fall check (`_outflow_dip`), a fraction of the smallest
# rupture: the front of a far break is spread and weakened by friction (4.8 % of nominal flow 26 km from a 124 %
# break on a DN 500 line); the pressure's fall, in the direction only a wave from inside gives, is what decides
OUTFLOW_DIP_FRAC = 0.1
# ... and how long after the dip the outlet pressure may take to fall by a collapse: a far break's front, spread
# over seconds, has fallen by then (the goal's own 10 s); a smaller leak's front and its slow draining of the line
# would pass the collapse's size only later
OUTFLOW_DIP_WINDOW_S = 10.0
# the 1-s average's collapse test, in s.d. of its noise: it gets a nearly independent chance every second (86,400
# a day at each transmitter), so 4 s.d. (one-sided 3e-5) would let white noise alone pass 2-3 times a day wherever
# the smallest rupture's front does not bind (the demo city's outlets did, 1 % under it); 5.5 s.d. (2e-8) is once
# in about 1,500 transmitter-days
FAST_COLLAPSE_SD = 5.5
OPERATION_TOL_FRAC = 0.05  # a flow moved by this fraction of nominal flow (or 4 s.d.) is an operation's sign


@_jit
def _travel_us(s, params, seg_cfg):
    """How long after an operation at one end the other end may see its wave, us."""
    return ((1.0 + params[P_NPW_PAIR_TOL]) * seg_cfg[s, GC_LENGTH_M] / seg_cfg[s, GC_WAVE_SPEED]
            + params[P_NPW_CONFIRM_S] + 2.0) * 1e6


@_jit
def _inlet_settling(s, t, params, seg_cfg, seg_f):
    """Whether the inflow stood off its 1-min average by an operation's size (either way) within the line's acoustic
    settling time (`settle_wave_factor` crossings L / c, at least the wave's travel, at most `settle_max_s`): the
    line is still settling from an operation upstream (the demo city: the outflow falling back as the line
    repacked after a valve reopened upstream read as a break's dip, with the outlet pressure falling 1.2 kPa). A
    far break's front reaches the outlet before the inlet, whose flow is steady until then."""
    mark = seg_f[s, GF_RUP_IN_MOVED]
    if mark <= 0.0:
        return False
    c = seg_cfg[s, GC_WAVE_SPEED]
    settle_s = params[P_SETTLE_WAVE] * seg_cfg[s, GC_LENGTH_M] / c if c > 0.0 else 0.0
    settle_s = min(max(settle_s, _travel_us(s, params, seg_cfg) * 1e-6), params[P_SETTLE_MAX_S])
    return (t - mark) * 1e-6 <= settle_s


@_jit
def _from_other_end(s, upstream, t, params, seg_cfg, seg_f):
    """Whether the other end marked an operation recently enough for its wave to be what this end sees now."""
    mark = seg_f[s, GF_RUP_OP_DN] if upstream else seg_f[s, GF_RUP_OP_UP]
    return mark > 0.0 and t - mark <= _travel_us(s, params, seg_cfg)


@_jit_inline
def _rupture_front(s, params, seg_cfg):
    """The Joukowsky front (Pa) of the segment's smallest rupture, half its outflow drawn from each side; NaN where
    the pipe's area is not known. Constant per segment: `process_kernel` computes it once per segment's group of
    readings, not per pressure reading (the division was on the per-reading path)."""
    area = seg_cfg[s, GC_AREA_M2]
    if area > 0.0:
        return seg_cfg[s, GC_WAVE_SPEED] * params[P_RUP_MIN_FLOW] * seg_cfg[s, GC_NOMINAL_FLOW] / (2.0 * area)
    return np.nan


@_jit_inline
def _pressure_threshold(s, slot, ref, drop, front, params, slot_cfg):
    """The drop below the reference that makes a collapse: 1.5 % of it, or the Joukowsky front of the smallest
    rupture (`_rupture_front`) if less, never less than 4 s.d. of one reading. Exact only where `drop` passes it:
    a drop within the front is within the threshold whatever the s.d., and then the front is returned without the
    square root (the one on the per-reading path; a quiet line's drops are far within the front)."""
    thr = params[P_RUP_FRAC] * ref
    if 0.0 < front < thr:
        if not drop > front:
            return front
        thr = max(front, min(thr, 4.0 * math.sqrt(_sigma2(slot_cfg, slot, ref))))
    return thr


@_jit
def _fast_threshold(slot, ref, drop_fast, front, params, slot_f):
    """The same collapse for the 1-s average (SF_EW_FAST): 1.5 % of the reference, or the smallest rupture's Joukowsky
    front if less, never less than `FAST_COLLAPSE_SD` s.d. of the difference of the 1-s average and the 10-s reference
    from the reading noise the NPW detector measures: var(fast) + var(ref) - 2 cov(fast, ref), kept as shares of it
    (SF_FAST_VAR, SF_REF_VAR, SF_REF_COV; `_noise_shares`). In the steady state the shares of two exponential averages
    of weights a and b are a / (2 - a), b / (2 - b) and a b / (a + b - a b); right after a restart of the reference they
    are not (issue 19: restarted from one reading, the reference carries that reading's whole noise, twice the steady
    difference's variance at 1-s scans: the demo city's outlets at 2-3 s after start-up). Where the front is under the
    stated s.d. of a reading (a line of small flow) the per-reading test waits on noise: a collapse hovering at its
    threshold restarts the confirmation at every reading back above it (issue 19's layout 16, a 5-8 kPa drop at a
    mid-line meter against 6.1 kPa, decided 54 s after the wave), while its 1-s average stands beyond. Exact only where
    `drop_fast` passes it (the square root left out otherwise, as in `_pressure_threshold`)."""
    thr = params[P_RUP_FRAC] * ref
    if 0.0 < front < thr:
        if not drop_fast > front:
            return front
        share = slot_f[slot, SF_FAST_VAR] + slot_f[slot, SF_REF_VAR] - 2.0 * slot_f[slot, SF_REF_COV]
        var = slot_f[slot, SF_NOISE_VAR] * share
        thr = max(front, min(thr, FAST_COLLAPSE_SD * math.sqrt(max(var, 0.0))))
    return thr


@_jit_inline
def _noise_shares(slot, slot_f):
    """The 1-s average has just taken this reading (weight a, `_npw`), the reference not yet: the average's share
    of the reading noise becomes (1 - a)^2 of it plus a^2, and its covariance with the reference keeps (1 - a) of
    itself (the reading is independent of the reference)."""
    a = slot_f[slot, SF_A_FAST]
    slot_f[slot, SF_FAST_VAR] = (1.0 - a) * (1.0 - a) * slot_f[slot, SF_FAST_VAR] + a * a
    slot_f[slot, SF_REF_COV] *= 1.0 - a


@_jit
def _held_tolerance(s, p, p_ref, jump, seg_cfg, slot_cfg):
    """How far a held end's pressure may rise over its 1-min average with an inflow jump: half the Joukowsky rise
    c dq / A that the same jump would bring if the end itself had pushed it (a set-point raised), within 1 to 3 s.d.
    of one reading."""
    sd = math.sqrt(_sigma2(slot_cfg, p, p_ref))
    area = seg_cfg[s, GC_AREA_M2]
    joukowsky = 0.5 * seg_cfg[s, GC_WAVE_SPEED] * jump / area if area > 0.0 else 3.0 * sd
    return max(sd, min(3.0 * sd, joukowsky))


@_jit
def _rupture_flow_verdict(s, role, t, t0, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f):
    """1: the flow at this end moves towards a break inside (more in at the upstream end, less or the same out at
    the downstream end); -1: it moves the other way (a supply cut, a valve, a demand surge), or the other end's
    operation explains the wave; 0: no flow reading since the drop began, wait. A missing or silent meter leaves
    the pressure to decide."""
    upstream = role == ROLE_PRESSURE_UP
    if role >= ROLE_PRESSURE_MID0:
        # a mid-line meter has no flow of its own: a collapse there is a break unless an operation at either end
        # explains the wave (the end's own flow meter marks it before the wave reaches the line's inside)
        if _from_other_end(s, True, t, params, seg_cfg, seg_f) or _from_other_end(s, False, t, params, seg_cfg,
                                                                                   seg_f):
            return -1
        return 1
    if _from_other_end(s, upstream, t, params, seg_cfg, seg_f):
        return -1
    f = s * N_ROLES + (ROLE_FLOW_IN if upstream else ROLE_FLOW_OUT)
    if slot_cfg[f, SC_PRESENT] == 0.0 or slot_f[f, SF_EW_SLOW] != slot_f[f, SF_EW_SLOW]:
        return 1
    if slot_i[f, SI_RAW_TIME] <= np.int64(t0):
        return 1 if (t - t0) * 1e-6 > RUPTURE_FLOW_WAIT_S else 0
    ref = slot_f[f, SF_EW_SLOW]
    d = slot_f[f, SF_RAW] - ref
    tol = max(4.0 * math.sqrt(_sigma2(slot_cfg, f, ref)), OPERATION_TOL_FRAC * seg_cfg[s, GC_NOMINAL_FLOW])
    if upstream:
        return 1 if d > tol else -1
    return -1 if d > tol else 1


@_jit_inline
def _trail_of(o, slot_f):
    """How far transmitter o's collapse reference trails a falling trend beyond its noise, Pa: an exponential
    average of time constant tau trails a pressure falling at rate r by r tau, and its own average (SF_RUP_REF2)
    trails it by as much again, so their difference is the trail; it counts beyond 3 s.d. of the reference's
    noise (the measured reading noise through the average; the difference's own s.d. is 0.7 of that)."""
    a = slot_f[o, SF_A_REF]
    x = slot_f[o, SF_RUP_REF2] - slot_f[o, SF_EW_REF]
    sd_ref = 0.0
    if 0.0 < a < 1.0:
        # on the outflow's per-reading path (`_outflow_dip`): a trail within 3 s.d., the common case, is 0 without
        # the square root and the division (x^2 (2 - a) < 9 var a, 8.99 leaving room for the rounding of either
        # side, so that no x the full computation puts above 0 is taken; a NaN fails the test and goes the full way)
        var = slot_f[o, SF_NOISE_VAR]
        if x * abs(x) * (2.0 - a) < 8.99 * var * a:
            return 0.0
        sd_ref = math.sqrt(var * a / (2.0 - a))
    return max(x - 3.0 * sd_ref, 0.0)


@_jit
def _trend_trail(s, role, slot, slot_cfg, slot_f, slot_i):
    """How far the collapse reference trails a falling trend the whole line shares (`_trail_of`). The operation's
    ramp (a supply set-point, a demand ramp) moves the pressure at both ends, while a break's front reaches the
    other end only after its travel time, and a front spread over a few readings lowers the end's own second stage
    too before it passes the threshold: the least of this end's trail and the other end's (either end's, for a
    mid-line meter); 0 without a healthy transmitter there to show it."""
    trail = _trail_of(slot, slot_f)
    for other in (ROLE_PRESSURE_UP, ROLE_PRESSURE_DOWN):
        if other == role:
            continue
        o = s * N_ROLES + other
        if slot_cfg[o, SC_PRESENT] == 0.0 or slot_i[o, SI_HEALTH] != HEALTH_OK:
            return 0.0
        trail = min(trail, _trail_of(o, slot_f))
    return trail


@_jit_inline
def _restart_reference(slot, slot_f):
    """A decided drop or a silence: the new level is the collapse reference from now on, its second stage moved with
    it (the trend the two keep between them stays what it was before the drop). The new level is the 1-s average,
    not the reading: the reference then carries the average's share of the noise, not a whole reading's, and is the
    average itself (their difference 0, its variance 0, growing to the steady share as the two part)."""
    fast = slot_f[slot, SF_EW_FAST]
    slot_f[slot, SF_RUP_REF2] += fast - slot_f[slot, SF_EW_REF]
    slot_f[slot, SF_EW_REF] = fast
    slot_f[slot, SF_REF_VAR] = slot_f[slot, SF_FAST_VAR]
    slot_f[slot, SF_REF_COV] = slot_f[slot, SF_FAST_VAR]


@_jit_inline
def _rupture(s, role, slot, t, v, prev_t, rup_front, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i,
             counters, ev_i, ev_f, n_ev):
    """Pressure far below a slow reference, held, and the flow at the same end moving towards the break; and
    below where the pressure's falling trend has brought it (`trail`). `rup_front` is `_rupture_front` of s."""
    slot_f[slot, SF_P_MIN] += min(1.0, (t - prev_t) * 1e-6 / P_MIN_TAU_S) * (v - slot_f[slot, SF_P_MIN])
    _noise_shares(slot, slot_f)
    if (t - prev_t) * 1e-6 > RUPTURE_GAP_S:
        # back from a silence (a SCADA outage): the reference is from before it, and an operation's change while
        # the transmitter was silent is no front (the demo city: a valve closed upstream during a 4-min outage
        # read as a 41-kPa collapse); a break during the silence is the balance's and the other meters' to find.
        # Restarted at the 1-s average (`_restart_reference`; after 30 s of silence that is the reading but for
        # e^-30 of what came before), its trend with it
        _restart_reference(slot, slot_f)
        slot_f[slot, SF_RUP_REF2] = slot_f[slot, SF_EW_FAST]
        slot_i[slot, SI_RUP_N] = 0
        return
    ref = slot_f[slot, SF_EW_REF]
    drop = ref - v
    thr = _pressure_threshold(s, slot, ref, drop, rup_front, params, slot_cfg)
    if not drop > thr:
        # or the 1-s average beyond its own, smaller noise (`_fast_threshold`): a reading's noise then no longer
        # restarts the confirmation of a collapse that stands near the per-reading threshold. Beyond this
        # transmitter's own trend (`_trail_of`: the reference trails a ramp by r tau, the 1-s average by r tau_fast;
        # the long-line fixture: a held inlet's set-point lowered 5 % brings the outlet down at ~1 kPa/s for
        # minutes, its inlet steady at the new level, so the least of both ends' trails is 0); and not while the
        # line settles from an inflow move (`_inlet_settling`: the same fixture's 1-min ramp of the set-point, the
        # outlet's fall accelerating for a minute as the spread ramp arrives, faster than its trail builds)
        drop_fast = ref - slot_f[slot, SF_EW_FAST]
        thr_fast = _fast_threshold(slot, ref, drop_fast, rup_front, params, slot_f)
        if drop_fast > thr_fast and drop_fast - _trail_of(slot, slot_f) > thr_fast and not _inlet_settling(
                s, t, params, seg_cfg, seg_f):
            drop = drop_fast
            thr = thr_fast
    if drop > thr:
        if slot_i[slot, SI_RUP_N] == 0:
            slot_f[slot, SF_RUP_T0] = float(prev_t)
        slot_i[slot, SI_RUP_N] += 1
        held_s = (t - slot_f[slot, SF_RUP_T0]) * 1e-6
        if slot_i[slot, SI_RUP_N] >= 2 and held_s >= params[P_RUP_CONFIRM]:
            verdict = _rupture_flow_verdict(s, role, t, slot_f[slot, SF_RUP_T0], params, seg_cfg, slot_cfg, slot_f,
                                            slot_i, seg_f)
            # A set-point ramp upstream lowers an end's pressure with its offtake's flow unchanged, as a break's
            # front does; what tells them apart is that the front falls below where the line's falling trend has
            # brought the pressure (`_trend_trail`; the demo city: supply ramps of ~0.6 kPa/s read as 5-6 kPa
            # collapses against the 10-s reference, 3 in 32 segment-days)
            if verdict > 0 and drop - _trend_trail(s, role, slot, slot_cfg, slot_f, slot_i) <= thr:
                verdict = -2  # the trend's own trail: decided, no break (and no operation at this end to mark)
            elif verdict > 0:
                if t >= seg_i[s, GI_RUPTURE_UNTIL]:
                    seg_i[s, GI_RUPTURE_UNTIL] = t + np.int64(params[P_RUP_REFRACT_S] * 1e6)
                    t0 = np.int64(slot_f[slot, SF_RUP_T0])
                    if slot_i[slot, SI_NPW_PHASE] != 0 and slot_i[slot, SI_NPW_T_DET] < t0:
                        t0 = slot_i[slot, SI_NPW_T_DET]
                    rate = drop / max((t - t0) * 1e-6, 1e-3)
                    _emit(ev_i, ev_f, n_ev, counters, EV_RUPTURE, s, role, t, t0, RUP_PRESSURE, drop, 0.0, rate, ref,
                          0.0)
                verdict = -2
            elif verdict < 0 and role <= ROLE_PRESSURE_DOWN:
                # an operation at this end (or the wave of one at the other): the other end will see its wave
                if role == ROLE_PRESSURE_UP:
                    seg_f[s, GF_RUP_OP_UP] = float(t)
                else:
                    seg_f[s, GF_RUP_OP_DN] = float(t)
            if verdict < 0 or held_s > RUPTURE_MAX_WAIT_S:
                # decided (or an operation, or a slow decline): the new level is the reference from now on
                _restart_reference(slot, slot_f)
                slot_i[slot, SI_RUP_N] = 0
    else:
        slot_i[slot, SI_RUP_N] = 0
        b = slot_f[slot, SF_A_REF]
        ref += b * (v - ref)
        slot_f[slot, SF_EW_REF] = ref
        slot_f[slot, SF_RUP_REF2] += b * (ref - slot_f[slot, SF_RUP_REF2])
        # its noise: (1 - b)^2 of its own plus b^2 of this reading's; with the 1-s average (a of this reading)
        # (1 - b) of the covariance plus a b
        slot_f[slot, SF_REF_VAR] = (1.0 - b) * (1.0 - b) * slot_f[slot, SF_REF_VAR] + b * b
        slot_f[slot, SF_REF_COV] = (1.0 - b) * slot_f[slot, SF_REF_COV] + slot_f[slot, SF_A_FAST] * b


@_jit
def _held_end_moved(s, jump, t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f):
    """Whether a gradual inflow rise is an operation's, not a far break's spread front: the upstream pressure (its
    1-s average) stands off its 1-min average by more than `_held_tolerance` of an inflow jump `jump`, either way (a
    set-point raised packs the line through the meter; one lowered unpacks it, and the inflow climbs back as the
    line settles), or this end marked an operation (its inflow fell) within the line's longest settling time,
    `settle_max_s` (measured on issue 24's transient days: without this, lowered set-points' recoveries were read
    as ruptures, 11 in 3 segment-days). No healthy transmitter: taken as moved (nothing says the end is held)."""
    mark = seg_f[s, GF_RUP_OP_UP]
    if mark > 0.0 and (t - mark) * 1e-6 <= params[P_SETTLE_MAX_S]:
        return True
    p = s * N_ROLES + ROLE_PRESSURE_UP
    if slot_cfg[p, SC_PRESENT] == 0.0 or slot_i[p, SI_HEALTH] != HEALTH_OK:
        return True
    p_ref = slot_f[p, SF_P_MIN]
    return abs(slot_f[p, SF_EW_FAST] - p_ref) > _held_tolerance(s, p, p_ref, jump, seg_cfg, slot_cfg)


@_jit
def _far_side_saw_break(s, t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f):
    """Whether a break's wave has reached a transmitter other than the held inlet's: its pressure's 1-s average
    stands below its 10-s collapse reference, beyond the trail of a falling trend there (`_trail_of`: a set-point
    ramp-down lowers it for minutes), by more than 4 s.d. of the 1-s average (the reading noise the NPW detector
    measures); at the outlet with the outflow not risen (an offtake drawing more lowers the outlet pressure too, and
    marks an operation there). A far break's front reaches a held inlet spread by friction, as gradual as the line
    packing through the inlet when a supply set-point rises (the demo city: 26 such rises read as ruptures in 32.1
    segment-days); the break's wave reaches the other transmitters too, as a fall (first where it is near), while a
    set-point's wave reaches them as a rise, and only after the line's travel time."""
    if _from_other_end(s, True, t, params, seg_cfg, seg_f):
        return False
    for role in range(ROLE_PRESSURE_DOWN, N_ROLES):
        if role != ROLE_PRESSURE_DOWN and role < ROLE_PRESSURE_MID0:
            continue
        o = s * N_ROLES + role
        if slot_cfg[o, SC_PRESENT] == 0.0 or slot_i[o, SI_HEALTH] != HEALTH_OK:
            continue
        a = slot_f[o, SF_A_FAST]
        sd_fast = math.sqrt(slot_f[o, SF_NOISE_VAR] * a / (2.0 - a)) if 0.0 < a < 1.0 else 0.0
        if sd_fast <= 0.0 or slot_f[o, SF_EW_REF] - slot_f[o, SF_EW_FAST] - _trail_of(o, slot_f) <= 4.0 * sd_fast:
            continue
        if role == ROLE_PRESSURE_DOWN:
            f = s * N_ROLES + ROLE_FLOW_OUT
            if slot_cfg[f, SC_PRESENT] != 0.0 and slot_f[f, SF_EW_SLOW] == slot_f[f, SF_EW_SLOW]:
                ref = slot_f[f, SF_EW_SLOW]
                tol = max(4.0 * math.sqrt(_sigma2(slot_cfg, f, ref)), OPERATION_TOL_FRAC * seg_cfg[s, GC_NOMINAL_FLOW])
                if slot_f[f, SF_RAW] - ref > tol:
                    continue
        return True
    return False


@_jit_inline
def _outflow_dip(s, role, slot, t, dip, sd, prev_t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i, counters,
                 ev_i, ev_f, n_ev):
    """The downstream end's evidence: a break's rarefaction front passes the outlet as a sharp dip of the outflow
    (dq = A dp / c: the offtake beyond draws its set flow from the tail until the front's reflection returns) with
    the pressure falling (dp = -c dq / A, then on as the line drains). An offtake drawing less dips the flow too, but
    its wave comes from downstream: the pressure rises (+c dq / A). A dip of `OUTFLOW_DIP_FRAC` of the smallest
    rupture (at least 4 s.d.) within RUPTURE_FRONT_S of the flow leaving its reference arms it; it is a rupture
    when, after the NPW confirmation time and within OUTFLOW_DIP_WINDOW_S of the dip, the outlet pressure's 1-s
    average has fallen from where it stood when the flow was last near its reference by a collapse (the smallest
    rupture's Joukowsky front, at most 1.5 % of the pressure; at least 4 s.d. of that difference, half the
    Joukowsky drop of the dip and `npw_min_drop_pa`), and no operation upstream explains the wave
    (`_from_other_end`: a supply cut or a lowered set-point sends the same front, and the inlet's flow marks it
    first). A downstream flow slot keeps: SF_EW_REF, when the flow was last near its reference; SF_P_MIN, the
    outlet pressure's 1-s average then; SF_RUP_REF2, the line's falling trend then (Pa/s, the steeper end's; the
    fall is counted beyond it); SF_RUP_T0, the reading before the dip (0: none armed); SI_RUP_N -1 once decided
    (until the flow is back). Not while the line settles from an inflow move (`_inlet_settling`). On issue 19's
    random layouts the far breaks of long lines (25-30 km from the outlet) showed dips of 4.8-10 % of nominal flow
    and falls of 1.5-6 kPa within 10 s of the wave, under the collapse threshold against the 10-s reference, which
    follows a spread front."""
    p = s * N_ROLES + ROLE_PRESSURE_DOWN
    thr = max(OUTFLOW_DIP_FRAC * params[P_RUP_MIN_FLOW] * seg_cfg[s, GC_NOMINAL_FLOW], 4.0 * sd)
    near = dip <= 0.5 * thr
    if near:
        slot_f[slot, SF_EW_REF] = float(t)
        slot_f[slot, SF_P_MIN] = slot_f[p, SF_EW_FAST]
        # the line's falling trend then, Pa/s: the steeper of the two ends' (each collapse reference's trail beyond
        # noise over its time constant; 0 without a healthy transmitter). A set-point ramp-down upstream lowers the
        # pressure along the line for minutes (the outlet follows the inlet's rate within the travel time), and the
        # pipe beyond the meter unpacking dips the outflow as it ends; a far break's front reaches the outlet
        # before the inlet, so the inlet's trend is the line's, not the break's
        trend = 0.0
        tau_s = params[P_RUP_TAU]
        for end in (ROLE_PRESSURE_UP, ROLE_PRESSURE_DOWN):
            o = s * N_ROLES + end
            if tau_s > 0.0 and slot_cfg[o, SC_PRESENT] != 0.0 and slot_i[o, SI_HEALTH] == HEALTH_OK:
                trail = _trail_of(o, slot_f)
                if trail != 0.0:  # (0 leaves the trend as it is: no division on a quiet line's readings)
                    trend = max(trend, trail / tau_s)
        slot_f[slot, SF_RUP_REF2] = trend
    if slot_i[slot, SI_RUP_N] < 0:
        if near:  # back near its reference: ready for the next
            slot_i[slot, SI_RUP_N] = 0
            slot_f[slot, SF_RUP_T0] = 0.0
        return
    t0 = slot_f[slot, SF_RUP_T0]
    if t0 <= 0.0:
        if dip <= thr or (t - slot_f[slot, SF_EW_REF]) * 1e-6 > RUPTURE_FRONT_S:
            return
        t0 = float(prev_t)
        slot_f[slot, SF_RUP_T0] = t0
    held_s = (t - t0) * 1e-6
    if held_s > OUTFLOW_DIP_WINDOW_S:
        slot_i[slot, SI_RUP_N] = -1  # the pressure did not follow: no break's front
        return
    if held_s < max(params[P_RUP_CONFIRM], params[P_NPW_CONFIRM_S]):
        return
    if slot_cfg[p, SC_PRESENT] == 0.0 or slot_i[p, SI_HEALTH] != HEALTH_OK:
        return  # no pressure seen falling: the dip could be the offtake's own
    before = slot_f[slot, SF_P_MIN]
    # the fall beyond the line's trend before the dip (the demo city: the outflow dips read as ruptures, 6 in 32.1
    # segment-days, came at the end of set-point ramp-downs, the outlet pressure falling 370-440 Pa/s, and as the
    # line repacked after a valve reopened upstream)
    fall = before - slot_f[p, SF_EW_FAST] - slot_f[slot, SF_RUP_REF2] * (t - slot_f[slot, SF_EW_REF]) * 1e-6
    # the collapse's own size (the smallest rupture's Joukowsky front, at most 1.5 % of the pressure: a leak of
    # 12 % of nominal flow next to the outlet stays under it), measured from the pressure before the front; its
    # noise floor is 4 s.d. of the difference of two 1-s averages, from the reading noise the NPW detector
    # measures (frozen while it confirms a front; the stated accuracy includes a bias that cancels here)
    af = slot_f[p, SF_A_FAST]
    sd_diff = math.sqrt(2.0 * slot_f[p, SF_NOISE_VAR] * af / (2.0 - af))
    area = seg_cfg[s, GC_AREA_M2]
    c = seg_cfg[s, GC_WAVE_SPEED]
    front = params[P_RUP_FRAC] * before
    if area > 0.0:
        front = min(front, c * params[P_RUP_MIN_FLOW] * seg_cfg[s, GC_NOMINAL_FLOW] / (2.0 * area))
    joukowsky = 0.5 * c * max(dip, 0.0) / area if area > 0.0 else 0.0
    if fall <= max(front, 4.0 * sd_diff, joukowsky, params[P_NPW_MIN_DROP]):
        return
    slot_i[slot, SI_RUP_N] = -1
    if _from_other_end(s, False, t, params, seg_cfg, seg_f) or _inlet_settling(s, t, params, seg_cfg, seg_f):
        return
    if t >= seg_i[s, GI_RUPTURE_UNTIL]:
        seg_i[s, GI_RUPTURE_UNTIL] = t + np.int64(params[P_RUP_REFRACT_S] * 1e6)
        _emit(ev_i, ev_f, n_ev, counters, EV_RUPTURE, s, role, t, np.int64(t0), RUP_FLOW, fall, 0.0,
              fall / max(held_s, 1e-3), slot_f[slot, SF_P_MIN], max(dip, 0.0))


@_jit_inline
def _rupture_flow(s, role, slot, t, v, prev_v, prev_t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i,
                  counters, ev_i, ev_f, n_ev):
    """A good flow reading at an end, before its slow reference moves: the operation marks, and the inflow's jump
    at an upstream end whose pressure is held. A rise begins when the flow is half the threshold above its slow
    reference (SF_RUP_T0: the reading before; SF_P_MIN of a flow slot: the reference then, which the rise is
    measured from; SF_EW_REF of a flow slot: when it was last near its reference) within RUPTURE_FRONT_S of
    leaving it, and a gradual start needs the end's pressure not risen (`_held_end_moved`: a set-point ramp packs
    the line through the meter gradually). SI_RUP_N counts the readings beyond the threshold, -1 once decided
    (until the flow is back near its reference). Decided after the NPW confirmation time, the end's pressure (its
    1-s average) must not have risen over its 1-min average (`_held_tolerance`: a fast set-point rise). A
    downstream end's flow falling is the offtake's own move as often as a break's wave: there it arms
    `_outflow_dip`, which the outlet pressure's fall decides."""
    ref = slot_f[slot, SF_EW_SLOW]
    if prev_t < 0 or ref != ref:
        return
    upstream = role == ROLE_FLOW_IN
    nominal = seg_cfg[s, GC_NOMINAL_FLOW]
    d = v - ref
    # The flow's s.d. at its reference takes a square root, on the path of every flow reading: left out where the
    # outcome cannot depend on it. Every threshold below is the larger of a fixed share of nominal flow and a
    # multiple of sd, so a flow within the fixed shares passes none of them (tested against the full path).
    tol_floor = OPERATION_TOL_FRAC * nominal
    thr_floor = params[P_RUP_FLOW_JUMP] * params[P_RUP_MIN_FLOW] * nominal
    if upstream and -tol_floor <= d and d <= min(tol_floor, 0.25 * thr_floor) and not slot_f[slot, SF_RUP_T0] > 0.0:
        # no operation's mark either way (|d| <= tol), near the reference (d <= 0.5 arm, arm >= 0.5 thr >=
        # 0.5 thr_floor), no rise under way and none starting (d <= arm)
        slot_f[slot, SF_EW_REF] = float(t)
        if slot_i[slot, SI_RUP_N] < 0:  # back near its reference (d <= thr): ready for the next
            slot_i[slot, SI_RUP_N] = 0
            slot_f[slot, SF_RUP_T0] = 0.0
        return
    if not upstream and d <= tol_floor and params[P_RUP_OUTFLOW_DIP] == 0.0:
        return  # no operation's mark (d <= tol) and no dip to follow
    if not upstream and d <= tol_floor and -d <= 0.5 * (OUTFLOW_DIP_FRAC * params[P_RUP_MIN_FLOW] * nominal) and (
            slot_f[slot, SF_RUP_T0] <= 0.0):
        # most outflow readings: no operation's mark, within half the dip's fixed share (near its reference whatever
        # the s.d.), no dip armed; `_outflow_dip` then only notes that the flow is near, the same with any sd
        sd = 0.0
    else:
        sd = math.sqrt(_sigma2(slot_cfg, slot, ref))
    tol = max(4.0 * sd, tol_floor)
    if upstream and abs(d) > tol:
        seg_f[s, GF_RUP_IN_MOVED] = float(t)
    if upstream and d < -tol:
        seg_f[s, GF_RUP_OP_UP] = float(t)
    elif not upstream and d > tol:
        seg_f[s, GF_RUP_OP_DN] = float(t)
    if not upstream:
        if params[P_RUP_OUTFLOW_DIP] == 0.0:
            return
        _outflow_dip(s, role, slot, t, -d, sd, prev_t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, seg_i,
                     counters, ev_i, ev_f, n_ev)
        return
    thr = max(thr_floor, 4.0 * sd)
    arm = max(0.5 * thr, 4.0 * sd)
    if d <= 0.5 * arm:
        slot_f[slot, SF_EW_REF] = float(t)  # of a flow slot: when the flow was last near its reference
    if slot_i[slot, SI_RUP_N] < 0:
        if d <= thr:  # back near its reference: ready for the next
            slot_i[slot, SI_RUP_N] = 0
            slot_f[slot, SF_RUP_T0] = 0.0
        return
    # A rise under way is measured from the flow's level before it (SF_P_MIN of a flow slot, frozen when the rise
    # began, at SF_RUP_T0): friction spreads a far break's front over tens of seconds, and the 1-min reference
    # would follow it and never see the jump
    if slot_f[slot, SF_RUP_T0] > 0.0:
        jump = v - slot_f[slot, SF_P_MIN]
        if jump <= arm or (slot_i[slot, SI_RUP_N] == 0 and (t - slot_f[slot, SF_EW_REF]) * 1e-6 > RUPTURE_FRONT_S) or (
                (t - slot_f[slot, SF_RUP_T0]) * 1e-6 > max(RUPTURE_MAX_WAIT_S, _travel_us(s, params, seg_cfg) * 1e-6)):
            slot_f[slot, SF_RUP_T0] = 0.0  # over, or too slow for a break's front
            slot_i[slot, SI_RUP_N] = 0
            return
    else:
        if d <= arm or (t - slot_f[slot, SF_EW_REF]) * 1e-6 > RUPTURE_FRONT_S:
            return
        if v - prev_v < 0.5 * d and (params[P_RUP_SPREAD] == 0.0 or _held_end_moved(s, d, t, params, seg_cfg, slot_cfg,
                                                                                 slot_f, slot_i, seg_f)):
            slot_i[slot, SI_RUP_N] = -1  # a ramp with the end's pressure moving: a set-point, not a front
            return
        slot_f[slot, SF_P_MIN] = ref
        slot_f[slot, SF_RUP_T0] = float(prev_t)
        jump = d
    if jump <= thr:
        return
    if slot_i[slot, SI_RUP_N] == 0:
        if v - prev_v < 0.5 * jump:
            # a jump must be sharp where it first passes the threshold (half of it since the reading before): a
            # valve reopened at the inlet ramps the inflow past it over seconds. With the spread-front evidence it
            # may be gradual (a far break's front), marked by a negative SF_RUP_REF2, and then wants the far side
            if params[P_RUP_SPREAD] == 0.0:
                slot_i[slot, SI_RUP_N] = -1
                return
            slot_f[slot, SF_RUP_REF2] = -1.0
        else:
            slot_f[slot, SF_RUP_REF2] = v - prev_v  # of an inflow slot: its rise in the scan that passed the threshold
    slot_i[slot, SI_RUP_N] += 1
    t0 = np.int64(slot_f[slot, SF_RUP_T0])
    held_s = (t - t0) * 1e-6
    if slot_i[slot, SI_RUP_N] < 2 or held_s < max(params[P_RUP_CONFIRM], params[P_NPW_CONFIRM_S]):
        return
    cross = slot_f[slot, SF_RUP_REF2]
    if cross < 0.0 or v - prev_v >= 0.5 * cross:
        # gradual where it passed the threshold, or still climbing as it did then: a break's front passes a held
        # end within a scan or two and the inflow then holds (it drifts as the line drains, over minutes), while a
        # valve's or set-point's ramp adds as much every scan and may pass the threshold in two (the demo city: an
        # inflow rising 0.09, 0.12, then 0.10 kg/s per second past a 0.2 kg/s threshold). Without the spread-front
        # evidence that is no rupture; with it, a rupture once the break's wave is seen falling at another
        # transmitter (`_far_side_saw_break`), which it reaches within the line's travel time
        if params[P_RUP_SPREAD] == 0.0:
            slot_i[slot, SI_RUP_N] = -1
            return
        # gradual from here on: an inflow that climbs on and then holds is a ramp that ended as much as a front
        slot_f[slot, SF_RUP_REF2] = -1.0
        if _held_end_moved(s, jump, t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f):
            # the inlet's own operation, as when the rise began: a set-point lowered (the inflow fell, marked) and
            # the inflow climbing back as the ramp ends (the demo city: 10 such climbs read as ruptures)
            slot_i[slot, SI_RUP_N] = -1
            return
        if not _far_side_saw_break(s, t, params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f):
            if held_s > _travel_us(s, params, seg_cfg) * 1e-6:
                slot_i[slot, SI_RUP_N] = -1
            return
    # decided now, one way or the other
    slot_i[slot, SI_RUP_N] = -1
    p = s * N_ROLES + ROLE_PRESSURE_UP
    if slot_cfg[p, SC_PRESENT] == 0.0 or slot_i[p, SI_HEALTH] != HEALTH_OK:
        return  # no pressure seen held: the jump could be a raised set-point
    p_ref = slot_f[p, SF_P_MIN]
    rise = slot_f[p, SF_EW_FAST] - p_ref
    # and not risen beyond the noise of its 1-s average either (the reading noise the NPW detector measures; an
    # exponential average of weight a per reading keeps a / (2 - a) of its variance): a valve reopened below the
    # supply raises the inlet pressure well under the Joukowsky rise of the inflow it lets through (the demo city:
    # 1.5 kPa in 4 s for 0.43 kg/s, under the stated s.d. of one reading), while a break's wave leaves a held
    # end's pressure where it was
    a_fast = slot_f[p, SF_A_FAST]
    sd_fast = math.sqrt(slot_f[p, SF_NOISE_VAR] * a_fast / (2.0 - a_fast)) if 0.0 < a_fast < 1.0 else 0.0
    if rise > _held_tolerance(s, p, p_ref, jump, seg_cfg, slot_cfg) or (sd_fast > 0.0 and rise > 3.0 * sd_fast):
        return
    if _from_other_end(s, upstream, t, params, seg_cfg, seg_f):
        return
    if t >= seg_i[s, GI_RUPTURE_UNTIL]:
        seg_i[s, GI_RUPTURE_UNTIL] = t + np.int64(params[P_RUP_REFRACT_S] * 1e6)
        drop = max(-rise, 0.0)
        _emit(ev_i, ev_f, n_ev, counters, EV_RUPTURE, s, role, t, t0, RUP_FLOW, drop, 0.0,
              drop / max(held_s, 1e-3), p_ref, jump)
