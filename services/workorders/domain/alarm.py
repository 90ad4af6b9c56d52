"""What the domain knows about a leak alarm and about the segment it is on: plain, validated facts.

``AlarmFacts`` mirrors ``pipewarden.leakdetect.v1.LeakAlarmEvent`` (protos/pipewarden/leakdetect/v1/
alarms.proto) field by field, without protobuf: the Kafka consumer converts (``UNSPECIFIED`` enum
values become ``None`` / are dropped, unset sub-messages become ``None``). ``SegmentContext`` carries
what grading needs from the network model (pipe class, material, length, buildings nearby).
Construction validates everything: a NaN rate or an empty alarm id raises ``InvalidInput``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from services.workorders.domain.errors import InvalidInput
from services.workorders.domain.values import (
    Grade,
    PipeClass,
    check_flag,
    check_id,
    check_number,
    check_text,
    check_time,
)


class AlarmState(enum.StrEnum):
    RAISED = "raised"
    UPDATED = "updated"
    CLEARED = "cleared"


class DetectionMethod(enum.StrEnum):
    MASS_BALANCE = "mass_balance"
    PRESSURE_WAVE = "pressure_wave"
    METHANE_LEL = "methane_lel"
    RUPTURE = "rupture"


@dataclass(frozen=True, kw_only=True, slots=True)
class LeakRate:
    rate_kg_per_s: float
    pct_of_nominal_flow: float
    ci_low_kg_per_s: float = 0.0
    ci_high_kg_per_s: float = 0.0
    confidence_level: float = 0.0

    def __post_init__(self) -> None:
        check_number("leak_rate.rate_kg_per_s", self.rate_kg_per_s, minimum=0.0)
        check_number("leak_rate.pct_of_nominal_flow", self.pct_of_nominal_flow, minimum=0.0)
        check_number("leak_rate.ci_low_kg_per_s", self.ci_low_kg_per_s, minimum=0.0)
        check_number("leak_rate.ci_high_kg_per_s", self.ci_high_kg_per_s, minimum=0.0)
        check_number("leak_rate.confidence_level", self.confidence_level, minimum=0.0, maximum=1.0)


# Longest location method name kept ("pressure_gradient+pressure_wave" today); more is garbage, not a method.
MAX_METHOD_LENGTH = 100


@dataclass(frozen=True, kw_only=True, slots=True)
class LeakLocation:
    """Where on the segment the leak is, as leakdetect located it.

    ``[ci_low_km, ci_high_km]`` is the interval at ``confidence_level`` (0.95), clamped to the segment;
    ``covers_whole_segment``: no method could narrow it down (not located yet). Alarms (and stored events)
    from before the interval was published have ``confidence_level`` 0 and only ``uncertainty_km`` (1 s.d.):
    the defaults below, so those events still load.
    """

    position_km: float  # from the segment's upstream end
    uncertainty_km: float = 0.0
    ci_low_km: float = 0.0
    ci_high_km: float = 0.0
    confidence_level: float = 0.0  # 0: no interval given
    covers_whole_segment: bool = False
    method: str = ""  # "pressure_gradient", "pressure_gradient+pressure_wave", "pressure_wave", "none", ...

    def __post_init__(self) -> None:
        check_number("location.position_km", self.position_km, minimum=0.0)
        check_number("location.uncertainty_km", self.uncertainty_km, minimum=0.0)
        check_number("location.ci_low_km", self.ci_low_km, minimum=0.0)
        check_number("location.ci_high_km", self.ci_high_km, minimum=0.0)
        check_number("location.confidence_level", self.confidence_level, minimum=0.0, maximum=1.0)
        if self.ci_low_km > self.ci_high_km:
            raise InvalidInput(
                f"location.ci_low_km ({self.ci_low_km!r}) must not exceed location.ci_high_km ({self.ci_high_km!r})"
            )
        check_flag("location.covers_whole_segment", self.covers_whole_segment)
        if self.method != "":
            check_id("location.method", self.method, max_length=MAX_METHOD_LENGTH)

    @property
    def has_interval(self) -> bool:
        return self.confidence_level > 0.0

    def text(self) -> str:
        """As a crew reads it: "km 12.3 (11.8–12.9, 95 %, pressure gradient)", "km 14.0 (whole segment,
        0.0–28.0: not located yet)", or, for an alarm from before intervals, "km 12.3 (± 0.4 km, 1 s.d.)"."""
        if not self.has_interval:
            return f"km {self.position_km:.1f} (± {self.uncertainty_km:.1f} km, 1 s.d.)"
        if self.covers_whole_segment:
            interval = f"{self.ci_low_km:.1f}–{self.ci_high_km:.1f}"
            return f"km {self.position_km:.1f} (whole segment, {interval}: not located yet)"
        method = self.method.replace("_", " ").replace("+", " + ")
        level = f"{100.0 * self.confidence_level:g} %"
        return f"km {self.position_km:.1f} ({self.ci_low_km:.1f}–{self.ci_high_km:.1f}, {level}" + (
            f", {method})" if method else ")"
        )


NOT_LOCATED_TEXT = "not located yet"


