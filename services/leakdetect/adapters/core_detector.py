"""Adapter from the service's per-segment detector port to the numeric core (services.leakdetect.domain).

The core keeps dense arrays for any number of segments; the service gives every segment its own
one-segment `DetectorState`, because recovery and rebalancing move segments (with their partitions)
between workers one at a time. The one-segment configuration is built from the network model through
the core's public `DetectorConfig` methods, so a checkpoint restores only into the same configuration
(the core checks its fingerprint).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from services.leakdetect.adapters.roles import tag_roles
from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorConfig, DetectorParams
from services.leakdetect.domain.detector import DetectorState, process_batch
from services.leakdetect.service_layer import ports
from services.network import AccuracyBasis, Network, TagKind, conversion_to_si

_EVENT_CAPACITY = 4096


def _wave_speed(network: Network, pressure_pa: float) -> tuple[float, float]:
    """(wave speed m/s, Z slope 1/Pa) at the segment's operating pressure, from the gas physics."""
    try:
        from services.gasflow.physics import GasSpec, wave_speed, z_factor

        gas = GasSpec(specific_gravity=network.gas.specific_gravity, co2_mole_fraction=network.gas.co2_mole_fraction)
        t = network.gas.temperature_k
        c = float(wave_speed(pressure_pa, t, gas))
        z = float(z_factor(pressure_pa, t, gas))
        return c, (z - 1.0) / pressure_pa
    except ImportError:  # pragma: no cover - gasflow is part of the project; ideal gas as a fallback
        r = 8.314462618 / (0.028964 * network.gas.specific_gravity)
        return math.sqrt(r * network.gas.temperature_k), 0.0


def segment_config(network: Network, segment_id: str) -> DetectorConfig:
    seg = network.segments[segment_id]
    cfg = DetectorConfig.empty(1)
    p_op = 0.8 * seg.max_operating_pressure_pa
    c, z_slope = _wave_speed(network, p_op)
    cfg.set_segment(
        0,
        length_m=seg.length_m,
        inner_diameter_m=seg.inner_diameter_m,
        nominal_flow_kg_per_s=max(seg.nominal_flow_kg_per_s, 1e-6),
        wave_speed_m_per_s=c,
        temperature_k=network.gas.temperature_k,
        r_specific=8.314462618 / (0.028964 * network.gas.specific_gravity),
        z_slope_per_pa=z_slope,
        segment_id=segment_id,
    )
    for tag_id, role in tag_roles(network, segment_id).items():
        tag = network.tags[tag_id]
        conv = conversion_to_si(tag.kind, tag.unit, network.gas.specific_gravity)
        lo, hi = conv.to_si(tag.range_min), conv.to_si(tag.range_max)
        sigma_rel = sigma_abs = 0.0
        if tag.accuracy.basis is AccuracyBasis.PCT_OF_READING:
            sigma_rel = tag.accuracy.value / 100.0
        elif tag.accuracy.basis is AccuracyBasis.PCT_OF_SPAN:
            sigma_abs = tag.accuracy.value / 100.0 * abs(hi - lo)
        else:
            sigma_abs = tag.accuracy.value * conv.scale
        cfg.set_instrument(
            0,
            role,
            sigma_rel=sigma_rel,
            sigma_abs=sigma_abs,
            range_min=min(lo, hi),
            range_max=max(lo, hi),
            scan_period_s=tag.scan_period_s,
            confined_space=tag.confined_space if tag.kind is TagKind.METHANE_LEL else False,
            tag_id=tag_id,
        )
    return cfg


class CoreDetector:
    def __init__(self, network: Network, params: DetectorParams | None = None) -> None:
        self.network = network
        self.params = params or DetectorParams()
        self._configs: dict[str, DetectorConfig] = {}
        self._roles: dict[str, dict[str, int]] = {}
        config_from_network: Any = None
        try:  # the core's own builder, once it is there; the service's builder otherwise
            from services.leakdetect.domain import network_config

            config_from_network = network_config.config_from_network
        except ImportError:
            pass
        for sid in network.segments:
            if config_from_network is not None:
                built = config_from_network(network, segment_ids=[sid])
                self._configs[sid] = built.config
                self._roles[sid] = dict(built.tag_role)
            else:
                self._configs[sid] = segment_config(network, sid)
                self._roles[sid] = tag_roles(network, sid)

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
    ) -> list[ports.DetectorEvent]:
        events = process_batch(state, np.zeros(role.size, np.int64), role, time_us, value_si, quality)
        return [
            ports.DetectorEvent(
                kind=int(e["kind"]),
                time_us=int(e["time_us"]),
                onset_us=int(e["onset_us"]),
                role=int(e["role"]),
                code=int(e["code"]),
                value=float(e["value"]),
                sigma=float(e["sigma"]),
                aux1=float(e["aux1"]),
                aux2=float(e["aux2"]),
                aux3=float(e["aux3"]),
            )
            for e in events  # a handful per batch: alarms and health changes, never readings
        ]

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
