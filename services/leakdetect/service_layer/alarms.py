"""Alarm lifecycle: turns detector decisions into raised / updated / cleared LeakAlarmEvents.

One incident per segment at a time. The incident's id is derived from the segment, the method that
raised it, the onset time bucket and the segment's incident number, and is kept in the recovered
segment state, so a restarted worker continues the same incident (same alarm_id, next alarm_sequence)
instead of raising a new one, while a new incident never reuses an earlier one's id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2 as pb
from services.leakdetect.domain import events as E
from services.leakdetect.domain.layout import LOC_METHOD_NAMES
from services.leakdetect.service_layer.segment_state import ActiveAlarm, SegmentRuntime
from services.topics import encode

MB = pb.DETECTION_METHOD_MASS_BALANCE
NPW = pb.DETECTION_METHOD_PRESSURE_WAVE
CH4 = pb.DETECTION_METHOD_METHANE_LEL
RUPTURE = pb.DETECTION_METHOD_RUPTURE

METHOD_SHORT: dict[int, str] = {MB: "mb", NPW: "npw", CH4: "ch4", RUPTURE: "rup"}
METHOD_NAME: dict[int, str] = {MB: "mass_balance", NPW: "pressure_wave", CH4: "methane_lel", RUPTURE: "rupture"}
Z_95 = 1.959964

# The detector events that raise or join an incident, and the method each stands for.
LeakEvidence = E.LeakRaised | E.PressureWaveLeak | E.Rupture | E.MethaneLevel | E.MethaneRise
_METHOD: dict[type, int] = {
    E.LeakRaised: MB,
    E.PressureWaveLeak: NPW,
    E.Rupture: RUPTURE,
    E.MethaneLevel: CH4,
    E.MethaneRise: CH4,
}


@dataclass(frozen=True)
class SegmentInfo:
    segment_id: str
    district: str
    length_m: float
    nominal_flow_kg_per_s: float
    # role -> tag id, and tag id -> (position_m, confined_space) for methane sensors
    role_tags: dict[int, str]
    tag_positions_m: dict[str, float]
    confined: dict[str, bool]
    # Every tag of the segment in the network model, those the detectors ignore included.
    tag_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AlarmPolicy:
    hold_us: int
    update_min_interval_us: int
    onset_bucket_us: int
    history_per_segment: int

    def __post_init__(self) -> None:
        # `del history[:-0]` would keep everything, and a zero bucket divides by zero.
        if self.history_per_segment < 1:
            raise ValueError(f"history_per_segment must be >= 1, got {self.history_per_segment}")
        if self.hold_us < 0 or self.update_min_interval_us < 0 or self.onset_bucket_us < 1:
            raise ValueError(f"alarm policy times out of range: {self}")


@dataclass
class AlarmOutput:
    alarms: list[pb.LeakAlarmEvent]
    health: list[pb.SensorHealthEvent]


def alarm_id_for(segment_id: str, method: int, onset_us: int, bucket_us: int, incident: int) -> str:
    # The incident number tells apart incidents of one segment whose onsets share a bucket (a methane raise,
    # clear and re-raise within minutes): without it downstream would take the second for a redelivery.
    return f"{segment_id}/{METHOD_SHORT.get(method, str(method))}/{onset_us // bucket_us}/i{incident}"


def published_mdlr(mdlr_kg_per_s: float) -> float:
    """The MDLR as published: 0.0 (the proto's unset value) while the segment is not monitored (infinite or
    unknown MDLR), since consumers refuse non-finite numbers."""
    return mdlr_kg_per_s if math.isfinite(mdlr_kg_per_s) and mdlr_kg_per_s >= 0 else 0.0


class AlarmTracker:
    def __init__(self, policy: AlarmPolicy, now_us: Callable[[], int]) -> None:
        self.policy = policy
        self._now_us = now_us

    def apply(
        self,
        info: SegmentInfo,
        runtime: SegmentRuntime,
        events: Iterable[E.DetectorEvent],
        clock_us: int,
        segment_mdlr_kg_per_s: float = math.nan,
    ) -> AlarmOutput:
        """`segment_mdlr_kg_per_s`: the segment's MDLR after the events (the detector state after the batch)."""
        out = AlarmOutput([], [])
        evs = list(events)
        for n, ev in enumerate(evs):
            if isinstance(ev, E.SensorHealthChanged):
                out.health.append(self._health(info, runtime, ev, segment_mdlr_kg_per_s))
                continue
            # the core locates a balance alarm's leak in the same block it raises it: the RAISED carries it
            following = evs[n + 1] if n + 1 < len(evs) else None
            located = following if isinstance(ev, E.LeakRaised) and isinstance(following, E.LeakLocated) else None
            self._alarm_event(info, runtime, ev, out, located)
        self._maybe_clear(info, runtime, clock_us, out)
        return out

    # --- sensor health ------------------------------------------------------------------------------------
    def _health(
        self, info: SegmentInfo, runtime: SegmentRuntime, ev: E.SensorHealthChanged, segment_mdlr_kg_per_s: float
    ) -> pb.SensorHealthEvent:
        # a redundant meter names itself (the role has several); the others are the role's one tag
        tag_id = ev.tag_id or info.role_tags.get(ev.role, f"{info.segment_id}/role{ev.role}")
        previous = runtime.tag_health.get(tag_id, ev.previous)
        runtime.tag_health[tag_id] = ev.health
        return pb.SensorHealthEvent(
            event_id=f"{tag_id}/{ev.time_us}",
            tag_id=tag_id,
            segment_id=info.segment_id,
            district=info.district,
            health=ev.health,  # type: ignore[arg-type]
            previous_health=int(previous),  # type: ignore[arg-type]
            detail=ev.cause or _HEALTH_DETAIL.get(ev.health, ""),
            change_time_unix_us=ev.time_us,
            # Not ev.mdlr_kg_per_s: the core takes that before the change, and it is infinite while not monitoring.
            segment_mdlr_kg_per_s=published_mdlr(segment_mdlr_kg_per_s),
        )

    # --- leak alarms --------------------------------------------------------------------------------------
    def _alarm_event(
        self, info: SegmentInfo, runtime: SegmentRuntime, ev: E.DetectorEvent, out: AlarmOutput,
        located: E.LeakLocated | None = None,
    ) -> None:
        alarm = runtime.active_alarm
        if isinstance(ev, E.LeakLocated):
            # the balance alarm's position (pressure gradient, fused with a pressure wave), refined as it persists
            if alarm is not None and alarm.mass_balance_active and _locate(alarm, ev, info.length_m):
                self._publish(info, runtime, pb.ALARM_STATE_UPDATED, ev.time_us, out)
            return
        if isinstance(ev, E.LeakCleared):
            if alarm is not None:
                alarm.mass_balance_active = False
            return
        if isinstance(ev, E.MethaneCleared):
            if alarm is not None:
                alarm.methane_active = False
            return
        if isinstance(ev, E.LeakUpdated):
            # The core refines the rate once, deliberately: publish it without waiting for the update interval.
            if alarm is not None:
                alarm.rate_kg_per_s, alarm.rate_sigma = ev.rate_kg_per_s, ev.rate_sd_kg_per_s
                if alarm.rate_kg_per_s != alarm.published_rate:
                    self._publish(info, runtime, pb.ALARM_STATE_UPDATED, ev.time_us, out)
            return
        method = _METHOD.get(type(ev))
        if method is None:  # operations, unpaired fronts and bookkeeping events are not leaks
            return
        assert isinstance(ev, LeakEvidence)
        onset = (ev.time_us if isinstance(ev, E.MethaneLevel | E.MethaneRise) else ev.onset_us) or ev.time_us
        raised = alarm is None
        if alarm is None:
            incident = runtime.incidents
            runtime.incidents += 1
            alarm = ActiveAlarm(
                alarm_id=alarm_id_for(info.segment_id, method, onset, self.policy.onset_bucket_us, incident),
                sequence=0,
                methods=[method],
                onset_us=onset,
                detection_us=ev.time_us,
                last_update_us=ev.time_us,
            )
            runtime.active_alarm = alarm
        new_method = method not in alarm.methods
        if new_method:
            alarm.methods.append(method)
        alarm.onset_us = min(alarm.onset_us, onset)
        alarm.last_seen_us[method] = ev.time_us
        location_changed = False
        if isinstance(ev, E.LeakRaised):
            alarm.mass_balance_active = True
            alarm.rate_kg_per_s, alarm.rate_sigma = ev.rate_kg_per_s, ev.rate_sd_kg_per_s
            if located is not None:
                location_changed = _locate(alarm, located, info.length_m)
        elif isinstance(ev, E.PressureWaveLeak):
            alarm.position_m, alarm.position_sigma_m = ev.position_m, ev.position_sd_m
            alarm.position_method = "pressure_wave"
            location_changed = True
        elif isinstance(ev, E.Rupture):
            alarm.rupture_drop_pa, alarm.rupture_rate_pa_per_s = ev.drop_pa, ev.rate_pa_per_s
            alarm.grade_hint = 1
        else:  # methane: a level or its rate of rise
            alarm.methane_active = True
            tag = info.role_tags.get(ev.role, "")
            alarm.methane_tag, alarm.methane_lel, alarm.methane_ror = tag, ev.lel_pct, ev.rise_lel_pct_per_min
            alarm.methane_confined = info.confined.get(tag, False)
            hint = ev.grade_hint
            if hint and (alarm.grade_hint == 0 or hint < alarm.grade_hint):
                alarm.grade_hint = hint
            if alarm.position_m is None and tag in info.tag_positions_m:
                # A methane sensor locates the leak to within its reach of the pipe.
                alarm.position_m, alarm.position_sigma_m = info.tag_positions_m[tag], 50.0
                alarm.position_method = "methane_sensor"
                location_changed = True
        if raised:
            self._publish(info, runtime, pb.ALARM_STATE_RAISED, ev.time_us, out)
            return
        rate_moved = abs(alarm.rate_kg_per_s - alarm.published_rate) > 0.25 * max(abs(alarm.published_rate), 1e-9)
        due = ev.time_us - alarm.last_update_us >= self.policy.update_min_interval_us
        if new_method or (location_changed and alarm.published_position_m != alarm.position_m) or (rate_moved and due):
            self._publish(info, runtime, pb.ALARM_STATE_UPDATED, ev.time_us, out)

    def _maybe_clear(self, info: SegmentInfo, runtime: SegmentRuntime, clock_us: int, out: AlarmOutput) -> None:
        alarm = runtime.active_alarm
        if alarm is None or alarm.mass_balance_active or alarm.methane_active:
            return
        momentary = [t for m, t in alarm.last_seen_us.items() if m in (NPW, RUPTURE)]
        if momentary and clock_us - max(momentary) < self.policy.hold_us:
            return
        reason = "mass balance and methane back to normal"
        if not any(m in alarm.methods for m in (MB, CH4)):
            reason = "pressure-wave/rupture indication not confirmed within the hold time"
        self._publish(info, runtime, pb.ALARM_STATE_CLEARED, clock_us, out, clear_reason=reason)
        runtime.active_alarm = None

    def _publish(
        self,
        info: SegmentInfo,
        runtime: SegmentRuntime,
        state: int,
        event_time_us: int,
        out: AlarmOutput,
        clear_reason: str = "",
    ) -> None:
        alarm = runtime.active_alarm
        assert alarm is not None
        if state != pb.ALARM_STATE_RAISED:
            alarm.sequence += 1
        nominal = info.nominal_flow_kg_per_s
        event = pb.LeakAlarmEvent(
            event_id=f"{alarm.alarm_id}/{alarm.sequence}",
            alarm_id=alarm.alarm_id,
            alarm_sequence=alarm.sequence,
            state=state,  # type: ignore[arg-type]
            segment_id=info.segment_id,
            district=info.district,
            methods=alarm.methods,  # type: ignore[arg-type]
            onset_time_unix_us=alarm.onset_us,
            detection_time_unix_us=alarm.detection_us,
            event_time_unix_us=event_time_us,
            grade_hint=alarm.grade_hint,  # type: ignore[arg-type]
            clear_reason=clear_reason,
        )
        if alarm.rate_kg_per_s > 0 or alarm.mass_balance_active:
            half = Z_95 * alarm.rate_sigma
            event.leak_rate.CopyFrom(
                pb.LeakRateEstimate(
                    rate_kg_per_s=alarm.rate_kg_per_s,
                    rate_pct_of_nominal_flow=100.0 * alarm.rate_kg_per_s / nominal if nominal > 0 else 0.0,
                    ci_low_kg_per_s=max(0.0, alarm.rate_kg_per_s - half),
                    ci_high_kg_per_s=alarm.rate_kg_per_s + half,
                    confidence_level=0.95,
                )
            )
        if alarm.position_m is not None:
            event.location.CopyFrom(leak_location(alarm, info.length_m))
        if RUPTURE in alarm.methods:
            event.rupture.CopyFrom(
                pb.RuptureDetails(
                    pressure_drop_pa=alarm.rupture_drop_pa, drop_rate_pa_per_s=alarm.rupture_rate_pa_per_s
                )
            )
        if CH4 in alarm.methods:
            event.methane.CopyFrom(
                pb.MethaneDetails(
                    tag_id=alarm.methane_tag,
                    lel_pct=alarm.methane_lel,
                    rise_rate_pct_per_min=alarm.methane_ror,
                    confined_space=alarm.methane_confined,
                )
            )
        alarm.last_update_us = event_time_us
        alarm.published_rate = alarm.rate_kg_per_s
        alarm.published_position_m = alarm.position_m
        out.alarms.append(event)
        runtime.history.append(encode(event))
        del runtime.history[: -self.policy.history_per_segment]