def location_text(location: LeakLocation | None) -> str:
    """The position's text, or "not located yet" when no alarm of the incident carried a location."""
    return location.text() if location is not None else NOT_LOCATED_TEXT


@dataclass(frozen=True, kw_only=True, slots=True)
class RuptureDetails:
    pressure_drop_pa: float
    drop_rate_pa_per_s: float = 0.0

    def __post_init__(self) -> None:
        check_number("rupture.pressure_drop_pa", self.pressure_drop_pa, minimum=0.0)
        check_number("rupture.drop_rate_pa_per_s", self.drop_rate_pa_per_s)


@dataclass(frozen=True, kw_only=True, slots=True)
class MethaneDetails:
    tag_id: str
    lel_pct: float  # % of the lower explosive limit, 0-100
    rise_rate_pct_per_min: float = 0.0
    confined_space: bool = False  # manhole, vault, utility tunnel

    def __post_init__(self) -> None:
        check_id("methane.tag_id", self.tag_id)
        check_number("methane.lel_pct", self.lel_pct, minimum=0.0, maximum=100.0)
        check_number("methane.rise_rate_pct_per_min", self.rise_rate_pct_per_min)
        check_flag("methane.confined_space", self.confined_space)


@dataclass(frozen=True, kw_only=True, slots=True)
class AlarmFacts:
    """One ``LeakAlarmEvent`` (raise, update or clear) as plain facts."""

    alarm_id: str
    alarm_sequence: int  # 0 for the raise, then 1, 2, ... for updates and the clear
    state: AlarmState
    segment_id: str
    district: str
    methods: tuple[DetectionMethod, ...] = ()
    onset_time_unix_us: int = 0
    detection_time_unix_us: int = 0
    event_time_unix_us: int = 0
    leak_rate: LeakRate | None = None
    location: LeakLocation | None = None
    rupture: RuptureDetails | None = None
    methane: MethaneDetails | None = None
    grade_hint: Grade | None = None
    clear_reason: str = ""

    def __post_init__(self) -> None:
        check_id("alarm_id", self.alarm_id)
        if isinstance(self.alarm_sequence, bool) or not isinstance(self.alarm_sequence, int):
            raise InvalidInput(f"alarm_sequence must be an int, not {type(self.alarm_sequence).__name__}")
        if self.alarm_sequence < 0:
            raise InvalidInput(f"alarm_sequence must be >= 0, got {self.alarm_sequence}")
        if not isinstance(self.state, AlarmState):
            raise InvalidInput(f"state must be one of {[s.value for s in AlarmState]}, got {self.state!r}")
        check_id("segment_id", self.segment_id)
        check_id("district", self.district)
        if not isinstance(self.methods, tuple) or not all(isinstance(m, DetectionMethod) for m in self.methods):
            raise InvalidInput(f"methods must be a tuple of DetectionMethod, got {self.methods!r}")
        check_time("onset_time_unix_us", self.onset_time_unix_us)
        check_time("detection_time_unix_us", self.detection_time_unix_us)
        check_time("event_time_unix_us", self.event_time_unix_us)
        for name, value, cls in (
            ("leak_rate", self.leak_rate, LeakRate),
            ("location", self.location, LeakLocation),
            ("rupture", self.rupture, RuptureDetails),
            ("methane", self.methane, MethaneDetails),
        ):
            if value is not None and not isinstance(value, cls):
                raise InvalidInput(f"{name} must be a {cls.__name__} or None, not {type(value).__name__}")
        if self.grade_hint is not None and not isinstance(self.grade_hint, Grade):
            raise InvalidInput(f"grade_hint must be a Grade or None, got {self.grade_hint!r}")
        check_text("clear_reason", self.clear_reason, allow_empty=True)
        if self.state is AlarmState.RAISED and self.alarm_sequence != 0:
            raise InvalidInput(f"a raised alarm has alarm_sequence 0, got {self.alarm_sequence}")


@dataclass(frozen=True, kw_only=True, slots=True)
class SegmentContext:
    """The segment's attributes that grading and the replacement programme use (from the network model)."""

    segment_id: str
    district: str
    pipe_class: PipeClass
    material: str  # "steel", "PE", "grey_cast_iron", "ductile_iron", ...
    length_km: float
    install_year: int | None = None
    # Buildings within the distance the utility counts as "gas could migrate into a building".
    near_buildings: bool = False

    def __post_init__(self) -> None:
        check_text("segment.segment_id", self.segment_id, max_length=200)
        check_text("segment.district", self.district, max_length=200)
        if not isinstance(self.pipe_class, PipeClass):
            raise InvalidInput(f"segment.pipe_class must be one of {[c.value for c in PipeClass]}")
        check_text("segment.material", self.material, max_length=100)
        check_number("segment.length_km", self.length_km, strictly_positive=True)
        if self.install_year is not None and (
            isinstance(self.install_year, bool)
            or not isinstance(self.install_year, int)
            or not 1800 <= self.install_year <= 2200
        ):
            raise InvalidInput(f"segment.install_year must be a year between 1800 and 2200, got {self.install_year!r}")
        check_flag("segment.near_buildings", self.near_buildings)
