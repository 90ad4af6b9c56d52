"""Index constants shared by the numba kernels, the state object and the Python API.

The detector keeps all state in a handful of dense numpy arrays so that a checkpoint is a byte copy and the
kernels never allocate. Columns of those arrays are named here; numba reads module-level integers as
compile-time constants, so naming them costs nothing in the hot loops.

A *slot* is one instrument of one segment in one role: ``slot = segment_idx * N_ROLES + role_idx``.
"""

from __future__ import annotations

# --- roles of the instruments of one segment -------------------------------------------------------------
ROLE_FLOW_IN = 0  # mass flow into the segment at its upstream end, kg/s
ROLE_FLOW_OUT = 1  # mass flow out at the downstream end (all offtakes summed by the RTU), kg/s
ROLE_PRESSURE_UP = 2  # absolute pressure at the upstream end, Pa
ROLE_PRESSURE_DOWN = 3  # absolute pressure at the downstream end, Pa
ROLE_TEMPERATURE = 4  # gas temperature, K
ROLE_METHANE_0 = 5  # methane %LEL sensors in confined spaces beside the segment
N_METHANE = 3
ROLE_METHANE_END = ROLE_METHANE_0 + N_METHANE
# absolute pressure at mid-line stations, ordered by position (GC_PMID_X0 ...): N_PMID slots, filled from the first.
# After the methane roles, whose numbers older checkpoints (role-keyed reorder buffers) hold.
ROLE_PRESSURE_MID0 = ROLE_METHANE_END
N_PMID = 2
N_ROLES = ROLE_PRESSURE_MID0 + N_PMID
# pressure transmitters per segment (ends, then mid-line): the rows of the NPW history (hist_t, hist_v)
N_PSLOTS = 2 + N_PMID

ROLE_NAMES = ("flow_in", "flow_out", "pressure_up", "pressure_down", "temperature",
              *(f"methane_{i}" for i in range(N_METHANE)), *(f"pressure_mid_{i}" for i in range(N_PMID)))

# --- sensor health codes (pipewarden.leakdetect.v1.SensorHealth) -------------------------------------------
HEALTH_UNKNOWN = 0  # no reading yet
HEALTH_OK = 1
HEALTH_STALE = 2
HEALTH_FLATLINED = 3
HEALTH_STUCK = 4
HEALTH_IMPLAUSIBLE_RATE = 5
HEALTH_OUTVOTED = 6  # a redundant meter that disagrees with its partners beyond its accuracy (kernels.redundancy)

# --- event kinds (what each kind's columns mean: kernels/events.py; decoded into the named events of events.py)
EV_LEAK = 1  # mass balance alarm raised
EV_LEAK_CLEARED = 2  # mass balance alarm cleared
EV_NPW_LEAK = 3  # paired pressure-wave fronts located inside the segment
EV_NPW_BOUNDARY = 4  # paired fronts of an operation: at the up/down end, or the flows disagree
EV_NPW_UNPAIRED = 5  # a front at one end without a partner at the other within L/c
EV_RUPTURE = 6  # a break of rupture size: large fast pressure collapse, or a held end's flow jump (code: RUP_*)
EV_METHANE = 7  # methane level crossed upwards
EV_METHANE_RISE = 8  # methane rate-of-rise alarm
EV_METHANE_CLEARED = 9  # methane back below the alarm level (with hysteresis)
EV_HEALTH = 10  # sensor health changed
EV_BALANCE_SUSPENDED = 11  # mass balance suspended (a flow meter is unhealthy or missing)
EV_BALANCE_RESUMED = 12
EV_BASELINE_LEARNED = 13
EV_LEAK_UPDATE = 14  # leak-rate estimate over the 5 blocks after the raise (the onset block only partly leaks)
EV_LEAK_LOCATION = 15  # position of a balance alarm's leak (pressure-gradient intersection, fused with a wave)
# --- issue 24 learning: a candidate baseline refused (code: REJ_*); EV_BASELINE_LEARNED's code is LS_* ---
EV_BASELINE_REJECTED = 16

EVENT_NAMES = {
    EV_LEAK: "leak",
    EV_LEAK_CLEARED: "leak_cleared",
    EV_NPW_LEAK: "npw_leak",
    EV_NPW_BOUNDARY: "npw_boundary",
    EV_NPW_UNPAIRED: "npw_unpaired",
    EV_RUPTURE: "rupture",
    EV_METHANE: "methane",
    EV_METHANE_RISE: "methane_rise",
    EV_METHANE_CLEARED: "methane_cleared",
    EV_HEALTH: "sensor_health",
    EV_BALANCE_SUSPENDED: "balance_suspended",
    EV_BALANCE_RESUMED: "balance_resumed",
    EV_BASELINE_LEARNED: "baseline_learned",
    EV_LEAK_UPDATE: "leak_update",
    EV_LEAK_LOCATION: "leak_location",
    EV_BASELINE_REJECTED: "baseline_rejected",
}

