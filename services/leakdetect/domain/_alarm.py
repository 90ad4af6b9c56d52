"""What the facade hands out: `Alarm`, `SegmentStatus`, `WindowStatus`, and the assembly of alarms from the
detectors' named events (`events`). Kernel event columns never get this far: `kernels.events` decodes them.

An alarm is one incident on one segment. Methods that see the same incident join it: a pressure-wave
location joins the rupture whose fronts it paired (onsets within the wave's travel time over the segment),
a balance alarm joins them when its onset agrees (within that plus two blocks), a balance re-estimate joins
its balance alarm, a methane level joins the open methane alarm of its sensor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

from . import events as E
from . import layout as L

Z_95 = 1.959964  # two-sided 95 % interval of a normal estimate
# A methane sensor says the leak is within its reach of the pipe; the reach as 1 s.d.
METHANE_REACH_SD_M = 50.0
# Slack on top of the wave's travel time over the segment when joining a location to a rupture.
_JOIN_SLACK_S = 10.0

HEALTH_NAMES = ("unknown", "ok", "stale", "flatlined", "stuck", "implausible_rate", "outvoted")


@dataclass(frozen=True)
class Alarm:
    """One incident on one segment, as the detectors see it so far.

    `kind`: "leak" (mass balance), "rupture", "pressure_wave" (located fronts without a rupture) or
    "methane". Times in seconds since the Unix epoch (source time). `rate_kg_per_s` and its 95 % interval,
    `position_m` (from the segment's upstream end) and its 95 % interval are None until a method gives them.
    `methods`: the methods that saw it ("mass_balance", "pressure_wave", "rupture", "methane_lel").
    `evidence`: the deciding methods' named figures (test statistic, pressure drop, % LEL, ...).
    `number` tells the versions of one alarm apart from other alarms (a feed returns changed alarms again).
    """

    number: int
    kind: str
    segment: str
    onset_unix_s: float
    decided_unix_s: float
    methods: tuple[str, ...]
    rate_kg_per_s: float | None = None
    rate_interval_kg_per_s: tuple[float, float] | None = None
    position_m: float | None = None
    position_interval_m: tuple[float, float] | None = None
    cleared_unix_s: float | None = None
    evidence: Mapping[str, float | int | str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """The replay CLI's JSON-line fields (plus `number`, `cleared_unix_s` and `evidence`)."""
        return {
            "kind": self.kind,
            "segment_id": self.segment,
            "decided_unix_s": self.decided_unix_s,
            "onset_unix_s": self.onset_unix_s,
            "rate_kg_per_s": self.rate_kg_per_s,
            "rate_interval_kg_per_s": list(self.rate_interval_kg_per_s) if self.rate_interval_kg_per_s else None,
            "position_m": self.position_m,
            "position_interval_m": list(self.position_interval_m) if self.position_interval_m else None,
            "methods": list(self.methods),
            "number": self.number,
            "cleared_unix_s": self.cleared_unix_s,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True)
class WindowStatus:
    """One balance window: imbalance (baseline removed) against its threshold; threshold = stated MDLR."""

    window_s: float
    imbalance_kg_per_s: float  # nan until the window has data
    threshold_kg_per_s: float  # z * sigma of the window: the MDLR (inf while the balance is not monitoring)
    statistic: float  # imbalance / sigma
    threshold_statistic: float


@dataclass(frozen=True)
class BaselineStatus:
    """The balance's learned baseline r = offset + gain * throughput on one segment (issue 24), how and when it was
    learned, what learning is doing now, and the pressure-gradient location's friction calibration.

    `source`: "none" (not learned yet), "initial", "relearn" (a periodic re-learning adopted), "learn_now" or
    "leak_free" (a human's confirmation). `learning`: "initial" (the first learning is filling), "idle",
    "relearn" (a candidate is being fitted beside detection), "learn_now", "pending" (a candidate waits one block
    for the alarm check). `last_rejection`: why the last re-learning was not adopted (None: adopted, or none yet).
    `friction_k` (Pa^2 s^2/kg^2) and its s.d.: the calibrated p_u^2 - p_d^2 = c0 + k phi model (None: location off
    or not calibrated yet). `mdlr_15min_kg_per_s`: the stated sensitivity of the 15-min window (inf: not
    monitoring)."""

    learned: bool
    source: str
    learned_unix_s: float | None
    window_start_unix_s: float | None
    blocks: int
    offset_kg_per_s: float
    offset_sd_kg_per_s: float
    gain: float
    gain_sd: float
    kappa: float
    throughput_kg_per_s: float
    learning: str
    learning_blocks: int
    learning_window_blocks: int
    skipped_transient_blocks: int
    skipped_transient_blocks_total: int
    next_relearn_unix_s: float | None
    relearns_adopted: int
    relearns_rejected: int
    last_rejection: str | None
    friction_k: float | None
    friction_k_sd: float | None
    friction_calibration_blocks: float
    mdlr_15min_kg_per_s: float

    def as_json(self) -> dict[str, object]:
        """Plain fields (infinities and nan as None, for JSON)."""
        out: dict[str, object] = {}
        for k, v in asdict(self).items():
            out[k] = None if isinstance(v, float) and not math.isfinite(v) else v
        return out


@dataclass(frozen=True)
class SegmentStatus:
    segment: str
    time_unix_s: float | None  # the segment's detector clock (None before its first reading)
    monitoring: bool  # the balance has learned its baseline and every flow meter is healthy
    mdlr_kg_per_s: float  # the smallest stated MDLR over the windows (inf while not monitoring)
    windows: tuple[WindowStatus, ...]
    sensor_health: Mapping[str, str]  # tag id -> HEALTH_NAMES entry, for the tags the detectors use
    # the balance's last block: its residual (baseline removed) and 1 s.d., and Page's CUSUM (in s.d.) after it
    block_residual_kg_per_s: float = math.nan
    block_residual_sd_kg_per_s: float = math.nan
    cusum: float = math.nan
    baseline: BaselineStatus | None = None  # issue 24: the learned baseline and learning's state


def _interval(value: float, sd: float, low: float = -math.inf, high: float = math.inf) -> tuple[float, float]:
    half = Z_95 * sd
    return (max(low, value - half), min(high, value + half))


@dataclass
class _Open:
    balance: int | None = None
    methane: dict[str, int] = field(default_factory=dict)  # tag -> alarm index
    momentary: int | None = None  # the last rupture / pressure-wave alarm


class AlarmBook:
    """Alarms of a pipeline, assembled from named detector events (in event order)."""

    def __init__(self, segment_ids: list[str], length_m: list[float], wave_speed_m_per_s: list[float],
                 role_tags: list[dict[int, str]], tag_position_m: Mapping[str, float], block_s: float,
                 window_s: tuple[float, ...]) -> None:
        self.alarms: list[Alarm] = []
        self._segment_ids = segment_ids
        self._length_m = length_m
        self._join_s = [L_ / c + _JOIN_SLACK_S for L_, c in zip(length_m, wave_speed_m_per_s, strict=True)]
        self._role_tags = role_tags
        self._tag_position_m = tag_position_m
        self._open: dict[int, _Open] = {}
        # the balance dates an onset to its CUSUM change point, a block's resolution
        self._block_s = 2.0 * block_s
        self._window_s = window_s

    def _new(self, seg: int, **fields: object) -> int:
        self.alarms.append(Alarm(number=len(self.alarms), segment=self._segment_ids[seg], **fields))  # type: ignore[arg-type]
        return len(self.alarms) - 1

    def _set(self, i: int, changed: dict[int, None], **fields: object) -> None:
        self.alarms[i] = replace(self.alarms[i], **fields)  # type: ignore[arg-type]
        changed[i] = None

    def _position(self, seg: int, x: float, sd: float) -> dict[str, object]:
        length = self._length_m[seg]
        x = min(max(x, 0.0), length)
        return {"position_m": x, "position_interval_m": _interval(x, sd, 0.0, length)}

    def _located(self, seg: int, ev: E.LeakLocated) -> dict[str, object]:
        """A balance location as the alarm states it: the point and its 95 % interval, clamped to the segment
        (the whole segment when not located)."""
        if math.isfinite(ev.position_sd_m):
            where = self._position(seg, ev.position_m, ev.position_sd_m)
            if math.isfinite(ev.bracket_lo_m):  # the sub-segment whose balance went out holds the leak
                interval: tuple[float, float] = where["position_interval_m"]  # type: ignore[assignment]
                where["position_interval_m"] = (max(interval[0], ev.bracket_lo_m), min(interval[1], ev.bracket_hi_m))
            return where
        return {"position_m": min(max(ev.position_m, 0.0), self._length_m[seg]),
                "position_interval_m": (0.0, self._length_m[seg])}

    def _location_evidence(self, seg: int, ev: E.LeakLocated) -> dict[str, float | int | str]:
        """`position_method` (`layout.LOC_METHOD_NAMES`), `position_sd_m` (1 s.d.; inf: not located),
        `position_covers_segment` (1 when the 95 % interval is the whole segment: no useful location), the
        gradient's own estimate and the balance time it averaged over."""
        length = self._length_m[seg]
        interval: tuple[float, float] = self._located(seg, ev)["position_interval_m"]  # type: ignore[assignment]
        lo, hi = interval
        return {
            "position_method": (L.LOC_METHOD_NAMES[ev.method] if 0 <= ev.method < len(L.LOC_METHOD_NAMES)
                                else str(ev.method)),
            "position_sd_m": ev.position_sd_m,
            "position_covers_segment": int(lo <= 0.0 and hi >= length),
            "gradient_position_m": ev.gradient_position_m,
            "gradient_position_sd_m": ev.gradient_sd_m,
            "position_window_s": ev.window_s,
            **({"position_bracket_lo_m": ev.bracket_lo_m, "position_bracket_hi_m": ev.bracket_hi_m}
               if math.isfinite(ev.bracket_lo_m) else {}),
        }

    def apply(self, events: list[E.DetectorEvent]) -> list[Alarm]:
        """Take the events of one feed; returns the alarms they raised or changed (latest versions)."""
        changed: dict[int, None] = {}
        for ev in events:
            seg = ev.segment
            op = self._open.setdefault(seg, _Open())
            if isinstance(ev, E.LeakRaised):
                rate = {"rate_kg_per_s": ev.rate_kg_per_s,
                        "rate_interval_kg_per_s": _interval(ev.rate_kg_per_s, ev.rate_sd_kg_per_s, 0.0)}
                balance_evidence: dict[str, float | int | str] = {
                    "statistic": ev.statistic, "test": self._test_name(ev.test), "mdlr_kg_per_s": ev.mdlr_kg_per_s}
                onset_s = ev.onset_us / 1e6
                j = op.momentary
                if j is not None and "mass_balance" not in self.alarms[j].methods and \
                        abs(self.alarms[j].onset_unix_s - onset_s) <= self._join_s[seg] + self._block_s:
                    # the balance confirms the rupture / located fronts: the same incident, now with a rate
                    a = self.alarms[j]
                    self._set(j, changed, methods=(*a.methods, "mass_balance"),
                              evidence={**a.evidence, **balance_evidence}, **rate)
                    op.balance = j
                    continue
                i = self._new(seg, kind="leak", onset_unix_s=onset_s, decided_unix_s=ev.time_us / 1e6,
                              methods=("mass_balance",), evidence=balance_evidence, **rate)
                op.balance = i
                changed[i] = None
            elif isinstance(ev, E.LeakUpdated) and op.balance is not None:
                a = self.alarms[op.balance]
                self._set(op.balance, changed, rate_kg_per_s=ev.rate_kg_per_s,
                          rate_interval_kg_per_s=_interval(ev.rate_kg_per_s, ev.rate_sd_kg_per_s, 0.0),
                          evidence={**a.evidence, "update_blocks": ev.blocks, "cusum": ev.cusum})
            elif isinstance(ev, E.LeakLocated) and op.balance is not None:
                a = self.alarms[op.balance]
                self._set(op.balance, changed, **self._located(seg, ev),
                          evidence={**a.evidence, **self._location_evidence(seg, ev)})
            elif isinstance(ev, E.LeakCleared) and op.balance is not None:
                self._set(op.balance, changed, cleared_unix_s=ev.time_us / 1e6)
                op.balance = None
            elif isinstance(ev, E.Rupture | E.PressureWaveLeak):
                self._momentary(seg, op, ev, changed)
            elif isinstance(ev, E.MethaneLevel | E.MethaneRise):
                tag = self._role_tags[seg].get(ev.role, f"role{ev.role}")
                evidence: dict[str, float | int | str] = {
                    "tag": tag, "lel_pct": ev.lel_pct, "rise_lel_pct_per_min": ev.rise_lel_pct_per_min,
                    "grade_hint": ev.grade_hint, "confined": int(ev.confined)}
                if isinstance(ev, E.MethaneLevel):
                    evidence["level"] = ev.level
                i_open = op.methane.get(tag)
                if i_open is None:
                    pos = self._tag_position_m.get(tag)
                    where = self._position(seg, pos, METHANE_REACH_SD_M) if pos is not None else {}
                    op.methane[tag] = self._new(seg, kind="methane", onset_unix_s=ev.time_us / 1e6,
                                                decided_unix_s=ev.time_us / 1e6, methods=("methane_lel",),
                                                evidence=evidence, **where)
                    changed[op.methane[tag]] = None
                else:
                    self._set(i_open, changed, evidence={**self.alarms[i_open].evidence, **evidence})
            elif isinstance(ev, E.MethaneCleared):
                tag = self._role_tags[seg].get(ev.role, f"role{ev.role}")
                i_open = op.methane.pop(tag, None)
                if i_open is not None:
                    self._set(i_open, changed, cleared_unix_s=ev.time_us / 1e6)
        return [self.alarms[i] for i in changed]

    def _test_name(self, test: int) -> str:
        """The balance test that decided: "window_<s>s" (imbalance over a window), "cusum" (Page's CUSUM) or
        "step_<s>s" (a window against the one before it)."""
        if 0 <= test < L.N_WINDOWS:
            return f"window_{self._window_s[test]:g}s"
        if test == L.TEST_CUSUM:
            return "cusum"
        if L.TEST_STEP0 <= test < L.TEST_STEP0 + L.N_WINDOWS:
            return f"step_{self._window_s[test - L.TEST_STEP0]:g}s"
        return f"test_{test}"

    def _momentary(self, seg: int, op: _Open, ev: E.Rupture | E.PressureWaveLeak, changed: dict[int, None]) -> None:
        """A rupture and the pressure-wave location of its fronts are one incident."""
        method = "rupture" if isinstance(ev, E.Rupture) else "pressure_wave"
        if isinstance(ev, E.Rupture):
            facts: dict[str, object] = {}
            evidence: dict[str, float | int | str] = {
                "drop_pa": ev.drop_pa, "drop_rate_pa_per_s": ev.rate_pa_per_s, "reference_pa": ev.reference_pa,
                "tag": self._role_tags[seg].get(ev.role, f"role{ev.role}"),
                "rupture_evidence": L.RUP_EVIDENCE_NAMES[ev.evidence], "flow_jump_kg_per_s": ev.flow_jump_kg_per_s}
        else:
            facts = self._position(seg, ev.position_m, ev.position_sd_m)
            evidence = {"arrival_difference_s": ev.arrival_difference_s, "amplitude_pa": ev.amplitude_pa,
                        "size_estimate_kg_per_s": ev.size_estimate_kg_per_s}
        onset_s = (ev.onset_us or ev.time_us) / 1e6
        i = op.momentary
        if i is not None:
            a = self.alarms[i]
            if method not in a.methods and abs(a.onset_unix_s - onset_s) <= self._join_s[seg]:
                kind = "rupture" if "rupture" in (*a.methods, method) else a.kind
                self._set(i, changed, kind=kind, methods=(*a.methods, method),
                          onset_unix_s=min(a.onset_unix_s, onset_s), evidence={**a.evidence, **evidence}, **facts)
                return
        op.momentary = self._new(seg, kind=method if method == "rupture" else "pressure_wave", onset_unix_s=onset_s,
                                 decided_unix_s=ev.time_us / 1e6, methods=(method,), evidence=evidence,
                                 **facts)  # type: ignore[arg-type]
        changed[op.momentary] = None
