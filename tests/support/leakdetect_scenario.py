"""Synthetic SegmentReadings for one demo-city segment: noisy meters, an optional leak with its pressure
waves, emitted as the per-segment records telemetry would publish (one record per gateway second).

Not a physical simulator (services.gasflow is): flows balance except for the leak and meter noise/bias,
end pressures are steady with noise, and a leak at x sends a pressure drop that reaches the upstream end
after x/c and the downstream end after (L - x)/c.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from services.contracts.pipewarden.telemetry.v1 import reading_pb2, records_pb2
from services.network import Network, TagKind

T0_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


@dataclass
class LeakScenario:
    segment_id: str = "TR-01"
    gateway_id: str = "gw-transmission"
    seconds: int = 5400
    leak_start_s: float | None = 4500.0
    leak_position_m: float = 2500.0
    leak_kg_per_s: float = 0.45  # 10 % of TR-01's nominal flow (4.5 kg/s)
    wave_drop_pa: float = 25_000.0
    wave_speed_m_per_s: float = 400.0
    seed: int = 7
    pressure_hz: int = 10

    def records(self, network: Network, start_s: int = 0, stop_s: int | None = None,
                first_seq: int = 0) -> Iterator[records_pb2.SegmentReadings]:
        """Records for [start_s, stop_s) seconds of the scenario, one per second."""
        seg = network.segments[self.segment_id]
        stop_s = self.seconds if stop_s is None else stop_s
        tags = {
            (t.kind, round(t.position_m)): t.tag_id for t in network.tags_of_segment(self.segment_id)
        }
        length = round(seg.length_m)
        ft_up, ft_dn = tags[(TagKind.FLOW, 0)], tags[(TagKind.FLOW, length)]
        pt_up, pt_dn = tags[(TagKind.PRESSURE, 0)], tags[(TagKind.PRESSURE, length)]
        tt = tags.get((TagKind.TEMPERATURE, 0))
        nominal = seg.nominal_flow_kg_per_s
        p_up0 = 0.85 * seg.max_operating_pressure_pa
        p_dn0 = p_up0 - 40_000.0
        hz = self.pressure_hz
        for sec in range(start_s, stop_s):
            rng = np.random.default_rng((self.seed, sec))
            t_us = T0_US + sec * 1_000_000
            demand = nominal * (1.0 + 0.05 * np.sin(2 * np.pi * sec / 3600.0))
            leak = 0.0
            if self.leak_start_s is not None and sec >= self.leak_start_s:
                leak = self.leak_kg_per_s
            q_in = (demand + leak) * (1.003 + 0.0025 * rng.standard_normal())
            q_out = demand * (0.998 + 0.0025 * rng.standard_normal())
            tp = t_us + (np.arange(hz) * (1_000_000 // hz)).astype(np.int64)
            ts = (tp - T0_US) / 1e6
            p_up = p_up0 + 300.0 * rng.standard_normal(hz)
            p_dn = p_dn0 + 300.0 * rng.standard_normal(hz)
            if self.leak_start_s is not None:
                c = self.wave_speed_m_per_s
                arrive_up = self.leak_start_s + self.leak_position_m / c
                arrive_dn = self.leak_start_s + (seg.length_m - self.leak_position_m) / c
                p_up -= np.where(ts >= arrive_up, self.wave_drop_pa, 0.0)
                p_dn -= np.where(ts >= arrive_dn, self.wave_drop_pa, 0.0)
            rec = records_pb2.SegmentReadings(
                record_id=f"{self.gateway_id}/{first_seq + sec}/{self.segment_id}",
                segment_id=self.segment_id,
                gateway_id=self.gateway_id,
                batch_sequence=first_seq + sec,
                ingest_time_unix_us=t_us,
            )
            for tag_id, times, values in (
                (ft_up, [t_us], [q_in]),
                (ft_dn, [t_us], [q_out]),
                (pt_up, tp.tolist(), p_up.tolist()),
                (pt_dn, tp.tolist(), p_dn.tolist()),
            ):
                s = rec.series.add(tag_id=tag_id)
                s.source_time_unix_us.extend(times)
                s.values_si.extend(values)
                s.quality.extend([reading_pb2.QUALITY_GOOD] * len(times))
            if tt is not None and sec % 10 == 0:
                temp = 281.0 + 0.05 * rng.standard_normal()
                s = rec.series.add(
                    tag_id=tt, source_time_unix_us=[t_us], values_si=[temp], quality=[reading_pb2.QUALITY_GOOD]
                )
            yield rec