# --- issue 24 learning (kernels/learning.py) -------------------------------------------------------------------
# How the baseline in use was learned (EV_BASELINE_LEARNED's code, GI_LEARN_SOURCE)
LS_NONE, LS_INITIAL, LS_RELEARN, LS_LEARN_NOW, LS_LEAK_FREE = range(5)
LEARN_SOURCE_NAMES = ("none", "initial", "relearn", "learn_now", "leak_free")
# What the learning window open on a segment is for (GI_LEARN_MODE); the state starts (zeros) in LM_INITIAL
LM_INITIAL, LM_IDLE, LM_RELEARN, LM_COMMANDED, LM_PENDING = range(5)
# Why a periodic re-learning's candidate was not adopted (EV_BASELINE_REJECTED's code)
REJ_ALARM = 1  # a balance alarm was raised or latched during its window
REJ_CUSUM = 2  # Page's CUSUM rose above its allowance during the window
REJ_OFFSET_STEP = 3  # its offset differs from the baseline in use beyond their uncertainty (a leak shows so)
REJ_DRIFT = 4  # ... from the last confirmed baseline (initial, learn now, leak-free): a human must confirm
REJECT_REASON_NAMES = ("none", "alarm_during_window", "cusum_rose", "offset_step", "drift_from_confirmed")

# How a balance alarm's position was found (`events.LeakLocated.method`, the EV_LEAK_LOCATION code)
LOC_NONE = 0  # not located (no calibrated gradient model or no usable pressures): the whole segment
LOC_GRADIENT = 1  # pressure-gradient intersection alone
LOC_GRADIENT_NPW = 2  # gradient fused with the pressure-wave location of the same incident (inverse variance)
LOC_METHOD_NAMES = ("none", "pressure_gradient", "pressure_gradient+pressure_wave")

# What a rupture was seen by (`events.Rupture.evidence`, the EV_RUPTURE code)
RUP_PRESSURE = 0  # the pressure at an end collapsed (the flow at that end agreeing, or silent)
RUP_FLOW = 1  # the flow at an end whose pressure is held (a regulator, a supply) jumped towards a break
RUP_EVIDENCE_NAMES = ("pressure_collapse", "flow_jump")

# Test ids of EV_LEAK (`events.LeakRaised.test`): the window index (0..N_WINDOWS-1), TEST_CUSUM, or TEST_STEP0 +
# the window index (the step test: a window against the reference window before it).
N_WINDOWS = 6
TEST_CUSUM = N_WINDOWS
TEST_STEP0 = TEST_CUSUM + 1

# event integer columns
EI_KIND, EI_SEG, EI_ROLE, EI_TIME, EI_ONSET, EI_CODE = range(6)
N_EI = 6
# event float columns
EF_VALUE, EF_SIGMA, EF_AUX1, EF_AUX2, EF_AUX3 = range(5)
N_EF = 5

# --- counters --------------------------------------------------------------------------------------------------
C_ACCEPTED, C_UNKNOWN_SLOT, C_OUT_OF_ORDER, C_NONFINITE, C_BAD_QUALITY, C_OUT_OF_RANGE, C_IMPLAUSIBLE, C_LATE = range(
    8
)
C_EVENTS_DROPPED = 8
N_COUNTERS = 9
COUNTER_NAMES = (
    "accepted",
    "unknown_slot",
    "out_of_order_or_duplicate",
    "nonfinite",
    "bad_quality",
    "out_of_range",
    "implausible_rate",
    "late",
    "events_dropped",
)

# --- per-slot configuration (float) ---------------------------------------------------------------------------
SC_PRESENT = 0  # 1.0 when an instrument fills this slot
SC_SIGMA_REL = 1  # random error of one reading, fraction of reading (1 s.d.)
SC_SIGMA_ABS = 2  # random error of one reading, SI unit (1 s.d.), added in quadrature
SC_RANGE_MIN = 3
SC_RANGE_MAX = 4
SC_MAX_RATE = 5  # fastest physically plausible change, SI unit per second
SC_SCAN_S = 6  # nominal scan period, s
SC_CONFINED = 7  # methane: 1.0 in a confined space
SC_LEL_ALARM = 8
SC_LEL_GRADE2 = 9
SC_LEL_GRADE1 = 10
SC_TIME_RES_S = 11  # timestamp resolution / clock sync error (1 s.d.), s
N_SC = 12

# --- per-segment configuration (float) ------------------------------------------------------------------------
GC_LENGTH_M = 0
GC_VOLUME_M3 = 1
GC_AREA_M2 = 2
GC_WAVE_SPEED = 3  # m/s
GC_WAVE_SPEED_SD = 4  # 1 s.d. of the wave speed, m/s
GC_NOMINAL_FLOW = 5  # kg/s
GC_R_SPECIFIC = 6  # J/(kg K)
# Z = 1 + Z_SLOPE * p (1/Pa): the chord of the gas physics' Z from 0 to the operating pressure (the state estimator's
# and the sub-segment balances' gas law)
GC_Z_SLOPE = 7
GC_TEMPERATURE_K = 8  # used when no temperature tag
# Pressure-gradient location (kernels/location.py): steady isothermal friction p_u^2 - p_d^2 = k * phi(flows)
# + elevation; k's prior from the pipe (Darcy friction of its roughness at nominal flow, Z, R, T, L / (D A^2))
GC_LOC_K0 = 9  # prior of k, Pa^2 / (kg/s)^2 (0: no prior, location off)
GC_LOC_K0_REL_SD = 10  # its relative 1 s.d.
GC_LOC_ELEV = 11  # 2 g (z_down - z_up) / (Z R T): the elevation's share of p^2 taken out of the gradient
GC_PMID_X0 = 12  # positions of the mid-line pressure meters, fraction of the length (N_PMID columns, ascending)
# The balance's line pack's gas law: Z(p) = Z_Q0 + Z_Q1 p + Z_Q2 p^2 (p in Pa), a least-squares fit of the gas
# physics over the line's pressure range, evaluated along the profile (kernels/line_pack.py, mean_p_over_z)
GC_Z_Q0 = GC_PMID_X0 + N_PMID
GC_Z_Q1 = GC_Z_Q0 + 1  # 1/Pa
GC_Z_Q2 = GC_Z_Q0 + 2  # 1/Pa^2
N_GC = GC_Z_Q0 + 3

