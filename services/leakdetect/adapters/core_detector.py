"""Adapter from the service's per-segment detector port to the numeric core (services.leakdetect.domain).

The core keeps dense arrays for any number of segments; the service gives every segment its own
one-segment `DetectorState`, because recovery and rebalancing move segments (with their partitions)
between workers one at a time. The one-segment configuration comes from the core's one builder
(`domain.network_config.config_from_network`), so a checkpoint restores only into the same configuration
(the core checks its fingerprint).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorConfig, DetectorParams
from services.leakdetect.domain.detector import DetectorState, decode_events, process_batch
from services.leakdetect.domain.events import DetectorEvent
from services.leakdetect.domain.network_config import config_from_network
from services.leakdetect.service_layer import ports
from services.network import Network

_EVENT_CAPACITY = 4096


class CoreDetector:
    def __init__(self, network: Network, params: DetectorParams | None = None) -> None:
        self.network = network
        self.params = params or DetectorParams()
        self._configs: dict[str, DetectorConfig] = {}
        self._roles: dict[str, dict[str, int]] = {}
        for sid in network.segments:
            built = config_from_network(network, segment_ids=[sid])
            self._configs[sid] = built.config
            self._roles[sid] = dict(built.tag_role)

    def tag_roles(self, segment_id: str) -> Mapping[str, int]:
        return self._roles[segment_id]

    def role_tags(self, segment_id: str) -> Mapping[int, str]:
        return {r: t for t, r in self._roles[segment_id].items()}

    def new_state(self, segment_id: str) -> Any:
        return DetectorState.new(self._configs[segment_id], self.params, event_capacity=_EVENT_CAPACITY)

    def dump(self, segment_id: str, state: Any) -> bytes:
        return bytes(state.to_bytes())

    def load(self, segment_id: str, data: bytes) -> Any:
        return DetectorState.from_bytes(data, self._configs[segment_id], self.params, event_capacity=_EVENT_CAPACITY)

    def feed(
        self,
        segment_id: str,
        state: Any,
        role: npt.NDArray[np.int8],
        time_us: npt.NDArray[np.int64],
        value_si: npt.NDArray[np.float64],
        quality: npt.NDArray[np.int8],
    ) -> list[DetectorEvent]:
        events = process_batch(state, np.zeros(role.size, np.int64), role, time_us, value_si, quality)
        return decode_events(events)  # a handful per batch: alarms and health changes, never readings

    def status(self, segment_id: str, state: Any) -> ports.SegmentStatusView:
        z = state.z_scores()[0]
        mdlr = state.mdlr_kg_per_s()[0]
        zt = self.params.z_window
        block_s = self.params.block_s
        roles = self.role_tags(segment_id)
        health = state.health()[0]
        return ports.SegmentStatusView(
            imbalance_kg_per_s=tuple(
                float(z[i] * mdlr[i] / zt) if math.isfinite(z[i]) and math.isfinite(mdlr[i]) else float("nan")
                for i in range(L.N_WINDOWS)
            ),
            threshold=(zt,) * L.N_WINDOWS,
            statistic=tuple(float(x) for x in z),
            window_s=tuple(float(b) * block_s for b in self.params.windows_blocks),
            mdlr_kg_per_s=float(np.nanmin(mdlr)) if np.isfinite(mdlr).any() else float("inf"),
            tag_health={tag: int(health[r]) for r, tag in roles.items() if int(health[r]) != L.HEALTH_UNKNOWN},
            clock_us=int(state.seg_i[0, L.GI_CLOCK]),
        )
