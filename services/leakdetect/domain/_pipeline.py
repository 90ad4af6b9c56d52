"""`Pipeline`: the detectors of a network's monitored segments behind one object, fed with readings as the
tags send them (their own units, tag ids, seconds) and answering with `Alarm`s and `SegmentStatus`.

The per-reading work stays in numpy and the numba kernels: tag ids are mapped to (segment, role) and
values converted to SI by array lookups, once per call, never in a Python loop per reading.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from services.network import Network, conversion_to_si, load_network
from services.network.quality import QUALITY_BAD, QUALITY_GOOD, QUALITY_MAX, QUALITY_UNCERTAIN

from . import layout as L
from ._alarm import HEALTH_NAMES, Z_95, Alarm, AlarmBook, BaselineStatus, SegmentStatus, WindowStatus
from .config import DetectorConfig, DetectorParams
from .detector import CheckpointError, DetectorState, advance_to, load_arrays, process_batch
from .events import DetectorEvent, LeakLocated
from .kernels.events import EVENT_DTYPE, decode_events, drain
from .kernels.learning import (
    REFIT_NOT_OVER,
    REFIT_OUT_OF_REACH,
    REFIT_TOO_FEW,
    refit_from_ring,
    ring_reach_us,
)
from .kernels.location import _c0_sd, calibrate
from .kernels.redundancy import MAXM, MI_HEALTH, N_RV, N_RVF, WITNESS, member_events, new_state, vote_kernel
from .kernels.subsegment import (
    CH_PDN,
    CH_PMID0,
    CH_PUP,
    CH_QIN,
    CH_QMID0,
    CH_QOUT,
    N_SCRATCH,
    SS_NF,
    SS_XF0,
    bracket,
    subsegment_kernel,
)
from .kernels.subsegment import new_state as ss_new_state
from .network_config import NetworkDetectorConfig, config_from_network

if TYPE_CHECKING:
    import pandas as pd

_DEFAULT_EVENT_CAPACITY = 65536
# sub-segment balances: block length, ring (4 h of blocks), the reference window before a leak's onset and the
# time after it that the bracket leaves out (the leak's waves and the line pack's first response)
SS_BLOCK_US = 60_000_000
SS_RING = 240
SS_REF_S = 1800.0
SS_SETTLE_S = 60.0
# A checkpoint with the redundant meters' vote and the sub-segment balances after the detectors' state.
_MEMBERS_MAGIC = b"PWLDM1"
_MEMBER_ARRAYS = ("vote_grp_f", "vote_mem_f", "vote_mem_i", "subsegment_f", "subsegment_ring")
# redundant meters: a batch longer than this goes through the vote in slices of it
VOTE_SLICE_US = 5_000_000


class UnknownTagError(ValueError):
    """Readings name tags that are not the pipeline's."""


class LearningError(ValueError):
    """A learning command that cannot be carried out (the message names why and what would work)."""


class PeriodNotOverError(LearningError):
    """"This period was leak-free" for a period the segment's readings have not passed yet."""


_LEARN_MODE_NAMES = ("initial", "idle", "relearn", "learn_now", "pending")  # layout.LM_*


