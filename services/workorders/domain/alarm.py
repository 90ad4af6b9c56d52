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


@dataclass(frozen=True, kw_only=True, slots=True)
class LeakLocation:
    position_km: float  # from the segment's upstream end
    uncertainty_km: float = 0.0

    def __post_init__(self) -> None:
        check_number("location.position_km", self.position_km, minimum=0.0)
        check_number("location.uncertainty_km", self.uncertainty_km, minimum=0.0)


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
