"""Validation and SI normalisation of one gateway batch: one pass, no I/O, no clock.

The per-tag facts the check needs are precomputed into one tuple per tag (`TagIndex`), so the hot loop
does a dict lookup and a handful of float comparisons per reading; accepted readings are appended
straight into per-tag columns, which is the shape the Kafka record (`SegmentReadings`) wants.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from services.network import Network, conversion_to_si
from services.network.quality import QUALITY_BAD, QUALITY_SATURATED, SATURATION_MARGIN_SPANS, USABLE_QUALITIES

from .limits import MAX_GATEWAY_ID_BYTES, MAX_TAG_ID_BYTES, check_field_size, quoted, utf8_length


class RejectReason(enum.IntEnum):
    """Mirrors ``pipewarden.telemetry.v1.RejectReason`` (a unit test keeps the numbers in step)."""

    UNKNOWN_TAG = 1
    TAG_NOT_OWNED = 2
    NON_FINITE_VALUE = 3
    OUT_OF_RANGE = 4
    BAD_QUALITY = 5
    TIMESTAMP_IN_FUTURE = 6
    TIMESTAMP_TOO_OLD = 7
    DUPLICATE_IN_BATCH = 8


class ReadingLike(Protocol):
    """What validation reads from a reading (the protobuf ``Reading`` satisfies it)."""

    @property
    def tag_id(self) -> str: ...
    @property
    def source_time_unix_us(self) -> int: ...
    @property
    def value(self) -> float: ...
    @property
    def quality(self) -> int: ...


@dataclass(frozen=True, slots=True)
class TagRule:
    tag_id: str
    gateway_id: str
    segment_id: str
    unit: str
    range_min: float  # in `unit`
    range_max: float
    scale: float  # value_si = value * scale + offset
    offset: float


class TagIndex:
    """The network's tags as a lookup table for validation."""

    def __init__(self, rules: Iterable[TagRule]) -> None:
        self.rules: dict[str, TagRule] = {r.tag_id: r for r in rules}
        # Known ids within the limits is what lets validation check the size of unknown tag ids only.
        for rule in self.rules.values():
            for what, value, limit in (
                ("tag id", rule.tag_id, MAX_TAG_ID_BYTES),
                ("gateway id", rule.gateway_id, MAX_GATEWAY_ID_BYTES),
            ):
                if utf8_length(value) > limit:
                    raise ValueError(
                        f"{what} {quoted(value)} of the network model is longer than {limit} bytes, "
                        "the most a gateway may send"
                    )
        # The hot loop unpacks plain tuples: cheaper than attribute access on 100k readings/s.
        self.fast: dict[str, tuple[str, str, float, float, float, float]] = {
            r.tag_id: (r.gateway_id, r.segment_id, r.range_min, r.range_max, r.scale, r.offset)
            for r in self.rules.values()
        }

    @classmethod
    def from_network(cls, network: Network) -> TagIndex:
        rules = []
        for tag in network.tags.values():
            conversion = conversion_to_si(tag.kind, tag.unit, network.gas.specific_gravity)
            rules.append(
                TagRule(
                    tag.tag_id,
                    tag.gateway_id,
                    tag.segment_id,
                    tag.unit,
                    tag.range_min,
                    tag.range_max,
                    conversion.scale,
                    conversion.offset,
                )
            )
        return cls(rules)


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    max_clock_skew_us: int  # a reading may be this far ahead of the server clock
    max_age_us: int  # and this far behind it


@dataclass(slots=True)
class TagColumns:
    """Accepted samples of one tag in one batch, SI values, in arrival order."""

    tag_id: str
    segment_id: str
    times_us: list[int]
    values_si: list[float]
    qualities: list[int]


@dataclass(frozen=True, slots=True)
class Rejection:
    index_in_batch: int
    reason: RejectReason
    detail: str


@dataclass(slots=True)
class BatchValidation:
    # segment_id -> the accepted columns of that segment's tags (insertion order = first appearance)
    by_segment: dict[str, list[TagColumns]]
    rejections: list[Rejection]
    accepted_count: int
    saturated_count: int = 0  # accepted readings flagged SATURATED (beyond the range, or so flagged by the gateway)

    @property
    def rejected_count(self) -> int:
        return len(self.rejections)

    def rejection_counts(self) -> dict[RejectReason, int]:
        counts: dict[RejectReason, int] = {}
        for r in self.rejections:
            counts[r.reason] = counts.get(r.reason, 0) + 1
        return counts


