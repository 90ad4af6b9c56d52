"""Reference (test oracle) of `kernels.redundancy.vote_kernel`: the same vote written plainly, member by member
with numpy's median, no state arrays. Tests compare the kernel's voted readings and member events against it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from services.network.quality import QUALITY_BAD, QUALITY_UNCERTAIN

from ..domain import layout as L
from ..domain.kernels import redundancy as R
from ..domain.network_config import RedundantGroup


@dataclass
class _Member:
    sigma_rel: float
    sigma_abs: float
    scan_us: float
    ratio: bool
    value: float = 0.0
    time: float = -1.0
    align: float = 0.0
    align_sum: float = 0.0
    ew_dev: float = 0.0
    noise_var: float = 0.0
    ew_ref: float = 0.0
    stuck_anchor: float = 0.0
    cons_anchor: float = 0.0
    health: int = L.HEALTH_OK
    flat_n: int = 0
    stuck_n: int = 0
    clear_n: int = 0
    n: int = 0
    dev_n: int = 0
    ref_n: int = 0
    arb_n: int = 0

    def sigma(self, v: float) -> float:
        return math.sqrt((self.sigma_rel * v) ** 2 + self.sigma_abs**2)

    def aligned(self, v: float) -> float:
        return v / (1.0 + self.align) if self.ratio else v - self.align

    def window(self) -> float:
        """Readings its offset from the model is averaged over (kernel `_ref_n`)."""
        return min(R.REF_N, R.REF_MAX_S / (self.scan_us / 1e6)) if self.scan_us > 0.0 else R.REF_N

    def fresh(self, t: float) -> bool:
        return self.time >= 0.0 and t - self.time <= R.FRESH_SCANS * self.scan_us


@dataclass
class _Group:
    g: RedundantGroup
    members: list[_Member]
    learn_n: float = 0.0
    ref_sum: float = 0.0
    ref_n: float = 0.0
    ref_anchor: float = math.nan
    agree: float = math.nan
    model_mean: float = 0.0
    model_var: float = 0.0
    model_n: float = 0.0
    wit_v: float = 0.0
    wit_t: float = -1.0
    learned: bool = False
    events: list[tuple[int, int, int, int, float, float, int]] = field(default_factory=list)

    def set_health(self, m: int, new: int, t: int, dev: float, noise: float, cause: int = R.CAUSE_DEVIATES) -> None:
        mem = self.members[m]
        if new != mem.health:
            self.events.append((m, t, new, mem.health, dev, noise, cause))
            mem.health, mem.clear_n = new, 0


def _arbiter(me: _Member, o: _Member, anchor: float, model_var: float, sig: float, sig_o: float) -> int:
    """0: not decisive, 1: me is off, 2: o is off (kernel `_arbiter`)."""
    e_m, e_o = abs(me.ew_ref - anchor), abs(o.ew_ref - anchor)
    sd = math.sqrt(2.0 * (1.0 + 1.0 / R.MODEL_SLOW) * model_var)
    if e_m > R.ARB_RATIO * e_o and e_m > sig and e_m > R.ARB_FAIL_Z * sd and e_o <= max(R.ARB_OK_Z * sd, sig_o):
        return 1
    if e_o > R.ARB_RATIO * e_m and e_o > sig_o and e_o > R.ARB_FAIL_Z * sd and e_m <= max(R.ARB_OK_Z * sd, sig):
        return 2
    return 0


def _reference(st: _Group, held: dict[int, float], t: float) -> float:
    g = st.g
    if g.reference == R.REF_WITNESS:
        fresh = st.wit_t >= 0.0 and t - st.wit_t <= R.FRESH_SCANS * g.witness_scan_s * 1e6
        return st.wit_v if fresh else math.nan
    if g.reference == R.REF_FLOW_OTHER_END:  # held[-1]: the line pack's rate, kg/s
        rate = held.get(-1, 0.0)
        return held[L.ROLE_FLOW_OUT] + rate if g.role == L.ROLE_FLOW_IN else held[L.ROLE_FLOW_IN] - rate
    if g.reference == R.REF_NONE:
        return math.nan
    q = 0.5 * (held[L.ROLE_FLOW_IN] + held[L.ROLE_FLOW_OUT])
    kq = g.friction_k * q * abs(q)
    if g.reference == R.REF_PRESSURE_UP:
        p2 = held[L.ROLE_PRESSURE_DOWN] ** 2 + kq
    elif g.reference == R.REF_PRESSURE_DOWN:
        p2 = held[L.ROLE_PRESSURE_UP] ** 2 - kq
    else:
        p2 = held[L.ROLE_PRESSURE_UP] ** 2 - g.x_frac * kq
    return math.sqrt(p2) if p2 > 0.0 else math.nan


def vote(groups: list[RedundantGroup], held: list[dict[int, float]], grp: npt.NDArray[np.int64],
         mem: npt.NDArray[np.int64], time_us: npt.NDArray[np.int64], value: npt.NDArray[np.float64],
         quality: npt.NDArray[np.int64]) -> tuple[list[tuple[int, int, int, float]], list[tuple[float, ...]]]:
    """Voted readings (segment, role, time, value) and member events (group, member, time, new, old), for
    readings in time order; `held[segment]` the detectors' held value by role and the line pack's rate (key -1),
    constant over the call."""
    state = [_Group(g, [_Member(g.sigma_rel[k], g.sigma_abs[k], g.scan_period_s[k] * 1e6, g.ratio[k])
                        for k in range(len(g.tag_ids))]) for g in groups]
    out: list[tuple[int, int, int, float]] = []
    for gi, m, t, v, q in zip(grp.tolist(), mem.tolist(), time_us.tolist(), value.tolist(), quality.tolist(),
                              strict=True):
        if not 0 <= gi < len(state):
            continue
        if q in (QUALITY_BAD, QUALITY_UNCERTAIN) or not math.isfinite(v):
            continue
        st = state[gi]
        if m == R.WITNESS:
            if t > st.wit_t:
                st.wit_v, st.wit_t = v, float(t)
            continue
        if not 0 <= m < len(st.members):
            continue
        me = st.members[m]
        if t <= me.time:
            continue
        sig = me.sigma(v)
        if me.time >= 0.0 and t - me.time <= R.FRESH_SCANS * me.scan_us:
            half_d2 = 0.5 * (v - me.value) ** 2
            me.noise_var = half_d2 if me.n < 2 else me.noise_var + (half_d2 - me.noise_var) / R.NOISE_N
        me.flat_n = me.flat_n + 1 if (me.time >= 0.0 and v == me.value) else 0
        me.value, me.time, me.n = v, float(t), me.n + 1
        a_m = me.aligned(v)
        m_ok = me.health == L.HEALTH_OK
        others = [k for k, o in enumerate(st.members) if k != m and o.health == L.HEALTH_OK and o.fresh(t)]
        vals = [st.members[k].aligned(st.members[k].value) for k in others]
        min_noise = min((st.members[k].noise_var for k in others), default=math.inf)
        cons = math.nan
        if len(others) == 1:
            cons = vals[0]
        elif len(others) >= 2:
            cons = float(np.median([*vals, a_m] if m_ok else vals))
        if cons == cons:
            me.ew_dev = a_m - cons if me.dev_n == 0 else me.ew_dev + (a_m - cons - me.ew_dev) / R.DEV_N
            me.dev_n += 1
        ref = _reference(st, held[st.g.segment], float(t))
        if ref == ref:
            me.ref_n += 1
            me.ew_ref += (a_m - ref - me.ew_ref) / min(float(me.ref_n), me.window())
        if not st.learned:
            mean = sum(o.value for o in st.members) / len(st.members)
            if m == 0 and all(o.fresh(t) for o in st.members) and mean != 0.0:
                for o in st.members:
                    o.align_sum += o.value / mean - 1.0 if o.ratio else o.value - mean
                st.learn_n += 1.0
                if ref == ref:
                    st.ref_sum += mean - ref
                    st.ref_n += 1.0
                if st.learn_n >= R.LEARN_N:
                    for o in st.members:
                        o.align, o.dev_n, o.ref_n = o.align_sum / st.learn_n, 0, 0
                    st.ref_anchor = st.ref_sum / st.ref_n if st.ref_n >= 0.5 * R.LEARN_N else math.nan
                    st.agree = st.ref_anchor
                    st.learned = True
        elif m_ok:
            noise_ratio = math.sqrt(me.noise_var) / sig if sig > 0.0 else 0.0
            dev_ratio = me.ew_dev / sig if sig > 0.0 else 0.0
            if abs(v - me.stuck_anchor) <= R.STUCK_FRAC * sig and cons == cons:
                me.stuck_n += 1
            else:
                me.stuck_n, me.stuck_anchor, me.cons_anchor = 0, v, cons
            if me.flat_n >= R.FLAT_N:
                st.set_health(m, L.HEALTH_FLATLINED, t, dev_ratio, noise_ratio)
            elif others and me.n > R.NOISE_N and noise_ratio > 1.0 and me.noise_var > R.NOISY_K**2 * min_noise:
                st.set_health(m, R.HEALTH_OUTVOTED, t, dev_ratio, noise_ratio, R.CAUSE_NOISY)
            elif len(others) >= 2 and me.stuck_n >= R.STUCK_N and abs(cons - me.cons_anchor) > R.DRIFT_K * sig:
                st.set_health(m, L.HEALTH_STUCK, t, dev_ratio, noise_ratio)
            elif len(others) >= 2 and me.dev_n >= R.DEV_N and abs(dev_ratio) > R.DRIFT_K:
                st.set_health(m, R.HEALTH_OUTVOTED, t, dev_ratio, noise_ratio)
            elif len(others) == 1 and me.dev_n >= R.DEV_N:
                k = others[0]
                o = st.members[k]
                sig_o = o.sigma(o.value)
                lim = max(sig, sig_o)
                ref_n = me.window()
                both_ref = me.ref_n >= ref_n and o.ref_n >= o.window()
                if abs(me.ew_dev) < R.SUSPECT_K * lim:
                    if both_ref and st.agree == st.agree:
                        st.model_n += 1.0
                        gain = 1.0 / min(st.model_n, 2.0 * R.MODEL_SLOW * ref_n)
                        d_ref = me.ew_ref - st.model_mean
                        st.model_mean += d_ref * gain
                        st.model_var += (d_ref * d_ref - st.model_var) * gain
                        st.agree += (me.ew_ref - st.agree) / R.DEV_N
                    me.arb_n = o.arb_n = 0
                elif (abs(me.ew_dev) > R.DRIFT_K * lim and st.agree == st.agree and both_ref
                      and st.model_n >= 2.0 * R.MODEL_MIN_WINDOWS * ref_n):
                    verdict = _arbiter(me, o, st.agree, st.model_var, sig, sig_o)
                    if verdict == 1:
                        me.arb_n, o.arb_n = me.arb_n + 1, 0
                    elif verdict == 2:
                        me.arb_n, o.arb_n = 0, o.arb_n + 1
                    else:
                        me.arb_n = o.arb_n = 0
                    if me.arb_n >= R.ARB_PERSIST:
                        stuck = me.noise_var < R.STUCK_FRAC**2 * o.noise_var
                        st.set_health(m, L.HEALTH_STUCK if stuck else R.HEALTH_OUTVOTED, t, dev_ratio, noise_ratio,
                                      R.CAUSE_MODEL)
                    elif o.arb_n >= R.ARB_PERSIST:
                        stuck = o.noise_var < R.STUCK_FRAC**2 * me.noise_var
                        st.set_health(k, L.HEALTH_STUCK if stuck else R.HEALTH_OUTVOTED, t, -me.ew_dev / sig_o,
                                      math.sqrt(o.noise_var) / sig_o if sig_o > 0.0 else 0.0, R.CAUSE_MODEL)
        else:
            noise_ratio = math.sqrt(me.noise_var) / sig if sig > 0.0 else 0.0
            dev_ratio = me.ew_dev / sig if sig > 0.0 else 0.0
            if (cons == cons and me.flat_n == 0 and abs(dev_ratio) < 1.0 and noise_ratio <= 1.0
                    and me.noise_var <= R.NOISY_K**2 * min_noise):
                me.clear_n += 1
                if me.clear_n >= R.RECOVER_N:
                    st.set_health(m, L.HEALTH_OK, t, dev_ratio, noise_ratio)
            else:
                me.clear_n = 0
        if me.health != L.HEALTH_OK:
            continue
        if any(o.health == L.HEALTH_OK and o.fresh(t) for o in st.members[:m]):
            continue  # not the leader
        ok = [a_m if k == m else o.aligned(o.value) for k, o in enumerate(st.members)
              if k == m or (o.health == L.HEALTH_OK and o.fresh(t))]
        voted = float(np.median(ok))
        if len(ok) == 2 and st.learned:
            k2 = next(k for k, o in enumerate(st.members) if k != m and o.health == L.HEALTH_OK and o.fresh(t))
            o = st.members[k2]
            sig2 = o.sigma(o.value)
            if abs(me.ew_dev) >= R.SUSPECT_K * max(sig, sig2):
                verdict = 0
                ready = st.agree == st.agree and ref == ref and me.ref_n >= me.window() and o.ref_n >= o.window()
                if ready and st.model_n >= 2.0 * R.MODEL_MIN_WINDOWS * me.window():
                    verdict = _arbiter(me, o, st.agree, st.model_var, sig, sig2)
                a_o = o.aligned(o.value)
                if verdict == 1:
                    voted = a_o
                elif verdict == 2:
                    voted = a_m
                elif st.g.role == L.ROLE_FLOW_IN:
                    voted = min(a_m, a_o)
                elif st.g.role == L.ROLE_FLOW_OUT:
                    voted = max(a_m, a_o)
                elif ready:
                    voted = a_m if abs(me.ew_ref - st.agree) <= abs(o.ew_ref - st.agree) else a_o
        out.append((st.g.segment, st.g.role, t, voted))
    events = [(gi, *e) for gi, st in enumerate(state) for e in st.events]
    return out, sorted(events, key=lambda e: (e[2], e[0]))
