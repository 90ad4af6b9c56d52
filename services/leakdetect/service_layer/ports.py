"""Ports the service layer depends on; adapters implement them (numeric core, faust table, Kafka, clock)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

# Detector event kinds: the numeric core's codes (services.leakdetect.domain.layout EV_*), repeated here so
# the service layer does not import the domain package of another engineer at module import time.
EV_LEAK = 1
EV_LEAK_CLEARED = 2
EV_NPW_LEAK = 3
EV_NPW_BOUNDARY = 4
EV_NPW_UNPAIRED = 5
EV_RUPTURE = 6
EV_METHANE = 7
EV_METHANE_RISE = 8
EV_METHANE_CLEARED = 9
EV_HEALTH = 10
# Refined leak-rate estimate a few blocks after a mass-balance raise (the onset block only partly leaks).
EV_LEAK_UPDATE = 14


@dataclass(frozen=True, slots=True)
class DetectorEvent:
    """One decision of the numeric detectors about one segment (a row of the core's event arrays)."""

    kind: int
    time_us: int
    onset_us: int = 0
    role: int = -1
    code: int = 0
    value: float = 0.0
    sigma: float = 0.0
    aux1: float = 0.0
    aux2: float = 0.0
    aux3: float = 0.0


@dataclass(frozen=True, slots=True)
class SegmentStatusView:
    """What the query API reports about a segment's detectors."""

    imbalance_kg_per_s: Sequence[float] = ()  # per window
    threshold: Sequence[float] = ()  # per window, same unit as the test statistic
    statistic: Sequence[float] = ()
    window_s: Sequence[float] = ()
    mdlr_kg_per_s: float = float("nan")
    tag_health: Mapping[str, int] = field(default_factory=dict)
    clock_us: int = 0


class SegmentDetector(Protocol):
    """The numeric detectors for one segment at a time; state is opaque and serialisable to bytes."""

    def tag_roles(self, segment_id: str) -> Mapping[str, int]:
        """tag_id -> role index for every tag of the segment the detectors use."""
        ...

    def role_tags(self, segment_id: str) -> Mapping[int, str]:
        ...

    def new_state(self, segment_id: str) -> Any: ...

    def feed(
        self,
        segment_id: str,
        state: Any,
        role: npt.NDArray[np.int8],
        time_us: npt.NDArray[np.int64],
        value_si: npt.NDArray[np.float64],
        quality: npt.NDArray[np.int8],
    ) -> list[DetectorEvent]:
        """Readings of one segment in time order; returns the decisions they caused."""
        ...

    def dump(self, segment_id: str, state: Any) -> bytes: ...

    def load(self, segment_id: str, data: bytes) -> Any: ...

    def status(self, segment_id: str, state: Any) -> SegmentStatusView: ...


class StateStore(Protocol):
    """Recoverable per-segment state (bytes), written with the source partition it belongs to."""

    def get(self, segment_id: str) -> bytes | None: ...

    def put(self, segment_id: str, partition: int, data: bytes) -> None: ...


class Clock(Protocol):
    """The processing clock (wall clock, us since the Unix epoch): bounds how far ahead a reading may be."""

    def now_us(self) -> int: ...


class Metrics(Protocol):
    def readings(self, n: int) -> None: ...

    def late_dropped(self, n: int) -> None: ...

    def duplicates(self, n: int) -> None: ...

    def replayed(self, n: int) -> None: ...

    def poison(self, n: int) -> None: ...

    def unknown_tag_series(self, n: int) -> None: ...

    def alarm(self, state: str, methods: Sequence[str]) -> None: ...

    def sensor_health(self, n: int) -> None: ...