def validate_batch(
    readings: Iterable[ReadingLike],
    gateway_id: str,
    index: TagIndex,
    now_us: int,
    limits: ValidationLimits,
) -> BatchValidation:
    """Split a batch into accepted SI columns per segment and rejections (first failing check wins).

    Checks, in order: unknown tag, tag of another gateway, duplicate (tag, timestamp) in the batch,
    non-finite value, outside the tag's range by more than SATURATION_MARGIN_SPANS, bad quality, timestamp too
    far ahead, timestamp too old. A value beyond the range by less is a saturated meter: accepted at the range
    end with quality SATURATED (counted in saturated_count), never dropped.
    The first occurrence of a (tag, timestamp) is judged on its merits; later ones are duplicates.

    Raises BatchError (INVALID) for a tag id longer than MAX_TAG_ID_BYTES: such a batch is refused as a
    whole. Only unknown tag ids need the check (the index holds no longer ones), so the hot path pays nothing.
    Details quote at most MAX_QUOTED_CHARS of a tag id.
    """
    fast = index.fast
    latest_us = now_us + limits.max_clock_skew_us
    earliest_us = now_us - limits.max_age_us
    usable = USABLE_QUALITIES  # UNSPECIFIED (a gateway that sends no flag) is accepted as is
    columns: dict[str, TagColumns] = {}
    seen: set[tuple[str, int]] = set()
    rejections: list[Rejection] = []
    accepted = 0
    saturated = 0
    for i, reading in enumerate(readings):
        tag_id = reading.tag_id
        rule = fast.get(tag_id)
        if rule is None:
            check_field_size(f"batch.readings[{i}].tag_id", tag_id, MAX_TAG_ID_BYTES)
            rejections.append(
                Rejection(i, RejectReason.UNKNOWN_TAG, f"tag {quoted(tag_id)} is not in the network model")
            )
            continue
        owner, segment_id, lo, hi, scale, offset = rule
        if owner != gateway_id:
            rejections.append(
                Rejection(
                    i, RejectReason.TAG_NOT_OWNED, f"tag {quoted(tag_id)} belongs to gateway {quoted(owner)}"
                )
            )
            continue
        ts = reading.source_time_unix_us
        key = (tag_id, ts)
        if key in seen:
            rejections.append(
                Rejection(
                    i,
                    RejectReason.DUPLICATE_IN_BATCH,
                    f"tag {quoted(tag_id)} at {ts} us appears earlier in the batch",
                )
            )
            continue
        seen.add(key)
        value = reading.value
        quality = reading.quality
        if not (lo <= value <= hi):
            # NaN fails every comparison, so the rare non-finite case is sorted out here, off the hot path.
            if not math.isfinite(value):
                rejections.append(Rejection(i, RejectReason.NON_FINITE_VALUE, f"value is {value}"))
                continue
            margin = SATURATION_MARGIN_SPANS * (hi - lo)
            if not (lo - margin <= value <= hi + margin):
                unit = index.rules[tag_id].unit
                rejections.append(
                    Rejection(
                        i,
                        RejectReason.OUT_OF_RANGE,
                        f"{value:g} {unit} is outside [{lo:g}, {hi:g}] {unit} by more than "
                        f"{SATURATION_MARGIN_SPANS:g} span: not a saturated meter",
                    )
                )
                continue
            if quality != QUALITY_BAD:
                # the meter is pinned at its range end: the truth is at least (at most) that, evidence kept
                value = hi if value > hi else lo
                quality = QUALITY_SATURATED
        if quality not in usable:
            rejections.append(Rejection(i, RejectReason.BAD_QUALITY, f"quality {quality} is not usable"))
            continue
        if ts > latest_us:
            rejections.append(
                Rejection(
                    i,
                    RejectReason.TIMESTAMP_IN_FUTURE,
                    f"source time is {(ts - now_us) / 1e6:.3f} s ahead of the server clock "
                    f"(allowed {limits.max_clock_skew_us / 1e6:g} s)",
                )
            )
            continue
        if ts < earliest_us:
            rejections.append(
                Rejection(
                    i,
                    RejectReason.TIMESTAMP_TOO_OLD,
                    f"source time is {(now_us - ts) / 1e6:.3f} s old (allowed {limits.max_age_us / 1e6:g} s)",
                )
            )
            continue
        column = columns.get(tag_id)
        if column is None:
            column = columns[tag_id] = TagColumns(tag_id, segment_id, [], [], [])
        column.times_us.append(ts)
        column.values_si.append(value * scale + offset)
        column.qualities.append(quality)
        accepted += 1
        if quality == QUALITY_SATURATED:
            saturated += 1
    by_segment: dict[str, list[TagColumns]] = {}
    for column in columns.values():
        by_segment.setdefault(column.segment_id, []).append(column)
    return BatchValidation(by_segment, rejections, accepted, saturated)


def to_si(index: TagIndex, tag_id: str, value: float) -> float:
    """One value in SI units (reference for tests and tools; the batch path inlines it)."""
    rule = index.rules[tag_id]
    return value * rule.scale + rule.offset


def summarize(counts: Mapping[RejectReason, int]) -> tuple[tuple[RejectReason, int], ...]:
    """Rejection counts ordered by reason number: the order acks list them in."""
    return tuple(sorted(counts.items()))