# --- per-slot state: floats -----------------------------------------------------------------------------------
SF_LAST_VALUE = 0  # last value received that passed the range checks (plausible or not): confirms a real step
SF_CUR_SUM = 1  # accumulator of the open tick
SF_CUR_N = 2
SF_NXT_SUM = 3  # accumulator of the tick after it (readings that arrive early)
SF_NXT_N = 4
SF_HELD = 5  # last tick mean (sample and hold)
SF_HELD_VAR = 6  # variance of SF_HELD
SF_EW_FAST = 7
SF_EW_SLOW = 8
SF_NOISE_VAR = 9  # running variance of one reading (from first differences)
SF_NPW_BASE = 10  # pressure before a front, frozen while a front is being confirmed
SF_EW_REF = 11  # slow reference pressure for the rupture detector
SF_ANCHOR = 12  # stuck detector anchor value
SF_ROR = 13  # methane rate of rise, %LEL per minute (smoothed)
SF_RUP_T0 = 14  # time the rupture drop started (us, as float)
SF_RAW = 15  # last finite value of any usable quality, UNCERTAIN (clipped) included: what a rupture does to a meter
SF_SLOPE = 16  # slow average of the pressure's rate of change, Pa/s (NPW detrending)
SF_CACHE_DTS = 17  # sample interval the cached smoothing weights below were computed for, s
SF_A_FAST = 18
SF_A_SLOW = 19
SF_A_SLOPE = 20
SF_A_REF = 21
SF_INV_DTS = 22
SF_P_MIN = 23  # pressure: its 1-min average (a held end's pressure must not rise for a flow-jump rupture)
SF_LAST_GOOD_VALUE = 24  # last plausible (accepted) value: what the rate check judges the next reading against
# pressure: the rupture reference's own 10-s average (their difference: a falling trend's trail, `_rupture`);
# an inflow: its rise in the scan where its jump first passed the threshold (`_rupture_flow`)
SF_RUP_REF2 = 25
# pressure: the noise of the collapse reference and of the 1-s average, in units of one reading's noise variance
# (SF_NOISE_VAR): the reference's variance, its covariance with the 1-s average, the 1-s average's variance. Both
# averages restart (start-up; a silence, a decided drop: the reference) with a known share of the noise, far from
# their steady shares b / (2 - b), a / (2 - a), a b / (a + b - a b); `_fast_threshold` judges their difference by it
SF_REF_VAR = 26
SF_REF_COV = 27
SF_FAST_VAR = 28
N_SF = 29

# --- per-slot state: ints -------------------------------------------------------------------------------------
SI_LAST_TIME = 0  # last received time (any quality) us; -1 before the first
SI_LAST_GOOD_TIME = 1
SI_HEALTH = 2
SI_FLAT_N = 3
SI_STUCK_N = 4
SI_IMPL_N = 5  # consecutive implausible readings
SI_GOOD_RUN = 6  # consecutive plausible readings since the last implausible one
SI_NPW_PHASE = 7  # 0 idle, 1 confirming a front, 2 refractory
SI_NPW_T_DET = 8
SI_NPW_N = 9
SI_HIST_POS = 10  # ring position of the pressure history
SI_HIST_N = 11
SI_LEVEL = 12  # methane level 0..3
SI_ROR_LATCH = 13
SI_RUP_N = 14  # consecutive readings beyond the rupture threshold
SI_READINGS = 15
SI_FLAT_T0 = 16
SI_RAW_TIME = 17
N_SI = 18