def _utc(t_s: float) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(t_s, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Model:
    """What a pipeline's readings and alarms are interpreted with; built once, shared by fresh/restored copies."""

    def __init__(self, network: Network, built: NetworkDetectorConfig) -> None:
        self.network = network
        self.built = built
        cfg = built.config
        self.segment_ids = list(cfg.segment_ids)
        seg_set = set(self.segment_ids)
        # every tag of the pipeline's segments: the detectors' own first (by segment and role: the mid-line pressure
        # meters included), then the rest (mid-line flow meters, pressure meters beyond layout.N_PMID, extra
        # sensors), which are accepted and not used by the detectors
        # (redundant meters: the primary fills the role, the other members of its group follow the role tags)
        used = sorted(built.tag_role, key=lambda t: (built.tag_segment[t], built.tag_role[t]))
        used += sorted(t for t in built.tag_member if t not in built.tag_role)
        used += [tid for flows in built.midline_flows.values() for tid, _ in flows]  # the sub-segment balances'
        rest = sorted(t.tag_id for t in network.tags.values() if t.segment_id in seg_set
                      and t.tag_id not in built.tag_role and t.tag_id not in built.tag_member and t.tag_id not in used)
        self.tag_ids: tuple[str, ...] = (*used, *rest)
        self.tag_index = {t: i for i, t in enumerate(self.tag_ids)}
        n = len(self.tag_ids)
        self.seg_of_tag = np.full(n, -1, np.int64)
        self.role_of_tag = np.full(n, -1, np.int64)
        self.scale = np.ones(n)
        self.offset = np.zeros(n)
        for i, tid in enumerate(self.tag_ids):
            tag = network.tags[tid]
            conv = conversion_to_si(tag.kind, tag.unit, network.gas.specific_gravity)
            self.scale[i], self.offset[i] = conv.scale, conv.offset
            if tid in built.tag_role:
                self.seg_of_tag[i], self.role_of_tag[i] = built.tag_segment[tid], built.tag_role[tid]
        self.n_used = len(used)
        # redundant meters: (group, member) of each tag, -1 for the others; their readings go through the vote
        self.group_of_tag = np.full(n, -1, np.int64)
        self.member_of_tag = np.full(n, -1, np.int64)
        for tid, (g, m) in built.tag_member.items():
            self.group_of_tag[self.tag_index[tid]], self.member_of_tag[self.tag_index[tid]] = g, m
        # a group's witness (a temperature pair's other transmitter): its readings go to the vote as the pair's model
        # (member WITNESS) and on to the detectors as well
        for g, grp in enumerate(built.groups):
            k = self.tag_index.get(grp.witness) if grp.witness is not None else None
            if k is not None and self.group_of_tag[k] < 0:
                self.group_of_tag[k], self.member_of_tag[k] = g, WITNESS
        self.grp_cfg, self.mem_cfg = built.group_arrays()
        # sub-segment balances: the channel of each role and of each mid-line flow meter (-1: none)
        self.ss_cfg = built.subsegment_config() if built.midline_flows else None
        self.ss_ch_of_role = np.full(L.N_ROLES, -1, np.int64)
        self.ss_ch_of_role[[L.ROLE_FLOW_IN, L.ROLE_FLOW_OUT, L.ROLE_PRESSURE_UP, L.ROLE_PRESSURE_DOWN]] = (
            CH_QIN, CH_QOUT, CH_PUP, CH_PDN)
        self.ss_ch_of_role[L.ROLE_PRESSURE_MID0:L.ROLE_PRESSURE_MID0 + L.N_PMID] = CH_PMID0 + np.arange(L.N_PMID)
        self.ss_ch_of_tag = np.full(n, -1, np.int64)
        self.ss_seg_of_tag = np.full(n, -1, np.int64)
        for s_idx, flows in built.midline_flows.items():
            for j, (tid, _) in enumerate(flows):
                self.ss_ch_of_tag[self.tag_index[tid]] = CH_QMID0 + j
                self.ss_seg_of_tag[self.tag_index[tid]] = s_idx
        self.role_tags: list[dict[int, str]] = [{} for _ in self.segment_ids]
        for tid in built.tag_role:
            self.role_tags[built.tag_segment[tid]][built.tag_role[tid]] = tid
        self.length_m = [network.segments[s].length_m for s in self.segment_ids]
        self.wave_speed = [float(cfg.seg_cfg[i, L.GC_WAVE_SPEED]) for i in range(len(self.segment_ids))]


class Pipeline:
    """The leak detectors of a pipeline (one or more monitored segments of a network model).

    For example::

        p = Pipeline.from_network_file("line.yaml")
        alarms = p.feed(df)                                          # DataFrame: tag, time, value, quality
        alarms = p.feed(tag=ids, time_unix_s=t, value=v, quality=q)  # or numpy arrays
        p.status("L-01").windows[3].imbalance_kg_per_s
    """

    def __init__(self, model: _Model, params: DetectorParams, state: DetectorState) -> None:
        self._model = model
        self.params = params
        self._state = state
        self._book = AlarmBook(model.segment_ids, model.length_m, model.wave_speed, model.role_tags,
                               {t.tag_id: t.position_m for t in model.network.tags.values()}, params.block_s,
                               tuple(float(b) * params.block_s for b in params.windows_blocks))
        self.last_events: list[DetectorEvent] = []  # the named detector events of the last feed / advance
        # the redundant meters' vote (`kernels.redundancy`) and the sub-segment balances of segments with mid-line
        # flow meters (`kernels.subsegment`): in the checkpoint beside the detectors' state (`to_bytes`)
        self._vote = new_state(len(model.built.groups))
        self._member_events: list[DetectorEvent] = []
        self._ss = ss_new_state(model.built.config.n_segments, SS_RING)

    # --- building ------------------------------------------------------------------------------------------
    @classmethod
    def from_network(cls, network: Network, segment_ids: Sequence[str] | None = None,
                     params: DetectorParams | None = None, event_capacity: int = _DEFAULT_EVENT_CAPACITY
                     ) -> Pipeline:
        """The detectors of `segment_ids` (default: every monitored segment) of a network model."""
        if segment_ids is not None:
            unknown = [s for s in segment_ids if s not in network.segments]
            if unknown:
                raise ValueError(f"segments not in the network {network.name!r}: {unknown}")
        built = config_from_network(network, segment_ids=None if segment_ids is None else list(segment_ids))
        if not built.config.segment_ids:
            raise ValueError(f"network {network.name!r} has no monitored segment")
        p = params or DetectorParams()
        return cls(_Model(network, built), p, DetectorState.new(built.config, p, event_capacity))

    @classmethod
    def from_network_file(cls, path: str | Path, segment_ids: Sequence[str] | None = None,
                          params: DetectorParams | None = None) -> Pipeline:
        """Read a network file (`services.network.load_network`: raises NetworkFileError naming the entry)."""
        return cls.from_network(load_network(path), segment_ids, params)

    def fresh(self) -> Pipeline:
        """A pipeline of the same configuration with no history (no rebuilding)."""
        cap = self._state.ev_i.shape[0]
        return Pipeline(self._model, self.params, DetectorState.new(self._model.built.config, self.params, cap))

    def to_bytes(self) -> bytes:
        """The detectors' state (a checkpoint; the alarm list is not part of it). With redundant meters or mid-line
        flow meters, their vote's and sub-segment balances' arrays follow it (a vote restored without them would
        re-learn its members' offsets, voting the plain median of a pair with a failed member meanwhile)."""
        detectors = self._state.to_bytes()
        if not self._model.built.groups and self._model.ss_cfg is None:
            return detectors  # as before meters were grouped: older workers read it
        buf = io.BytesIO()
        arrays = dict(zip(_MEMBER_ARRAYS, (*self._vote, *self._ss), strict=True))
        np.savez(buf, members_config=self._members_config(), **arrays)  # type: ignore[arg-type]
        return _MEMBERS_MAGIC + len(detectors).to_bytes(4, "big") + detectors + buf.getvalue()

    def _members_config(self) -> npt.NDArray[np.float64]:
        """The groups' and flow stations' configuration, which the detectors' fingerprint does not cover: the vote
        of a checkpoint restores only into the same grouping."""
        m = self._model
        parts = [m.grp_cfg.ravel(), m.mem_cfg.ravel()] + ([] if m.ss_cfg is None else [m.ss_cfg.ravel()])
        return np.concatenate(parts) if parts else np.empty(0)

    def restore(self, data: bytes) -> Pipeline:
        """A pipeline of this configuration in the state of checkpoint `data` (CheckpointError if foreign)."""
        cap = self._state.ev_i.shape[0]
        members = b""
        if data.startswith(_MEMBERS_MAGIC):
            start = len(_MEMBERS_MAGIC) + 4
            n = int.from_bytes(data[len(_MEMBERS_MAGIC) : start], "big")
            data, members = data[start : start + n], data[start + n :]
        state = DetectorState.from_bytes(data, self._model.built.config, self.params, cap)
        pipeline = Pipeline(self._model, self.params, state)
        if members:  # else (a checkpoint from before grouped meters were kept): the vote starts afresh
            targets = dict(zip(_MEMBER_ARRAYS, (*pipeline._vote, *pipeline._ss), strict=True))
            rest = load_arrays(members, targets, "checkpoint of the redundant meters")
            if not np.array_equal(rest.get("members_config", np.empty(0)), pipeline._members_config(), equal_nan=True):
                raise CheckpointError("checkpoint was taken with other redundant meters or flow stations")
        return pipeline

    # --- what it knows -------------------------------------------------------------------------------------
    @property
    def network(self) -> Network:
        return self._model.network

    @property
    def config(self) -> DetectorConfig:
        """The kernels' configuration arrays (built by `network_config`, the one builder)."""
        return self._model.built.config

    @property
    def segment_ids(self) -> tuple[str, ...]:
        return tuple(self._model.segment_ids)

    @property
    def tag_ids(self) -> tuple[str, ...]:
        """Every tag of the pipeline's segments; integer tags given to `feed` index this."""
        return self._model.tag_ids

    @property
    def detector_tag_ids(self) -> tuple[str, ...]:
        """The tags the detectors use (the others are accepted and ignored)."""
        return self._model.tag_ids[: self._model.n_used]

    def detector_roles(self, segment: str) -> dict[str, int]:
        """tag id -> the detectors' role index (`layout.ROLE_*`) of the segment's tags they use: which instrument
        each tag is to the detectors (benchmarks and diagnostics name tags by it; the stream service keys readings
        by `detector_tags`' index)."""
        i = self._segment(segment)
        return {tag: role for role, tag in self._model.role_tags[i].items()}

    @property
    def alarms(self) -> list[Alarm]:
        """Every alarm so far, latest version of each."""
        return list(self._book.alarms)

    def tag_indices(self, tag_ids: Sequence[str] | npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Tag ids -> indices into `tag_ids`; UnknownTagError names the unknown ones."""
        arr = np.asarray(tag_ids)
        if arr.size == 0:
            return np.zeros(0, np.int64)
        uniq, inverse = np.unique(arr.astype(str), return_inverse=True)
        lookup = np.array([self._model.tag_index.get(str(u), -1) for u in uniq], np.int64)
        if bool(np.any(lookup < 0)):
            unknown = [str(u) for u, k in zip(uniq, lookup, strict=True) if k < 0]
            raise UnknownTagError(f"tags not in the pipeline's segments: {', '.join(unknown[:10])}"
                                  + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""))
        return lookup[inverse.reshape(-1)]

    # --- feeding -------------------------------------------------------------------------------------------
    def feed(
        self,
        readings: pd.DataFrame | None = None,
        *,
        tag: npt.ArrayLike | None = None,
        time_unix_s: npt.ArrayLike | None = None,
        time_unix_us: npt.ArrayLike | None = None,
        value: npt.ArrayLike | None = None,
        quality: npt.ArrayLike | None = None,
        si_units: bool = False,
        checked: bool = False,
    ) -> list[Alarm]:
        """Feed readings; returns the alarms they raised or changed.

        Either a DataFrame with columns tag (or tag_id), time (seconds since the epoch, or datetime64; or
        time_unix_s), value, quality (optional), or arrays: `tag` (tag ids, or int indices into `tag_ids`),
        `time_unix_s` (float) or `time_unix_us` (int), `value`, `quality` (codes of
        `services.network.quality`, default GOOD). Values in the tags' own units (the network file's), or SI
        with `si_units=True`. Readings may come in any order; a tag's readings not after its last one are
        dropped and counted (retries), as are BAD ones and values outside the tag's range. `checked=True`: the
        caller has checked times and quality codes at its own boundary (the stream service's processor does, once
        per batch), so they are not checked again here.
        """
        if readings is not None:
            tag, time_unix_s, time_unix_us, value, quality = _frame_columns(readings)
        if tag is None or value is None or (time_unix_s is None) == (time_unix_us is None):
            raise ValueError("feed needs tag, value and one of time_unix_s / time_unix_us (or a DataFrame)")
        tag_arr = np.asarray(tag)
        idx = (tag_arr.astype(np.int64, copy=False) if tag_arr.dtype.kind in "iu" else self.tag_indices(tag_arr))
        n = idx.shape[0]
        if n and not checked and (int(idx.min()) < 0 or int(idx.max()) >= len(self._model.tag_ids)):
            raise UnknownTagError(f"tag indices outside 0..{len(self._model.tag_ids) - 1}")
        if time_unix_us is not None:
            t_us = np.asarray(time_unix_us, dtype=np.int64)
        else:
            t_s = np.asarray(time_unix_s, dtype=np.float64)
            if n and not bool(np.all(np.isfinite(t_s))):
                raise ValueError("time_unix_s has non-finite values")
            t_us = np.round(t_s * 1e6).astype(np.int64)
        v = np.asarray(value, dtype=np.float64)
        q = np.full(n, QUALITY_GOOD, np.int64) if quality is None else np.asarray(quality, dtype=np.int64)
        for name, arr in (("time", t_us), ("value", v), ("quality", q)):
            if arr.shape != (n,):
                raise ValueError(f"{name} has shape {arr.shape}, tag has ({n},)")
        if n and not checked and (int(q.min()) < 0 or int(q.max()) > QUALITY_MAX):
            raise ValueError(f"quality codes outside 0..{QUALITY_MAX}")
        if not si_units:
            v = v * self._model.scale[idx] + self._model.offset[idx]
        if self._model.built.groups and n > 1 and int(t_us.max() - t_us.min()) > VOTE_SLICE_US:
            # the vote's model reads the detectors' tick means: slices of a long batch see them as they go
            order = np.argsort(t_us, kind="stable")
            idx, t_us, v, q = idx[order], t_us[order], v[order], q[order]
            cuts = np.searchsorted(t_us, np.arange(int(t_us[0]) + VOTE_SLICE_US, int(t_us[-1]) + 1, VOTE_SLICE_US))
            bounds = [0, *cuts.tolist(), n]
            raw = [self._process(idx[a:b], t_us[a:b], v[a:b], q[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
            return self._take(np.concatenate(raw) if raw else np.empty(0, dtype=EVENT_DTYPE))
        return self._take(self._process(idx, t_us, v, q))

    def _process(self, idx: npt.NDArray[np.int64], t_us: npt.NDArray[np.int64], v: npt.NDArray[np.float64],
                 q: npt.NDArray[np.int64]) -> npt.NDArray[np.void]:
        """Readings (tag index, time, SI value, quality) through the vote, the sub-segment balances and the
        detectors; the detectors' raw events."""
        voted: tuple[npt.NDArray, ...] | None = None
        if self._model.built.groups:
            (idx, t_us, v, q), voted = self._vote_members(idx, t_us, v, q)
        seg = self._model.seg_of_tag[idx]
        role = self._model.role_of_tag[idx]
        if voted is not None and voted[0].size:
            seg, role = np.concatenate([seg, voted[0]]), np.concatenate([role, voted[1]])
            t_us, v = np.concatenate([t_us, voted[2]]), np.concatenate([v, voted[3]])
            q = np.concatenate([q, np.full(voted[0].size, QUALITY_GOOD, np.int64)])
        if self._model.ss_cfg is not None:
            self._subsegment(idx, seg, role, t_us, v, q)
        if seg.size and int(seg.min()) < 0:  # tags the detectors do not use: not theirs to count as dropped
            used = seg >= 0
            seg, role, t_us, v, q = seg[used], role[used], t_us[used], v[used], q[used]
        return process_batch(self._state, seg, role, t_us, v, q)

    def _subsegment(self, idx: npt.NDArray[np.int64], seg: npt.NDArray[np.int64], role: npt.NDArray[np.int64],
                    t_us: npt.NDArray[np.int64], v: npt.NDArray[np.float64], q: npt.NDArray[np.int64]) -> None:
        """The sub-segment balances' readings: the roles' (voted) readings of segments with mid-line flow meters,
        and the mid-line flow meters' own (the first len(idx) readings are the tags', the rest voted)."""
        m = self._model
        n_tag = idx.shape[0]
        ch = np.full(seg.shape[0], -1, np.int64)
        known = (seg >= 0) & (role >= 0)
        ch[known] = m.ss_ch_of_role[role[known]]
        ss_seg = np.where(ch >= 0, seg, -1)
        mid = m.ss_ch_of_tag[idx]
        ch[:n_tag] = np.where(mid >= 0, mid, ch[:n_tag])
        ss_seg[:n_tag] = np.where(mid >= 0, m.ss_seg_of_tag[idx], ss_seg[:n_tag])
        sel = (ss_seg >= 0) & (q != QUALITY_BAD) & (q != QUALITY_UNCERTAIN)
        if not bool(sel.any()):
            return
        order = np.argsort(t_us[sel], kind="stable")
        subsegment_kernel(ss_seg[sel][order], ch[sel][order], t_us[sel][order], v[sel][order], SS_BLOCK_US,
                          self.config.seg_cfg, m.ss_cfg, self._ss[0], self._ss[1], np.empty(N_SCRATCH))

    def _bracketed(self, ev: LeakLocated) -> LeakLocated:
        """A balance location narrowed to the sub-segment whose balance went out (mid-line flow meters)."""
        cfg = self._model.ss_cfg
        assert cfg is not None
        nf = int(cfg[ev.segment, SS_NF])
        if nf < 1:
            return ev
        sub, _, _ = bracket(self._ss[1][ev.segment], nf + 1, float(ev.onset_us), float(ev.time_us), SS_REF_S,
                            SS_SETTLE_S)
        if sub < 0:
            return ev
        length = self._model.length_m[ev.segment]
        bounds = [0.0, *(float(cfg[ev.segment, SS_XF0 + j]) * length for j in range(nf)), length]
        lo, hi = bounds[sub], bounds[sub + 1]
        if math.isfinite(ev.position_sd_m):
            # the gradient's point moved into the bracket, its s.d. kept: the interval (the alarm's, clamped to the
            # bracket) is the gradient's within the bracket, never wider, and holds the truth whenever both did
            return dataclasses.replace(ev, position_m=min(max(ev.position_m, lo), hi), bracket_lo_m=lo,
                                       bracket_hi_m=hi)
        # not located by the gradient: the bracket is the interval (its middle, 1.96 s.d. to either end)
        return dataclasses.replace(ev, position_m=0.5 * (lo + hi), position_sd_m=0.5 * (hi - lo) / Z_95,
                                   bracket_lo_m=lo, bracket_hi_m=hi)

    def _vote_members(self, idx: npt.NDArray[np.int64], t_us: npt.NDArray[np.int64], v: npt.NDArray[np.float64],
                      q: npt.NDArray[np.int64]) -> tuple[tuple[npt.NDArray, ...], tuple[npt.NDArray, ...]]:
        """The readings split: (the others' idx, time, value, quality), and the roles' voted readings that replace
        the redundant members' (segment, role, time, value)."""
        g = self._model.group_of_tag[idx]
        sel = g >= 0
        n = int(sel.sum())
        out_seg, out_role = np.empty(n, np.int64), np.empty(n, np.int64)
        out_t, out_v = np.empty(n, np.int64), np.empty(n)
        if n:
            order = np.argsort(t_us[sel], kind="stable")
            cap = max(64, n)
            ev_i, ev_f, n_ev = np.zeros((cap, N_RV), np.int64), np.zeros((cap, N_RVF)), np.zeros(1, np.int64)
            grp_f, mem_f, mem_i = self._vote
            k = int(vote_kernel(g[sel][order], self._model.member_of_tag[idx[sel]][order], t_us[sel][order],
                                v[sel][order], q[sel][order], self._model.grp_cfg, self._model.mem_cfg, grp_f, mem_f,
                                mem_i, self._state.slot_f, self._state.seg_f, self.params.tick_s, out_seg, out_role,
                                out_t, out_v, ev_i, ev_f, n_ev, np.empty(MAXM + 1)))
            out_seg, out_role, out_t, out_v = out_seg[:k], out_role[:k], out_t[:k], out_v[:k]
            self._member_events.extend(member_events(ev_i[: n_ev[0]], ev_f[: n_ev[0]], self._model.built.groups,
                                                     self._state.seg_f[:, L.GF_MDLR0 + 2]))
        keep = ~sel | (self._model.member_of_tag[idx] == WITNESS)
        return (idx[keep], t_us[keep], v[keep], q[keep]), (out_seg, out_role, out_t, out_v)

    def advance_to(self, time_unix_s: float) -> list[Alarm]:
        """Move every segment's clock on without readings (silent tags become stale, open fronts expire)."""
        return self._take(advance_to(self._state, round(time_unix_s * 1e6)))

    def _take(self, raw: npt.NDArray[np.void]) -> list[Alarm]:
        self.last_events = decode_events(raw) if raw.size else []
        if self._model.ss_cfg is not None:
            self.last_events = [self._bracketed(e) if isinstance(e, LeakLocated) else e for e in self.last_events]
        if self._member_events:  # the redundant meters' health changes, named by tag
            self.last_events = [*self._member_events, *self.last_events]
            self._member_events = []
        return self._book.apply(self.last_events) if self.last_events else []

    # --- status --------------------------------------------------------------------------------------------
    def _segment(self, segment: str) -> int:
        try:
            return self._model.segment_ids.index(segment)
        except ValueError:
            raise KeyError(f"segment {segment!r} is not one of this pipeline's: {self._model.segment_ids}") from None

    def status(self, segment: str) -> SegmentStatus:
        return self._status(self._segment(segment))

    def statuses(self) -> dict[str, SegmentStatus]:
        return {sid: self._status(i) for i, sid in enumerate(self._model.segment_ids)}

    def window_table(self) -> dict[str, npt.NDArray[np.float64]]:
        """Every segment's windows at once ([n_segments, n_windows] arrays: imbalance_kg_per_s,
        threshold_kg_per_s, statistic), for sampling status over time without objects per segment."""
        z = self._state.z_scores()
        mdlr = self._state.mdlr_kg_per_s()
        with np.errstate(invalid="ignore"):
            imbalance = np.where(np.isfinite(z) & np.isfinite(mdlr), z * mdlr / self.params.z_window, np.nan)
        return {"imbalance_kg_per_s": imbalance, "threshold_kg_per_s": mdlr, "statistic": z}

    def window_lengths_s(self) -> tuple[float, ...]:
        return tuple(float(b) * self.params.block_s for b in self.params.windows_blocks)

    def _status(self, i: int) -> SegmentStatus:
        table = self.window_table()
        zt = self.params.z_window
        windows = tuple(
            WindowStatus(w_s, float(table["imbalance_kg_per_s"][i, w]), float(table["threshold_kg_per_s"][i, w]),
                         float(table["statistic"][i, w]), zt)
            for w, w_s in enumerate(self.window_lengths_s())
        )
        mdlr = table["threshold_kg_per_s"][i]
        best = float(np.min(mdlr)) if bool(np.isfinite(mdlr).any()) else math.inf
        health = self._state.health()[i]
        clock = int(self._state.seg_i[i, L.GI_CLOCK])
        return SegmentStatus(
            segment=self._model.segment_ids[i],
            time_unix_s=clock / 1e6 if clock >= 0 else None,
            monitoring=math.isfinite(best),
            mdlr_kg_per_s=best,
            windows=windows,
            sensor_health={**{tag: HEALTH_NAMES[int(health[r])] for r, tag in self._model.role_tags[i].items()},
                           **self._member_health(i)},
            block_residual_kg_per_s=float(self._state.seg_f[i, L.GF_LAST_E]),
            block_residual_sd_kg_per_s=float(self._state.seg_f[i, L.GF_LAST_SIGMA]),
            cusum=float(self._state.seg_f[i, L.GF_CUSUM]),
            baseline=self._baseline(i),
        )

    def _member_health(self, i: int) -> dict[str, str]:
        """The redundant meters of segment i by tag, as the vote judges them (the role's own health is the
        voted value's, under the primary's tag unless the primary itself failed)."""
        out: dict[str, str] = {}
        mem_i = self._vote[2]
        for g, grp in enumerate(self._model.built.groups):
            if grp.segment == i:
                for m, tag in enumerate(grp.tag_ids):
                    code = int(mem_i[g * MAXM + m, MI_HEALTH])
                    if m > 0 or code != L.HEALTH_OK:
                        out[tag] = HEALTH_NAMES[code] if 0 <= code < len(HEALTH_NAMES) else str(code)
        return out

    # --- learning (issue 24) -------------------------------------------------------------------------------
    def learn_now(self, segment_id: str, at_unix_s: float) -> None:
        """"Learn now": the segment learns a new baseline from the first block starting at or after `at_unix_s`
        over the learning window (transient blocks left out), and adopts it when the window is full; detection
        goes on with the baseline in use meanwhile. The caller vouches that the window is leak-free."""
        i = self._segment(segment_id)
        if not (isinstance(at_unix_s, int | float) and math.isfinite(at_unix_s) and at_unix_s > 0):
            raise LearningError(f"learn_now: at_unix_s must be a finite time after 1970, got {at_unix_s!r}")
        self._state.seg_i[i, L.GI_LEARN_CMD_T] = max(1, round(at_unix_s * 1e6))

    def mark_leak_free(self, segment_id: str, start_unix_s: float, end_unix_s: float) -> BaselineStatus:
        """"This period was leak-free": the baseline is refitted at once from the valid, transient-free blocks
        of [start, end] that the detector still holds (its ring: about the longest window back), or a rejected
        re-learning whose window lies in the period is adopted; it becomes the confirmed baseline later
        re-learnings must agree with. LearningError names the problem (out of the ring's reach, not over yet,
        too few usable blocks)."""
        i = self._segment(segment_id)
        for name, v in (("start_unix_s", start_unix_s), ("end_unix_s", end_unix_s)):
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise LearningError(f"mark_leak_free: {name} must be a finite time after 1970, got {v!r}")
        if not end_unix_s > start_unix_s:
            raise LearningError(f"mark_leak_free: the period must end after it starts ({start_unix_s} .. {end_unix_s})")
        st = self._state
        used = int(refit_from_ring(i, float(round(start_unix_s * 1e6)), float(round(end_unix_s * 1e6)), st.params,
                                   self.config.slot_cfg, st.seg_f, st.seg_i, st.ring, st.counters, st.ev_i, st.ev_f,
                                   st.n_ev))
        if used == REFIT_OUT_OF_REACH:
            reach = float(ring_reach_us(i, st.seg_i, st.ring)) / 1e6
            held = (f"back to {_utc(reach)} ({reach:.0f})" if reach > 0 else "no blocks yet")
            raise LearningError(
                f"segment {segment_id}: the period starts at {_utc(start_unix_s)}, before the detector's oldest "
                f"block (it holds {held}, about {self.params.ring_len * self.params.block_s / 60:.0f} min): "
                "confirm a period within that, or use learn_now")
        if used == REFIT_NOT_OVER:
            clock = float(st.seg_i[i, L.GI_CLOCK]) / 1e6
            raise PeriodNotOverError(
                f"segment {segment_id}: the period ends at {_utc(end_unix_s)}, after the segment's last closed block "
                f"(clock {_utc(clock)}): confirm it once it is over, or use learn_now")
        if used == REFIT_TOO_FEW:
            raise LearningError(
                f"segment {segment_id}: the period {_utc(start_unix_s)} .. {_utc(end_unix_s)} holds fewer than 3 "
                f"groups of {self.params.learn_group_blocks} consecutive valid, transient-free blocks: confirm a "
                "longer or quieter period")
        self._take(drain(st.ev_i, st.ev_f, st.n_ev))
        baseline = self._baseline(i)
        assert baseline is not None
        return baseline

    def baseline(self, segment_id: str) -> BaselineStatus:
        """The segment's learned baseline and what learning is doing (also in `status(...).baseline`)."""
        b = self._baseline(self._segment(segment_id))
        assert b is not None
        return b

    def _baseline(self, i: int) -> BaselineStatus:
        f = self._state.seg_f[i]
        g = self._state.seg_i[i]
        learned = bool(g[L.GI_LEARNED])
        source = int(g[L.GI_LEARN_SOURCE])
        if learned and source == L.LS_NONE:
            source = L.LS_INITIAL  # a checkpoint of a version before the source was kept
        mode = int(g[L.GI_LEARN_MODE])
        rej = int(g[L.GI_LEARN_REJECTED])
        cfg = self.config
        w = float(f[L.GF_LC_W])
        k = k_sd = None
        k0 = float(cfg.seg_cfg[i, L.GC_LOC_K0])
        if k0 > 0.0 and w > 0.0:
            _, k_est, _, _, v11, _ = calibrate(w, f[L.GF_LC_F], f[L.GF_LC_FF], f[L.GF_LC_D], f[L.GF_LC_FD],
                                               f[L.GF_LC_DD], f[L.GF_LC_VD], f[L.GF_LC_VF], k0,
                                               k0 * cfg.seg_cfg[i, L.GC_LOC_K0_REL_SD],
                                               _c0_sd(i, f[L.GF_LC_PP] / w, cfg.seg_cfg, cfg.slot_cfg))
            k, k_sd = float(k_est), math.sqrt(max(float(v11), 0.0))
        try:
            w15 = self.params.window_index_for_minutes(15)
        except ValueError:  # no quarter-hour window in these parameters: the one before the longest
            w15 = L.N_WINDOWS - 2
        next_rl = float(f[L.GF_NEXT_RELEARN])
        return BaselineStatus(
            learned=learned,
            source=L.LEARN_SOURCE_NAMES[source] if 0 <= source < len(L.LEARN_SOURCE_NAMES) else str(source),
            learned_unix_s=float(f[L.GF_LEARNED_T]) / 1e6 if learned and f[L.GF_LEARNED_T] > 0 else None,
            window_start_unix_s=float(f[L.GF_BASE_T0]) / 1e6 if learned and f[L.GF_BASE_T0] > 0 else None,
            blocks=int(g[L.GI_BASE_N]),
            offset_kg_per_s=float(f[L.GF_BASE_A]) if learned else math.nan,
            offset_sd_kg_per_s=math.sqrt(max(float(f[L.GF_BASE_VAR]), 0.0)) if learned else math.nan,
            gain=float(f[L.GF_BASE_G]) if learned else math.nan,
            gain_sd=math.sqrt(max(float(f[L.GF_VAR_G]), 0.0)) if learned else math.nan,
            kappa=float(f[L.GF_KAPPA]) if learned else math.nan,
            throughput_kg_per_s=float(f[L.GF_QBAR]) if learned else math.nan,
            learning=_LEARN_MODE_NAMES[mode] if 0 <= mode < len(_LEARN_MODE_NAMES) else str(mode),
            learning_blocks=int(g[L.GI_N_LEARN]) if mode not in (L.LM_IDLE, L.LM_PENDING) else 0,
            learning_window_blocks=self.params.learn_window_blocks,
            skipped_transient_blocks=int(g[L.GI_LEARN_SKIPPED]),
            skipped_transient_blocks_total=int(g[L.GI_LEARN_SKIPPED_TOTAL]),
            next_relearn_unix_s=(next_rl / 1e6 if learned and next_rl > 0 and self.params.relearn_every_s > 0
                                 else None),
            relearns_adopted=int(g[L.GI_RELEARN_N]),
            relearns_rejected=int(g[L.GI_RELEARN_REJ_N]),
            last_rejection=L.REJECT_REASON_NAMES[rej] if 0 < rej < len(L.REJECT_REASON_NAMES) else None,
            friction_k=k,
            friction_k_sd=k_sd,
            friction_calibration_blocks=w,
            mdlr_15min_kg_per_s=float(f[L.GF_MDLR0 + w15]),
        )

    def counters(self) -> dict[str, int]:
        """Readings used and dropped, by reason (`layout.COUNTER_NAMES`)."""
        return self._state.counter_dict()


def _frame_columns(df: Any) -> tuple[Any, Any, Any, Any, Any]:
    cols = set(df.columns)
    tag_col = "tag" if "tag" in cols else "tag_id"
    time_col = "time" if "time" in cols else "time_unix_s"
    missing = [c for c in (tag_col, time_col, "value") if c not in cols]
    if missing:
        raise ValueError(f"readings frame lacks columns {missing}; has {sorted(cols)}")
    tags = df[tag_col]
    if getattr(tags.dtype, "name", "") == "category":
        tags = tags.astype(str)
    times = df[time_col].to_numpy()
    t_s = t_us = None
    if np.issubdtype(times.dtype, np.datetime64):
        t_us = times.astype("datetime64[us]").astype(np.int64)
    elif getattr(df[time_col].dtype, "tz", None) is not None:  # tz-aware datetimes
        t_us = df[time_col].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(
            np.int64)
    else:
        t_s = times
    q = df["quality"].to_numpy() if "quality" in cols else None
    return tags.to_numpy(), t_s, t_us, df["value"].to_numpy(), q
