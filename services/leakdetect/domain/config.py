"""Detector parameters (one set for all segments) and the per-segment / per-instrument configuration arrays.

`DetectorParams` holds every tunable with its default and why; `DetectorConfig` holds the network model in
the form the kernels read (dense float arrays indexed by segment and by slot). Build a config from the
network model with `services.leakdetect.domain.network_config.config_from_network`, or by hand with
`DetectorConfig.empty` + `set_segment` / `set_instrument` (tests, benchmarks).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

from services.network.constants import R_UNIVERSAL_J_PER_MOL_K

from . import layout as L

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DetectorParams:
    """Parameters shared by all segments. Defaults are the documented operating point, not tuned per scenario."""

    # Compensated mass balance (a).
    tick_s: float = 10.0  # readings are averaged per tick; line pack is evaluated on tick means
    # A block (30 s) is the unit of the statistical test and of the window ring. Half a minute, not one: a test
    # needs `persist_blocks` blocks over its threshold, so the block sets how soon any leak can be raised (on
    # the bench suite the median time to detect a 10-20 % leak fell from 140 to 75 s, and 1 % within 5 min of
    # an abrupt onset from 0.79 to 0.86, with no false alarm over 80 leak-free days).
    block_ticks: int = 3
    # Window lengths in blocks, tested side by side: 1, 2, 4 and 8 min, doubling, plus the quarter hour and the
    # hour that sensitivity is stated for. A leak is found by the window that matches its time since onset (a
    # 10-min ramp by the 8-min window; the 5 min goal by 2 and 4).
    windows_blocks: tuple[int, ...] = (2, 4, 8, 16, 30, 120)
    learn_blocks: int = 120  # leak-free blocks (an hour) used to learn the baseline (offset + gain on throughput)
    # The baseline is fitted on the sums of consecutive blocks over this time scale, however long a block is: the
    # residual scatter it learns (kappa) includes slow errors (line-pack temperature, meter drift) that grow with
    # the window, and a 30-s block shows too little of them for the 8- to 60-min windows.
    learn_group_s: float = 60.0
    # No learning from the first minutes after a segment's first reading: the gas temperature starts as a running
    # mean of a few +-0.5 K readings, and its settling moves the line pack by kilograms (0.2 K is 8 kg on TR-04),
    # which the learned offset would keep for the rest of the day.
    learn_after_s: float = 300.0
    # Prior s.d. of the baseline gain (difference of the meters' percent-of-reading biases), as a multiple of
    # sqrt(2) * the larger relative error of the two meters: the Bayesian ridge of the gain fit, and the
    # gain's remaining uncertainty widens sigma when the throughput moves away from where it was learned.
    # That term dominates the stated sensitivity of the 8- to 60-min windows through a day (bench-detect's
    # sensitivity curve). The gain is not refined from arbitrary later operation, on purpose: tried as an
    # hourly refit from the groups' deviations about each hour's mean (so a constant leak cannot pull on it),
    # it took slow drifts during a throughput ramp for gain and raised a false alarm in 48 held-out leak-free
    # days; refitting on the hours' levels instead cannot tell a leak too small to alarm from a gain error, and
    # would absorb it. It is refined only from periodic re-learnings that passed their leak checks: each adopted
    # one is pooled with the baseline in use (`kernels.learning._pool_candidate`), across the throughputs their
    # windows visited; a refused window never enters.
    gain_prior: float = 1.0
    # Statistical decision (b).
    z_window: float = 5.0  # window test: alarm when imbalance > z * sigma for `persist_blocks` blocks
    persist_blocks: int = 2
    cusum_k: float = 1.0  # Page's CUSUM reference value (in sigma of one block): slow baseline drift below it
    cusum_h: float = 10.0  # Page's CUSUM decision interval; ARL0 ~ 1e5 blocks (~ 100 days) for Gaussian noise
    # Line-pack model error (see kernels.decision._transient_sd): the quasi-steady profile errs by `eps_lp` of the
    # line-pack movement (beyond `lp_noise_k` s.d. of pressure noise) through the blocks at each end of a
    # window (after the newest block: at the rate of its last ticks), and the line pack's pressure sensitivity by
    # `lp_scale_err` (pipe volume, Z, temperature). Calibrated on the simulator
    # (tests/unit/leakdetect/domain/test_line_pack_transients.py: supply cuts with a flow reversal, demand steps): the
    # error is 0.5-2.2 % RMS of that movement by segment, at most 5 %. (Counting the movement of the block
    # before each end as well, as this did before, it was 0.4-3.6 % RMS and up to 15 %: a block's quasi-steady
    # error follows the rate through it and after it, not before.) The scale error is what a real line
    # leaves: the pipe's inner diameter to +-0.25 % (area +-0.5 %) and a temperature transmitter's bias (~0.1 %);
    # the simulator's own (probe flows half a grid cell inside the pipe, 1.1 %) was fixed rather than allowed for.
    eps_lp: float = 0.025
    lp_noise_k: float = 2.0
    lp_scale_err: float = 0.005
    # 1 s.d. of the balance error no instrument explains, as a fraction of nominal flow, on every window
    model_floor_frac: float = 0.0003
    # Step test: each window's imbalance against the reference window of `step_ref_factor` times its length just
    # before it. The baseline cancels (what the meters' bias does at today's throughput is in both windows), so
    # a leak that starts while the throughput is far from where the baseline was learned still shows; 0 = off.
    step_ref_factor: float = 2.0
    # Each end of a window of nb blocks is the mean of nb // end_avg_div blocks (at least one, at most what the
    # ring holds: 1, 2, 4, 8, 15 and 1 for the default windows), both the cumulative inflow and the line pack.
    # The line pack's pressure noise at the ends, which dominates windows of a few minutes on a large line,
    # falls by the square root of that; the window's centres move in by half as many blocks less one.
    # 0 = one block at each end. (2 and 4 tried on the bench suite; a held-out suite confirmed 2.)
    end_avg_div: int = 2
    lp_trans_floor: float = 0.0  # extra absolute sigma (kg/s) during transients, 0 = none
    kappa_min: float = 0.5  # floor of the learned ratio of residual scatter to propagated uncertainty
    clear_blocks: int = 30  # blocks (15 min) with no evidence before a latched alarm clears
    # Sensor health (f).
    stale_factor: float = 3.0  # stale after this many scan periods without a good reading ...
    stale_min_s: float = 5.0  # ... but never sooner than this
    flat_n: int = 30  # identical values in a row before flat-lined ...
    # ... lasting at least this long. Shorter than the mass balance's fastest alarm (two 30-s blocks): a flow meter
    # that dies reading a constant must be flagged, and the balance suspended, before its imbalance can alarm.
    flat_s: float = 30.0
    stuck_frac: float = 0.02  # changes below this fraction of the random error count as stuck (same n and s)
    implausible_clear_n: int = 10  # plausible readings in a row before an implausible-rate tag is OK again
    # Negative pressure wave (c).
    npw_tau_fast_s: float = 1.0  # smoothing of the pressure before front detection and timing
    npw_tau_slow_s: float = 8.0
    npw_k: float = 6.0  # front detection: drop > k * noise of the fast average
    npw_min_drop_pa: float = 300.0
    npw_confirm_s: float = 3.0  # wait this long after the first crossing to measure the front's amplitude
    npw_refractory_s: float = 30.0
    npw_pair_tol: float = 0.10  # fronts pair when |dt| <= (1 + tol) L / c + 3 timing s.d.
    npw_end_frac: float = 0.03  # located within this fraction of L (or 2 s.d.) of an end: boundary event
    # Rupture (e).
    # pressure below the reference by 1.5 % of it, or by the Joukowsky front of the smallest rupture
    # (c * rupture_min_flow_frac * nominal flow / (2 A): half the outflow is drawn from each side) if that is less,
    # but never by less than 4 s.d. of one reading ...
    rupture_frac: float = 0.015
    rupture_min_flow_frac: float = 0.2  # the smallest rupture (issue 19: >= 20 % of nominal flow)
    # At an end whose pressure is held (a regulator, a supply) the wave from a break turns into a flow jump: the
    # incident wave's flow doubled on reflection, about the rupture's outflow near the end, less with distance
    # (friction spreads the front). A jump of this fraction of the smallest rupture (at least 4 s.d.) towards a
    # break, with that end's pressure not rising over its 1-min average, is a rupture. 0.4 (was 0.5): the spread
    # fronts of far breaks at regulated inlets of issue 19's random layouts; a 12 % leak's inflow share (6 %) stays
    # under it (not a rupture).
    rupture_flow_jump_frac: float = 0.4
    rupture_tau_s: float = 10.0  # ... reference: average of the pressure (a ramp lags it little, a collapse much)
    rupture_confirm_s: float = 1.0  # held this long (and two readings), inflow not falling
    rupture_refractory_s: float = 600.0
    # Two kinds of rupture evidence that decide far breaks on long lines (issue 19's random layouts, end meters:
    # regulated ends 9 -> 11 of 12 within 10 s of the first wave). `rupture_spread_front` 1: a gradual inflow rise
    # at a held inlet (or one still climbing when decided) is a far break's spread front once another transmitter
    # has seen the break's wave fall beyond its trend (`rupture._far_side_saw_break`) and the inlet neither moved
    # nor marked an operation (0: a jump must be sharp where it passes the threshold and then hold);
    # `rupture_outflow_dip` 1: the outflow's sharp dip with the outlet pressure falling beyond the line's trend,
    # not while the line settles from an inflow move (`rupture._outflow_dip`). On by default since those checks:
    # without them the demo city's leak-free days had 28 rupture false alarms in 32.1 segment-days with both on
    # (set-point rises packing through the held inlet, lowered set-points' inflow climbing back, dips at the end
    # of set-point ramp-downs and as the line repacked after a valve reopened), 0 with them; 0 turns either off.
    rupture_spread_front: int = 1
    rupture_outflow_dip: int = 1
    # Pressure-gradient location of balance alarms (kernels/location.py). A block calibrates the friction model
    # only `loc_lag_blocks` (30 min) after it closed, and only if no balance alarm's onset lies before it
    # since: a leak found late (a small one takes up to half an hour) must not already be in the model.
    loc_lag_blocks: int = 60
    # The calibration forgets with this time constant (the friction model is re-learned as the gas temperature,
    # the pressure level and the meters' drift move; several hours keep the day's throughput swings in it).
    loc_tau_s: float = 6 * 3600.0
    loc_every_blocks: int = 10  # a latched alarm's position is refined every 5 min (an update on leak.alarms.v1)
    loc_min_cal_blocks: float = 20.0  # calibration blocks (10 min) before any location is given
    # 1 s.d. of what the steady-state gradient model itself errs by, as a fraction of the length, added to the
    # instruments' and the calibration's share: after an onset the line unpacks around the leak for tens of
    # minutes (not spread evenly, as the packing correction assumes), and a gradual onset is no step. On the
    # long-line fixture with near-perfect meters the model still put a 2 % leak 1-4 % of the length short of it
    # (biased towards the inlet), on the bench's random layouts up to ~10 %.
    loc_model_sd_frac: float = 0.04
    # Methane (d).
    ch4_hysteresis_lel: float = 5.0
    ch4_rise_lel_per_min: float = 5.0
    ch4_rise_min_lel: float = 5.0
    ch4_rise_tau_s: float = 30.0
    # --- issue 24: learning a user can control (kernels/learning.py) ---
    # The learning window, s: leak-free time the baseline is fitted on (first learning, "learn now" and each
    # periodic re-learning). None = `learn_blocks` blocks (an hour at the default 30-s block).
    learn_window_s: float | None = None
    # A block is left out of learning when the line-pack model's error it may carry (`eps_lp` of its line-pack
    # movement beyond pressure noise, before, through and after it) exceeds this fraction of the s.d. its
    # meters explain: a transient's quasi-steady error is not noise, and a fit on it learns the transient ...
    learn_transient_ratio: float = 0.5
    # ... or when its line-pack variance exceeds this multiple of its running mean (an end transmitter lost,
    # an estimator unsure): the block says little and its errors are not the ones kappa should measure.
    learn_lp_var_ratio: float = 4.0
    # ... or when it lies inside a settling time after an operation (a set-point or demand move): the settling
    # allowance's lead at its end (`kernels.settle._settle_sd`, whatever the line-pack model; counting only the
    # movement the ends' inflow matched, an operation's, `settle_opposed`) exceeds this many s.d. of the block.
    # Measured on the estimator tests' 30-km line (all the movement over 4 settling times, in block s.d.): steady
    # 5-34 (what noise itself leaves beyond noise; at most 10 at the 0.3 share), after its -5 % set-point move
    # ~1000-2800, an hour after its +15 % demand move still 50-300. Per-block meter noise (`learn_transient_ratio`'s
    # scale) is far too fine for it: at 0.5 no block of the steady line was quiet. At 20 the first learning was
    # held off through the suites' daily demand profile (on the transient sample, `benchmarks.transient_sample`:
    # 0.22 of 3.03 monitored segment-days lost, PD within 5 min at 1 % 0.62 -> 0.57); at 100 the sample's figures
    # are those without the check, and the 30-km line's learn-now window still waits out both moves (200 blocks
    # left out against 135 without it).
    learn_settle_ratio: float = 100.0
    # Periodic re-learning, s (0 = never). A candidate baseline is fitted beside detection over a learning
    # window and adopted only if no alarm was raised or latched and the CUSUM stayed below
    # `relearn_cusum_frac` * cusum_h during it, and its offset agrees, within `relearn_agree_sd` s.d. of their
    # difference, with the baseline in use and with the last confirmed one (initial, learn now, leak-free):
    # a leak is an offset step, so an offset change beyond that waits for a human's "this period was
    # leak-free". Six hours: the day's throughput swings (night low, day high) are what the gain's
    # uncertainty costs sensitivity on (the MDLR levelled off at 0.36 % from 8 min on with one learning),
    # and four candidates a day follow them; the window is an hour of the six, so an alarm or a ramp spoils
    # one attempt, not the day's.
    relearn_every_s: float = 6 * 3600.0
    relearn_agree_sd: float = 2.0
    relearn_cusum_frac: float = 0.5
    relearn_checks: bool = True  # False: adopt every candidate (the naive re-learning, for comparison only)

    # --- issue 24: the line-pack state estimator (kernels/estimator.py) ---
    # 1: the line pack and its variance from an extended Kalman filter on the discretised segment (its
    # uncertainty replaces the quasi-steady profile's transient allowance `eps_lp`); 0: the quasi-steady profile
    # with that allowance (kept for comparison: `python -m benchmarks.detection` runs both).
    line_pack_estimator: int = 0
    # Its unmodelled mass sources, 1 s.d. per tick, fraction of nominal flow (the leak, temperature, Z): what keeps
    # the filter from absorbing a leak into the line pack (see the kernel's docstring). Larger follows the
    # pressures sooner and passes more of their noise into the line pack.
    est_sink_frac: float = 0.02
    est_friction_sd: float = 0.02  # its friction's relative jitter per tick (the profile's shape may move)
    est_qreg_frac: float = 0.01  # its friction law is regularised below this flow, fraction of nominal
    # What the estimator's model still errs by through operations (the grid's 16 cells, backward Euler over a 10-s
    # tick), as `eps_lp` is for the quasi-steady profile: a fraction of the line pack's movement through the
    # blocks at each end of a window (kernels.decision._transient_sd). On the estimator tests' 30-km line
    # (supply set-point -5 % and demand +15 %, each over 5 min) its block error was at most ~1.7 % of that
    # movement, the quasi-steady profile's ~36 %.
    est_eps_lp: float = 0.01
    # Speed: the steady-state filter. The covariance (and with it the Jacobian, the gains and the line pack's
    # variance) is propagated every tick until the gains settle (kernels/estimator.py GAIN_SETTLED_REL), every
    # tick while an end flow moves by more than `est_move_frac` of nominal flow from where it was at the last
    # such tick or an end pressure is silent, and at least every `est_full_every` ticks (a check that the gains
    # still hold); in between the state moves with the last full tick's Jacobian and gains. 1 = every tick, the
    # plain EKF. With 30, on the estimator tests' traces the block line-pack changes stay within 0.1 kg of the
    # plain EKF's and the variance within -5 % / +8 % (tests/unit/leakdetect/estimator), and the estimator's
    # tick costs ~0.2 us instead of ~4 us (benchmarks.detection, speed: estimator rows). `est_move_frac` 0.02:
    # well above the tick means' noise (0.005 let flow-meter noise alone force a full tick in ~1 of 20), and a
    # move that does change the gains keeps the full ticks going until they settle again.
    est_full_every: int = 30
    est_move_frac: float = 0.02

    # --- issue 24: the quasi-steady line pack's lead through operations (kernels.decision._settle_sd) ---
    # The quasi-steady profile follows the end pressures at once, while the gas inside follows by diffusion: after
    # a set-point move it leads the true line pack by up to 20-36 % of the movement on 40-60 km lines (the
    # simulator, issue 24's random layouts), and that lead decays over the segment's settling time T_s =
    # max((8 / pi^2) V (p_u - p_d) / (Z R T q), `settle_wave_factor` L / c), at most `settle_max_s`: the slowest
    # diffusion mode of the linearised isothermal line, or the acoustic crossings where friction is small. The
    # allowance is `settle_eps` (1 s.d.) of the line-pack movement, each block's weighted by exp(-age / T_s), at
    # each end of a window: a window whose ends both lie after the line settled is tested at full sensitivity
    # again. The measured lead was at most ~0.9 of that decayed movement on most lines, up to 1.7 (short lines,
    # the first blocks of a fast move); 0.3 puts the 5-s.d. threshold at 1.5 of it. 0 = off (eps_lp alone). What
    # was tried and what it gave: the design note's issue-24 paragraph (services/leakdetect/domain/__init__.py).
    settle_eps: float = 0.3
    settle_wave_factor: float = 2.0
    settle_max_s: float = 1200.0
    # ... and that share scales with the settling time up to `settle_ref_s` (eps = settle_eps * min(1, T_s /
    # settle_ref_s)): the lead is the line pack's rate times how long the gas takes to follow, so a short line
    # leads by little (measured 2-4 % of the movement at T_s 50-100 s, 17-37 % at 400-800 s). Without the scaling
    # the allowance hid 1 % leaks in ramps on 9-28 km lines (PD within 5 min 0.86 -> 0.40 on 42 leaks, at 0.1).
    settle_ref_s: float = 600.0
    # The allowance widens the step tests and the `settle_windows` shortest windows, not the CUSUM. The trade, on
    # the first 12 runs of the transient_free suite (3.0 leak-free segment-days, 13-59 km lines; 24 false alarms
    # without it, one a rupture alarm) and 42 leaks of 1 % on 14 layouts of 4-28 km (PD within 5 min 0.86; steady
    # 0.93, demand 1.0, supply changes 0.64): 1 (the 1-min window): 19 false alarms (13 move to the 2-min
    # window), PD 0.81 (supply changes 0.50); 3 (up to 4 min): 17 (now the 8-min window); 6 (every window): 5
    # (3 CUSUM, 1 rupture, one 2-min window), PD 0.55 (0.71, 0.64, 0.29), the rate at the raise 21 -> 15 % and in
    # the update 3.6 -> 2.3 % (median). The line pack a leak itself unpacks counts as movement too, which is what
    # costs PD in steady operation. The default keeps PD; 6 is the setting that stops most false alarms.
    settle_windows: int = 1
    # ... and (issues 19/24, opt-in) the windows beyond those: 1 every window shorter than the segment's settling
    # time T_s at the block, each end's lead counted alone as above; 2 those windows with the change of the
    # signed lead between the ends (kernels.settle._settle_lead: a first-order lag's lead is the rate times the
    # lag, equal at both ends of a steady ramp, so only a change of rate is allowed for); 3 that on every window.
    # Not the default: 1 hid a 2 % leak for 30 min on the random layouts' location suite (the slow diurnal
    # demand swing on 40-60 km lines is movement too); figures in the design note's issue-24 paragraphs.
    settle_short_windows: int = 0
    # Which line-pack movement the settling allowance counts (issue 24: tell an operation from a leak). 0: all of
    # it, beyond noise. 1: only what the ends' net inflow matched (kernels.settle._box_opposed): an operation
    # packs or unpacks the line through its ends, so the net inflow and the line pack move the same way; a leak
    # takes gas out between them, the line pack falls while the net inflow rises, and its own unpacking earns no
    # allowance that would hide it. On the sample below (the first 14 transient_leaks layouts' 1 % leaks, 13-59 km,
    # and the first 12 transient_free runs; `benchmarks.transient_sample`): with `settle_windows` 1 the two
    # measures give the same figures (PD within 5 min 0.57, 13 false alarms in 2.8 segment-days); on every window
    # the matched movement keeps more PD for about the same false alarms (0.36 and 4, against 0.29 and 3 for all
    # the movement); up to the 4-min window (3): 0.55 and 10. Not the default: it lowers the allowance wherever the
    # ends' inflow did not match the movement, and the suites that hold the demo city's 0 false alarms were not
    # re-run with it. (Learning's settling check always counts the matched movement: `learn_settle_ratio`.)
    settle_opposed: int = 0
    # The settling allowance's share (as settle_eps) when the state estimator gives the line pack: its model
    # follows the gas inside, but its residual still errs through an operation's first minutes (its 16 cells, its
    # steady-state gains). 0: no allowance with the estimator (its est_eps_lp alone, as before).
    est_settle_eps: float = 0.0
    # The quasi-steady profile's lag behind a throughput ramp (issue 24, `kernels.balance._ramp_lag`): with the
    # flow taken as varying linearly between the meters, the profile still leads the gas inside while the throughput
    # ramps, by about `lp_ramp_lag` T_s^2 dq/dt (T_s the settling time above, dq/dt the throughput's rate over the
    # last two blocks against the two before): the diffusion's next order. Measured against the simulator's own line
    # pack on the mdlr_week suite (the profile fed the true end pressures and flows, the rate from the metered
    # throughput): on layout 003 (34 km) the profile's error over 4-, 8- and 15-min windows grew with the flow,
    # 0.3-0.4 kg s.d. under 0.6 of nominal, 1.0-1.4 kg at 0.6-0.85 and 2.2-3.3 kg at the daily peaks, where the
    # balance's z scattered 1.5-2.2 s.d. (the 4- and 8-min false alarms a fully pooled gain let through); the fit
    # there, 0.021, takes the peaks' to 0.9 / 1.3 / 2.0 kg, and fitted alone on layout 005 (28 km, 381 mm) it is
    # 0.023 (10.8 / 17.0 / 26.5 -> 7.2 / 13.8 / 24.8 kg: that line's error is mostly something else). 0 = off.
    lp_ramp_lag: float = 0.021
    # ... and only where the ramp is a demand move's (`kernels.balance._inlet_held`): the fit above is a demand
    # move's (the outlet's pressure moves with the friction drop, a regulated inlet's is held). A set-point move
    # shifts the whole line from the inlet, its inflow surging and relaxing over the settling time, and there the
    # throughput's rate is no measure of the profile's error: on #24's sample (benchmarks/DETECTION.md) the ramp lag
    # added false alarms after set-point moves, and on layout 003's +2.8 % move over 69 s it raised the 1-min
    # window's excursion from 1.25 to 2.05 kg/s in the surge itself (the profile's flow term lags a fast surge). So
    # where the inlet's p^2 moved more than this share of the outlet's, over two settling times before the rate's span
    # or over the span itself, there is no correction. 0.5 lies between the two: an unregulated inlet moves by its
    # feeder's share of the drop (0.5-5 km against a 2-60 km line: 0.02-0.22 on the issue-24 layouts 0-15), a
    # set-point move's inlet as much as its outlet, and first. 0 = the correction everywhere, the default since the
    # correction's own uncertainty (`lp_ramp_lag_sd`, below) came in: where the correction moves during a set-point
    # move, its change is counted as uncertain, and on the measured suites that did better than leaving it out
    # (2026-12-07, fifth session, the same merged code: #24's sample 13 false alarms against 17 with 0.5, PD within
    # 5 min at 1 % 0.57 alike; random leak-free days 1 against 2; mdlr_week 1.78 against 1.77). Kept as an option.
    lp_ramp_lag_held: float = 0.0
    # 1: within a set-point move's look-back the correction still applies while the throughput moves the inlet's way
    # (the inflow's surge, not its relaxation). Not the default: on the sample it keeps the supply-change PD the
    # correction gave (0.21 -> 0.57 after the first wave) but those detections come in the surge, where the same term
    # amplifies the set-point excursion that raises the false alarms (layout 009's leak: 441 -> 51 s).
    lp_ramp_lag_surge: int = 0
    # That correction's own error (issue 19's random layouts' leak-free days, 2026-12-07): a test's line packs carry
    # the correction's change between them, and the corrected line pack's error grows with it. Against the
    # simulator's own line pack (random layouts' leak-free days, end meters), the squared change of the detector's
    # line-pack error over 2-, 4-, 8- and 15-min windows regressed on the squared change of the correction gave 1 s.d.
    # shares of 0.25-0.71 on layouts 13 and 16 (48-54 km, which raised the alarms), 0.00-0.59 on layouts 11 and 25
    # (58 and 50 km, which did not); median of the 15 fits 0.37. A steady ramp's correction is the same at both ends
    # and cancels, its error too; where the correction goes on after an outage (its first blocks have no rate yet)
    # the whole correction is its change. 1 s.d., a share of |change|, in the window and step tests and the CUSUM's
    # block residual; 0 = none.
    lp_ramp_lag_sd: float = 0.4
    # The line pack as the gas inside follows its ends (issue 24; `kernels.line_pack._diffuse`): > 0 takes each
    # tick's line pack from the steady profile of the end pressures and lags it as linearised isothermal flow does,
    # tau_1 = this times T_s; 0.25 is the physics (with both end pressures given the slowest mode is a quarter of
    # `kernels.line_pack._settle_time`'s), not a fit. The ramp lag (`lp_ramp_lag`) is off with it (the lag is its
    # next order) and the lag's change counts as uncertain by `lp_ramp_lag_sd`. 0 = off (the quasi-steady profile
    # with the flow term, taken at once): the default, because on #24's sample it trades PD for false alarms as the
    # allowances do (figures in the design note, `services.leakdetect.domain`).
    lp_diffusion: float = 0.0
    # 1: with lp_diffusion, the lag's change counts as uncertain (`lp_ramp_lag_sd`, R_RL) only over blocks whose line
    # pack moved the way the ends' net inflow after the baseline did (an operation packing or unpacking the line
    # through its ends, as `settle_opposed` judges a box); a leak's own unpacking (line pack down, net inflow up)
    # adds none. 0: every block's.
    lp_diffusion_matched: int = 0

    def to_array(self) -> F64:
        p = np.zeros(L.N_P)
        p[L.P_TICK_US] = round(self.tick_s * 1e6)
        p[L.P_BLOCK_TICKS] = self.block_ticks
        for i, w in enumerate(self.windows_blocks):
            p[L.P_WIN0 + i] = w
        p[L.P_LEARN_BLOCKS] = self.learn_blocks
        p[L.P_Z_WINDOW] = self.z_window
        p[L.P_PERSIST] = self.persist_blocks
        p[L.P_CUSUM_K] = self.cusum_k
        p[L.P_CUSUM_H] = self.cusum_h
        p[L.P_EPS_LP] = self.eps_lp
        p[L.P_GAIN_PRIOR] = self.gain_prior
        p[L.P_CLEAR_BLOCKS] = self.clear_blocks
        p[L.P_STALE_FACTOR] = self.stale_factor
        p[L.P_STALE_MIN_S] = self.stale_min_s
        p[L.P_FLAT_N] = self.flat_n
        p[L.P_FLAT_S] = self.flat_s
        p[L.P_STUCK_FRAC] = self.stuck_frac
        p[L.P_IMPL_CLEAR_N] = self.implausible_clear_n
        p[L.P_NPW_TAU_FAST] = self.npw_tau_fast_s
        p[L.P_NPW_TAU_SLOW] = self.npw_tau_slow_s
        p[L.P_NPW_K] = self.npw_k
        p[L.P_NPW_MIN_DROP] = self.npw_min_drop_pa
        p[L.P_NPW_CONFIRM_S] = self.npw_confirm_s
        p[L.P_NPW_REFRACT_S] = self.npw_refractory_s
        p[L.P_NPW_PAIR_TOL] = self.npw_pair_tol
        p[L.P_NPW_END_FRAC] = self.npw_end_frac
        p[L.P_RUP_FRAC] = self.rupture_frac
        p[L.P_RUP_TAU] = self.rupture_tau_s
        p[L.P_RUP_CONFIRM] = self.rupture_confirm_s
        p[L.P_RUP_REFRACT_S] = self.rupture_refractory_s
        if not (self.rupture_min_flow_frac > 0.0 and self.rupture_flow_jump_frac > 0.0
                and math.isfinite(self.rupture_min_flow_frac) and math.isfinite(self.rupture_flow_jump_frac)):
            raise ValueError("rupture_min_flow_frac and rupture_flow_jump_frac must be finite and > 0")
        p[L.P_RUP_MIN_FLOW] = self.rupture_min_flow_frac
        p[L.P_RUP_FLOW_JUMP] = self.rupture_flow_jump_frac
        for name in ("rupture_spread_front", "rupture_outflow_dip"):
            if getattr(self, name) not in (0, 1):
                raise ValueError(f"{name} must be 0 or 1")
        p[L.P_RUP_SPREAD] = self.rupture_spread_front
        p[L.P_RUP_OUTFLOW_DIP] = self.rupture_outflow_dip
        p[L.P_CH4_HYST] = self.ch4_hysteresis_lel
        p[L.P_CH4_ROR] = self.ch4_rise_lel_per_min
        p[L.P_CH4_ROR_MIN] = self.ch4_rise_min_lel
        p[L.P_CH4_ROR_TAU] = self.ch4_rise_tau_s
        p[L.P_LP_TRANS_FLOOR] = self.lp_trans_floor
        p[L.P_KAPPA_MIN] = self.kappa_min
        p[L.P_LP_NOISE_K] = self.lp_noise_k
        p[L.P_LP_SCALE_ERR] = self.lp_scale_err
        for name in ("eps_lp", "lp_noise_k", "lp_scale_err", "model_floor_frac", "step_ref_factor"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {v}")
        p[L.P_MODEL_FLOOR] = self.model_floor_frac
        p[L.P_STEP_REF] = self.step_ref_factor
        if self.end_avg_div < 0:
            raise ValueError(f"end_avg_div must be >= 0, got {self.end_avg_div}")
        p[L.P_END_DIV] = self.end_avg_div
        p[L.P_LEARN_GROUP] = self.learn_group_blocks
        if not (math.isfinite(self.learn_after_s) and self.learn_after_s >= 0.0):
            raise ValueError(f"learn_after_s must be finite and >= 0, got {self.learn_after_s}")
        p[L.P_LEARN_AFTER_US] = self.learn_after_s * 1e6
        if not (self.loc_lag_blocks >= 1 and self.loc_lag_blocks + 2 <= self.ring_len and self.loc_every_blocks >= 1
                and self.loc_tau_s > 0 and self.loc_min_cal_blocks >= 1):
            raise ValueError("loc_lag_blocks must be 1..ring_len - 2; loc_every_blocks, loc_tau_s and "
                             "loc_min_cal_blocks positive")
        p[L.P_LOC_LAG] = self.loc_lag_blocks
        p[L.P_LOC_TAU_S] = self.loc_tau_s
        p[L.P_LOC_EVERY] = self.loc_every_blocks
        p[L.P_LOC_MIN_CAL] = self.loc_min_cal_blocks
        if not (math.isfinite(self.loc_model_sd_frac) and self.loc_model_sd_frac >= 0.0):
            raise ValueError(f"loc_model_sd_frac must be finite and >= 0, got {self.loc_model_sd_frac}")
        p[L.P_LOC_MODEL_SD] = self.loc_model_sd_frac
        if self.tick_s <= 0 or self.block_ticks < 1 or min(self.windows_blocks) < 1:
            raise ValueError("tick_s, block_ticks and windows must be positive")
        if len(self.windows_blocks) != L.N_WINDOWS:
            raise ValueError(f"windows_blocks needs {L.N_WINDOWS} entries")
        # --- issue 24 learning ---
        p[L.P_LEARN_BLOCKS] = self.learn_window_blocks
        for name in ("learn_transient_ratio", "learn_lp_var_ratio", "relearn_every_s", "relearn_agree_sd",
                     "relearn_cusum_frac"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {v}")
        if 0.0 < self.relearn_every_s < self.learn_window_blocks * self.block_s:
            raise ValueError(f"relearn_every_s ({self.relearn_every_s:g}) must be 0 (never) or at least the learning "
                             f"window ({self.learn_window_blocks * self.block_s:g} s)")
        p[L.P_LEARN_TRANS] = self.learn_transient_ratio
        p[L.P_LEARN_LPV] = self.learn_lp_var_ratio
        p[L.P_RELEARN_US] = self.relearn_every_s * 1e6
        p[L.P_RELEARN_AGREE] = self.relearn_agree_sd
        p[L.P_RELEARN_CUSUM] = self.relearn_cusum_frac
        p[L.P_RELEARN_CHECKS] = 1.0 if self.relearn_checks else 0.0
        # --- issue 24 line-pack estimator ---
        if self.line_pack_estimator not in (0, 1):
            raise ValueError(f"line_pack_estimator must be 0 or 1, got {self.line_pack_estimator}")
        for name in ("est_sink_frac", "est_friction_sd", "est_qreg_frac"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"{name} must be finite and > 0, got {v}")
        p[L.P_LP_EST] = self.line_pack_estimator
        p[L.P_EST_SINK] = self.est_sink_frac
        p[L.P_EST_FRIC] = self.est_friction_sd
        p[L.P_EST_QREG] = self.est_qreg_frac
        if not (math.isfinite(self.est_eps_lp) and self.est_eps_lp >= 0.0):
            raise ValueError(f"est_eps_lp must be finite and >= 0, got {self.est_eps_lp}")
        p[L.P_EST_EPS] = self.est_eps_lp
        if not (self.est_full_every >= 1 and math.isfinite(self.est_move_frac) and self.est_move_frac >= 0.0):
            raise ValueError("est_full_every must be >= 1 and est_move_frac finite and >= 0")
        p[L.P_EST_FULL_EVERY] = self.est_full_every
        p[L.P_EST_MOVE] = self.est_move_frac
        # --- issue 24 settling allowance ---
        for name in ("settle_eps", "settle_wave_factor", "settle_max_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {v}")
        if not (math.isfinite(self.settle_ref_s) and self.settle_ref_s > 0.0):
            raise ValueError(f"settle_ref_s must be finite and > 0, got {self.settle_ref_s}")
        p[L.P_SETTLE_REF_S] = self.settle_ref_s
        if not 0 <= self.settle_windows <= L.N_WINDOWS:
            raise ValueError(f"settle_windows must be 0..{L.N_WINDOWS}, got {self.settle_windows}")
        p[L.P_SETTLE_WINDOWS] = self.settle_windows
        if self.settle_short_windows not in (0, 1, 2, 3):
            raise ValueError(f"settle_short_windows must be 0..3, got {self.settle_short_windows}")
        p[L.P_SETTLE_SHORT] = self.settle_short_windows
        p[L.P_SETTLE_EPS] = self.settle_eps
        p[L.P_SETTLE_WAVE] = self.settle_wave_factor
        p[L.P_SETTLE_MAX_S] = self.settle_max_s
        if not (math.isfinite(self.learn_settle_ratio) and self.learn_settle_ratio > 0.0):
            raise ValueError(f"learn_settle_ratio must be finite and > 0, got {self.learn_settle_ratio}")
        p[L.P_LEARN_SETTLE] = self.learn_settle_ratio
        if self.settle_opposed not in (0, 1):
            raise ValueError(f"settle_opposed must be 0 or 1, got {self.settle_opposed}")
        p[L.P_SETTLE_OPPOSED] = self.settle_opposed
        p[L.P_EST_SETTLE_EPS] = self._finite_non_negative("est_settle_eps")
        p[L.P_LP_RAMP_LAG] = self._finite_non_negative("lp_ramp_lag")
        p[L.P_LP_RAMP_HELD] = self._finite_non_negative("lp_ramp_lag_held")
        if self.lp_ramp_lag_surge not in (0, 1):
            raise ValueError(f"lp_ramp_lag_surge must be 0 or 1, got {self.lp_ramp_lag_surge}")
        p[L.P_LP_RAMP_SURGE] = self.lp_ramp_lag_surge
        p[L.P_LP_RAMP_LAG_SD] = self._finite_non_negative("lp_ramp_lag_sd")
        p[L.P_LP_DIFFUSION] = self._finite_non_negative("lp_diffusion")
        if self.lp_diffusion_matched not in (0, 1):
            raise ValueError(f"lp_diffusion_matched must be 0 or 1, got {self.lp_diffusion_matched}")
        p[L.P_LP_DIFF_MATCHED] = self.lp_diffusion_matched
        return p

    def _finite_non_negative(self, name: str) -> float:
        """The setting `name`, refused with a message naming it unless finite and >= 0."""
        value = float(getattr(self, name))
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"{name} must be finite and >= 0, got {getattr(self, name)}")
        return value

    @property
    def learn_window_blocks(self) -> int:
        """Blocks in the learning window (`learn_window_s`, or `learn_blocks`); at least 3 groups (a gain, an
        offset and a scatter are fitted)."""
        if self.learn_window_s is None:
            blocks = self.learn_blocks
        else:
            if not (math.isfinite(self.learn_window_s) and self.learn_window_s > 0.0):
                raise ValueError(f"learn_window_s must be finite and > 0, got {self.learn_window_s}")
            blocks = round(self.learn_window_s / self.block_s)
        least = 3 * self.learn_group_blocks
        if blocks < least:
            raise ValueError(f"the learning window ({blocks} blocks of {self.block_s:g} s) must hold at least {least} "
                             f"blocks (3 groups of learn_group_s)")
        return int(blocks)

    @property
    def learn_group_blocks(self) -> int:
        """Blocks summed into one learning sample (at least one)."""
        if not (math.isfinite(self.learn_group_s) and self.learn_group_s >= 0.0):
            raise ValueError(f"learn_group_s must be finite and >= 0, got {self.learn_group_s}")
        return max(1, round(self.learn_group_s / self.block_s))

    @property
    def block_s(self) -> float:
        """Length of a block, s."""
        return self.tick_s * self.block_ticks

    def window_index_for_minutes(self, minutes: float) -> int:
        """Index of the window lasting `minutes` (e.g. 15: the quarter hour MDLR is stated for)."""
        blocks = minutes * 60.0 / self.block_s
        if blocks != round(blocks):
            raise ValueError(f"a {minutes}-min window is not a whole number of {self.block_s:g}-s blocks")
        return self.window_index(round(blocks))

    def window_index(self, blocks: int) -> int:
        """Index of the window of `blocks` blocks (e.g. 15: the quarter hour MDLR is stated for)."""
        if blocks not in self.windows_blocks:
            raise ValueError(f"no {blocks}-block window in {self.windows_blocks}")
        return self.windows_blocks.index(blocks)

    @property
    def ring_len(self) -> int:
        return max(self.windows_blocks) + 3  # + the blocks before the window's start (end means, transient term)


# A configuration built by hand (tests, benchmarks) is of a lean natural gas, M ~ 17.4 g/mol (specific gravity
# 0.6), at 15 °C, unless `set_segment` says otherwise; `config_from_network` takes both from the network model.
DEFAULT_R_SPECIFIC = R_UNIVERSAL_J_PER_MOL_K / 0.0174
DEFAULT_TEMPERATURE_K = 288.15

# Default utility-tunnel / confined-space methane thresholds, % LEL (domain brief; configurable per sensor).
LEL_ALARM = 20.0
LEL_GRADE2 = 40.0
LEL_GRADE1_CONFINED = 80.0


@dataclass
class DetectorConfig:
    """Per-segment and per-slot configuration arrays; `segment_ids[i]` names segment i."""

    segment_ids: list[str]
    seg_cfg: F64  # [n_segments, N_GC]
    slot_cfg: F64  # [n_segments * N_ROLES, N_SC]
    tag_slots: dict[str, int] = field(default_factory=dict)  # tag id -> slot (segment * N_ROLES + role)

    @classmethod
    def empty(cls, n_segments: int) -> DetectorConfig:
        seg_cfg = np.zeros((n_segments, L.N_GC))
        seg_cfg[:, L.GC_TEMPERATURE_K] = DEFAULT_TEMPERATURE_K
        seg_cfg[:, L.GC_R_SPECIFIC] = DEFAULT_R_SPECIFIC
        seg_cfg[:, L.GC_Z_Q0] = 1.0  # ideal gas until set_segment
        slot_cfg = np.zeros((n_segments * L.N_ROLES, L.N_SC))
        slot_cfg[:, L.SC_RANGE_MIN] = -np.inf
        slot_cfg[:, L.SC_RANGE_MAX] = np.inf
        slot_cfg[:, L.SC_MAX_RATE] = np.inf
        slot_cfg[:, L.SC_SCAN_S] = 1.0
        slot_cfg[:, L.SC_LEL_ALARM] = LEL_ALARM
        slot_cfg[:, L.SC_LEL_GRADE2] = LEL_GRADE2
        slot_cfg[:, L.SC_LEL_GRADE1] = np.inf
        slot_cfg[:, L.SC_TIME_RES_S] = 0.001
        return cls([f"seg{i}" for i in range(n_segments)], seg_cfg, slot_cfg)

    @property
    def n_segments(self) -> int:
        return int(self.seg_cfg.shape[0])

    def set_segment(
        self,
        seg: int,
        *,
        length_m: float,
        inner_diameter_m: float,
        nominal_flow_kg_per_s: float,
        wave_speed_m_per_s: float,
        wave_speed_sd_m_per_s: float | None = None,
        temperature_k: float = DEFAULT_TEMPERATURE_K,
        r_specific: float | None = None,
        z_slope_per_pa: float = 0.0,
        z_quadratic: tuple[float, float, float] | None = None,
        segment_id: str | None = None,
        loc_k0: float = 0.0,
        loc_k0_rel_sd: float = 0.15,
        loc_elevation_per_pa2: float = 0.0,
    ) -> None:
        """`loc_k0`: prior of the pressure-gradient location's friction coefficient k (p_u^2 - p_d^2 = k q^2 on a
        level line, Pa^2 s^2/kg^2; 0 = no location), `loc_k0_rel_sd` its relative s.d., `loc_elevation_per_pa2`
        the elevation's share 2 g dz / (Z R T) of p^2 (see `kernels.location`). `z_quadratic`: (z0, z1 1/Pa,
        z2 1/Pa^2) of the line pack's Z(p) = z0 + z1 p + z2 p^2 (default: the chord 1 + z_slope_per_pa p)."""
        if not (length_m > 0 and inner_diameter_m > 0 and wave_speed_m_per_s > 0 and nominal_flow_kg_per_s > 0):
            raise ValueError("segment length, diameter, wave speed and nominal flow must be positive")
        area = math.pi * inner_diameter_m**2 / 4.0
        g = self.seg_cfg[seg]
        g[L.GC_LENGTH_M] = length_m
        g[L.GC_AREA_M2] = area
        g[L.GC_VOLUME_M3] = area * length_m
        g[L.GC_WAVE_SPEED] = wave_speed_m_per_s
        g[L.GC_WAVE_SPEED_SD] = (
            0.01 * wave_speed_m_per_s if wave_speed_sd_m_per_s is None else wave_speed_sd_m_per_s
        )
        g[L.GC_NOMINAL_FLOW] = nominal_flow_kg_per_s
        g[L.GC_TEMPERATURE_K] = temperature_k
        if r_specific is not None:
            g[L.GC_R_SPECIFIC] = r_specific
        g[L.GC_Z_SLOPE] = z_slope_per_pa
        zq = (1.0, z_slope_per_pa, 0.0) if z_quadratic is None else z_quadratic
        if not all(math.isfinite(c) for c in zq) or not zq[0] > 0.0:
            raise ValueError(f"z_quadratic must be finite with z0 > 0, got {zq}")
        g[L.GC_Z_Q0], g[L.GC_Z_Q1], g[L.GC_Z_Q2] = zq
        if not (math.isfinite(loc_k0) and loc_k0 >= 0.0 and loc_k0_rel_sd > 0.0
                and math.isfinite(loc_elevation_per_pa2)):
            raise ValueError("loc_k0 must be finite and >= 0, loc_k0_rel_sd > 0, loc_elevation_per_pa2 finite")
        g[L.GC_LOC_K0] = loc_k0
        g[L.GC_LOC_K0_REL_SD] = loc_k0_rel_sd
        g[L.GC_LOC_ELEV] = loc_elevation_per_pa2
        if segment_id is not None:
            self.segment_ids[seg] = segment_id

    def set_instrument(
        self,
        seg: int,
        role: int,
        *,
        sigma_rel: float = 0.0,
        sigma_abs: float = 0.0,
        range_min: float = -np.inf,
        range_max: float = np.inf,
        max_rate_per_s: float = np.inf,
        scan_period_s: float = 1.0,
        time_resolution_s: float = 0.001,
        confined_space: bool = False,
        lel_thresholds: tuple[float, float, float] | None = None,
        tag_id: str | None = None,
    ) -> None:
        """Fill a slot. sigma_* are the random error of one reading (1 s.d.); fixed bias is learned away."""
        if not 0 <= role < L.N_ROLES:
            raise ValueError(f"role {role} outside 0..{L.N_ROLES - 1}")
        slot = seg * L.N_ROLES + role
        c = self.slot_cfg[slot]
        c[L.SC_PRESENT] = 1.0
        c[L.SC_SIGMA_REL] = sigma_rel
        c[L.SC_SIGMA_ABS] = sigma_abs
        c[L.SC_RANGE_MIN] = range_min
        c[L.SC_RANGE_MAX] = range_max
        c[L.SC_MAX_RATE] = max_rate_per_s
        c[L.SC_SCAN_S] = scan_period_s
        c[L.SC_TIME_RES_S] = time_resolution_s
        c[L.SC_CONFINED] = 1.0 if confined_space else 0.0
        if lel_thresholds is None:
            lel_thresholds = (LEL_ALARM, LEL_GRADE2, LEL_GRADE1_CONFINED if confined_space else np.inf)
        c[L.SC_LEL_ALARM], c[L.SC_LEL_GRADE2], c[L.SC_LEL_GRADE1] = lel_thresholds
        if tag_id is not None:
            self.tag_slots[tag_id] = slot

    def fingerprint(self, params: DetectorParams) -> str:
        """Hash of config and parameters: a checkpoint restores only into the same configuration."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.seg_cfg).tobytes())
        h.update(np.ascontiguousarray(self.slot_cfg).tobytes())
        h.update(params_record(params)[0])
        return h.hexdigest()[:16]


@functools.lru_cache(maxsize=16)
def params_record(params: DetectorParams) -> tuple[bytes, str]:
    """(the parameters as the fingerprint hashes them, as JSON), worked out once per parameter set: the stream
    writes a checkpoint per segment per batch, and `asdict` over the ~70 fields twice was half of its cost."""
    fields = asdict(params)
    return repr(sorted(fields.items())).encode(), json.dumps(fields)