# --- per-segment state: floats --------------------------------------------------------------------------------
GF_CUM_M = 0  # cumulative measured net inflow mass, kg
GF_CUM_Q = 1  # cumulative throughput (mean of in and out) * dt, kg
GF_CUM_V = 2  # cumulative variance of GF_CUM_M, kg^2
GF_CUM_A = 3  # cumulative |change of line pack|, kg (transient activity)
GF_LP = 4  # block-mean line pack of the last block, kg
GF_LP_VAR = 5
GF_BLK_M = 6  # accumulators of the open block
GF_BLK_Q = 7
GF_BLK_V = 8
GF_B_W = 9  # baseline learning sums (weighted least squares r = a + g q)
GF_B_WQ = 10
GF_B_WR = 11
GF_B_WQQ = 12
GF_B_WQR = 13
GF_B_WRR = 14
GF_BASE_A = 15
GF_BASE_G = 16
GF_KAPPA = 17  # noise inflation factor learned from the leak-free residuals (>= 1)
GF_BASE_VAR = 18  # variance of the baseline prediction, (kg/s)^2
GF_CUSUM = 19
GF_CUSUM_SUM_E = 20  # sum of residuals since the CUSUM onset, kg/s * blocks
GF_CUSUM_SUM_V = 21
GF_NPW_T_UP = 22  # pending front times (us as float) and amplitudes (Pa)
GF_NPW_T_DN = 23
GF_NPW_A_UP = 24
GF_NPW_A_DN = 25
GF_Z0 = 26  # last z per window (N_WINDOWS columns)
GF_MDLR0 = GF_Z0 + N_WINDOWS  # minimum detectable leak rate per window, kg/s
GF_LAST_E = GF_MDLR0 + N_WINDOWS  # last block residual, kg/s
GF_LAST_SIGMA = GF_LAST_E + 1
GF_NPW_SIG_UP = GF_LAST_SIGMA + 1  # timing s.d. of the pending fronts, s
GF_NPW_SIG_DN = GF_NPW_SIG_UP + 1
GF_MBAR_PREV = GF_NPW_SIG_DN + 1  # block mean of the cumulative net inflow, previous block
GF_BLK_MBAR = GF_MBAR_PREV + 1  # accumulators of the open block: mean cumulative mass, line pack sums
GF_BLK_LP = GF_BLK_MBAR + 1
GF_BLK_LPN = GF_BLK_LP + 1
GF_BLK_LPVAR = GF_BLK_LPN + 1
GF_VAR_G = GF_BLK_LPVAR + 1  # posterior variance of the baseline gain
GF_QBAR = GF_VAR_G + 1  # mean throughput while learning, kg/s
GF_B_T = GF_QBAR + 1  # learning: seconds of valid blocks
GF_B_V = GF_B_T + 1  # learning: summed variance of the net inflow (flow meter noise), kg^2
GF_B_LPV = GF_B_V + 1  # learning: line-pack variance at the ends of the runs of consecutive blocks, kg^2
GF_B_VB = GF_B_LPV + 1  # learning: summed propagated variance of the block residuals, (kg/s)^2
GF_BLK_LPSYS = GF_B_VB + 1  # open block: summed s.d. of the ticks' systematic line-pack error, kg
GF_SZ0 = GF_BLK_LPSYS + 1  # last z of the step test per window (N_WINDOWS columns; nan where it does not run)
GF_TLP1 = GF_SZ0 + N_WINDOWS  # line pack of the tick before the last closed one, kg (nan: not valid)
GF_TLP1_VAR = GF_TLP1 + 1
GF_TLP2 = GF_TLP1_VAR + 1  # and of the one before that
GF_TLP2_VAR = GF_TLP2 + 1
GF_G_M = GF_TLP2_VAR + 1  # learning: the open group of blocks (P_LEARN_GROUP): net mass after line pack, kg
GF_G_Q = GF_G_M + 1  # ... throughput, kg
GF_G_V = GF_G_Q + 1  # ... net inflow variance, kg^2
GF_G_LPV0 = GF_G_V + 1  # ... variance of the line pack the group starts from, kg^2
GF_G_RUNV = GF_G_LPV0 + 1  # ... twice that where the group starts a run of consecutive groups, else 0, kg^2
# pressure-gradient location (kernels/location.py): cumulative sums over location-valid ticks (pushed to the ring
# at each block), the calibration's forgetting sums, the last pressure-wave location (for the fusion)
GF_CUM_LD = GF_G_RUNV + 1  # sum of d = p_u^2 - p_d^2 - elevation term, Pa^2 * ticks
GF_CUM_LQ1 = GF_CUM_LD + 1  # sum of the inflow, kg/s * ticks
GF_CUM_LQ2 = GF_CUM_LQ1 + 1  # sum of the inflow squared
GF_CUM_LVD = GF_CUM_LQ2 + 1  # sum of the propagated variance of the tick's d
GF_CUM_LPP = GF_CUM_LVD + 1  # sum of the mean square pressure (p_u^2 + p_d^2) / 2
GF_CUM_LN = GF_CUM_LPP + 1  # location-valid ticks
GF_CUM_LVQ = GF_CUM_LN + 1  # sum of the propagated variance of the tick's inflow squared
GF_LC_W = GF_CUM_LVQ + 1  # calibration: forgetting sums of blocks (weight, phi, phi^2, d, phi d, d^2, var, p^2)
GF_LC_F = GF_LC_W + 1
GF_LC_FF = GF_LC_F + 1
GF_LC_D = GF_LC_FF + 1
GF_LC_FD = GF_LC_D + 1
GF_LC_DD = GF_LC_FD + 1
GF_LC_VD = GF_LC_DD + 1
GF_LC_PP = GF_LC_VD + 1
GF_LC_VF = GF_LC_PP + 1  # ... and of the blocks' phi noise variance (errors in variables)
GF_NPWL_X = GF_LC_VF + 1  # last pressure-wave leak location, m, its s.d. and onset (us as float; nan: none)
GF_NPWL_SD = GF_NPWL_X + 1
GF_NPWL_T = GF_NPWL_SD + 1
# the location's reference: the leak-free window just before the alarm's onset, taken at the raise (its d and
# flows, the balance's raw imbalance and throughput); the leak and the model's offset are measured against it
GF_LR_OK = GF_NPWL_T + 1  # 1 when a reference was taken
GF_LR_IMB = GF_LR_OK + 1  # raw imbalance (net inflow less line-pack change), kg/s, and its variance
GF_LR_VIMB = GF_LR_IMB + 1
GF_LR_Q = GF_LR_VIMB + 1  # throughput, kg/s
GF_LR_D = GF_LR_Q + 1  # mean d, Pa^2, and the variance of that mean
GF_LR_VD = GF_LR_D + 1
GF_LR_Q1 = GF_LR_VD + 1  # mean inflow and its mean square
GF_LR_Q2 = GF_LR_Q1 + 1
GF_LR_PACK = GF_LR_Q2 + 1  # packing rate (shrunk), kg/s
# rupture (kernels/rupture.py): the last time an end showed an operation (less gas coming in at the upstream end,
# more drawn at the downstream end), us as float, 0 = never: what the other end sees within the wave's travel
# time after it is that operation's wave, not a break
GF_RUP_OP_UP = GF_LR_PACK + 1
GF_RUP_OP_DN = GF_RUP_OP_UP + 1
# --- issue 24 learning (kernels/learning.py) ---
GF_LEARNED_T = GF_RUP_OP_DN + 1  # when the baseline in use was adopted, us as float (0: never)
GF_LW_T0 = GF_LEARNED_T + 1  # start of the open learning window, us as float
GF_BASE_T0 = GF_LW_T0 + 1  # the window the baseline in use was learned over: start, us as float
GF_LPV_EW = GF_BASE_T0 + 1  # running mean of the blocks' line-pack variance, kg^2 (0: none yet)
GF_RL_CUSUM_MAX = GF_LPV_EW + 1  # highest CUSUM during the open re-learning window
GF_ANC_A = GF_RL_CUSUM_MAX + 1  # the last confirmed baseline (initial, learn now, leak-free): offset, gain, ...
GF_ANC_G = GF_ANC_A + 1
GF_ANC_VAR = GF_ANC_G + 1  # ... its prediction's variance at its throughput, (kg/s)^2
GF_ANC_VARG = GF_ANC_VAR + 1  # ... its gain's variance
GF_ANC_QBAR = GF_ANC_VARG + 1  # ... and its throughput, kg/s
# the gain pool's own variance of the gain in use (kernels/learning.py `_pool_candidate`); GF_VAR_G, what detection
# states, is no smaller
GF_POOL_VARG = GF_ANC_QBAR + 1
GF_C_A = GF_POOL_VARG + 1  # the last candidate of a re-learning (pending or rejected): offset, gain, kappa, ...
GF_C_G = GF_C_A + 1
GF_C_KAPPA = GF_C_G + 1
GF_C_VAR = GF_C_KAPPA + 1
GF_C_VARG = GF_C_VAR + 1
GF_C_QBAR = GF_C_VARG + 1
GF_C_T0 = GF_C_QBAR + 1  # ... and its window, us as float
GF_C_T1 = GF_C_T0 + 1
GF_NEXT_RELEARN = GF_C_T1 + 1  # when the next periodic re-learning opens, us as float
# --- issue 24 line-pack state estimator (kernels/estimator.py): its block of columns, ES_* offsets from GF_EST0 ---
EST_N_CELLS = 16  # cells of the estimator's grid (its end points on the transmitters; why 16: kernels/estimator.py)
EST_N = 2 * EST_N_CELLS + 1  # its state: EST_N_CELLS + 1 pressures and EST_N_CELLS link flows, interleaved
EST_NEWTON = 3  # Newton iterations of the implicit step per tick
ES_OK = 0  # 1 once the filter has started (both end pressures seen), 0 = (re)start it
ES_K = 1  # friction coefficient k of the whole segment, Pa^2 / (kg/s)^2 (as kernels/location.py's)
ES_C0 = 2  # the friction model's offset c0, Pa^2
ES_NSKIP = 3  # ticks since the covariance was last propagated (P_EST_FULL_EVERY)
ES_QI_REF = 4  # the end flows (kg/s) and which end pressures were usable (1/0) at that tick
ES_QO_REF = 5
ES_OKU_REF = 6
ES_OKD_REF = 7
ES_X0 = 8  # the state (p_0 Pa, m_0 kg/s, p_1, ..., p_N) (EST_N columns)
ES_COV0 = ES_X0 + EST_N  # its covariance, row-major (EST_N^2 columns)
ES_KU0 = ES_COV0 + EST_N * EST_N  # the gains of the upstream and downstream pressure at that tick (EST_N each)
ES_KD0 = ES_KU0 + EST_N
ES_KM0 = ES_KD0 + EST_N  # the gains of the mid-line pressures at that tick (EST_N each, N_PMID of them)
ES_XM_REF0 = ES_KM0 + N_PMID * EST_N  # the position (fraction of length) of each mid-line pressure used then, -1: not
ES_W_DIAG = ES_XM_REF0 + N_PMID  # scratch of one tick, not state: Jacobian diagonals, pivots, ...
ES_W_LO = ES_W_DIAG + EST_N
ES_W_UP = ES_W_LO + EST_N
ES_W_CP = ES_W_UP + EST_N
ES_W_G = ES_W_CP + EST_N
ES_W_PN = ES_W_G + EST_N
N_ES = ES_W_PN + EST_N
# --- mid-line pressure meters in the location (kernels/location.py), N_PMID columns each: cumulative sums over
# the location-valid ticks where mid meter j is usable too: of c_j = p_u^2 - p_j^2 - its elevation share (Pa^2),
# of its propagated variance, and the count of such ticks; the reference window's mean c_j and its variance
GF_CUM_LDM0 = GF_NEXT_RELEARN + 1
GF_CUM_LVDM0 = GF_CUM_LDM0 + N_PMID
GF_CUM_LNM0 = GF_CUM_LVDM0 + N_PMID
GF_LR_DM0 = GF_CUM_LNM0 + N_PMID  # nan: no usable reference for that meter
GF_LR_VDM0 = GF_LR_DM0 + N_PMID
# scratch of one location (not state; the kernels do not allocate): the points' xs, eps, var, dc, d phi0 / d pack
GF_MS0 = GF_LR_VDM0 + N_PMID
N_MS = N_PMID + 1
# negative pressure waves at the mid-line meters (kernels/pressure.py): pending fronts' times (us as float),
# amplitudes (Pa) and timing s.d. (s), N_PMID columns each, and the end of the window in which the fronts of a wave
# already paired are its later arrivals at the other meters, taken in silence (us as float; 0: none)
GF_NPW_T_M0 = GF_MS0 + 5 * N_MS
GF_NPW_A_M0 = GF_NPW_T_M0 + N_PMID
GF_NPW_SIG_M0 = GF_NPW_A_M0 + N_PMID
GF_NPW_DONE_T = GF_NPW_SIG_M0 + N_PMID
# the quasi-steady line pack through a silent end pressure (kernels/line_pack.py `_line_pack`): the last tick with
# both end pressures and both flows usable, its friction drop d = p_u^2 - p_d^2 - elevation term (Pa^2) and its
# flow term phi (the profile's int q^2, (kg/s)^2); GF_LPA_OK 1 once such a tick was seen
GF_LPA_D = GF_NPW_DONE_T + 1
GF_LPA_PHI = GF_LPA_D + 1
GF_LPA_OK = GF_LPA_PHI + 1
# the last time the inflow stood off its 1-min average by an operation's size either way (kernels/rupture.py
# `_rupture_flow`), us as float, 0 = never: an outflow dip within the line's acoustic settling time after it is
# the line settling, not a break's front (`_outflow_dip`)
GF_RUP_IN_MOVED = GF_LPA_OK + 1
# the line pack's diffusion lag (kernels/line_pack.py `_diffuse`, P_LP_DIFFUSION > 0): the first N_LPD odd modes'
# first-order lags of the steady profile's line pack (kg), and 1 once they hold a line pack (0: restart from the next)
N_LPD = 3
GF_LPD0 = GF_RUP_IN_MOVED + 1
GF_LPD_OK = GF_LPD0 + N_LPD
GF_BLK_LPD = GF_LPD_OK + 1  # open block: summed lag taken off the ticks' steady line pack, kg
GF_LPD_PREV = GF_BLK_LPD + 1  # the last valid block's mean lag, kg (nan: none; P_LP_DIFF_MATCHED)
# the state estimator's block last: 1,400-odd columns that only `line_pack_estimator` reads, so the columns every
# tick reads stay together in the row's first pages
GF_EST0 = GF_LPD_PREV + 1
N_GF = GF_EST0 + N_ES

