"""Line pack of a segment: from the state estimator (`estimator.py`, `P_LP_EST` = 1) or from the end
pressures and flows alone (quasi-steady isothermal profile, the gas's Z(p) along it; `P_LP_EST` = 0).
"""

from __future__ import annotations

import math

import numpy as np

from ..layout import (
    ES_C0,
    ES_K,
    ES_OK,
    GC_LENGTH_M,
    GC_LOC_ELEV,
    GC_LOC_K0,
    GC_LOC_K0_REL_SD,
    GC_NOMINAL_FLOW,
    GC_PMID_X0,
    GC_R_SPECIFIC,
    GC_TEMPERATURE_K,
    GC_VOLUME_M3,
    GC_WAVE_SPEED,
    GC_Z_Q0,
    GC_Z_Q1,
    GC_Z_Q2,
    GF_EST0,
    GF_LC_D,
    GF_LC_DD,
    GF_LC_F,
    GF_LC_FD,
    GF_LC_FF,
    GF_LC_PP,
    GF_LC_VD,
    GF_LC_VF,
    GF_LC_W,
    GF_LPA_D,
    GF_LPA_OK,
    GF_LPA_PHI,
    GF_LPD0,
    GF_LPD_OK,
    HEALTH_STALE,
    N_LPD,
    N_PMID,
    N_ROLES,
    P_EST_FRIC,
    P_EST_FULL_EVERY,
    P_EST_MOVE,
    P_EST_QREG,
    P_EST_SINK,
    P_LOC_MIN_CAL,
    P_LP_DIFFUSION,
    P_SETTLE_MAX_S,
    P_SETTLE_WAVE,
    ROLE_FLOW_IN,
    ROLE_FLOW_OUT,
    ROLE_PRESSURE_DOWN,
    ROLE_PRESSURE_MID0,
    ROLE_PRESSURE_UP,
    ROLE_TEMPERATURE,
    SC_PRESENT,
    SF_EW_SLOW,
    SF_HELD,
    SF_HELD_VAR,
    SI_HEALTH,
)
from .common import _jit, _usable, p_over_z
from .estimator import est_end_flow, est_init, est_line_pack, est_tick
from .location import _c0_sd, calibrate

assert N_PMID == 2  # _line_pack_estimated hands the estimator the mid-line pressures as a pair

# Gauss-Legendre nodes and weights on [0, 1] for the mean pressure of the line-pack profile
_GL_X = np.array([0.5 * (1.0 - 0.9061798459386640), 0.5 * (1.0 - 0.5384693101056831), 0.5,
                  0.5 * (1.0 + 0.5384693101056831), 0.5 * (1.0 + 0.9061798459386640)])
_GL_W = np.array([0.5 * 0.2369268850561891, 0.5 * 0.4786286704993665, 0.5 * 0.5688888888888889,
                  0.5 * 0.4786286704993665, 0.5 * 0.2369268850561891])


@_jit
def mean_pressure(pu, pd, q_in, q_out):
    """Mean pressure (Pa) of an isothermal gas line from its end pressures and end flows.

    Quasi-steady friction-dominated profile with the mass flow varying linearly from q_in to q_out (the line
    packs or unpacks between the meters): p(x)^2 = pu^2 - (pu^2 - pd^2) F(x) / F(1), F(x) = int_0^x q^2.
    With q_in = q_out it is the steady profile, mean 2/3 (pu + pd - pu pd / (pu + pd)). Against the
    simulator's true line pack it halves the error of the steady profile during operations. Falls back to
    the steady profile when the flows are unknown, reversed or zero, or pu <= pd.
    """
    if not (q_in > 0.0 and q_out > 0.0 and pu > pd):
        return 2.0 / 3.0 * (pu + pd - pu * pd / (pu + pd))
    d = q_out - q_in
    f1 = q_in * q_in + q_in * d + d * d / 3.0
    k = (pu * pu - pd * pd) / f1
    pm = 0.0
    for i in range(5):
        x = _GL_X[i]
        f = q_in * q_in * x + q_in * d * x * x + d * d * x * x * x / 3.0
        pm += _GL_W[i] * math.sqrt(pu * pu - k * f)
    return pm


