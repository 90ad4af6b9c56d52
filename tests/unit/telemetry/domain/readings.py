"""What the validation tests share: the demo city's tag index, limits, a fixed 'now' and a reading builder."""

from __future__ import annotations

from dataclasses import dataclass

from services.contracts.pipewarden.telemetry.v1 import reading_pb2
from services.network import load_demo_network
from services.telemetry.domain import TagIndex, ValidationLimits

NOW_US = 1_800_000_000_000_000
LIMITS = ValidationLimits(max_clock_skew_us=5_000_000, max_age_us=3_600_000_000)
NETWORK = load_demo_network()
INDEX = TagIndex.from_network(NETWORK)
GW = "gw-ds-01"
TAG = "DS-M01-PT-UP"  # kPa_g, range [0, 600]


@dataclass
class R:
    """A reading as validate_batch sees it (the protobuf's fields), good and in range unless told otherwise."""

    tag_id: str
    source_time_unix_us: int = NOW_US
    value: float = 300.0
    quality: int = reading_pb2.QUALITY_GOOD