# --- per-segment state: ints ----------------------------------------------------------------------------------
GI_TICK = 0  # index of the open tick (time_us // tick_us); -1 before the first reading
GI_CLOCK = 1  # latest reading time seen on the segment
GI_N_BLOCKS = 2  # blocks pushed into the ring
GI_RING_POS = 3
GI_LEARNED = 4
GI_N_LEARN = 5
GI_LATCHED = 6  # mass balance alarm latched
GI_CLEAR_RUN = 7
GI_CUSUM_ONSET = 8  # time (us) at which the CUSUM left zero
GI_CUSUM_N = 9
GI_SUSPENDED = 10
GI_BLK_INVALID = 11  # the open block has a tick without a healthy balance
GI_NPW_PEND_UP = 12
GI_NPW_PEND_DN = 13
GI_RUPTURE_UNTIL = 14  # refractory end of the rupture detector, us
GI_LP_VALID = 15
GI_T_START = 16  # first reading time on the segment, us
GI_SINCE_RAISE = 17  # blocks since the alarm was raised
GI_PERSIST0 = 18  # consecutive blocks over threshold per window (N_WINDOWS columns)
GI_LEARN_LAST = GI_PERSIST0 + N_WINDOWS  # block count at the last learning block (a gap starts a new run)
GI_SPERSIST0 = GI_LEARN_LAST + 1  # consecutive blocks over threshold per step test (N_WINDOWS columns)
GI_G_N = GI_SPERSIST0 + N_WINDOWS  # learning: blocks in the open group
GI_LOC_ONSET = GI_G_N + 1  # onset of the latest balance alarm, us (the calibration skips from there ...)
GI_LOC_CLEAR = GI_LOC_ONSET + 1  # ... to its clear, us (-1 while latched)
# --- issue 24 learning (kernels/learning.py) ---
GI_LEARN_MODE = GI_LOC_CLEAR + 1  # what the open learning window is for (LM_*)
GI_LEARN_CMD_T = GI_LEARN_MODE + 1  # "learn now" pending from this time, us (0: none)
GI_LEARN_SOURCE = GI_LEARN_CMD_T + 1  # how the baseline in use was learned (LS_*)
GI_LEARN_SKIPPED = GI_LEARN_SOURCE + 1  # blocks the learning left out as transient, in the open window
GI_LEARN_SKIPPED_TOTAL = GI_LEARN_SKIPPED + 1  # ... ever
GI_LEARN_REJECTED = GI_LEARN_SKIPPED_TOTAL + 1  # why the last re-learning was rejected (REJ_*, 0: none)
GI_RELEARN_N = GI_LEARN_REJECTED + 1  # re-learnings adopted
GI_RELEARN_REJ_N = GI_RELEARN_N + 1  # ... and rejected
GI_BASE_N = GI_RELEARN_REJ_N + 1  # blocks the baseline in use was fitted on
GI_NPW_PEND_M0 = GI_BASE_N + 1  # a front pending at mid-line meter j (N_PMID columns; kernels/pressure.py)
N_GI = GI_NPW_PEND_M0 + N_PMID