@_jit
def mean_p_over_z(pu, pd, q_in, q_out, z0, z1, z2):
    """Mean of p / Z(p) (Pa) over the profile of `mean_pressure` (the line pack is V / (R T) times it), with
    Z(p) = z0 + z1 p + z2 p^2 at each Gauss point, and its derivative with respect to a common shift of the profile's
    pressures (the line pack's sensitivity to the end pressures' noise), mean of d(p/Z)/dp = (z0 - z2 p^2) / Z^2.

    Why not pm / Z(pm): at 44-57 bar the line pack's movement with one Z, linear through Z(0) = 1 and the operating
    point, was 1.6-2.1 % larger than the simulator's (the real gas's Z curves: d(p/Z)/dp is what moves the line pack);
    with Z along the profile from a quadratic fit, 0.8-1.1 % (the rest is the quasi-steady profile's lead; the
    simulator's own Z gave the same). The steady profile (p^2 linear in x) where the flows are unusable, reversed or
    zero, or pu <= pd."""
    use = q_in > 0.0 and q_out > 0.0 and pu > pd
    d = q_out - q_in
    f1 = q_in * q_in + q_in * d + d * d / 3.0
    k = (pu * pu - pd * pd) / f1 if use else pu * pu - pd * pd
    m = 0.0
    dm = 0.0
    for i in range(5):
        x = _GL_X[i]
        f = q_in * q_in * x + q_in * d * x * x + d * d * x * x * x / 3.0 if use else x
        p2 = pu * pu - k * f
        if p2 < 0.0:
            p2 = 0.0  # (not a nan: a missing pressure gives a nan line pack, as the oracle's)
        pz, dpz = p_over_z(math.sqrt(p2), z0, z1, z2)
        m += _GL_W[i] * pz
        dm += _GL_W[i] * dpz
    return m, dm


@_jit
def _gas_rt(seg_cfg, slot_cfg, slot_f, s):
    """R T of the segment's gas, J/kg."""
    st = s * N_ROLES + ROLE_TEMPERATURE
    temp = seg_cfg[s, GC_TEMPERATURE_K]
    # the smoothed gas temperature, held through a transmitter outage: buried gas changes temperature over
    # hours, while swapping to the design temperature would step the line pack by a percent
    if slot_cfg[st, SC_PRESENT] != 0.0 and slot_f[st, SF_EW_SLOW] > 100.0:
        temp = slot_f[st, SF_EW_SLOW]
    return seg_cfg[s, GC_R_SPECIFIC] * temp


# the silent end's pressure from the friction model: 1 s.d. of the model's predicted change of the friction drop
# since the last tick with both ends, as a share of that change, beyond the calibration's own k uncertainty (the
# calibration's k is an average over its flows; as location.LEAK_FREE_SCALE_SD)
SILENT_END_SCALE_SD = 0.1
# without a friction prior or calibration, k from the last tick with both ends alone (c0 taken as 0): this uncertain
SILENT_END_K_SELF_REL_SD = 0.3


@_jit
def _friction_phi(q_in, q_out):
    """The flow term of the friction drop, int_0^1 q|q| over the length with q linear from q_in to q_out (the
    profile of `mean_pressure`), (kg/s)^2."""
    if q_in > 0.0 and q_out > 0.0:
        d = q_out - q_in
        return q_in * q_in + q_in * d + d * d / 3.0
    qm = 0.5 * (q_in + q_out)
    return qm * abs(qm)


@_jit
def _friction_d(pu, pd, elev):
    """The friction drop p_u^2 - p_d^2 less the elevation term (as kernels/location.py's d), Pa^2."""
    return pu * pu - pd * pd - elev * 0.5 * (pu * pu + pd * pd)


@_jit
def _missing_end(p_live, live_up, d, elev):
    """The silent end's pressure (Pa) that gives friction drop d with the live end at p_live; nan if none."""
    if live_up:
        p2 = (p_live * p_live * (1.0 - 0.5 * elev) - d) / (1.0 + 0.5 * elev)
    else:
        p2 = (d + p_live * p_live * (1.0 + 0.5 * elev)) / (1.0 - 0.5 * elev)
    return math.sqrt(p2) if p2 > 0.0 else np.nan


