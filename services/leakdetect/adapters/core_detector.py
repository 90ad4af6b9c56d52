"""Adapter from the service's per-segment detector port to the detectors' public facade
(`services.leakdetect.domain.Pipeline`), the one way in that the replay CLI and the benchmark use too.

The service gives every segment its own one-segment pipeline, because recovery and rebalancing move segments
(with their partitions) between workers one at a time. Each segment's configuration is built once here
(`Pipeline.from_network`, through the one builder `domain.network_config`); a segment's state is a pipeline
made fresh or restored from a checkpoint of that configuration (the core checks its fingerprint).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from services.leakdetect.domain import HEALTH_NAMES, DetectorParams, Pipeline
from services.leakdetect.domain.events import DetectorEvent
from services.leakdetect.service_layer import ports
from services.network import Network

_EVENT_CAPACITY = 4096


class CoreDetector:
    def __init__(self, network: Network, params: DetectorParams | None = None) -> None:
        self.network = network
        self.params = params or DetectorParams()
        self._templates: dict[str, Pipeline] = {}
        self._roles: dict[str, dict[str, int]] = {}
        for sid in network.segments:
            p = Pipeline.from_network(network, [sid], self.params, event_capacity=_EVENT_CAPACITY)
            # The service keys readings by their index into `detector_tags`, which the facade defines as the
            # start of its own `tag_ids`: the index goes to `Pipeline.feed` as it is.
            self._templates[sid] = p
            self._roles[sid] = p.detector_roles(sid)

    def warm_up(self) -> None:
        """One reading through a throwaway copy of a segment's detector, typed as the stream brings them: numba
        compiles the kernels (or loads them from its cache) now, not behind the first batch of readings, which
        on a fresh install waits minutes for the compiler while the consumer lag grows."""
        for template in self._templates.values():
            pipeline = template.fresh()
            pipeline.feed(tag=np.zeros(1, np.int16), time_unix_us=np.array([1_000_000], np.int64),
                          value=np.zeros(1), quality=np.ones(1, np.int8), si_units=True, checked=True)
            pipeline.advance_to(2.0)
            return

    def detector_tags(self, segment_id: str) -> tuple[str, ...]:
        return self._templates[segment_id].detector_tag_ids

    def tag_roles(self, segment_id: str) -> Mapping[str, int]:
        """tag id -> the detectors' role of each tag they use."""
        return self._roles[segment_id]

    def role_tags(self, segment_id: str) -> Mapping[int, str]:
        return {r: t for t, r in self._roles[segment_id].items()}

    def new_state(self, segment_id: str) -> Any:
        return self._templates[segment_id].fresh()

    def dump(self, segment_id: str, state: Any) -> bytes:
        return bytes(state.to_bytes())

    def load(self, segment_id: str, data: bytes) -> Any:
        return self._templates[segment_id].restore(data)

    def feed(
        self,
        segment_id: str,
        state: Any,
        tag_index: npt.NDArray[np.int16],
        time_us: npt.NDArray[np.int64],
        value_si: npt.NDArray[np.float64],
        quality: npt.NDArray[np.int8],
    ) -> list[DetectorEvent]:
        pipeline: Pipeline = state
        # telemetry converted to SI and validated; the processor re-checked what Kafka can corrupt
        pipeline.feed(tag=tag_index, time_unix_us=time_us, value=value_si, quality=quality, si_units=True, checked=True)
        # the service runs its own alarm lifecycle (ids, hold, publication) on the named events
        return pipeline.last_events

    def status(self, segment_id: str, state: Any) -> ports.SegmentStatusView:
        s = state.status(segment_id)
        return ports.SegmentStatusView(
            imbalance_kg_per_s=tuple(w.imbalance_kg_per_s for w in s.windows),
            threshold=tuple(w.threshold_statistic for w in s.windows),
            statistic=tuple(w.statistic for w in s.windows),
            window_s=tuple(w.window_s for w in s.windows),
            mdlr_kg_per_s=s.mdlr_kg_per_s,
            tag_health={tag: HEALTH_NAMES.index(h) for tag, h in s.sensor_health.items() if h != "unknown"},
            clock_us=0 if s.time_unix_s is None else round(s.time_unix_s * 1e6),
            baseline=s.baseline,
        )

    def learn_now(self, segment_id: str, state: Any, at_unix_s: float) -> None:
        pipeline: Pipeline = state
        pipeline.learn_now(segment_id, at_unix_s)

    def mark_leak_free(self, segment_id: str, state: Any, start_unix_s: float, end_unix_s: float) -> None:
        pipeline: Pipeline = state
        pipeline.mark_leak_free(segment_id, start_unix_s, end_unix_s)
