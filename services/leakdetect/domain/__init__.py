"""Leak-detection core: pure numeric kernels (numba, no I/O, no clock) over batches of SCADA readings.

The public way in (curated here, the modules behind it are private), one surface for the service, the replay
CLI, the benchmark and the demo::

    from services.leakdetect.domain import Pipeline
    pipeline = Pipeline.from_network_file("line.yaml")      # or Pipeline.from_network(network, segment_ids)
    alarms = pipeline.feed(frame)                           # DataFrame: tag, time, value, quality (tags' units)
    alarms = pipeline.feed(tag=tag_ids, time_unix_s=t, value=v, quality=q)    # or numpy arrays
    for a in alarms:                                        # Alarm: kind, segment, onset_unix_s, decided_unix_s,
        print(a.kind, a.segment, a.rate_kg_per_s, a.rate_interval_kg_per_s,  # rate and its 95 % interval,
              a.position_m, a.position_interval_m, a.methods, a.evidence)   # position (None until located)
    pipeline.status("L-01")                                 # SegmentStatus: windows (imbalance vs threshold),
                                                            # stated MDLR, sensor health per tag
    blob = pipeline.to_bytes(); pipeline = pipeline.restore(blob)           # checkpoints

Alarms: "leak" (mass balance; rate), "rupture" (joined by the pressure-wave location of its fronts),
"pressure_wave" (located fronts alone), "methane" (the sensor's position). A feed returns the alarms it raised
or changed; `pipeline.alarms` holds the latest version of each. Quality codes: `services.network.quality`.

Underneath (the kernels' own interface, for tests and the speed benchmark): `config_from_network` (the one
builder from the network model), `DetectorState`, `process_batch(state, segment_idx, role_idx, time_us,
value_si, quality)` returning the kernels' event array (`EVENT_DTYPE`, whose columns only `kernels.events`
knows), `decode_events` (the named events of `events`), `advance_to`, `state.to_bytes()` /
`DetectorState.from_bytes`. All state lives in preallocated numpy arrays (`layout` names the columns); one
Python call per batch, no Python per reading. Readings are dropped and counted (never raised) when their
segment/role is unknown, their time is not after the tag's last one (gateway retries are idempotent), quality
is BAD (or UNCERTAIN for a non-methane tag), or the value is non-finite or out of range.

Methods and parameters (defaults in `config.DetectorParams`)
------------------------------------------------------------
(a) Compensated mass balance (API RP 1130 "CPM": compensated volume/mass balance). Readings are averaged per
    tick (10 s) and held between readings. Per 30-s block the kernel keeps the block mean of the
    cumulative net inflow and the block mean of the line pack, so both sides of the balance are averaged over
    the same interval (acoustic ringing with period 4L/c and pressure noise average out). Line pack =
    V / (R T) times the mean of p / Z(p) over the quasi-steady isothermal profile p(x)^2 = p1^2 - (p1^2 - p2^2)
    F(x)/F(L), F(x) = int_0^x q^2 with the flow varying linearly from the inflow to the outflow meter (the
    line packing or unpacking between them; with equal flows it is the steady profile, mean pressure 2/3 (p1 + p2 -
    p1 p2 / (p1 + p2))), Gauss-Legendre with 5 points, Z(p) at each point a quadratic least-squares fit of the
    network's gas physics over 0.2-1.1 of the segment's MOP (`network_config.z_quadratic_fit`; the sub-segment
    balances use the same, the state estimator keeps the chord Z = 1 + a p through the operating point); T the gas
    temperature smoothed over 4 h (running mean at start), held through a transmitter outage, or the network's
    ground temperature. Imbalance over 1, 2, 4, 8, 15 and 60 min windows
    comes from a ring of block boundaries; each end of a window is the mean of half its length in blocks
    (`end_avg_div`: 1, 2, 4, 8, 15 and, for the hour, 1 blocks, as far as the ring reaches), which cuts the line
    pack's pressure noise at the ends where it dominates. Baseline: ordinary least squares r = a + g q over the
    first `learn_blocks` (120, an hour) valid leak-free blocks, q the throughput; absorbs each meter's fixed
    bias (an offset and a percent-of-reading bias); ridge on g when the throughput hardly varied. The mean's
    uncertainty is the flow noise plus the line packs at the ends of each run of consecutive blocks (those
    inside cancel); the gain's is taken as from independent blocks (slow errors do not cancel between the blocks
    it contrasts). The ratio of the residual scatter to the propagated uncertainty (kappa >= `kappa_min`) is
    learned at the same time. The fit runs on sums of consecutive blocks over `learn_group_s` (60 s: two blocks
    at the default block length): kappa then measures the scatter at a fixed time scale, whatever the block
    length. Learning skips the blocks that end within `learn_after_s` (300 s) of the segment's first reading:
    the gas temperature starts as a running mean of a few readings, and its settling moved the line pack by ~8
    kg on TR-04 in the first minutes, which biased the learned offset by ~0.15 % of flow and inflated kappa up
    to 2.5 (now at most ~1.05 over the bench's segments).
(b) Statistical decision. Uncertainty is propagated from the instruments (API 1149): random error of each
    reading (`SC_SIGMA_*`, 1 s.d. = half the stated 95 % accuracy) through tick means (independent) and line
    pack (a one-ended line pack's 2 % pressure uncertainty is systematic across ticks), plus the line-pack
    model's error `kernels.decision._transient_sd`: `eps_lp` (0.025) of the line-pack movement (beyond 2 s.d. of
    noise) through the blocks at each end of the window, from the block before to the block after (after the
    newest block: its last two ticks' rate over a block), because the quasi-steady profile is wrong only
    while the line moves and follows the rate without delay; and `lp_scale_err` (0.5 %) of the net change
    (volume, Z, temperature); plus a floor of `model_floor_frac` (0.03 %) of nominal flow and the baseline's
    own uncertainty. Calibrated against the simulator's true line pack through supply cuts (with a flow
    reversal) and demand steps: the state error is 0.5-2.2 % RMS of the movement by segment, at most 5 %
    (with the movement of the block before each end counted as well: 0.4-3.6 %, at most 15 %, and a block
    late at the window's newest end); the scale error is a real line's (inner
    diameter +-0.25 %, temperature bias). Transmission meters are bidirectional (ultrasonic), so a supply cut
    that unpacks the line back through the inlet meter is measured, not a meter fault. On a long line that is
    not enough (issue 24, below): the profile leads the gas inside after a move at the ends, so the step tests'
    and the 1-min window's ends also carry a share of the line-pack movement before them, decaying over the
    segment's settling time (`kernels.decision._settle_sd`, `kernels.line_pack._settle_time`). Demand
    swings, valve moves and supply pressure changes widen the uncertainty instead of alarming. Three tests run
    on every valid block: Page's CUSUM
    (Page 1954) on block residuals normalised by that uncertainty (k = 1, h = 10, one block's
    contribution capped at 3.5 so that a single bad block cannot alarm), and window tests z_w > 5 for 2
    consecutive blocks (fast for big leaks), and step tests: each window's imbalance against that of the
    reference window of `step_ref_factor` (2) times its length just before it, z > 5 for 2 blocks. The baseline
    cancels in the step (what the meters' biases do at today's throughput is in both windows; only the gain's
    uncertainty times the throughput change between them remains), so a leak that starts hours after the
    baseline was learned, at another throughput, is not hidden by the gain's uncertainty; a leak older than the
    reference window is the windows' and the CUSUM's to find. The minimum detectable leak rate per window is z * sigma_w
    (reported per segment, `state.mdlr_kg_per_s()`); it becomes inf while the balance is suspended. On alarm:
    onset = the CUSUM change point (last time the statistic was zero), leak rate = compensated imbalance
    since the onset minus the baseline, with its 1 s.d., or, where a window test fired while the CUSUM's run holds
    one block, that window's imbalance with the change of the signed settling lead between its ends in its variance
    (`decision._window_rate`; issue 24: the run restarts whenever a block scores below k, and a one-block run had
    rated 1 % leaks at 1.6-2.9 times their rate); the alarm latches and clears after `clear_blocks`
    (30) quiet blocks, 15 min.
    A statistical approach in the line of Zhang ("Statistical leak detection in gas and liquid pipelines",
    Pipes & Pipelines Int. 1993) and Wald's SPRT (1945), whose one-sided repeated form is Page's CUSUM.
(c) Negative pressure waves. Per end transmitter: fast (tau 1 s) and slow (8 s) exponential averages; a drop
    of slow - fast > max(6 s.d. of the fast average, 300 Pa) starts a front; after `npw_confirm_s` (3 s) its
    amplitude A is measured and its time is the interpolated crossing of base - A/2 in the smoothed history
    (sub-sample timing; both ends are smoothed alike so the lag cancels in t_up - t_down, the onset is
    corrected by tau ln 2). Fronts must be sharp (a ramp is not a wave). Fronts at the two ends pair when
    |t_up - t_down| <= 1.1 L/c + 3 s.d.; x = (L + c (t_up - t_down)) / 2 with s.d. from the timing
    (sample period / sqrt 12, timestamp resolution, noise / slope) and 1 % wave-speed uncertainty. A pair
    located within max(3 % L, 2 s.d.) of an end is an operational event entering from outside
    (EV_NPW_BOUNDARY code 1/2); a pair whose flows do not show gas leaving between the meters (inflow up,
    outflow down) is an operation too (code 3); otherwise EV_NPW_LEAK with a Joukowsky size estimate
    2 A dp / c. A front without partner is reported unpaired. References: Silva et al., "Leak detection in
    petroleum pipelines using a fuzzy system", 1996; Wang et al., "Negative pressure wave leak location",
    J. Loss Prev. 1993; Wylie & Streeter, "Fluid Transients in Systems", 1993 (wave speed, Joukowsky).
(d) Methane %LEL in confined spaces: levels alarm 20, grade-2 hint 40, grade-1 hint 80 % LEL (confined spaces
    only; configurable per sensor), 5 % LEL hysteresis, rate-of-rise alarm > 5 % LEL/min above 5 % LEL.
    Grade hints: level 3 -> 1, level 2 -> 2, level 1 -> 2 (confined) or 3. (16 TAC 8.207; 220 CMR 114.)
(e) Rupture (`kernels.rupture`; >= 20 % of nominal flow): an end's pressure below its 10-s average by 1.5 % of it
    or by the Joukowsky front of the smallest rupture if less (c 0.2 Q / 2A, at least 4 s.d.; or its 1-s average
    beyond its own trend by as much, at least 5.5 s.d. (`FAST_COLLAPSE_SD`: a chance every second, so 4 s.d. let
    white noise through 2-3 times a day) of that average's difference from the reference from the measured reading
    noise and the shares of it the two averages carry, kept from their restarts: start-up, a
    silence, a decided drop, after which the reference restarts at the 1-s average; not while the line settles
    from an inflow move), held 1 s over two readings, with
    that end's flow moving towards the break (more in upstream; less or the same out downstream), and as far
    below where the line's falling trend has brought it (the 10-s average's own 10-s average trails a ramp by as
    much again; the least of both ends' trails beyond 3 s.d. of their noise: a supply ramp moves both ends, a
    break's front reaches the other later); or, at an upstream end whose pressure is held (a regulator, a
    supply), the inflow's sharp jump by 10 % of nominal flow held 3 s (and no longer climbing when decided: a
    valve's ramp adds as much every scan as when it passed the threshold), the pressure not rising. Operation
    marks (less in upstream, more out downstream) veto what the other end sees within the wave's travel time;
    never waits for a balance window.
(g) Location of balance alarms (`kernels.location`): pressure-gradient intersection. A friction model
    p_u^2 - p_d^2 - elevation = c0 + k q^2, calibrated per segment on leak-free blocks (Bayesian: k's prior from
    the pipe's roughness, c0's from the transmitters' accuracy; 30-min lag, never inside an alarm, forgetting
    6 h); at the raise a reference window before the onset; the leak rate as the step of the raw imbalance, the
    flow Q upstream and Q - leak downstream (packing spread along the line); the profiles cross where
    k (phi(x) - phi_ref) = d - d_ref. 1 s.d. from the transmitters' noise and the blocks' scatter, k's posterior,
    the leak and packing rates, and 4 % of the length for the steady model itself; refined every 5 min; fused
    with the incident's pressure-wave location by inverse variance. `LeakLocated` events; the facade's alarm
    gets `position_m`, its clamped 95 % interval and evidence `position_method` ("none": the whole segment).
(f) Sensor health per tag (codes of pipewarden.leakdetect.v1.SensorHealth): stale after
    max(3 scan periods, 5 s) without a good reading (checked at every tick, and by `advance_to`), flat-lined
    after 30 identical readings lasting 30 s (a flow meter reading exactly 0 is shut in only while the other
    meter also reads ~0), stuck after 60 readings moving less than 2 % of the random error, implausible rate
    when a change exceeds the physical limit plus 4 s.d. (clears after 10 plausible readings). An unhealthy
    flow meter suspends the balance (MDLR inf, no alarms); an unhealthy pressure transmitter makes the line
    pack one-ended with a 2 % pressure uncertainty (MDLR rises) and stops its NPW and rupture checks.

Limits, as measured (`make bench-detect`, README). Sensitivity against time: the stated MDLR falls from ~1.2 %
of nominal flow for a 1-min window to ~0.4 % at 8 min and then levels off, because the meters' relative gain,
learned in one hour at one throughput, stays uncertain away from it (see `DetectorParams.gain_prior` for why it
is not refined online). A leak that grows to 1 % over 10 min averages 0.3 % over the 4-min window ending 5 min
after its onset, below that window's stated MDLR (0.46 % on the median day), so "1 % within 5 min" holds
for abrupt onsets (in steady operation and demand swings) and not for such ramps. Through a supply
set-point move the quasi-steady line pack errs by 1-2 % of the movement, as much as a 1 % leak loses in
those minutes; an offline real-time transient model (32 cells, friction and linear Z, driven by the measured
end pressures) cut that error only 1.5-2.5x, with 10-s or with 1-s boundary data alike, where ~10x would be
needed. Pressure-wave fronts of leaks of 5-20 % of nominal flow (120-1500 Pa on these lines) stay below the
10 Hz pressure noise after smoothing, so only ruptures are located.

Batches are processed segment by segment (a stable counting sort; segments share no state), so events come
ordered by segment and within a segment by time. Plain-Python references serve as test oracles of the
kernels: (a) and (b) in pandas, `services.leakdetect.reference.balance` (also the speed baseline; healthy
instruments); (c) and (e), `services.leakdetect.reference.pressure` (one segment, a reading at a time);
(d), `services.leakdetect.reference.methane`; (f), `services.leakdetect.reference.health` (one segment's
instruments, a reading at a time; saturated readings and shut-in flow meters are outside it).
Two kernel behaviours found against the pressure reference were fixed in kernel and reference together: a
second front confirmed at one end before the first expired reports the first unpaired (it was overwritten), and
a reading is judged against the last good value before the refused one, so a one-reading spike costs that
reading only while the second reading of a real step still confirms it.

Transient line pack (issue 24; `line_pack_estimator`, 0 by default). `kernels.estimator` is an extended Kalman
filter on the simulator's isothermal finite-volume model, 16 cells with inertia (pressures and link flows
interleaved, so each implicit 10-s step is tridiagonal; 3 Newton iterations), with the measured end flows as
inputs, the end pressures as measurements, unmodelled mass sources spread along the line as process noise (so
a leak is not absorbed: the residual reaches > 70 % of a steady 1 % leak within 5 min and is within 5 % from
10 min) and friction from the location's calibration; a silent transmitter is left out, the line pack stays
continuous and its variance grows. Its numpy oracle is `reference.estimator` (equal to 1e-10). With it on, the
balance takes each tick's line pack and variance from the filter and `est_eps_lp` (1 % of the movement)
replaces `eps_lp`. Through a supply ramp its block line-pack error is 0.24 kg/s against the quasi-steady
profile's 3.0 kg/s, and the rate at the raise improves (median error 60 -> 27 %, in ramps 131 -> 34 %, on a
sample of issue 24's random layouts). The rate at the raise and in its update 5 min later fit the residual's
mean over the span and the rise between its halves to the share of a leak it shows by then
(`estimator.est_leak_response_sums`: the mean response of 5 positions along the line, averaged over each end's
block as the ring's rows are, the readings' half-tick lag included) as an abrupt leak plus growth (a ramp, or a
step a half-span late), the onset known to a block; the positions' spread and the growth shapes' and onsets'
differences widen the 95 % interval (`decision._est_rate`; on the demo city its coverage 0.56 -> 0.93 at the
raise and 0.57 -> 0.95 in the update, h3 2026-12-07).
It is not the default because on that sample (45 leaks, 10 leak-free
segment-days with set-point and demand changes) false alarms fell only 71 -> 62 and PD within 5 min at 1 % fell
0.64 -> 0.51 (supply changes 0.53 -> 0.27): both line-pack models false-alarmed about 6-7 times per segment-day
on 30-60 km random lines through operations, because the decision's allowance for the model's error was
calibrated on short lines (next paragraph). It also costs
speed: 4.3 M readings/s with it on against 15.1 M/s off (the Newton step and a 3.6-kB state per segment). Tried:
its variance counted independent tick to tick (PD 0.62, the same false alarms, but one on the 30-km test line's
supply change), larger sink noise (fewer false alarms, much lower PD). Seventh session (2026-12-07): each grid
point's mass takes the real-gas Z(p) (`kernels.common.p_over_z`, the quasi-steady line pack's fit) and the grid has
16 cells instead of 8: a set-point move's front enters at an end, and with 8 cells the end point owned 3-4 km of
pipe, so the filter reconciled the measured end pressure and inflow by moving mass that was not there (the worst
2-min error through a -5 % move on a 59-km line 4.9 -> 1.8 times a 1 % leak; `benchmarks/estimator_move_study.py`).
On issue 24's sample it now raises 12 false alarms against the default's 13 (was 23) and its set-point moves alone
alarm within 5 min 2 times against 6, but on the demo city's leak-free days it raises 11 (the default 0) and its
rate interval holds the truth for 0.46 of the leaks: still not the default (`benchmarks/DETECTION.md`).
Eighth session: a lone end pressure (the other end's transmitter silent) is taken less its mean innovation while
both reported, with the square of the two ends' offsets' difference added to its variance (`_track_offsets`): the
model's friction drop is never the line's exactly, both ends then pull the mass persistently and oppositely, and
one alone moved the line pack 1.5 kg in a minute on the demo city's TR-02. With that and a settling allowance of
its own on the 1-4-min windows (`est_settle_eps` 0.3, `settle_windows` 3) it raises 0 false alarms on the demo
city, 1 on the random leak-free days and 4 in mdlr_week's weeks, and its rate interval holds 0.92; but on issue
24's sample that allowance costs PD (0.26 against the default's 0.55): still not the default.
Mid-line pressure transmitters feed it too (issue 24 item 1, "every meter of the segment"; 2026-12-07): each is a
measurement of the pressure at its position (p^2 interpolated between the grid points beside it), updated after the
ends with its own kept gain (`ES_KM0`, `ES_XM_REF0`). A leak's depression forms between the ends and reaches them
only over the line's settling time, so this is what shortens the estimator's lag: on the 30-km test line a 1 % leak
at 0.4 L shows in the residual as 97 % of its rate over the first 2 min with a transmitter at mid-line, 33 % with
the ends alone (est_leak_response predicts 89 % / 33 %), and the detector raises the leak in the demand ramp 150 s
after its onset instead of 210 s, rated within 25 %. The transient suites' layouts have end meters only, so their
figures do not move; mid-line flow meters are issue 19's sub-segment balances, not fed to the estimator.

False alarms through operations (issue 24): cause and fix. On the random layouts 395 false alarms in 62.7 leak-free
segment-days (180 during set-point moves; 147 from the 1-min window, 157 from the step tests) came almost all from
30-60 km lines. Measured on the simulator (true line pack against the quasi-steady profile from the true end
pressures and flows, set-point moves of 5 % and demand moves of 15 % over 1-10 min): the profile takes the end
pressures at once, while the gas inside follows by diffusion, so it leads the true line pack by up to 4-37 % of the
movement on 40-60 km lines (17-37 % on most; 2-4 % on 4-12 km lines), and where its flow term (the packing between
the meters spread linearly along the line) overshoots at a fast move's first blocks the error even exceeds that
block's movement. The lead decays to 1/e within 0.5-1.0 and to 5 % within 1.3-2 of the linearised line's slowest
diffusion time (8 / pi^2) V (p_u - p_d) / (Z R T q), the line pack of the pressure drop over the throughput
(180-820 s on those lines), or 2-4 L/c where friction is small. The decision allowed `eps_lp` = 2.5 % of the
movement through a window's end blocks, 10-40 times short on such lines, and nothing for the decay after the ends
stopped moving: a 1-min window raised alarms of up to 4 times the nominal flow within minutes of a set-point move,
and the step tests raised them while the residual recovered (the reference window held the move's error). Not the
cause: temperature (held and smoothed), the wave travel time of the end flows (lagging the flows in the profile by
L/c or 2 L/c made its error 1.2-2.5 times larger on every move tried; by 60 s, larger on supply moves and 20 %
smaller on the two demand moves), the meters' biases (the step tests cancel them). A second cause on the same
lines: a silent pressure transmitter makes the line pack one-ended (2 % of p, systematic), and averaged window ends
divided that by the number of blocks; blocks whose line-pack variance is over `learn_lp_var_ratio` times the usual
now count as correlated within an end (it had raised a 56 %-of-flow false alarm after an outage). Fix, at the
decision (`kernels.decision._settle_sd`): the step tests' three boundaries and the 1-min window's ends
(`settle_windows`) carry settle_eps * min(1, T_s / settle_ref_s) (0.3, 600 s) of the line-pack movement before them
(beyond noise block by block, or the net change over a box if larger: a slow demand move hides below each block's
noise), weighted exp(-age / T_s) in four boxes of the settling time T_s = max((8 / pi^2) V (p_u - p_d) / (Z R T q),
2 L/c), at most 20 min (`kernels.line_pack._settle_time`): these tests hold through a move and test again, at full
sensitivity, once both ends of their windows lie after the line settled; where the ring or the valid blocks do not
reach four T_s back, the movement after the end stands in. Tried, on the first 12 runs of the transient_free suite
(3.0 leak-free segment-days, 13-59 km lines, 23 false alarms before) and 42 leaks of 1 % on 14 layouts (PD within 5
min 0.86 before, supply changes 0.64): the allowance on every window and the CUSUM, share 0.3 unscaled: 2 false
alarms (one a rupture alarm, `kernels.rupture`, not touched here) but PD 0.57 on 28 of the leaks (a leak's own
unpacking counts as movement, and short lines lead by far less than 30 %); share 0.1: PD 0.40; the ends' leads as
one signed quantity whose change between the ends is the window's error: 15 false alarms (the lead's share of the
movement changes through a move); the scaled share on every window: PD 0.57. Where the allowance applies is
`settle_windows`, and that is the trade (same samples): the 1-min window and the step tests (the default): 24 false
alarms -> 19, most now on the 2-min window, PD 0.86 -> 0.81 (supply changes 0.64 -> 0.50, steady and demand
unchanged), rates unchanged; up to the 4-min window: 17 (the 8-min window); every window: 5 (3 CUSUM, 1 rupture,
one 2-min window), PD 0.55 (steady 0.93 -> 0.71, demand 1.0 -> 0.64, supply 0.64 -> 0.29), the rate at the raise 21
-> 15 % and in the update 3.6 -> 2.3 % (medians). Those samples were on shorter layouts than the suites' first ones.

Telling an operation from a leak (issue 24 item 4; `settle_opposed`, `kernels.settle._box_opposed`). An operation
packs or unpacks the line through its ends: the ends' net inflow (after the baseline) and the line pack move the
same way, and the balance is their small difference. A leak takes gas out between the meters: the line pack falls
while the net inflow rises (the ends supply part of it), so nothing of a leak's own unpacking is "matched". With
`settle_opposed` 1 the settling allowance counts only the matched movement (the smaller of the two over each box,
beyond noise; never more than all the movement). Learning's settling check (`learn_settle_ratio`, issue 24 item 3:
blocks inside a settling time after an operation are not learned from) always counts it. Measured on a sample of
the suites' own scenarios (`--transient-subset 14,12`: the 1 % leaks on the first 14 transient_leaks layouts, 13-59
km, 42 leaks; the first 12 transient_free runs, 2.8-3.0 leak-free segment-days; `benchmarks.transient_sample`;
these with learning's check at 20, which held the first learning off a while), PD within 5 min at 1 % and false
alarms: the default 0.57 / 13 (4.6 per segment-day; steady 0.57, demand 0.79, supply 0.36; at the check's default
100, 0.62 / 19 in 3.03 segment-days); the allowance on every window, all the movement, 0.29 / 3; matched movement
only, every window, 0.36 / 4;
the same at half the share, 0.40 / 7; matched, up to the 4-min window, 0.55 / 10; the state estimator 0.50 / 20;
the estimator with the matched allowance on every window (`est_settle_eps` 0.3) 0.26 / 4, where its rates are the
best measured (errors at the raise 12 %, in ramps 10 %, in the update 3.2 %, medians; the rate comes from the
estimator's residual over its response to a leak since the onset, `decision._est_rate`). So the matched measure buys
PD for the same false alarms, but no setting keeps PD and stops them: the defaults are unchanged. Why, from the
sample's rows: on 28-59 km lines a 1 % leak shows at the ends only over the line's settling time (10-20 min), so
even in steady operation the default finds half of those leaks within 5 min (most found ones at 200-300 s), and any
allowance wide enough to hold a set-point move's lead (17-37 % of the movement) hides the leak for those minutes;
a leak starting inside the ramp (every demand and supply leak of the suite) is the hardest case, since then the
matched movement is the operation's and counts. What would be needed: the estimator's residual tested against a
leak's own response (a matched filter on est_leak_response's shape, which an operation's residual does not have),
or mid-line meters (issue 19) that see the leak before the ends do.
The matched filter, examined before building it (2026-12-07; a scratch study, the estimator tests' simulator on a
55-km, 0.4-m line at 20 kg/s, end meters only, the estimator's defaults): an operation's residual is immediate and
reverses, a mid-line leak's builds over the settling time. A -5 % set-point move over 5 min put +6.5 and -6.2 times a
1 % leak into the 30-s blocks at its start and end (about +1 between them); a +15 % demand ramp +0.8 of a 1 % leak for
its 5 min, -0.3 for a while after. A 1 % leak at mid-line shows as 6 % of its rate over its first 2 min and 30 % over
5 min (est_leak_response, and the residual's blocks agree); at 0.3 / 0.7 of the length 26 / 23 % and 52 / 49 %; at
0.1 / 0.9 at once. So the shape test would tell an operation's spikes from a leak (no leak position rises that fast,
and a leak's residual does not reverse), but it cannot find the leak sooner: weighting the residual by the leak's
response gains 1.25x in signal-to-noise over the plain mean within 5 min at mid-line (1.84 against 1.47 with white
tick noise), and in steady operation the plain 5-min mean already holds 0.30 of a mid-line 1 % leak against its own
s.d. of 0.076 of one (z ~4, the residual's noise anticorrelated tick to tick): at the threshold, before any
allowance for operations. And the demand ramp's own residual is of the size of a 1 % leak for the ramp's length, with
the same sign as a leak's. Not built for want of time to measure it on the sample; what it can give is the shape
test's rejection of an operation's edges, not sensitivity: on 28-60 km lines with end meters the 5-min goal is
bounded by the leak's response; a mid-line pressure transmitter feeds the estimator now (above) and is what moves
that (97 % of the rate within 2 min on the 30-km line).
Scored more strictly (2026-12-07, `benchmarks.transient_suites`): an alarm sooner after a leak's onset than the
leak's wave can reach the nearer end meter (at <= 450 m/s) is the operation's, not the leak's detection
(`pd_within_5min_after_first_wave_at_1pct_by_condition`, `alarms_before_first_wave_at_1pct`). On the sample
(`--transient-subset 14,12`) 3 of the 6 supply-change detections were such alarms (5-21 s after onset on 29-47 km
lines, where the wave needs 21-44 s): the default's PD is 0.55 (supply changes 0.21), not 0.62 (0.43). Its 16 mass-
balance false alarms: 11 on the 2-min window, 4 on the 4-min, 1 on the hour. Tried that day and not kept (PD / mass-
balance false alarms on the sample): the settling allowance on the 2-min window too (PD unchanged; the same
excursions fire on the 4-min window instead, 4 -> 15: each window left uncovered picks them up); the estimator with
an allowance of its own on every window (`est_settle_eps` 0.05: 0.38 / 5, rate errors 20 / 22 / 3.2 %; its
covariance depends on the Jacobian, not on the measurements, so it does not widen during an operation and cannot
give that allowance itself); deferring a raise while an operation is under way and re-testing it once settled, up
to the settling time (0.33 / 5) or up to 2 min (0.45 / 12): a steady leak's onset shows matched movement too, so
its raise was deferred as well (227 -> 347 s). None beats the matched allowance on every window (0.36 / 4).

Windows shorter than the settling time (issues 19/24, 2026-12-07; `settle_short_windows`, opt-in, default 0). The
random layouts' leak-free false alarms at 5c998c0 were on 4-15-min windows of 47-57 km lines holding 2.6-5.8 h of
flow, with no outage near: layouts 0, 11 (twice), 13, 16 (twice) and 21 with end meters (7, reproduced here).
Measured with scratch drivers that run the suites' own scenarios (`benchmarks.layout_suites` leak_free and location, end
meters; each simulated once and detected with every setting), code 0c06075/391f116, 2 cores shared by five jobs.
(1) The allowance as the 1-min window has it (each end's lead alone) on every window shorter than T_s: those
false alarms on those five layouts 7 -> 1 (layout 13's 15-min window at 7.4 h, where T_s had not yet reached 15
min; the other 22 layouts not re-run: this form only widens thresholds), but on the
location suite's 100 leaks one 2 % leak on layout 0 (47 km) was not found within 30 min (234 s before) and the
median time to detect went 172 -> 204 s (1 % leaks on 36-58 km lines 387 -> 777 s, 659 -> 1,199 s): the slow
diurnal demand swing is line-pack movement too, and counted at each end alone it put the 15-min window's
threshold at 20-60 % of nominal flow through layout 13's morning ramp (`benchmarks.diagnose_false_alarms`). The
demo suite was unchanged to the digit (its lines settle within 2 min, so no window is shorter than T_s there).
With `settle_opposed` 1 the location figures were the same. (2) The change of the signed lead between the ends
(`kernels.settle._settle_lead`): a first-order lag over T_s leads by eps times the decayed signed movement, the
rate times the lag on a steady ramp, equal at both ends, so the window's error is the difference and only a
change of rate (an operation's start or end, a demand swing's turn) is allowed for; both ends over the history they
share (back to the newest invalid block before the window: with each end alone after an outage the 2 % leak was
lost again).
All 28 leak-free layouts: false alarms 7 -> 2 (the same 15-min one, and a 4-min one on layout 11 at 2.8 h that
was not there before; its two before are gone); location 99 of 100 leaks found (97 before, none
lost), 80 of 80 of >= 1 % located (79), 1 % leaks within 5 min 9 of 20 (unchanged), median time to detect 172 ->
186 s, 20 leaks later by up to 540 s (the 1 % leaks above as with (1)). On issue 24's sample (`--transient-subset
14,12 --param settle_short_windows=2`): PD within 5 min at 1 % 0.52 (after the first wave 0.45; 0.62 / 0.55
before), balance false alarms 16 -> 16: 2 / 3 / 6 / 2 / 3 on the 2 / 4 / 8 / 15 / 60-min windows (11 / 4 / 0 / 0 /
1 before): the set-point moves' excursions move to the windows as long as T_s or longer, as with the 2-min window
alone before. (3) The signed change on every window (3) with the matched movement: on the five layouts 7 -> 1 (a
new 4-min one on layout 13 at 15.9 h; its 15-min one gone), location as (2) (99, 80 of 80, 24
later). So the signed lead removes most of the random layouts' leak-free false alarms at no lost leak,
but not issue 24's set-point excursions, and costs minutes on the longest lines.

Correcting the lead instead of allowing for it (issue 24, 2026-12-07; `lp_diffusion`, opt-in, default 0;
`kernels.line_pack._diffuse`). Linearised isothermal flow diffuses p^2; with both end pressures given, the line's
mean answers a step of them as 1 - sum over odd n of 8 / (n^2 pi^2) exp(-n^2 t / tau_1), tau_1 = T_s / 4 (T_s is the
slowest mode with one end's pressure and the other's flow held, four times longer). With the setting on, each tick's
line pack is the steady profile's (no flow term: that is the quasi-steady stand-in for the same lag) passed through
the first three modes as first-order lags in the state (the rest, 7 %, at once), the ramp lag off, and the lag's
block mean kept as the block's correction (R_RL), whose change between a test's line packs counts `lp_ramp_lag_sd` of
it as model error (with `lp_diffusion_matched` 1 only over blocks an operation moved). Measured first, offline
(`benchmarks.line_pack_diffusion_study`: the simulator's own line pack against each model fed the true end pressures
and flows, the sample's 14 supply moves and 14 demand moves): the 2-min window's largest error in the 30 min after a
supply move fell from 9.7 to 6.3 times a 1 % leak (median; mean 41 -> 11; tau_1 of 0.2 / 0.3 T_s: 11.7 / 11.3, so the
physics' 1/4 is where the optimum lies), after a demand move from 0.45 to 0.25 (mean 1.5 -> 0.7), but a leak's own
unpacking is lagged as well (the ends see a leak only as the line empties): 5 min after the onset the 4-min window
shows 0.78 of it against 0.96. The lag's change against the corrected line pack's error over 2-16-min windows: rms
share 0.25 median, 0.43 at the 75th percentile. On the sample (`--transient-subset 14,12`, the kernel of a77ba9c; the
lag alone is `lp_ramp_lag_sd=0`; 2 cores shared by five jobs, load 4-7), PD within 5 min at 1 % / strict PD (where
the paired control is quiet: steady, demand, supply) / balance and rupture false alarms: the default 0.57 / 0.57,
0.64, 0.07 / 13; the lag alone (no R_RL) 0.50 / 0.50, 0.43, 0.14 / 29 (18 on the 2-min window about 100 s into
set-point moves: the window's allowance, `eps_lp` of the movement through its end blocks, is where the quasi-steady
profile's error is, and the lagged error comes later); with its change uncertain at 0.07 / 0.15 / 0.4 of it 0.33 /
0.50, 0.36, 0.07 / 16, 0.31 / 0.43, 0.36, 0.07 / 11, 0.26 / 0.36, 0.21, 0.07 / 7; at 0.4 with only an operation's
blocks the same counts (median time to detect in steady operation 247 s by default, 277 s with the lag, 301 / 361 s
with its change uncertain at 0.15 / 0.4); the lag with the matched allowance on every window (`settle_opposed=1
settle_windows=6`, no R_RL) 0.24 / 0.36, 0.21, 0.07 / 9 (8 CUSUM), against 0.36 / 4 for that allowance without the
lag (measured earlier, above). The demo suite with the defaults is unchanged to the digit (PD, times, rates,
location, false alarms: the default code path is the one before). With the allowance of `settle_windows` on the 2-min
window too (no R_RL): 0.45 / 0.50, 0.43, 0.14 / 30, 22 of them now on the 4-min window, as without the lag. Why the
lag's uncertainty costs PD even in steady operation (layout 004's steady 1 % leak, traced block by block): its block
mean moved by 130 kg in the 6 min after the onset, about 1.2 leaks over a 4-min window, because the day's demand was
falling and packing the line (movement the net inflow matches, so the matched gate counts it too), and the block
means scatter by about 10 kg with the pressure noise. And the lag alone already loses steady leaks (strict 0.57 ->
0.50, median time to detect 247 -> 277 s): a leak's unpacking reaches the end pressures late, and the lag delays it
further. So the correction removes most of the move's lead offline but lands on the same trade between PD and false
alarms as the allowances above; not the default. What is left to try: the lag's change counted beyond the pressure
noise only, and a test that tells an operation's edges from a leak's build-up (the matched filter, above).

The full suites with the defaults (`python -m benchmarks.detection --suites transient_leaks,transient_free
--workers 1`, 2026-12-06 21:44 UTC, 18.5 min niced, load 4.4 -> 1.2; 216 leaks on 40 layouts, 248 leak-free runs of
6 h on 62 layouts): PD within 5 min at 1 % 0.675 (steady 0.725, demand swings 0.85, supply changes 0.45; goal 0.95
each, missed by 0.28 / 0.23 / 0.10 / 0.50); 24 leaks hidden by an alarm still latched at their onset, 18 of them in
supply changes; rate error at the raise 33 % median (goal 15 %), in ramps 72 % (30 %; set-point changes 663 %),
in the update 5.4 % (5 %); false alarms 328 in 62.6 leak-free segment-days, 5.2 per day (goal 0; before the
settling allowance 395, 6.3 per day): 249 from the 2-min window and 37 from the 4-min one, which the default
allowance does not cover, 273 with a set-point move under way, 15 with no operation within 30 min. The same with
the matched allowance on every window (`--param settle_opposed=1 --param settle_windows=6`, 22:05 UTC, 17.8 min,
load 0.6 -> 3.1; `reports/detection_issue24_settle_opposed.json`): false alarms 137, 2.2 per day (16 of them rupture
alarms, `kernels.rupture`, untouched here; 46 from the 1-min window, 45 CUSUM), PD 0.34 (steady 0.45, demand 0.35,
supply 0.225), rate errors 18 % at the raise, 19 % in ramps (goal met), 2.7 % in the update (goal met).

The stated MDLR over a week with re-learning (issue 24; `mdlr_week`, `mdlr_week_p90_over_first_day` was 61.4, goal
<= 1.2). What happened (layout s202624-002's week re-run with the baseline sampled every 10 min): every plateau of
4-37 % lasted exactly from one re-learning's adoption to the next (7 h), and each such baseline had been learned
over a window in which an end pressure transmitter had been silent for 1-4 min (the simulated SCADA's outages): its
offset s.d. 0.51-0.66 kg/s instead of ~0.0012 (6-7 % of the nominal flow), its offset -0.37 / +0.39 / +0.49 kg/s
instead of ~0.02, and kappa 1.6-2.0; so uncertain, the candidate passed the agreement check that guards against a
leak (an offset step within its own s.d.). Layout 004's first day (19.8 %) was its first learning, alike. The cause:
the block after a silence took its line-pack change from the one-ended line pack of the block before (2 % of the line
pack uncertain): the silent blocks themselves were left out (`learn_lp_var_ratio`), that block was not, it began a
run of blocks and so carried the one-ended variance and error into the fit. Fixed in learning
(`kernels.learning._block_is_quiet`): a block whose previous block's line-pack variance is over the limit is left
out too, and the running mean of that variance takes each block at most at the limit. Re-run (`python -m
benchmarks.detection --suites relearn,mdlr_week --workers 1`, 2026-12-07 00:45 UTC, 14 min niced, load 5.0 -> 4.4):
the ratio 61.4 -> 3.74 (worst of 6 layouts; median 2.93), no plateau left (every daily median 0.30-0.88 % of flow),
false alarms in those weeks 20 -> 4; the p90 of the daily medians over the first day 25.6 -> 2.40. What is left is
not a bad baseline but the day's throughput: the stated MDLR follows var_g (q - q_bar)^2, the gain's uncertainty
(0.42-0.43 % of the throughput on layout 005, the same after every re-learning: each window refits the gain from its
own hour, shrunk towards the gain in use with the fixed prior s.d. `gain_prior`, so the daily cycle's range of
throughput never makes it more certain) times the distance of the hour's throughput from the one the baseline was
learned at (q_bar moves between night and day with each re-learning: 12.7, 33.6, 23.2 kg/s on its first day), and the
transient allowance through the daily ramps: 0.17 % at night to 1.4 % in the morning ramp on the first day. Next:
pool the gain over re-learnings (the gain in use as the prior, with its own variance plus a drift allowance), and
measure it on `transient_free` for false alarms before making it the default. The relearn suite with the fix:
periodic re-learning absorbed none of 8 leaks that began in its windows (7 of 12 detected; before 8), "learn now" 10
of 12 as before. On the transient sample (`--transient-subset 14,12`, committed code, 2026-12-07 01:10 UTC) the fix
leaves PD within 5 min at 1 % at 0.62 (steady 0.64, demand 0.79, supply 0.43) and the rates as they were, and takes
the false alarms from 19 to 17 in 3.03 segment-days (the code before it, run alike, reproduced the 0.62 / 19 above).
The gain pooled (2026-12-07, `kernels.learning._pool_candidate`): an adopted periodic re-learning updates the
baseline in use like a Kalman filter, level and gain by the window's level and slope, the pool forgotten over 6 h
(level) and 3 days (gain) and widened by a window's disagreement; a refused window never enters it, and the judge
that guards against a leak still compares the window alone (with the wider of the pool's and the window's gain
uncertainty). Fully pooled, `mdlr_week_p90_over_first_day` 3.74 -> 1.56, but the sharper stated MDLR (layout 003
0.51 -> 0.24 % of flow) raised 5 new balance false alarms in those weeks (0.5-3.4 % of flow; one on 005 latched for
4.5 days and stopped its re-learning): the quasi-steady line pack's error is not linear in throughput, so a straight
pooled line is over-trusted. So the pooled gain's variance was floored at a quarter of one window's: 2.60 (median
over layouts 2.37), 3 false alarms in the weeks (2 balance at 0.4-1 % of flow, cleared within 7 h; a rupture alarm).
Those false alarms were not the gain (2026-12-07, fourth session; the simulator's own line pack against the profile
fed the true end pressures and flows): on layout 003 the quasi-steady line pack's error over 4- to 15-min windows
grew with the flow, 0.3 kg s.d. under 0.6 of nominal to 2.2-3.3 kg at the daily peaks, and followed the throughput's
ramps: the profile leads the gas inside by about 0.021 T_s^2 dq/dt (the diffusion's next order after the linear flow
between the meters; fitted alone on layout 005, 0.023). Each block's line pack is now less that (`lp_ramp_lag`,
`kernels.balance._ramp_lag`; the throughput's rate over two blocks against the two before), the peaks' z s.d. on 003
1.5-2.2 -> 1.0-1.15, and the floor went: `mdlr_week_p90_over_first_day` 1.79 (median over layouts 1.31), no false
alarm in the weeks. The fit is a demand move's; `lp_ramp_lag_held` (`kernels.balance._inlet_held`: the inlet's p^2
moved at most that share of the outlet's over two settling times and over the rate's span) applies it only while the
inlet was held, not through a set-point move, whose surge and relaxation it amplifies. Alone that helped (#24's
sample 18 -> 16 balance false alarms); with the correction's own uncertainty counted (below) applying it everywhere
did better (13 against 17, random leak-free days 1 against 2, PD alike), so the default is 0 (everywhere). What is
left: layout 005's 8- to 60-min windows still scatter 1.6 s.d. at its peaks (its line pack's error there, 14-25 kg
over those windows, is mostly something else), and the weekday peaks' gain term.
The correction is uncertain itself (issue 19's random layouts' leak-free days, 2026-12-07): each block keeps the
correction taken off its line pack (R_RL), and the window and step tests and the CUSUM's block residual count
`lp_ramp_lag_sd` (0.4) of its change between the line packs they difference as line-pack model error
(`decision._ramp_lag_var`; a steady ramp's correction cancels). Each of the four balance false alarms left on those
days (layouts 0, 13, 16; 47-54 km; all window tests) came with a change of the correction within its window: demand
ramps turning (4- and 8-min windows, 2-4 kg) or steepening (layout 13's morning ramp, 15-min window, 12 -> 27 kg), and
the correction going on three blocks after a 6-min inflow meter outage (its rate needs four valid blocks), a 2.9-kg
step inside a 2-min window. Against the simulator's own line pack the corrected line pack's error over such windows
grew by 0.25-0.7 of that change (the fitted c itself scatters 0.017-0.033 between those lines).
Left on those days: one 15-min window alarm on layout 13 (48 km, 44-57 bar) at 16.5 h, after a re-learning adopted at
15.1 h that the code before did not adopt (its 8.1-h alarm changed the day's course); the pooled baseline's stated
MDLR there was 0.034 kg/s against 0.042 before. Over that window the line pack erred by -26 kg while the correction
changed by 4 kg: on this line the profile's error follows the throughput's level, about 1.4 % of the line pack's
movement (-360 kg per nominal flow; `lp_scale_err` allows 0.5 %). The steady line pack of the simulator's real gas
against the detector's (the ideal gas profile's mean pressure, Z linear through Z(p_op) and taken at that mean)
differs by 1.6 % of the movement at 44-56 bar (layouts 10 and 21, 45-52 bar: 0.7 %; Z per Gauss node 1.0 %, the
simulator's Z per node 0.6 %, the real-gas profile with the linear Z 0.4 %). The line pack now takes Z(p) at each
Gauss point from a quadratic fit of the network's gas physics (`kernels/line_pack.mean_p_over_z`, 2026-12-07): from
the simulator's true end pressures and flows, its 15-min line-pack changes against the simulator's own err by 14.0 kg
s.d. on layout 13's day (was 18.0; 60 min: 22.1, was 44.4) and move +1.0 % more than the truth (was +2.1 %; the rest
is the quasi-steady profile's lead: the simulator's own Z per point gives +1.0 % too); on the MDLR week's layout 5
(28 km, 39-53 bar) 9.0 kg (was 16.2; 60 min 24.4, was 53.8), +0.75 % (was +1.6 %). The layout-13 alarm is gone
(0 in 28.1 segment-days), and the MDLR week's layout 5 windows of 8-60 min at its peaks (throughput over 0.85 of
nominal) scatter with s.d. 0.94, 0.85, 0.76 of the stated (were 1.48, 1.59, 1.67).
"""

from . import events
from ._alarm import (
    HEALTH_NAMES,
    Alarm,
    BaselineStatus,  # issue 24 learning
    SegmentStatus,
    WindowStatus,
)
from ._pipeline import LearningError, PeriodNotOverError, Pipeline, UnknownTagError
from .config import DetectorConfig, DetectorParams
from .detector import (
    EVENT_DTYPE,
    CheckpointError,
    DetectorState,
    advance_to,
    decode_events,
    events_frame,
    process_batch,
)
from .network_config import NetworkDetectorConfig, config_from_network

__all__ = [
    "EVENT_DTYPE",
    "HEALTH_NAMES",
    "Alarm",
    # issue 24 learning
    "BaselineStatus",
    "CheckpointError",
    "DetectorConfig",
    "DetectorParams",
    "DetectorState",
    "LearningError",
    "NetworkDetectorConfig",
    "PeriodNotOverError",
    "Pipeline",
    "SegmentStatus",
    "UnknownTagError",
    "WindowStatus",
    "advance_to",
    "config_from_network",
    "decode_events",
    "events",
    "events_frame",
    "process_batch",
]