@_jit
def _silent_end_k(params, seg_cfg, slot_cfg, seg_f, s):
    """The friction coefficient k for a silent end's pressure and its variance: the location's calibration once it
    has enough blocks, else the pipe's prior, else (0, -1) (the caller takes the last tick's own ratio)."""
    k0 = seg_cfg[s, GC_LOC_K0]
    if not (k0 > 0.0):
        return 0.0, -1.0
    k0_sd = k0 * seg_cfg[s, GC_LOC_K0_REL_SD]
    w = seg_f[s, GF_LC_W]
    if w >= params[P_LOC_MIN_CAL]:
        _, k, _, _, v11, _ = calibrate(w, seg_f[s, GF_LC_F], seg_f[s, GF_LC_FF], seg_f[s, GF_LC_D],
                                       seg_f[s, GF_LC_FD], seg_f[s, GF_LC_DD], seg_f[s, GF_LC_VD],
                                       seg_f[s, GF_LC_VF], k0, k0_sd,
                                       _c0_sd(s, seg_f[s, GF_LC_PP] / w, seg_cfg, slot_cfg))
        if k > 0.0:
            return k, v11
    return k0, k0_sd * k0_sd


@_jit
def _line_pack(params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, s):
    """Line pack (kg) from the tick means of the end pressures (and flows, when both are usable: the profile
    of `mean_pressure`), its random variance (kg^2, independent from tick to tick), its systematic variance
    (the same error in every tick: one end silent) and whether it is valid.

    Through a silent end pressure (a transmitter's outage: stale) the line pack stays continuous: the silent
    end's pressure is the one that keeps the friction drop d = c0 + k phi of the last tick with both ends
    (GF_LPA_*), moved by k times the change of the flow term since (k from the location's calibration, else the
    pipe's prior, else that tick's own d / phi), so a line that loses 5-25 % of its pressure end to end does not
    step its line pack by that share when one end goes quiet. Its uncertainty: k's (calibration or prior) and
    `SILENT_END_SCALE_SD` of the predicted change. Before any tick with both ends, and when the end is out for a
    fault rather than a silence, the mean pressure is the live end's, uncertain by 2 %."""
    base = s * N_ROLES
    su = base + ROLE_PRESSURE_UP
    sd = base + ROLE_PRESSURE_DOWN
    si = base + ROLE_FLOW_IN
    so = base + ROLE_FLOW_OUT
    ok_u = _usable(slot_cfg, slot_f, slot_i, su)
    ok_d = _usable(slot_cfg, slot_f, slot_i, sd)
    flows_ok = _usable(slot_cfg, slot_f, slot_i, si) and _usable(slot_cfg, slot_f, slot_i, so)
    q_in = slot_f[si, SF_HELD] if flows_ok else 0.0
    q_out = slot_f[so, SF_HELD] if flows_ok else 0.0
    # the profile's flows: none (the steady profile) where the line pack's diffusion lag follows (`_diffuse`): the
    # flow term is the quasi-steady stand-in for that lag, and with both the lag counts twice
    qp_in = q_in if params[P_LP_DIFFUSION] == 0.0 else 0.0
    qp_out = q_out if params[P_LP_DIFFUSION] == 0.0 else 0.0
    elev = seg_cfg[s, GC_LOC_ELEV]
    var_sys = 0.0
    if ok_u and ok_d:
        pu = slot_f[su, SF_HELD]
        pd = slot_f[sd, SF_HELD]
        var_p = 0.25 * (slot_f[su, SF_HELD_VAR] + slot_f[sd, SF_HELD_VAR])
        if flows_ok and pu > 0.0 and pd > 0.0:
            seg_f[s, GF_LPA_D] = _friction_d(pu, pd, elev)
            seg_f[s, GF_LPA_PHI] = _friction_phi(q_in, q_out)
            seg_f[s, GF_LPA_OK] = 1.0
    elif ok_u or ok_d:
        live = su if ok_u else sd
        silent = sd if ok_u else su
        p_live = slot_f[live, SF_HELD]
        modelled = False
        # only through a silence: a transmitter judged faulty (flat-lined, stuck, implausible) was read for a while
        # before it was judged, and the held drop may hold its wrong pressure
        if seg_f[s, GF_LPA_OK] != 0.0 and p_live > 0.0 and slot_i[silent, SI_HEALTH] == HEALTH_STALE:
            d0 = seg_f[s, GF_LPA_D]
            phi0 = seg_f[s, GF_LPA_PHI]
            dphi = (_friction_phi(q_in, q_out) - phi0) if flows_ok else 0.0
            k, var_k = _silent_end_k(params, seg_cfg, slot_cfg, seg_f, s)
            if var_k < 0.0:
                k = d0 / phi0 if phi0 > 0.0 and d0 > 0.0 else 0.0
                var_k = (SILENT_END_K_SELF_REL_SD * k) ** 2
            d_now = d0 + k * dphi
            sd_d = math.sqrt(var_k * dphi * dphi + (SILENT_END_SCALE_SD * k * dphi) ** 2)
            p_sil = _missing_end(p_live, ok_u, d_now, elev)
            # one s.d. of the friction drop carried through to the silent end's pressure (towards a larger drop:
            # a smaller pressure, where the square root is steeper); the silent transmitter's last reading's error
            # stays in the held drop as long as the silence lasts
            p_sil_hi = _missing_end(p_live, ok_u, d_now + sd_d, elev)
            if p_sil == p_sil:
                pu = p_live if ok_u else p_sil
                pd = p_sil if ok_u else p_live
                modelled = True
                # the modelled end follows the live one (d fixed: dp_sil / dp_live = p_live / p_sil ~ 1), so the
                # live end's noise moves the mean pressure one for one
                var_p = slot_f[live, SF_HELD_VAR]
                var_sil = slot_f[silent, SF_HELD_VAR]
                if p_sil_hi == p_sil_hi:
                    dp = p_sil_hi - p_sil
                    var_sil += dp * dp
                else:
                    var_sil += p_sil * p_sil
                var_sys = 0.25 * var_sil
        if not modelled:
            pu = p_live
            pd = p_live
            # one end only and no friction drop known: the mean pressure is uncertain by the typical end-to-end
            # difference (2 % of p)
            var_p = slot_f[live, SF_HELD_VAR]
            var_sys = (0.02 * p_live) ** 2
    else:
        return 0.0, 0.0, 0.0, False
    m, dm = mean_p_over_z(pu, pd, qp_in, qp_out, seg_cfg[s, GC_Z_Q0], seg_cfg[s, GC_Z_Q1], seg_cfg[s, GC_Z_Q2])
    if not (m > 0.0 and var_p == var_p):
        return 0.0, 0.0, 0.0, False
    rt = _gas_rt(seg_cfg, slot_cfg, slot_f, s)
    vol = seg_cfg[s, GC_VOLUME_M3]
    d = vol * dm / rt
    return vol * m / rt, d * d * var_p, d * d * var_sys, True


