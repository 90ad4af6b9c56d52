"""Reference of the pressure path in plain Python, one segment, one reading at a time: negative pressure waves (c)
and the rupture detector (e) of `services.leakdetect.domain`, the test oracle of `kernels.pressure` and
`kernels.rupture` (`tests/unit/leakdetect/domain/test_pressure_reference.py`).

Both detectors live in one module because they share each transmitter's state: the smoothing weights, and the
rupture's onset, which goes back to the NPW detection time when a front is being confirmed.

What the reference covers, and what it assumes:

- Readings of the four roles the pressure path looks at (flow in/out, pressure up/down); readings of other roles
  only move the segment's clock (`reading` accepts them). Per tag, a reading is dropped when its time is not after
  the tag's previous one, its quality is BAD or UNCERTAIN, its value is not finite or out of range, or it is
  implausibly far from the previous value (the tag is then IMPLAUSIBLE_RATE until 10 plausible readings). A
  saturated flow reading (quality SATURATED, or within `SATURATION_MARGIN_SPANS` beyond the range) is kept at its
  range end where that understates a break (an inflow pinned high, an outflow pinned low), as the driver does.
- The rupture's evidence (`kernels.rupture`): a pressure collapse at an end, a flow jump at an end whose pressure
  is held, and the outflow's dip with the outlet pressure falling (a front from inside), with the operation marks
  that tell the other end's operations' waves from a break.
- The segment's 10-s tick clock only as far as the pressure path needs it: a flow meter vouches for the flows
  (NPW classification) once one of its tick means exists and while it is healthy (not stale at a tick's close).
- Assumed, not modelled: flat-lined or stuck instruments (readings move by more than 2 % of their random error),
  flow meters reading exactly zero, and silences longer than 70 blocks (the kernel restarts its clock).

The kernel holds a transmitter's smoothing weights while the sample interval stays within 20 % of the one they were
computed for (a speed measure); the reference does the same, so that the two agree to rounding rather than to
the sampling jitter. Weights are those of `kernels.common._alpha`, x / (1 + x) with x = dt / tau.

Events are the named events of `domain.events`: `PressureWaveLeak`, `PressureWaveOperation`,
`PressureWaveUnpaired`, `Rupture`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from services.network.quality import QUALITY_BAD, QUALITY_SATURATED, QUALITY_UNCERTAIN, SATURATION_MARGIN_SPANS

from ..domain import events as E
from ..domain import layout as L
from ..domain.config import DetectorConfig, DetectorParams
from ..domain.kernels.rupture import FAST_COLLAPSE_SD

NPW_SLOPE_TAU_S = 30.0  # the slow average of the pressure's rate of change (detrending of ramps)
NPW_MAX_RISE_TAU = 2.5  # a front rises from 25 to 75 % of its amplitude within this many fast time constants
HISTORY_LEN = L.HIST_LEN  # smoothed pressure samples kept per transmitter for the front's timing
RUPTURE_FLOW_WAIT_S = 5.0  # a rupture waits this long for the flow meter at its end to speak
RUPTURE_MAX_WAIT_S = 60.0  # ... and a drop held this long without a verdict becomes the new reference
RUPTURE_GAP_S = 30.0  # a pressure reading this long after the one before restarts the collapse reference
P_MIN_TAU_S = 60.0  # a transmitter's 1-min average: a held end's pressure must not rise over it (flow jump)
OPERATION_TOL_FRAC = 0.05  # a flow moved by this fraction of nominal flow (or 4 s.d.) is an operation's sign
OUTFLOW_DIP_FRAC = 0.1  # the outlet's flow dip, a fraction of the smallest rupture, that arms its pressure check
OUTFLOW_DIP_WINDOW_S = 10.0  # ... which must see a collapse from the pressure before the dip within this of it
RUPTURE_FRONT_S = 20.0  # a break's front at a held end passes the flow threshold within this of leaving the reference
IMPLAUSIBLE_SIGMAS2 = 32.0  # (4 s.d. of the difference of two readings)^2 in units of one reading's variance

HEALTH_UNKNOWN, HEALTH_OK, HEALTH_STALE, HEALTH_IMPLAUSIBLE = (
    L.HEALTH_UNKNOWN, L.HEALTH_OK, L.HEALTH_STALE, L.HEALTH_IMPLAUSIBLE_RATE)

PressureEvent = E.PressureWaveLeak | E.PressureWaveOperation | E.PressureWaveUnpaired | E.Rupture


def weight(dt_s: float, tau_s: float) -> float:
    """Weight of a new sample in an exponential average of time constant tau."""
    x = dt_s / tau_s
    return x / (1.0 + x)


@dataclass
class Instrument:
    """One tag: its configuration and what the reading filter and sensor health keep."""

    role: int
    sigma_rel: float
    sigma_abs: float
    range_min: float
    range_max: float
    max_rate_per_s: float
    scan_s: float
    time_res_s: float
    last_time: int = -1  # last reading of any quality, us
    last_value: float = math.nan  # last value that passed the quality and range checks (plausible or not)
    last_good_value: float = math.nan  # last plausible value
    last_good_time: int = -1  # last plausible reading, us
    good_run: int = 0  # plausible readings since the last implausible one
    health: int = HEALTH_UNKNOWN
    raw: float = math.nan  # last finite value of usable quality, range not checked (what a rupture does to a meter)
    raw_time: int = -1

    def variance(self, v: float) -> float:
        return (self.sigma_rel * v) ** 2 + self.sigma_abs**2


@dataclass
class FlowMeter(Instrument):
    slow: float = math.nan  # 60-s average of the flow: the reference its movements are measured against
    jump_n: int = 0  # readings of a flow jump beyond the rupture threshold; -1 once decided (until it is back)
    jump_t0: float = 0.0  # when the rise began (the reading before it), us; 0: no rise under way
    jump_base: float = 0.0  # the slow average when the rise began: the rise is measured from it
    quiet_at: float = 0.0  # when the flow was last within half the arming level of its slow average, us
    p_before: float = 0.0  # downstream: the outlet pressure's 1-s average when the flow was last near its average
    cross_rise: float = 0.0  # upstream: the rise in the scan where the jump first passed the threshold (-1: gradual)
    trend_before: float = 0.0  # downstream: the line's falling trend when the flow was last near, Pa/s
    in_open_tick: bool = False  # an accepted reading in the open tick / in the tick after it
    in_next_tick: bool = False
    has_tick_mean: bool = False


@dataclass
class Transmitter(Instrument):
    # smoothing weights, held while the sample interval stays within 20 % of `weights_dt_s`
    weights_dt_s: float = 0.0
    w_fast: float = 0.0
    w_slow: float = 0.0
    w_slope: float = 0.0
    w_ref: float = 0.0
    inv_dt: float = 0.0
    fast: float = 0.0  # averages of the pressure: fast (1 s) and slow (8 s)
    slow: float = 0.0
    slope: float = 0.0  # slow average of the rate of change of the fast average, Pa/s
    noise_var: float = 0.0  # running variance of one reading, from first differences
    # shares of noise_var: the fast average's variance, the collapse reference's, their covariance (`_fast_threshold`)
    fast_var: float = 0.0
    ref_var: float = 0.0
    ref_cov: float = 0.0
    history: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=HISTORY_LEN))  # (t, fast)
    phase: str = "idle"  # idle -> confirming -> refractory -> idle
    base: float = 0.0  # the slow average when the drop was detected
    t_detect: int = 0
    n_confirm: int = 0
    reference: float = 0.0  # rupture: the pressure's 10-s average, frozen while a drop is held
    reference2: float = 0.0  # ... and the reference's own 10-s average (their difference: a falling trend's trail)
    rupture_n: int = 0  # consecutive readings beyond the rupture threshold
    rupture_t0: float = 0.0  # the reading before the first of them, us
    p_min: float = 0.0  # the pressure's 1-min average


@dataclass
class Front:
    time_us: float  # interpolated, onset-corrected crossing of half the amplitude
    amplitude_pa: float
    timing_sd_s: float


def crossing(history: deque[tuple[int, float]], level: float, t_lim: int) -> float:
    """Interpolated time of the oldest downward crossing of `level` between consecutive history samples not older
    than t_lim, or -1."""
    pairs = list(zip(history, list(history)[1:], strict=False))
    for (t0, v0), (t1, v1) in pairs:
        if t0 >= t_lim and v0 > level >= v1:
            return t0 + (v0 - level) / (v0 - v1) * (t1 - t0)
    return -1.0


class PressureReference:
    """The pressure path of one segment of a `DetectorConfig`: feed readings in time order with `reading`, move
    the clock on with `advance_to`; both return the events they produce."""

    def __init__(self, cfg: DetectorConfig, segment: int = 0, params: DetectorParams | None = None) -> None:
        self.p = params or DetectorParams()
        self.segment = segment
        g = cfg.seg_cfg[segment]
        self.length = float(g[L.GC_LENGTH_M])
        self.c = float(g[L.GC_WAVE_SPEED])
        self.c_sd = float(g[L.GC_WAVE_SPEED_SD])
        self.area = float(g[L.GC_AREA_M2])
        self.nominal_flow = float(g[L.GC_NOMINAL_FLOW])
        self.tick_us = round(self.p.tick_s * 1e6)
        self.present: set[int] = set()
        self.flows: dict[int, FlowMeter] = {}
        self.pressures: dict[int, Transmitter] = {}
        for role in range(L.N_ROLES):
            c = cfg.slot_cfg[segment * L.N_ROLES + role]
            if c[L.SC_PRESENT] == 0.0:
                continue
            self.present.add(role)
            kind = {L.ROLE_FLOW_IN: FlowMeter, L.ROLE_FLOW_OUT: FlowMeter, L.ROLE_PRESSURE_UP: Transmitter,
                    L.ROLE_PRESSURE_DOWN: Transmitter,
                    **{L.ROLE_PRESSURE_MID0 + j: Transmitter for j in range(L.N_PMID)}}.get(role)
            if kind is None:
                continue
            inst = kind(role=role, sigma_rel=float(c[L.SC_SIGMA_REL]), sigma_abs=float(c[L.SC_SIGMA_ABS]),
                        range_min=float(c[L.SC_RANGE_MIN]), range_max=float(c[L.SC_RANGE_MAX]),
                        max_rate_per_s=float(c[L.SC_MAX_RATE]), scan_s=float(c[L.SC_SCAN_S]),
                        time_res_s=float(c[L.SC_TIME_RES_S]))
            if isinstance(inst, FlowMeter):
                self.flows[role] = inst
            else:
                self.pressures[role] = inst
        self.other_last_time: dict[int, int] = {}  # temperature, methane: last reading time, us
        self.open_tick: int | None = None
        self.t_start = 0
        self.pending: dict[int, Front] = {}  # unpaired fronts by transmitter: 0 upstream, 1 downstream, 2 + j mid j
        self.mid_x = [float(g[L.GC_PMID_X0 + j]) for j in range(L.N_PMID)]  # mid-line meters, fraction of length
        self.done_until = 0.0  # fronts until then are a paired wave's later arrivals (with mid-line meters), us
        self.rupture_until = 0  # no second rupture before this time, us
        self.inflow_moved_at = 0.0  # the inflow last off its 1-min average by an operation's size, either way, us
        self.operation_at = {0: 0.0, 1: 0.0}  # last operation seen at an end (0 upstream, 1 downstream), us; 0 never

    # --- the segment's clock: flow meters' tick means and staleness -------------------------------------------

    def _clock(self, t: int) -> None:
        tick = t // self.tick_us
        if self.open_tick is None:
            self.open_tick = tick
            self.t_start = t
        while tick >= self.open_tick + 2:  # a reading one tick ahead is tolerated; it waits in the next tick
            self._close_tick()

    def _close_tick(self) -> None:
        assert self.open_tick is not None
        t_end = (self.open_tick + 1) * self.tick_us
        for meter in self.flows.values():
            if meter.in_open_tick:
                meter.has_tick_mean = True
            meter.in_open_tick, meter.in_next_tick = meter.in_next_tick, False
        for inst in [*self.flows.values(), *self.pressures.values()]:
            stale_us = max(self.p.stale_factor * inst.scan_s, self.p.stale_min_s) * 1e6
            last = inst.last_good_time if inst.last_good_time >= 0 else self.t_start
            if t_end - last > stale_us:
                inst.health = HEALTH_STALE
        self.open_tick += 1

    def advance_to(self, now_us: int) -> list[PressureEvent]:
        """No reading until now: ticks close (silent meters turn stale), fronts without a partner expire."""
        if self.open_tick is None:
            return []
        while now_us // self.tick_us >= self.open_tick + 2:
            self._close_tick()
        return self._expire(now_us)

    # --- one reading ---------------------------------------------------------------------------------------------

    @staticmethod
    def _beyond_rate(inst: Instrument, v: float, ref: float, dt_s: float) -> bool:
        """Whether v is further from ref than the physics allows in dt_s plus four s.d. of a difference of two."""
        excess = abs(v - ref) - inst.max_rate_per_s * dt_s
        return excess > 0.0 and excess * excess > IMPLAUSIBLE_SIGMAS2 * inst.variance(ref)

    def reading(self, role: int, t: int, v: float, quality: int = 1) -> list[PressureEvent]:
        if role not in self.present:
            return []
        inst = self.flows.get(role) or self.pressures.get(role)
        if inst is None:  # temperature, methane: only the clock
            if t > self.other_last_time.get(role, -1):
                self.other_last_time[role] = t
                self._clock(t)
            return []
        if t <= inst.last_time:
            return []
        self._clock(t)
        inst.last_time = t
        if quality != QUALITY_BAD and math.isfinite(v):
            inst.raw, inst.raw_time = v, t
        if quality in (QUALITY_BAD, QUALITY_UNCERTAIN) or not math.isfinite(v):
            return []
        if quality == QUALITY_SATURATED or not inst.range_min <= v <= inst.range_max:
            # as the driver: a saturated meter's range end is kept where it can only understate a break (an
            # inflow pinned high, an outflow pinned low), dropped otherwise
            margin = SATURATION_MARGIN_SPANS * (inst.range_max - inst.range_min)
            at_top = v > 0.5 * (inst.range_min + inst.range_max)
            evidence = at_top if role == L.ROLE_FLOW_IN else (not at_top if role == L.ROLE_FLOW_OUT else False)
            if not (inst.range_min - margin <= v <= inst.range_max + margin) or not evidence:
                return []
            v = min(max(v, inst.range_min), inst.range_max)
        # as the kernel: plausible against the last good value, or against the last value received (a refused
        # one: the second reading of a real step confirms it); prev_v is the one it was plausible against
        prev_t = inst.last_good_time
        prev_v = inst.last_value
        if prev_t >= 0:
            dt_s = (t - prev_t) * 1e-6
            plausible = [ref for ref in (inst.last_good_value, inst.last_value)
                         if not self._beyond_rate(inst, v, ref, dt_s)]
            if not plausible:
                inst.last_value = v
                inst.good_run = 0
                inst.health = HEALTH_IMPLAUSIBLE
                return []
            prev_v = plausible[0]
        inst.last_value = inst.last_good_value = v
        inst.good_run += 1
        inst.last_good_time = t
        if isinstance(inst, FlowMeter):
            self._tick_mean(inst, t)
        if inst.health == HEALTH_IMPLAUSIBLE and inst.good_run < self.p.implausible_clear_n:
            return []
        inst.health = HEALTH_OK
        if isinstance(inst, FlowMeter):
            flow_out: list[PressureEvent] = []
            if prev_t >= 0 and not math.isnan(inst.slow):
                self._rupture_flow(inst, t, v, prev_v, prev_t, flow_out)
            inst.slow = v if prev_t < 0 or math.isnan(inst.slow) else (
                inst.slow + min(1.0, (t - prev_t) * 1e-6 / 60.0) * (v - inst.slow))
            return flow_out
        assert isinstance(inst, Transmitter)
        out: list[PressureEvent] = []
        if prev_t < 0:
            self._start(inst, t, v)
        else:
            dt_s = (t - prev_t) * 1e-6
            self._weights(inst, dt_s)
            self._npw(inst, t, v, prev_v, dt_s, out)
            self._rupture(inst, t, v, prev_t, out)
        out += self._expire(t)
        return out

    def _tick_mean(self, m: FlowMeter, t: int) -> None:
        """An accepted reading counts towards the open tick's mean (or, a tick early, towards the next one's)."""
        assert self.open_tick is not None
        if t // self.tick_us <= self.open_tick:
            m.in_open_tick = True
        else:
            m.in_next_tick = True

    def _start(self, x: Transmitter, t: int, v: float) -> None:
        x.fast = x.slow = x.reference = x.reference2 = x.p_min = v
        x.noise_var = x.variance(v)
        x.fast_var = x.ref_var = x.ref_cov = 1.0  # both averages are this reading
        x.history.append((t, v))

    def _weights(self, x: Transmitter, dt_s: float) -> None:
        if abs(dt_s - x.weights_dt_s) <= 0.2 * x.weights_dt_s:
            return
        x.weights_dt_s = dt_s
        x.w_fast = weight(dt_s, self.p.npw_tau_fast_s)
        x.w_slow = weight(dt_s, self.p.npw_tau_slow_s)
        x.w_slope = weight(dt_s, NPW_SLOPE_TAU_S)
        x.w_ref = weight(dt_s, self.p.rupture_tau_s)
        x.inv_dt = 1.0 / dt_s if dt_s > 0.0 else 0.0

    # --- negative pressure waves (c) ------------------------------------------------------------------------------

    def _npw(self, x: Transmitter, t: int, v: float, prev_v: float, dt_s: float, out: list[PressureEvent]) -> None:
        p = self.p
        change = x.w_fast * (v - x.fast)
        x.fast += change
        x.history.append((t, x.fast))
        var_fast = x.noise_var * x.w_fast / (2.0 - x.w_fast)  # variance of the fast average of white noise
        if x.phase == "idle":
            x.slope += x.w_slope * (change * x.inv_dt - x.slope)
            d1 = v - prev_v
            x.noise_var += x.w_slope * (0.5 * d1 * d1 - x.noise_var)
            # a ramp keeps the slow average behind the fast one by slope * (difference of the lags): detrended
            drop = x.slow - x.fast + x.slope * (p.npw_tau_slow_s - p.npw_tau_fast_s)
            if drop > p.npw_min_drop_pa and drop * drop > p.npw_k**2 * var_fast:
                x.phase, x.base, x.t_detect, x.n_confirm = "confirming", x.slow, t, 0
            else:
                x.slow += x.w_slow * (v - x.slow)
        elif x.phase == "confirming":
            x.n_confirm += 1
            if (t - x.t_detect) * 1e-6 < p.npw_confirm_s or x.n_confirm < 2:
                return
            sd_fast = math.sqrt(var_fast)
            amplitude = x.base - x.fast
            if amplitude <= max(p.npw_k * sd_fast, p.npw_min_drop_pa):
                x.phase, x.slow = "idle", x.fast  # it came back: no front
                return
            x.phase = "refractory"
            t_lim = x.t_detect - int((p.npw_confirm_s + 2.0 * dt_s) * 1e6)
            t50 = crossing(x.history, x.base - 0.5 * amplitude, t_lim)
            t25 = crossing(x.history, x.base - 0.25 * amplitude, t_lim)
            t75 = crossing(x.history, x.base - 0.75 * amplitude, t_lim)
            rise_s = (t75 - t25) * 1e-6
            # through the fast average a step rises from 25 to 75 % in 1.1 tau; a ramp takes far longer
            sharp = t25 >= 0.0 and t75 >= t25 and rise_s <= NPW_MAX_RISE_TAU * p.npw_tau_fast_s + 2.0 * dt_s
            if t50 < 0.0 or not sharp:
                return
            slope = 0.5 * amplitude / max(rise_s, 1e-3)
            timing_sd = math.sqrt(dt_s**2 / 12.0 + x.time_res_s**2 + (sd_fast / max(slope, 1e-9)) ** 2)
            onset = t50 - p.npw_tau_fast_s * math.log(2.0) * 1e6  # the fast average's lag to half a step
            self._front(self._index(x.role), Front(onset, amplitude, timing_sd), t, out)
        elif (t - x.t_detect) * 1e-6 >= p.npw_refractory_s:
            x.phase, x.slow = "idle", x.fast

    @staticmethod
    def _index(role: int) -> int:
        """Transmitter index: 0 upstream end, 1 downstream end, 2 + j mid-line meter j."""
        return role - L.ROLE_PRESSURE_UP if role <= L.ROLE_PRESSURE_DOWN else role - L.ROLE_PRESSURE_MID0 + 2

    @staticmethod
    def _role(p: int) -> int:
        return L.ROLE_PRESSURE_UP + p if p < 2 else L.ROLE_PRESSURE_MID0 + p - 2

    def _position(self, p: int) -> float:
        return 0.0 if p == 0 else self.length if p == 1 else self.mid_x[p - 2] * self.length

    def _active(self) -> list[int]:
        """The transmitters that take part in the pairing: both ends, and the healthy mid-line meters inside."""
        mids = [2 + j for j in range(L.N_PMID)
                if 0.0 < self.mid_x[j] < 1.0 and (x := self.pressures.get(L.ROLE_PRESSURE_MID0 + j)) is not None
                and x.health == HEALTH_OK]
        return [0, 1, *mids]

    def _front(self, p: int, front: Front, t: int, out: list[PressureEvent]) -> None:
        """Pair a confirmed front with an adjacent transmitter's pending one (the two that bracket the source see it
        first), or keep it pending (confirmed at time t); with mid-line meters, the paired wave's later arrivals at
        the others are taken in silence."""
        active = self._active()
        with_mids = len(active) > 2
        if with_mids and front.time_us <= self.done_until:
            return
        x_p = self._position(p)
        others = sorted((self._position(q), q) for q in active if q != p)
        below = [q for x, q in others if x < x_p]
        above = [q for x, q in others if x > x_p]
        neighbours = ([below[-1]] if below else []) + ([above[0]] if above else [])
        candidates = []
        for q in neighbours:
            other = self.pending.get(q)
            if other is None:
                continue
            sd_dt = math.sqrt(front.timing_sd_s**2 + other.timing_sd_s**2)
            gap = abs(self._position(q) - x_p)
            if abs(front.time_us - other.time_us) * 1e-6 <= (1.0 + self.p.npw_pair_tol) * gap / self.c + 3.0 * sd_dt:
                candidates.append((other.time_us, q))
        if candidates:
            _, q = min(candidates)
            other = self.pending.pop(q)
            lo, hi = (q, p) if self._position(q) < x_p else (p, q)
            up, down = (front, other) if lo == p else (other, front)
            dt = (up.time_us - down.time_us) * 1e-6
            sd_dt = math.sqrt(front.timing_sd_s**2 + other.timing_sd_s**2)
            event, onset_us = self._pair(up, down, dt, sd_dt, front.amplitude_pa, other.amplitude_pa,
                                         self._position(lo), self._position(hi))
            out.append(event)
            if with_mids:
                self.done_until = onset_us + ((1.0 + self.p.npw_pair_tol) * self.length / self.c + 3.0 * sd_dt) * 1e6
                for r in list(self.pending):
                    if onset_us - 3.0 * sd_dt * 1e6 <= self.pending[r].time_us <= self.done_until:
                        del self.pending[r]
            return
        older = self.pending.get(p)
        if older is not None:
            # a front without partner is reported unpaired, also when the next one at its transmitter takes its
            # place before it expires
            out.append(E.PressureWaveUnpaired(self.segment, self._role(p), t, int(older.time_us), p + 1,
                                              older.amplitude_pa))
        self.pending[p] = front

    def _pair(self, up: Front, down: Front, dt: float, sd_dt: float, amp_this: float, amp_other: float,
              x_a: float, x_b: float) -> tuple[PressureEvent, float]:
        """The event of a pair of fronts at positions x_a < x_b, and the wave's onset (us, unrounded)."""
        length, c = self.length, self.c
        sub = x_b - x_a
        x = min(max(x_a + 0.5 * (sub + c * dt), x_a), x_b)
        sd_x = math.sqrt((0.5 * c * sd_dt) ** 2 + (0.5 * dt * self.c_sd) ** 2)
        margin = max(self.p.npw_end_frac * length, 2.0 * sd_x)
        amplitude = 0.5 * (amp_this + amp_other)
        time_us = int(max(up.time_us, down.time_us))
        onset = min(up.time_us, down.time_us) - (sub - abs(c * dt)) / (2.0 * c) * 1e6
        onset_us = int(onset)
        size = 2.0 * self.area * amplitude / c  # Joukowsky
        if not self._flows_show_gas_leaving():
            role, where = -1, 3
        elif x < margin:
            role, where = L.ROLE_PRESSURE_UP, 1
        elif x > length - margin:
            role, where = L.ROLE_PRESSURE_DOWN, 2
        else:
            return E.PressureWaveLeak(self.segment, time_us, onset_us, x, sd_x, dt, size, amplitude), float(onset_us)
        return (E.PressureWaveOperation(self.segment, role, time_us, onset_us, where, x, sd_x, dt, size, amplitude),
                float(onset_us))

    def _flows_show_gas_leaving(self) -> bool:
        """More in at the upstream meter, less out at the downstream one. Without meters the pressure decides;
        meters that exist but cannot vouch (unhealthy, no tick mean yet) make the pair an operation."""
        if not self.flows:
            return True
        fin, fout = self.flows.get(L.ROLE_FLOW_IN), self.flows.get(L.ROLE_FLOW_OUT)
        if fin is None or fout is None or not all(m.health == HEALTH_OK and m.has_tick_mean for m in (fin, fout)):
            return False
        d_in, d_out = fin.last_value - fin.slow, fout.last_value - fout.slow
        tol_in, tol_out = 4.0 * math.sqrt(fin.variance(fin.slow)), 4.0 * math.sqrt(fout.variance(fout.slow))
        return d_in > -tol_in and d_out < tol_out and d_in - d_out > tol_in + tol_out

    def _expire(self, t: int) -> list[PressureEvent]:
        wait_us = ((1.0 + self.p.npw_pair_tol) * self.length / self.c + self.p.npw_confirm_s + 2.0) * 1e6
        out: list[PressureEvent] = []
        for p in range(2 + L.N_PMID):
            front = self.pending.get(p)
            if front is not None and t - front.time_us > wait_us:
                del self.pending[p]
                out.append(E.PressureWaveUnpaired(self.segment, self._role(p), t, int(front.time_us), p + 1,
                                                  front.amplitude_pa))
        return out

    # --- rupture (e) --------------------------------------------------------------------------------------------

    def _travel_s(self) -> float:
        """How long after an operation at one end the other end may see its wave."""
        return (1.0 + self.p.npw_pair_tol) * self.length / self.c + self.p.npw_confirm_s + 2.0

    def _inlet_settling(self, t: int) -> bool:
        """The inflow stood off its 1-min average by an operation's size (either way) within the line's acoustic
        settling time (`settle_wave_factor` L / c, at least the travel time, at most `settle_max_s`)."""
        if self.inflow_moved_at <= 0.0:
            return False
        settle_s = self.p.settle_wave_factor * self.length / self.c if self.c > 0.0 else 0.0
        settle_s = min(max(settle_s, self._travel_s()), self.p.settle_max_s)
        return (t - self.inflow_moved_at) * 1e-6 <= settle_s

    def _from_other_end(self, upstream: bool, t: int) -> bool:
        mark = self.operation_at[1 if upstream else 0]
        return mark > 0.0 and (t - mark) * 1e-6 <= self._travel_s()

    def _pressure_threshold(self, x: Transmitter, ref: float) -> float:
        """1.5 % of the reference, or the Joukowsky front of the smallest rupture if less (>= 4 s.d.)."""
        thr = self.p.rupture_frac * ref
        front = self.c * self.p.rupture_min_flow_frac * self.nominal_flow / (2.0 * self.area) if self.area > 0 else 0
        if 0.0 < front < thr:
            thr = max(front, min(thr, 4.0 * math.sqrt(x.variance(ref))))
        return thr

    def _fast_threshold(self, x: Transmitter, ref: float) -> float:
        """The same for the 1-s average: >= 4 s.d. of its difference from the 10-s reference, measured noise (the
        shares of it the two averages carry, restarts included)."""
        thr = self.p.rupture_frac * ref
        front = self.c * self.p.rupture_min_flow_frac * self.nominal_flow / (2.0 * self.area) if self.area > 0 else 0
        if 0.0 < front < thr:
            var = x.noise_var * (x.fast_var + x.ref_var - 2.0 * x.ref_cov)
            thr = max(front, min(thr, FAST_COLLAPSE_SD * math.sqrt(max(var, 0.0))))
        return thr

    def _rupture(self, x: Transmitter, t: int, v: float, prev_t: int, out: list[PressureEvent]) -> None:
        p = self.p
        x.p_min += min(1.0, (t - prev_t) * 1e-6 / P_MIN_TAU_S) * (v - x.p_min)
        a = x.w_fast  # the fast average has taken this reading, the reference not yet
        x.fast_var = (1.0 - a) ** 2 * x.fast_var + a * a
        x.ref_cov *= 1.0 - a
        if (t - prev_t) * 1e-6 > RUPTURE_GAP_S:  # back from a silence: the reference is from before it
            self._restart_reference(x)
            x.reference2 = x.fast
            x.rupture_n = 0
            return
        ref = x.reference
        drop = ref - v
        thr = self._pressure_threshold(x, ref)
        if (drop <= thr and ref - x.fast - self._trail_of(x) > self._fast_threshold(x, ref)
                and not self._inlet_settling(t)):  # the 1-s average beyond its own noise and this transmitter's
            # own trend, the line not settling from an inflow move
            drop, thr = ref - x.fast, self._fast_threshold(x, ref)
        if drop <= thr:
            x.rupture_n = 0
            b = x.w_ref
            x.reference += b * (v - ref)
            x.reference2 += b * (x.reference - x.reference2)
            x.ref_var = (1.0 - b) ** 2 * x.ref_var + b * b
            x.ref_cov = (1.0 - b) * x.ref_cov + a * b
            return
        if x.rupture_n == 0:
            x.rupture_t0 = float(prev_t)
        x.rupture_n += 1
        held_s = (t - x.rupture_t0) * 1e-6
        if x.rupture_n < 2 or held_s < p.rupture_confirm_s:
            return
        verdict = self._rupture_flow_verdict(x.role, t, x.rupture_t0)
        # a collapse must also fall below where the line's falling trend has brought it (a set-point ramp upstream
        # lowers the outlet with the offtake's flow unchanged)
        if verdict > 0 and drop - self._trend_trail(x) <= thr:
            verdict = -2  # the trend's own trail: decided, no break, no operation at this end
        elif verdict > 0:
            if t >= self.rupture_until:
                self.rupture_until = t + int(p.rupture_refractory_s * 1e6)
                t0 = int(x.rupture_t0)
                if x.phase != "idle" and x.t_detect < t0:  # the NPW detector saw the drop begin earlier
                    t0 = x.t_detect
                rate = drop / max((t - t0) * 1e-6, 1e-3)
                out.append(E.Rupture(self.segment, x.role, t, t0, drop, rate, ref, L.RUP_PRESSURE, 0.0))
            verdict = -2
        elif verdict < 0 and x.role in (L.ROLE_PRESSURE_UP, L.ROLE_PRESSURE_DOWN):
            # an operation (or the wave of one at the other end): the other end will see its wave
            self.operation_at[0 if x.role == L.ROLE_PRESSURE_UP else 1] = float(t)
        if verdict < 0 or held_s > RUPTURE_MAX_WAIT_S:
            # decided (a rupture, an operation, the trend, or a slow decline): the new level is the reference from
            # now on, its second stage moved with it (the trend kept)
            self._restart_reference(x)
            x.rupture_n = 0

    @staticmethod
    def _restart_reference(x: Transmitter) -> None:
        """The collapse reference restarts at the 1-s average (its noise share and their covariance with it)."""
        x.reference2 += x.fast - x.reference
        x.reference = x.fast
        x.ref_var = x.ref_cov = x.fast_var

    @staticmethod
    def _trail_of(x: Transmitter) -> float:
        """The two-stage reference's trail behind a falling trend beyond 3 s.d. of the reference's noise."""
        w = x.w_ref
        sd_ref = math.sqrt(x.noise_var * w / (2.0 - w)) if 0.0 < w < 1.0 else 0.0
        return max(x.reference2 - x.reference - 3.0 * sd_ref, 0.0)

    def _trend_trail(self, x: Transmitter) -> float:
        """The trail the line shares: the least of this end's and the other end's (either end's for a mid-line
        meter: an operation's ramp moves both, a break's front reaches the other later); 0 without a healthy
        transmitter there."""
        trail = self._trail_of(x)
        for role in (L.ROLE_PRESSURE_UP, L.ROLE_PRESSURE_DOWN):
            if role == x.role:
                continue
            o = self.pressures.get(role)
            if o is None or o.health != HEALTH_OK:
                return 0.0
            trail = min(trail, self._trail_of(o))
        return trail

    def _rupture_flow_verdict(self, role: int, t: int, t0: float) -> int:
        """1: the flow at this end moves towards a break inside (more in upstream, less out downstream) or there is
        no meter to ask; -1: it does not (a supply cut, a valve, a demand surge); 0: no reading since the drop."""
        upstream = role == L.ROLE_PRESSURE_UP
        if role >= L.ROLE_PRESSURE_MID0:
            # a mid-line meter: a break unless an operation marked at either end explains the wave
            return -1 if self._from_other_end(True, t) or self._from_other_end(False, t) else 1
        if self._from_other_end(upstream, t):
            return -1
        m = self.flows.get(L.ROLE_FLOW_IN if upstream else L.ROLE_FLOW_OUT)
        if m is None or math.isnan(m.slow):
            return 1
        if m.raw_time <= int(t0):
            return 1 if (t - t0) * 1e-6 > RUPTURE_FLOW_WAIT_S else 0
        d = m.raw - m.slow
        tol = max(4.0 * math.sqrt(m.variance(m.slow)), OPERATION_TOL_FRAC * self.nominal_flow)
        if upstream:
            return 1 if d > tol else -1
        return -1 if d > tol else 1  # downstream: less out, or the same (an offtake drawing a set flow)

    def _held_end_moved(self, jump: float, t: int) -> bool:
        """An operation at the upstream end: it marked one (its inflow fell) within `settle_max_s`, or its
        pressure's 1-s average stands off its 1-min average, either way, by more than half the Joukowsky rise of
        the jump (1 to 3 s.d.); no healthy transmitter: taken as moved."""
        mark = self.operation_at[0]
        if mark > 0.0 and (t - mark) * 1e-6 <= self.p.settle_max_s:
            return True
        x = self.pressures.get(L.ROLE_PRESSURE_UP)
        if x is None or x.health != HEALTH_OK:
            return True
        sd = math.sqrt(x.variance(x.p_min))
        joukowsky = 0.5 * self.c * jump / self.area if self.area > 0 else 3.0 * sd
        return abs(x.fast - x.p_min) > max(sd, min(3.0 * sd, joukowsky))

    def _far_side_saw_break(self, t: int) -> bool:
        """A break's wave seen at a transmitter other than the held inlet's: its 1-s average below its 10-s
        collapse reference, beyond a falling trend's trail, by more than 4 s.d. of the 1-s average (measured
        noise); at the outlet with the outflow not risen (an offtake drawing more). Not while an operation at the
        outlet explains a wave at the inlet."""
        if self._from_other_end(True, t):
            return False
        for role, x in sorted(self.pressures.items()):
            if role == L.ROLE_PRESSURE_UP or x.health != HEALTH_OK:
                continue
            w = x.w_fast
            sd_fast = math.sqrt(x.noise_var * w / (2.0 - w)) if 0.0 < w < 1.0 else 0.0
            if sd_fast <= 0.0 or x.reference - x.fast - self._trail_of(x) <= 4.0 * sd_fast:
                continue
            if role == L.ROLE_PRESSURE_DOWN:
                m = self.flows.get(L.ROLE_FLOW_OUT)
                if m is not None and not math.isnan(m.slow):
                    tol = max(4.0 * math.sqrt(m.variance(m.slow)), OPERATION_TOL_FRAC * self.nominal_flow)
                    if m.raw - m.slow > tol:
                        continue
            return True
        return False

    def _outflow_dip(self, m: FlowMeter, t: int, dip: float, sd: float, prev_t: int, out: list[PressureEvent]
                     ) -> None:
        """The downstream end: a sharp dip of the outflow (a break's front from inside) armed within
        RUPTURE_FRONT_S of the flow leaving its slow average, decided by the outlet pressure's 1-s average falling
        from where it stood then by a collapse (the smallest rupture's Joukowsky front, at most 1.5 % of the
        pressure; at least 4 s.d. of that difference, half the Joukowsky drop of the dip and `npw_min_drop_pa`)
        within OUTFLOW_DIP_WINDOW_S of the dip; an offtake's own dip raises the pressure."""
        p = self.p
        x = self.pressures.get(L.ROLE_PRESSURE_DOWN)
        thr = max(OUTFLOW_DIP_FRAC * p.rupture_min_flow_frac * self.nominal_flow, 4.0 * sd)
        near = dip <= 0.5 * thr
        if near:
            m.quiet_at = float(t)
            m.p_before = x.fast if x is not None else 0.0
            # the line's falling trend then, Pa/s (the steeper end's): the fall is counted beyond it (a set-point
            # ramp-down upstream lowers the whole line; a far break reaches the outlet before the inlet)
            m.trend_before = 0.0
            for end in (L.ROLE_PRESSURE_UP, L.ROLE_PRESSURE_DOWN):
                o = self.pressures.get(end)
                if p.rupture_tau_s > 0.0 and o is not None and o.health == HEALTH_OK:
                    m.trend_before = max(m.trend_before, self._trail_of(o) / p.rupture_tau_s)
        if m.jump_n < 0:
            if near:
                m.jump_n = 0
                m.jump_t0 = 0.0
            return
        if m.jump_t0 <= 0.0:
            if dip <= thr or (t - m.quiet_at) * 1e-6 > RUPTURE_FRONT_S:
                return
            m.jump_t0 = float(prev_t)
        held_s = (t - m.jump_t0) * 1e-6
        if held_s > OUTFLOW_DIP_WINDOW_S:
            m.jump_n = -1  # the pressure did not follow: no break's front
            return
        if held_s < max(p.rupture_confirm_s, p.npw_confirm_s):
            return
        if x is None or x.health != HEALTH_OK:
            return
        fall = m.p_before - x.fast - m.trend_before * (t - m.quiet_at) * 1e-6
        sd_diff = math.sqrt(2.0 * x.noise_var * x.w_fast / (2.0 - x.w_fast))
        front = p.rupture_frac * m.p_before
        if self.area > 0:
            front = min(front, self.c * p.rupture_min_flow_frac * self.nominal_flow / (2.0 * self.area))
        joukowsky = 0.5 * self.c * max(dip, 0.0) / self.area if self.area > 0 else 0.0
        if fall <= max(front, 4.0 * sd_diff, joukowsky, p.npw_min_drop_pa):
            return
        m.jump_n = -1
        if self._from_other_end(False, t) or self._inlet_settling(t):
            return
        if t >= self.rupture_until:
            self.rupture_until = t + int(p.rupture_refractory_s * 1e6)
            out.append(E.Rupture(self.segment, m.role, t, int(m.jump_t0), fall, fall / max(held_s, 1e-3), m.p_before,
                                 L.RUP_FLOW, max(dip, 0.0)))

    def _rupture_flow(self, m: FlowMeter, t: int, v: float, prev_v: float, prev_t: int, out: list[PressureEvent]
                      ) -> None:
        """A flow reading before its slow reference moves: operation marks, and the inflow's sharp jump at a held
        upstream end, decided after the NPW confirmation time with the upstream pressure not risen."""
        p = self.p
        upstream = m.role == L.ROLE_FLOW_IN
        sd = math.sqrt(m.variance(m.slow))
        d = v - m.slow
        tol = max(4.0 * sd, OPERATION_TOL_FRAC * self.nominal_flow)
        if upstream and abs(d) > tol:
            self.inflow_moved_at = float(t)
        if upstream and d < -tol:
            self.operation_at[0] = float(t)
        elif not upstream and d > tol:
            self.operation_at[1] = float(t)
        if not upstream:
            if p.rupture_outflow_dip:
                self._outflow_dip(m, t, -d, sd, prev_t, out)
            return
        thr = max(p.rupture_flow_jump_frac * p.rupture_min_flow_frac * self.nominal_flow, 4.0 * sd)
        arm = max(0.5 * thr, 4.0 * sd)
        if d <= 0.5 * arm:
            m.quiet_at = float(t)
        if m.jump_n < 0:
            if d <= thr:
                m.jump_n = 0
                m.jump_t0 = 0.0
            return
        # a rise under way is measured from the slow average before it (friction spreads a far break's front)
        if m.jump_t0 > 0.0:
            jump = v - m.jump_base
            if jump <= arm or (m.jump_n == 0 and (t - m.quiet_at) * 1e-6 > RUPTURE_FRONT_S) or (
                    (t - m.jump_t0) * 1e-6 > max(RUPTURE_MAX_WAIT_S, self._travel_s())):
                m.jump_t0 = 0.0
                m.jump_n = 0
                return
        else:
            if d <= arm or (t - m.quiet_at) * 1e-6 > RUPTURE_FRONT_S:
                return
            if v - prev_v < 0.5 * d and (not p.rupture_spread_front or self._held_end_moved(d, t)):
                m.jump_n = -1  # a ramp with the end's pressure moving: a set-point, not a front
                return
            m.jump_base = m.slow
            m.jump_t0 = float(prev_t)
            jump = d
        if jump <= thr:
            return
        if m.jump_n == 0:
            if v - prev_v < 0.5 * jump:
                # a jump must be sharp where it passes the threshold; with the spread-front evidence a gradual one
                # (marked by a negative cross_rise) wants the far side to have seen the break
                if not p.rupture_spread_front:
                    m.jump_n = -1
                    return
                m.cross_rise = -1.0
            else:
                m.cross_rise = v - prev_v
        m.jump_n += 1
        t0 = int(m.jump_t0)
        held_s = (t - t0) * 1e-6
        if m.jump_n < 2 or held_s < max(p.rupture_confirm_s, p.npw_confirm_s):
            return
        if m.cross_rise < 0.0 or v - prev_v >= 0.5 * m.cross_rise:
            # gradual, or still climbing as when it passed the threshold (a ramp adds as much every scan): no
            # rupture without the spread-front evidence; with it, once another transmitter has seen the break
            if not p.rupture_spread_front:
                m.jump_n = -1
                return
            m.cross_rise = -1.0  # gradual from here on (a ramp that climbed on and then held is no sharp front)
            if self._held_end_moved(jump, t):
                m.jump_n = -1  # the inlet's own operation (a lowered set-point's inflow climbing back)
                return
            if not self._far_side_saw_break(t):
                if held_s > self._travel_s():
                    m.jump_n = -1
                return
        m.jump_n = -1
        x = self.pressures.get(L.ROLE_PRESSURE_UP)
        if x is None or x.health != HEALTH_OK:
            return  # the pressure is not seen held: the jump could be a raised set-point
        rise = x.fast - x.p_min
        sd = math.sqrt(x.variance(x.p_min))
        # half the Joukowsky rise of the jump had this end pushed it (a set-point raised), within 1 to 3 s.d.
        joukowsky = 0.5 * self.c * jump / self.area if self.area > 0 else 3.0 * sd
        if rise > max(sd, min(3.0 * sd, joukowsky)) or self._from_other_end(upstream, t):
            return
        w = x.w_fast  # ... nor beyond 3 s.d. of its 1-s average (the measured reading noise, w / (2 - w) of it)
        sd_fast = math.sqrt(x.noise_var * w / (2.0 - w)) if 0.0 < w < 1.0 else 0.0
        if sd_fast > 0.0 and rise > 3.0 * sd_fast:
            return
        if t >= self.rupture_until:
            self.rupture_until = t + int(p.rupture_refractory_s * 1e6)
            drop = max(-rise, 0.0)
            out.append(E.Rupture(self.segment, m.role, t, t0, drop, drop / max(held_s, 1e-3), x.p_min, L.RUP_FLOW,
                                 jump))
