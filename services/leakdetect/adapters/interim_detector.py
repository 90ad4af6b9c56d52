"""A deliberately simple mass-balance detector used until the numeric core is wired in.

Uncompensated balance (flow in - flow out, no line pack) averaged over fixed blocks, a baseline learned
from the first blocks, and a one-sided CUSUM. Vectorised per batch: per-block sums by np.bincount, a
Python step per closed block only. It exists so the stream plumbing (batches, recovery, alarms) can be
exercised on its own; `core_detector.CoreDetector` replaces it when `services.leakdetect.domain` is
importable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from services.leakdetect.adapters.roles import ROLE_FLOW_IN, ROLE_FLOW_OUT, tag_roles
from services.leakdetect.service_layer import ports
from services.network import Network


@dataclass
class _State:
    block: int = -1
    s_in: float = 0.0
    n_in: int = 0
    s_out: float = 0.0
    n_out: int = 0
    learned: int = 0
    mean: float = 0.0
    m2: float = 0.0
    cusum: float = 0.0
    onset_us: int = 0
    sum_since_onset: float = 0.0
    n_since_onset: int = 0
    latched: bool = False
    clear_run: int = 0
    last_e: float = 0.0
    clock_us: int = 0


class InterimDetector:
    def __init__(
        self,
        network: Network,
        *,
        block_s: float = 60.0,
        learn_blocks: int = 10,
        cusum_k: float = 0.5,
        cusum_h: float = 8.0,
        clear_blocks: int = 5,
    ) -> None:
        self.network = network
        self.block_us = round(block_s * 1e6)
        self.learn_blocks = learn_blocks
        self.k = cusum_k
        self.h = cusum_h
        self.clear_blocks = clear_blocks
        self._roles = {sid: tag_roles(network, sid) for sid in network.segments}

    def tag_roles(self, segment_id: str) -> Mapping[str, int]:
        return self._roles[segment_id]

    def role_tags(self, segment_id: str) -> Mapping[int, str]:
        return {r: t for t, r in self._roles[segment_id].items()}

    def new_state(self, segment_id: str) -> Any:
        return _State()

    def dump(self, segment_id: str, state: Any) -> bytes:
        return json.dumps(asdict(state)).encode()

    def load(self, segment_id: str, data: bytes) -> Any:
        return _State(**json.loads(data)) if data else _State()

    def _sd(self, segment_id: str, st: _State) -> float:
        floor = 0.002 * max(self.network.segments[segment_id].nominal_flow_kg_per_s, 1e-3)
        if st.learned < 2:
            return floor
        return max(math.sqrt(st.m2 / (st.learned - 1)), floor)

    def feed(
        self,
        segment_id: str,
        state: Any,
        role: npt.NDArray[np.int8],
        time_us: npt.NDArray[np.int64],
        value_si: npt.NDArray[np.float64],
        quality: npt.NDArray[np.int8],
    ) -> list[ports.DetectorEvent]:
        st: _State = state
        events: list[ports.DetectorEvent] = []
        if time_us.size:
            st.clock_us = max(st.clock_us, int(time_us[-1]))
        usable = (quality <= 2) & np.isfinite(value_si)
        is_in = usable & (role == ROLE_FLOW_IN)
        is_out = usable & (role == ROLE_FLOW_OUT)
        sel = is_in | is_out
        if not np.any(sel):
            return events
        blocks = time_us[sel] // self.block_us
        first = int(blocks.min())
        rel = blocks - first
        n_bins = int(rel.max()) + 1
        w_in = np.where(is_in[sel], value_si[sel], 0.0)
        w_out = np.where(is_out[sel], value_si[sel], 0.0)
        s_in = np.bincount(rel, weights=w_in, minlength=n_bins)
        s_out = np.bincount(rel, weights=w_out, minlength=n_bins)
        n_in = np.bincount(rel, weights=is_in[sel].astype(np.float64), minlength=n_bins)
        n_out = np.bincount(rel, weights=is_out[sel].astype(np.float64), minlength=n_bins)
        for i in np.flatnonzero((n_in + n_out) > 0):  # one step per block, not per reading
            blk = first + int(i)
            if blk < st.block:
                continue  # readings for a block already closed
            if blk != st.block:
                if st.block >= 0:
                    self._close(segment_id, st, events)
                st.block, st.s_in, st.n_in, st.s_out, st.n_out = blk, 0.0, 0, 0.0, 0
            st.s_in += float(s_in[i])
            st.n_in += int(n_in[i])
            st.s_out += float(s_out[i])
            st.n_out += int(n_out[i])
        return events

    def _close(self, segment_id: str, st: _State, events: list[ports.DetectorEvent]) -> None:
        if not st.n_in or not st.n_out:
            return
        e = st.s_in / st.n_in - st.s_out / st.n_out
        end_us = (st.block + 1) * self.block_us
        st.last_e = e
        if st.learned < self.learn_blocks:
            st.learned += 1
            delta = e - st.mean
            st.mean += delta / st.learned
            st.m2 += delta * (e - st.mean)
            return
        sd = self._sd(segment_id, st)
        z = (e - st.mean) / sd
        if st.cusum == 0.0 and z - self.k > 0:
            st.onset_us = st.block * self.block_us
            st.sum_since_onset, st.n_since_onset = 0.0, 0
        st.cusum = max(0.0, st.cusum + z - self.k)
        if st.cusum > 0:
            st.sum_since_onset += e - st.mean
            st.n_since_onset += 1
        if not st.latched and st.cusum > self.h:
            st.latched = True
            st.clear_run = 0
            n = max(st.n_since_onset, 1)
            events.append(
                ports.DetectorEvent(
                    kind=ports.EV_LEAK,
                    time_us=end_us,
                    onset_us=st.onset_us,
                    value=st.sum_since_onset / n,
                    sigma=sd / math.sqrt(n),
                    aux1=st.cusum,
                )
            )
        elif st.latched:
            st.clear_run = st.clear_run + 1 if z < 1.0 else 0
            if st.clear_run >= self.clear_blocks:
                st.latched = False
                st.cusum = 0.0
                events.append(ports.DetectorEvent(kind=ports.EV_LEAK_CLEARED, time_us=end_us, onset_us=st.onset_us))

    def status(self, segment_id: str, state: Any) -> ports.SegmentStatusView:
        st: _State = state
        sd = self._sd(segment_id, st)
        return ports.SegmentStatusView(
            imbalance_kg_per_s=(st.last_e - st.mean,),
            threshold=(self.h,),
            statistic=(st.cusum,),
            window_s=(self.block_us / 1e6,),
            mdlr_kg_per_s=(self.k + 1.0) * sd,
            clock_us=st.clock_us,
        )