@_jit
def _diffuse(params, seg_f, s, lp_kg, dt, settle_s):
    """The line pack (kg) as the gas inside follows the steady profile's `lp_kg` (`DetectorParams.lp_diffusion`):
    linearised isothermal flow diffuses p^2 and, with both end pressures given, the line's mean answers a step of
    them as 1 - sum over odd n of 8 / (n^2 pi^2) exp(-n^2 t / tau_1), tau_1 = P_LP_DIFFUSION * T_s. The first N_LPD
    odd modes are first-order lags kept in the state (GF_LPD0...), each advanced exactly over the tick; the weight of
    the modes beyond them (7 % with three: they decay within tau_1 / 49) passes at once. The lags start at the
    first line pack, and restart at the next after a tick without one."""
    tau1 = params[P_LP_DIFFUSION] * settle_s
    if seg_f[s, GF_LPD_OK] == 0.0 or not (tau1 > 0.0):
        for j in range(N_LPD):
            seg_f[s, GF_LPD0 + j] = lp_kg
        seg_f[s, GF_LPD_OK] = 1.0
        return lp_kg
    rest = 1.0
    out = 0.0
    for j in range(N_LPD):
        n = 2.0 * j + 1.0
        w = 8.0 / (n * n * math.pi * math.pi)
        a = 1.0 - math.exp(-dt * n * n / tau1)
        y = seg_f[s, GF_LPD0 + j] + a * (lp_kg - seg_f[s, GF_LPD0 + j])
        seg_f[s, GF_LPD0 + j] = y
        out += w * y
        rest -= w
    return out + rest * lp_kg


