"""Ports the service layer depends on; adapters implement them (numeric core, faust table, Kafka, clock).

The detector port speaks the domain's named events (`services.leakdetect.domain.events`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from services.leakdetect.domain.events import DetectorEvent


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
    # the learned baseline (`domain.BaselineStatus`; None where the detector does not report one)
    baseline: Any = None


class SegmentDetector(Protocol):
    """The numeric detectors for one segment at a time; state is opaque and serialisable to bytes."""

    def detector_tags(self, segment_id: str) -> Sequence[str]:
        """The segment's tags the detectors use, in order: `feed`'s `tag_index` indexes this."""
        ...

    def role_tags(self, segment_id: str) -> Mapping[int, str]:
        """role index -> tag id: the detectors' events name the instrument by its role."""
        ...

    def new_state(self, segment_id: str) -> Any: ...

    def feed(
        self,
        segment_id: str,
        state: Any,
        tag_index: npt.NDArray[np.int16],
        time_us: npt.NDArray[np.int64],
        value_si: npt.NDArray[np.float64],
        quality: npt.NDArray[np.int8],
    ) -> list[DetectorEvent]:
        """Readings of one segment in time order; returns the decisions they caused."""
        ...

    def dump(self, segment_id: str, state: Any) -> bytes: ...

    def load(self, segment_id: str, data: bytes) -> Any: ...

    def status(self, segment_id: str, state: Any) -> SegmentStatusView: ...

    def learn_now(self, segment_id: str, state: Any, at_unix_s: float) -> None:
        """Learn a new baseline over the learning window from `at_unix_s` (source time)."""
        ...

    def mark_leak_free(self, segment_id: str, state: Any, start_unix_s: float, end_unix_s: float) -> None:
        """Refit the baseline from [start, end]; `domain.LearningError` names why not (`PeriodNotOverError`:
        the readings have not passed the end yet)."""
        ...


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