# --- ring of block boundaries per segment ---------------------------------------------------------------------
R_TIME = 0  # block end, us as float
R_M = 1  # block mean of the cumulative net inflow (aligned with the block-mean line pack)
R_Q = 2
R_V = 3
R_LP = 4
R_LP_VAR = 5
R_A = 6  # cumulative line-pack movement beyond pressure noise, kg (block mean to block mean)
R_INVALID = 7  # cumulative count of invalid blocks
R_X = 8  # line-pack movement a block ahead at the rate of the block's last ticks, beyond noise, kg
R_RL = 9  # the correction taken off the block's line pack, kg: the ramp lag (balance._ramp_lag) or the diffusion lag
# (line_pack._diffuse, lp_diffusion; balance._matched_lag); 0: none
# the settling lead's weighted movement before the block (`settle._settle_sd`'s m, without eps), kept once a window
# test computed it with the ring reaching its four boxes back: the rows it reads never change, so each later test
# of a window with an end at this block reads it instead of four boxes (with the same settling time in blocks,
# R_STL_NSB, and noise factor, R_STL_NK; R_STL_NSB 0: none kept). In the rows' first cache lines, beside the fields
# a window end reads.
R_STL_M = 10
R_STL_NSB = R_STL_M + 1
R_STL_NK = R_STL_NSB + 1
R_LD = R_STL_NK + 1  # the location's cumulative sums (GF_CUM_LD ...) at the block's end
R_LQ1 = R_LD + 1
R_LQ2 = R_LQ1 + 1
R_LVD = R_LQ2 + 1
R_LPP = R_LVD + 1
R_LN = R_LPP + 1
R_LVQ = R_LN + 1
# the mid-line meters' cumulative sums (GF_CUM_LDM0 ..., GF_CUM_LVDM0 ..., GF_CUM_LNM0 ...), N_PMID each
R_LDM0 = R_LVQ + 1
R_LVDM0 = R_LDM0 + N_PMID
R_LNM0 = R_LVDM0 + N_PMID
N_R = R_LNM0 + N_PMID