# below this share of nominal flow the settling time is taken at this throughput (the pressure drop is then mostly
# elevation and noise, not friction)
SETTLE_MIN_FLOW_FRAC = 0.01


@_jit
def _settle_time(params, seg_cfg, slot_cfg, slot_f, slot_i, s, lp_kg, lp_ok, tb):
    """The segment's settling time (s): how long the gas inside takes to follow a change at its ends.

    Linearised isothermal friction-dominated flow is a diffusion of p^2 with D = p L c^2 / (k A q) (k of
    p_u^2 - p_d^2 = k q^2); with the pressure held at one end and the flow at the other its slowest mode decays
    with 4 L^2 / (pi^2 D) = (8 / pi^2) V (p_u - p_d) / (Z R T q): the line pack of the pressure drop over the
    throughput. Where friction is small the acoustic crossings set it: `P_SETTLE_WAVE` L / c. At least a block,
    at most `P_SETTLE_MAX_S`. On issue 24's random layouts the quasi-steady profile's lead decayed to 1/e within
    0.5-1.0 of the first and to 5 % within 1.3-2 of it (the simulator, set-point moves of 5 %)."""
    t_s = max(params[P_SETTLE_WAVE] * seg_cfg[s, GC_LENGTH_M] / seg_cfg[s, GC_WAVE_SPEED], tb)
    base = s * N_ROLES
    su = base + ROLE_PRESSURE_UP
    sd = base + ROLE_PRESSURE_DOWN
    si = base + ROLE_FLOW_IN
    so = base + ROLE_FLOW_OUT
    if (lp_ok and _usable(slot_cfg, slot_f, slot_i, su) and _usable(slot_cfg, slot_f, slot_i, sd)
            and _usable(slot_cfg, slot_f, slot_i, si) and _usable(slot_cfg, slot_f, slot_i, so)):
        pu = slot_f[su, SF_HELD]
        pd = slot_f[sd, SF_HELD]
        pm = 0.5 * (pu + pd)
        q = max(0.5 * abs(slot_f[si, SF_HELD] + slot_f[so, SF_HELD]),
                SETTLE_MIN_FLOW_FRAC * seg_cfg[s, GC_NOMINAL_FLOW])
        if pm > 0.0 and q > 0.0:
            t_s = max(t_s, 8.0 / (math.pi * math.pi) * lp_kg * abs(pu - pd) / (pm * q))
    return min(t_s, max(params[P_SETTLE_MAX_S], tb))


# a silent flow meter's stand-in (the model's flow in the link beside it) is this uncertain, fraction of nominal flow
SILENT_FLOW_SD_FRAC = 0.05
# before any friction prior or calibration, k from the first tick whose inflow is at least this share of nominal
K_FROM_TICK_MIN_FLOW = 0.05


@_jit
def _mid_pressure(seg_cfg, slot_cfg, slot_f, slot_i, s, j):
    """Mid-line transmitter j of the segment for the estimator: its position (-1: none, or not usable this tick),
    tick-mean pressure and variance."""
    x = seg_cfg[s, GC_PMID_X0 + j]
    sl = s * N_ROLES + ROLE_PRESSURE_MID0 + j
    if not (x > 0.0 and x < 1.0) or not _usable(slot_cfg, slot_f, slot_i, sl):
        return -1.0, 0.0, 0.0
    p = slot_f[sl, SF_HELD]
    v = slot_f[sl, SF_HELD_VAR]
    if not (p > 0.0 and v == v):
        return -1.0, 0.0, 0.0
    return x, p, v