def _locate(alarm: ActiveAlarm, ev: E.LeakLocated, length_m: float) -> bool:
    """Take a balance location into the alarm; whether its position moved. An alarm the core cannot locate yet
    is placed at the segment's middle with the whole segment as its interval, unless it has a position already
    (a pressure wave's, a methane sensor's)."""
    if math.isfinite(ev.bracket_lo_m) and math.isfinite(ev.bracket_hi_m):
        alarm.bracket_lo_m, alarm.bracket_hi_m = ev.bracket_lo_m, ev.bracket_hi_m
    if math.isfinite(ev.position_sd_m):
        alarm.position_m, alarm.position_sigma_m = ev.position_m, ev.position_sd_m
        alarm.position_method = LOC_METHOD_NAMES[ev.method]
    elif alarm.position_m is None:
        # a s.d. of the whole length: its 95 % interval, clamped, is the whole segment
        alarm.position_m, alarm.position_sigma_m = 0.5 * length_m, length_m
        alarm.position_method = "none"
    return alarm.published_position_m != alarm.position_m


def position_method(alarm: ActiveAlarm, covers_whole_segment: bool) -> str:
    """How the alarm's position was found: as the method that gave it said, or, for an alarm restored from a
    checkpoint written before that was kept, from the methods that saw it."""
    if alarm.position_method:
        return alarm.position_method
    if MB in alarm.methods and not covers_whole_segment:
        return "pressure_gradient+pressure_wave" if NPW in alarm.methods else "pressure_gradient"
    if NPW in alarm.methods:
        return "pressure_wave"
    if CH4 in alarm.methods and not covers_whole_segment:
        return "methane_sensor"
    return "none"


