"""Recoverable per-segment runtime state: replay guard, record-id dedupe, reorder buffer, alarm lifecycle.

One `SegmentRuntime` per segment is checkpointed (as bytes) after every batch that touched the segment.
Together with the detector state it holds everything needed to resume exactly where the last checkpoint
left off:

- `last_offset`: the highest source offset already applied, so records replayed after a crash (their
  offsets were consumed but not committed yet) are skipped instead of counted twice;
- `recent_ids`: a bounded memory of record ids, so a batch resent by a gateway (same record id, new
  offset) is dropped;
- the reorder buffer: readings not yet released to the detectors, and `released_until_us`;
- the active alarm and the segment's alarm history;
- `incidents`: how many incidents the segment has raised, part of every new alarm id, so a second
  incident with the same onset bucket gets a new id while a replay from a checkpoint repeats the old one.

Encoding: b"PWLD" + version byte + u32 header length + JSON header + raw blobs named in the header.
Header keys added later are optional on decode (with the value an older checkpoint implies), so such
additions keep the version; a version bump is for changes older code must not misread.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

_MAGIC = b"PWLD"
_VERSION = 1


class StateDecodeError(ValueError):
    """Checkpoint bytes that are not a segment state of this version."""


@dataclass
class ReorderBuffer:
    """Readings waiting until no earlier reading can still arrive within the tolerance."""

    time_us: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    # index into the detector's `detector_tags` (`ports.SegmentDetector`)
    tag_index: npt.NDArray[np.int16] = field(default_factory=lambda: np.empty(0, np.int16))
    value: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0, np.float64))
    quality: npt.NDArray[np.int8] = field(default_factory=lambda: np.empty(0, np.int8))
    # Everything at or before this time has been released to the detectors: later arrivals are late.
    released_until_us: int = -(2**62)
    newest_us: int = -(2**62)
    # Read from a checkpoint written when readings were keyed by the detectors' role (blob "r"): `tag_index`
    # holds roles until `rekey_roles` maps them.
    keyed_by_role: bool = False

    def __len__(self) -> int:
        return int(self.time_us.size)

    def push(
        self,
        time_us: npt.NDArray[np.int64],
        tag_index: npt.NDArray[np.int16],
        value: npt.NDArray[np.float64],
        quality: npt.NDArray[np.int8],
        tolerance_us: int,
        max_readings: int,
    ) -> tuple[int, tuple[npt.NDArray[Any], ...]]:
        """Add readings; returns (late readings dropped, released arrays in time order).

        Readings wait until they are ``tolerance_us`` older than the newest, or, when more than ``max_readings``
        wait (a flood within the tolerance), the oldest are released early down to that many: the buffer, and
        the checkpoint that holds it, stay bounded, and a reading arriving later before them counts as late."""
        on_time = time_us > self.released_until_us
        late = int(time_us.size - np.count_nonzero(on_time))
        if late:
            time_us, tag_index = time_us[on_time], tag_index[on_time]
            value, quality = value[on_time], quality[on_time]
        if time_us.size:
            self.newest_us = max(self.newest_us, int(time_us.max()))
            self.time_us = np.concatenate((self.time_us, time_us))
            self.tag_index = np.concatenate((self.tag_index, tag_index))
            self.value = np.concatenate((self.value, value))
            self.quality = np.concatenate((self.quality, quality))
        until_us = self.newest_us - tolerance_us
        over = self.time_us.size - max_readings
        if over > 0:
            until_us = max(until_us, int(np.partition(self.time_us, over - 1)[over - 1]))
        return late, self._release(until_us)

    def flush(self) -> tuple[npt.NDArray[Any], ...]:
        """Release everything (end of a replay, shutdown of a test)."""
        return self._release(self.newest_us)

    def _release(self, until_us: int) -> tuple[npt.NDArray[Any], ...]:
        if until_us <= self.released_until_us or not self.time_us.size:
            self.released_until_us = max(self.released_until_us, until_us)
            return (np.empty(0, np.int64), np.empty(0, np.int16), np.empty(0, np.float64), np.empty(0, np.int8))
        ready = self.time_us <= until_us
        # Stable sort: readings of one instrument with equal time keep their arrival order.
        idx = np.flatnonzero(ready)
        idx = idx[np.argsort(self.time_us[idx], kind="stable")]
        out = (self.time_us[idx], self.tag_index[idx], self.value[idx], self.quality[idx])
        keep = ~ready
        self.time_us, self.tag_index = self.time_us[keep], self.tag_index[keep]
        self.value, self.quality = self.value[keep], self.quality[keep]
        self.released_until_us = until_us
        return out

    def rekey_roles(self, index_of_role: npt.NDArray[np.int16]) -> None:
        """Map the roles of an older checkpoint to tag indices (`index_of_role[role]`, -1: no such tag now,
        its readings dropped)."""
        if not self.keyed_by_role:
            return
        role = self.tag_index.astype(np.int64)
        known = (role >= 0) & (role < index_of_role.size)
        index = np.full(role.size, -1, np.int16)
        index[known] = index_of_role[role[known]]
        keep = index >= 0
        self.time_us, self.tag_index = self.time_us[keep], index[keep]
        self.value, self.quality = self.value[keep], self.quality[keep]
        self.keyed_by_role = False


@dataclass
class ActiveAlarm:
    alarm_id: str
    sequence: int
    methods: list[int]
    onset_us: int
    detection_us: int
    last_update_us: int
    # Method -> source time it was last seen active (pressure wave and rupture are momentary).
    last_seen_us: dict[int, int] = field(default_factory=dict)
    mass_balance_active: bool = False
    methane_active: bool = False
    rate_kg_per_s: float = 0.0
    rate_sigma: float = 0.0
    position_m: float | None = None
    position_sigma_m: float = 0.0
    rupture_drop_pa: float = 0.0
    rupture_rate_pa_per_s: float = 0.0
    methane_tag: str = ""
    methane_lel: float = 0.0
    methane_ror: float = 0.0
    methane_confined: bool = False
    grade_hint: int = 0
    published_rate: float = 0.0
    published_position_m: float | None = None
    # How `position_m` was found (`LeakLocation.method`); "" in checkpoints written before it was kept.
    position_method: str = ""
    # The sub-segment (between mid-line flow stations) whose own balance went out: the leak's interval lies in it.
    # None: no bracket (no flow station, ambiguous evidence, or a checkpoint written before brackets were kept).
    bracket_lo_m: float | None = None
    bracket_hi_m: float | None = None

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["last_seen_us"] = {str(k): v for k, v in self.last_seen_us.items()}
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ActiveAlarm:
        d = dict(d)
        d["last_seen_us"] = {int(k): int(v) for k, v in d.get("last_seen_us", {}).items()}
        return cls(**d)


@dataclass
class SegmentRuntime:
    segment_id: str
    partition: int = -1
    last_offset: int = -1
    recent_ids: deque[str] = field(default_factory=deque)
    reorder: ReorderBuffer = field(default_factory=ReorderBuffer)
    detector_state: Any = None
    active_alarm: ActiveAlarm | None = None
    # Encoded LeakAlarmEvent records, oldest first.
    history: list[bytes] = field(default_factory=list)
    # Tag id -> health code, as last published.
    tag_health: dict[str, int] = field(default_factory=dict)
    readings: int = 0
    late_dropped: int = 0
    duplicates: int = 0
    # Incidents raised on this segment so far (the next one's number).
    incidents: int = 0
    # Learning commands (`learning`): encoded "this period was leak-free" commands waiting for the readings to
    # pass their period, and what became of the last command (command_id, outcome, message, requested_by).
    pending_commands: list[bytes] = field(default_factory=list)
    last_command: dict[str, str] | None = None
    _id_set: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._id_set = set(self.recent_ids)

    def seen(self, record_id: str) -> bool:
        return record_id in self._id_set

    def remember(self, record_id: str, capacity: int) -> None:
        self.recent_ids.append(record_id)
        self._id_set.add(record_id)
        while len(self.recent_ids) > capacity:
            self._id_set.discard(self.recent_ids.popleft())

    def encode(self, detector_blob: bytes) -> bytes:
        blobs: list[tuple[str, bytes]] = [
            ("t", self.reorder.time_us.astype("<i8").tobytes()),
            ("i", self.reorder.tag_index.astype("<i2").tobytes()),
            ("v", self.reorder.value.astype("<f8").tobytes()),
            ("q", self.reorder.quality.astype("i1").tobytes()),
            ("det", detector_blob),
        ] + [(f"h{i}", h) for i, h in enumerate(self.history)] + [
            (f"c{i}", c) for i, c in enumerate(self.pending_commands)]
        header = {
            "segment_id": self.segment_id,
            "partition": self.partition,
            "last_offset": self.last_offset,
            "recent_ids": list(self.recent_ids),
            "released_until_us": self.reorder.released_until_us,
            "newest_us": self.reorder.newest_us,
            "active_alarm": None if self.active_alarm is None else self.active_alarm.to_json(),
            "history_n": len(self.history),
            "tag_health": self.tag_health,
            "readings": self.readings,
            "late_dropped": self.late_dropped,
            "duplicates": self.duplicates,
            "incidents": self.incidents,
            "pending_n": len(self.pending_commands),
            "last_command": self.last_command,
            "blobs": [[name, len(b)] for name, b in blobs],
        }
        head = json.dumps(header, separators=(",", ":")).encode()
        return b"".join([_MAGIC, bytes([_VERSION]), struct.pack("<I", len(head)), head, *(b for _, b in blobs)])

    @classmethod
    def decode(cls, data: bytes) -> tuple[SegmentRuntime, bytes]:
        """(runtime without detector state, detector blob)."""
        try:
            if data[:4] != _MAGIC or data[4] != _VERSION:
                raise StateDecodeError("not a segment state of version 1")
            (n,) = struct.unpack_from("<I", data, 5)
            header = json.loads(data[9 : 9 + n])
            pos = 9 + n
            blobs: dict[str, bytes] = {}
            for name, length in header["blobs"]:
                blobs[name] = bytes(data[pos : pos + length])
                pos += length
            if pos != len(data):
                raise StateDecodeError("trailing or missing bytes")
            reorder = ReorderBuffer(
                time_us=np.frombuffer(blobs["t"], "<i8").astype(np.int64),
                # "r": roles, in checkpoints written before readings were keyed by tag index
                tag_index=(np.frombuffer(blobs["i"], "<i2") if "i" in blobs else np.frombuffer(blobs["r"], "i1"))
                .astype(np.int16),
                keyed_by_role="i" not in blobs,
                value=np.frombuffer(blobs["v"], "<f8").astype(np.float64),
                quality=np.frombuffer(blobs["q"], "i1").astype(np.int8),
                released_until_us=int(header["released_until_us"]),
                newest_us=int(header["newest_us"]),
            )
            alarm = header["active_alarm"]
            runtime = cls(
                segment_id=header["segment_id"],
                partition=int(header["partition"]),
                last_offset=int(header["last_offset"]),
                recent_ids=deque(header["recent_ids"]),
                reorder=reorder,
                active_alarm=None if alarm is None else ActiveAlarm.from_json(alarm),
                history=[blobs[f"h{i}"] for i in range(int(header["history_n"]))],
                tag_health={str(k): int(v) for k, v in header["tag_health"].items()},
                readings=int(header["readings"]),
                late_dropped=int(header["late_dropped"]),
                duplicates=int(header["duplicates"]),
                # Absent from checkpoints written before incidents were counted.
                incidents=int(header.get("incidents", 0)),
                # Absent from checkpoints written before learning commands.
                pending_commands=[blobs[f"c{i}"] for i in range(int(header.get("pending_n", 0)))],
                last_command=(None if header.get("last_command") is None
                              else {str(k): str(v) for k, v in header["last_command"].items()}),
            )
        except StateDecodeError:
            raise
        except (KeyError, ValueError, TypeError, IndexError, AttributeError, struct.error) as exc:
            raise StateDecodeError(f"corrupt segment state: {exc}") from exc
        return runtime, blobs["det"]