# ticks over which the line pack's rate at the end of a block is measured (R_X)
RATE_TICKS = 2

HIST_LEN = 64  # pressure samples kept per pressure slot for sub-sample front timing

# --- parameters (float vector) --------------------------------------------------------------------------------
P_TICK_US = 0
P_BLOCK_TICKS = 1
P_WIN0 = 2  # window lengths in blocks (N_WINDOWS entries)
P_LEARN_BLOCKS = P_WIN0 + N_WINDOWS
P_Z_WINDOW = P_LEARN_BLOCKS + 1
P_PERSIST = P_Z_WINDOW + 1
P_CUSUM_K = P_PERSIST + 1
P_CUSUM_H = P_CUSUM_K + 1
P_EPS_LP = P_CUSUM_H + 1
P_GAIN_PRIOR = P_EPS_LP + 1
P_CLEAR_BLOCKS = P_GAIN_PRIOR + 1
P_STALE_FACTOR = P_CLEAR_BLOCKS + 1
P_STALE_MIN_S = P_STALE_FACTOR + 1
P_FLAT_N = P_STALE_MIN_S + 1
P_FLAT_S = P_FLAT_N + 1
P_STUCK_FRAC = P_FLAT_S + 1
P_IMPL_CLEAR_N = P_STUCK_FRAC + 1
P_NPW_TAU_FAST = P_IMPL_CLEAR_N + 1
P_NPW_TAU_SLOW = P_NPW_TAU_FAST + 1
P_NPW_K = P_NPW_TAU_SLOW + 1
P_NPW_MIN_DROP = P_NPW_K + 1
P_NPW_CONFIRM_S = P_NPW_MIN_DROP + 1
P_NPW_REFRACT_S = P_NPW_CONFIRM_S + 1
P_NPW_PAIR_TOL = P_NPW_REFRACT_S + 1
P_NPW_END_FRAC = P_NPW_PAIR_TOL + 1
P_RUP_FRAC = P_NPW_END_FRAC + 1
P_RUP_TAU = P_RUP_FRAC + 1
P_RUP_CONFIRM = P_RUP_TAU + 1
P_RUP_REFRACT_S = P_RUP_CONFIRM + 1
P_CH4_HYST = P_RUP_REFRACT_S + 1
P_CH4_ROR = P_CH4_HYST + 1
P_CH4_ROR_MIN = P_CH4_ROR + 1
P_CH4_ROR_TAU = P_CH4_ROR_MIN + 1
P_LP_TRANS_FLOOR = P_CH4_ROR_TAU + 1
P_KAPPA_MIN = P_LP_TRANS_FLOOR + 1
P_LP_NOISE_K = P_KAPPA_MIN + 1
P_LP_SCALE_ERR = P_LP_NOISE_K + 1
P_MODEL_FLOOR = P_LP_SCALE_ERR + 1
P_STEP_REF = P_MODEL_FLOOR + 1  # step test: reference window length as a multiple of the window; 0 = off
P_END_DIV = P_STEP_REF + 1  # window ends averaged over nb // P_END_DIV blocks (at least 1); 0 = one block
P_LEARN_GROUP = P_END_DIV + 1  # baseline learned on groups of this many consecutive blocks (a time scale)
P_LEARN_AFTER_US = P_LEARN_GROUP + 1  # no learning from blocks ending sooner after the segment's first reading
P_LOC_LAG = P_LEARN_AFTER_US + 1  # location: blocks a block waits before it calibrates the gradient model
P_LOC_TAU_S = P_LOC_LAG + 1  # location: the calibration forgets with this time constant, s
P_LOC_EVERY = P_LOC_TAU_S + 1  # location: a latched alarm's position is refined every this many blocks
P_LOC_MIN_CAL = P_LOC_EVERY + 1  # location: calibration blocks (weight) needed before locating
P_LOC_MODEL_SD = P_LOC_MIN_CAL + 1  # location: 1 s.d. of the steady-gradient model's error, fraction of length
P_RUP_MIN_FLOW = P_LOC_MODEL_SD + 1  # rupture: the smallest rupture, fraction of nominal flow
P_RUP_FLOW_JUMP = P_RUP_MIN_FLOW + 1  # rupture: a held end's flow jump, fraction of the smallest rupture
# --- issue 24 learning (kernels/learning.py; DetectorParams) ---
P_LEARN_TRANS = P_RUP_FLOW_JUMP + 1  # a block's line-pack model error over its meters' noise that skips it
P_LEARN_LPV = P_LEARN_TRANS + 1  # a block's line-pack variance over its running mean that skips it
P_RELEARN_US = P_LEARN_LPV + 1  # periodic re-learning every this many us (0: never)
P_RELEARN_AGREE = P_RELEARN_US + 1  # a candidate's offset must agree within this many s.d.
P_RELEARN_CUSUM = P_RELEARN_AGREE + 1  # ... and the CUSUM stay below this fraction of cusum_h
P_RELEARN_CHECKS = P_RELEARN_CUSUM + 1  # 0: adopt every candidate (the naive re-learning, for comparison)
# --- issue 24 line-pack state estimator (kernels/estimator.py; DetectorParams) ---
P_LP_EST = P_RELEARN_CHECKS + 1  # 1 = the line pack from the state estimator, 0 = the quasi-steady profile
P_EST_SINK = P_LP_EST + 1  # its unmodelled sources, 1 s.d., fraction of nominal flow
P_EST_FRIC = P_EST_SINK + 1  # its friction's relative s.d. per tick
P_EST_QREG = P_EST_FRIC + 1  # its friction law's regularisation flow, fraction of nominal flow
P_EST_EPS = P_EST_QREG + 1  # its transient allowance: the decision's eps_lp when the estimator is on
P_EST_FULL_EVERY = P_EST_EPS + 1  # its covariance is propagated at least every this many ticks ...
P_EST_MOVE = P_EST_FULL_EVERY + 1  # ... and whenever an end flow moved this much since (fraction of nominal)
# --- issue 24 settling allowance (kernels.decision._settle_sd, kernels.line_pack._settle_time; DetectorParams) ---
P_SETTLE_EPS = P_EST_MOVE + 1  # 1-s.d. share of the decayed line-pack movement at settle_ref_s
P_SETTLE_WAVE = P_SETTLE_EPS + 1  # settling time at least this many acoustic crossings L / c
P_SETTLE_MAX_S = P_SETTLE_WAVE + 1  # ... and at most this, s
P_SETTLE_REF_S = P_SETTLE_MAX_S + 1  # the share grows with the settling time up to this, s
P_SETTLE_WINDOWS = P_SETTLE_REF_S + 1  # the allowance applies to this many shortest windows (and the step tests)
P_SETTLE_SHORT = P_SETTLE_WINDOWS + 1  # 1: ... and to every window shorter than the segment's settling time
P_LEARN_SETTLE = P_SETTLE_SHORT + 1  # learning skips a block whose settling lead exceeds this many of its s.d.
P_SETTLE_OPPOSED = P_LEARN_SETTLE + 1  # 1: the settling allowance counts only movement the ends' net inflow matched
P_EST_SETTLE_EPS = P_SETTLE_OPPOSED + 1  # the settling allowance's share with the state estimator on (0: off)
# --- far-break rupture evidence (kernels.rupture; DetectorParams, on by default since issue 19's ramp checks) ---
P_RUP_SPREAD = P_EST_SETTLE_EPS + 1  # 1: a gradual inflow rise at a held inlet may be a far break's spread front
P_RUP_OUTFLOW_DIP = P_RUP_SPREAD + 1  # 1: the outlet's flow dip with its pressure falling is a break's front
# --- issue 24: the quasi-steady line pack's lag behind a throughput ramp (kernels.balance._ramp_lag) ---
P_LP_RAMP_LAG = P_RUP_OUTFLOW_DIP + 1  # a block's line pack less this times T_s^2 times the throughput's rate
# ... where the inlet's pressure moved more than this share of the outlet's (a set-point move), only while the
# throughput moves the inlet's way (0: everywhere)
P_LP_RAMP_HELD = P_LP_RAMP_LAG + 1
P_LP_RAMP_SURGE = P_LP_RAMP_HELD + 1  # 1: ... and there while the throughput moves the inlet's way; 0: not there
P_LP_RAMP_LAG_SD = P_LP_RAMP_SURGE + 1  # 1 s.d. of that correction's change between a test's line packs, share of it
P_LP_DIFFUSION = P_LP_RAMP_LAG_SD + 1  # > 0: the steady line pack lagged by the diffusion's modes, tau_1 / T_s
P_LP_DIFF_MATCHED = P_LP_DIFFUSION + 1  # 1: the lag's change counts as uncertain only in blocks an operation moved
N_P = P_LP_DIFF_MATCHED + 1