def leak_location(alarm: ActiveAlarm, length_m: float) -> pb.LeakLocation:
    """The alarm's position with its 95 % interval clamped to the segment, and to the sub-segment whose own
    balance brackets the leak (mid-line flow stations) on each side where the position lies inside it."""
    assert alarm.position_m is not None
    pos = min(max(alarm.position_m, 0.0), length_m)
    half = Z_95 * alarm.position_sigma_m
    low, high = max(0.0, pos - half), min(length_m, pos + half)
    if alarm.bracket_lo_m is not None and alarm.bracket_hi_m is not None:
        if alarm.bracket_lo_m <= pos:
            low = max(low, alarm.bracket_lo_m)
        if pos <= alarm.bracket_hi_m:
            high = min(high, alarm.bracket_hi_m)
    covers = low <= 0.0 and high >= length_m
    return pb.LeakLocation(
        position_km=pos / 1000.0,
        uncertainty_km=alarm.position_sigma_m / 1000.0,
        ci_low_km=low / 1000.0,
        ci_high_km=high / 1000.0,
        confidence_level=0.95,
        covers_whole_segment=covers,
        method=position_method(alarm, covers),
    )


_HEALTH_DETAIL: dict[int, str] = {
    pb.SENSOR_HEALTH_OK: "readings plausible again",
    pb.SENSOR_HEALTH_STALE: "no reading within the allowed staleness",
    pb.SENSOR_HEALTH_FLATLINED: "exactly the same value for too long",
    pb.SENSOR_HEALTH_STUCK: "changes far below the noise floor for too long",
    pb.SENSOR_HEALTH_IMPLAUSIBLE_RATE: "rate of change no physical process can produce",
    pb.SENSOR_HEALTH_OUTVOTED: "disagrees with its redundant partners beyond its stated accuracy",
}