@_jit
def _line_pack_estimated(params, seg_cfg, slot_cfg, slot_f, slot_i, seg_f, s, dt):
    """One tick of the segment's state estimator from the tick means of its meters (the ends' flows and pressures,
    and the mid-line pressures: each pins the profile where it stands, so a leak's depression between the ends is
    seen as it forms rather than when it reaches them); its line pack (kg) and that line pack's variance (kg^2)
    and whether it is valid (the filter has started: both end pressures seen once, and a friction coefficient
    known)."""
    base = s * N_ROLES
    su = base + ROLE_PRESSURE_UP
    sd = base + ROLE_PRESSURE_DOWN
    si = base + ROLE_FLOW_IN
    so = base + ROLE_FLOW_OUT
    ok_u = _usable(slot_cfg, slot_f, slot_i, su)
    ok_d = _usable(slot_cfg, slot_f, slot_i, sd)
    ok_i = _usable(slot_cfg, slot_f, slot_i, si)
    ok_o = _usable(slot_cfg, slot_f, slot_i, so)
    pu = slot_f[su, SF_HELD]
    pd = slot_f[sd, SF_HELD]
    b0 = GF_EST0
    q_nom = seg_cfg[s, GC_NOMINAL_FLOW]
    elev = seg_cfg[s, GC_LOC_ELEV]
    vol = seg_cfg[s, GC_VOLUME_M3]
    z0 = seg_cfg[s, GC_Z_Q0]
    z1 = seg_cfg[s, GC_Z_Q1]
    z2 = seg_cfg[s, GC_Z_Q2]
    rt = _gas_rt(seg_cfg, slot_cfg, slot_f, s)
    q_reg = params[P_EST_QREG] * q_nom
    if seg_f[s, b0 + ES_OK] == 0.0:
        if not (ok_u and ok_d and pu > 0.0 and pd > 0.0):
            return 0.0, 0.0, False
        k = seg_cfg[s, GC_LOC_K0]
        if not (k > 0.0):
            q = slot_f[si, SF_HELD] if ok_i else np.nan
            if not (abs(q) >= K_FROM_TICK_MIN_FLOW * q_nom):
                return 0.0, 0.0, False
            k = (pu * pu - pd * pd - 0.5 * elev * (pu * pu + pd * pd)) / (q * abs(q))
            if not (k > 0.0):
                return 0.0, 0.0, False
        est_init(seg_f, s, b0, pu, slot_f[su, SF_HELD_VAR], pd, slot_f[sd, SF_HELD_VAR], k, 0.0, q_reg)
    var_silent = (SILENT_FLOW_SD_FRAC * q_nom) ** 2
    if ok_i:
        q_in = slot_f[si, SF_HELD]
        v_in = slot_f[si, SF_HELD_VAR]
    else:
        q_in = est_end_flow(seg_f, s, b0, True)
        v_in = var_silent
    if ok_o:
        q_out = slot_f[so, SF_HELD]
        v_out = slot_f[so, SF_HELD_VAR]
    else:
        q_out = est_end_flow(seg_f, s, b0, False)
        v_out = var_silent
    sink = params[P_EST_SINK] * q_nom
    x0, p0, v0 = _mid_pressure(seg_cfg, slot_cfg, slot_f, slot_i, s, 0)
    x1, p1, v1 = _mid_pressure(seg_cfg, slot_cfg, slot_f, slot_i, s, 1)
    est_tick(seg_f, s, b0, dt, q_in, v_in, q_out, v_out, pu, slot_f[su, SF_HELD_VAR], ok_u, pd,
             slot_f[sd, SF_HELD_VAR], ok_d, vol, seg_cfg[s, GC_LENGTH_M], rt, z0, z1, z2, elev, sink * sink,
             params[P_EST_FRIC], q_reg, params[P_EST_FULL_EVERY], params[P_EST_MOVE] * q_nom, (x0, x1), (p0, p1),
             (v0, v1))
    lp, var = est_line_pack(seg_f, s, b0, vol, rt, z0, z1, z2)
    if not (lp > 0.0 and var == var):
        seg_f[s, b0 + ES_OK] = 0.0  # a diverged filter restarts from the next tick with both ends
        return 0.0, 0.0, False
    return lp, var, True


@_jit
def _est_recalibrate(seg_f, s, k, c0):
    """The friction model the estimator uses from now on (the location's calibration, kernels/location.py)."""
    if k > 0.0 and seg_f[s, GF_EST0 + ES_OK] != 0.0:
        seg_f[s, GF_EST0 + ES_K] = k
        seg_f[s, GF_EST0 + ES_C0] = c0
