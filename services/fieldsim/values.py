"""Where simulated readings come from: the `ValueSource` interface and a plausible-value generator.

The physics simulator (``services.gasflow``) will provide another `ValueSource`; until then
`PlausibleValues` gives values that look right to a human and to range checks: pressures a little
below the segment's maximum operating pressure and falling along it, the same mass flow at both ends
of a segment with a slow daily swing, ground temperature, methane near zero, each with instrument noise
sized from the tag's stated accuracy.
"""

from __future__ import annotations

import math
import random
from typing import Protocol

from services.network import AccuracyBasis, ErrorTerms, Network, Tag, TagKind, conversion_to_si

_DAY_S = 86_400.0


class ValueSource(Protocol):
    def sample(self, tag: Tag, time_s: float) -> float:
        """The value ``tag`` reads at Unix time ``time_s``, in the tag's own unit."""
        ...


class PlausibleValues:
    def __init__(self, network: Network, seed: int | None = None, noise: bool = True) -> None:
        self.network = network
        self.noise = noise
        self._rng = random.Random(seed)
        sg = network.gas.specific_gravity
        self._conversions = {t.tag_id: conversion_to_si(t.kind, t.unit, sg) for t in network.tags.values()}
        # Each instrument has its own fixed bias besides its noise (domain brief: realistic errors): within the
        # stated bias bound when the file gives one, else a share of the stated accuracy.
        self._bias = {t.tag_id: self._draw_bias(t) for t in network.tags.values()}
        self._phase = self._rng.uniform(0.0, 2 * math.pi)

    def _draw_bias(self, tag: Tag) -> float:
        if tag.accuracy.noise_sd is None:
            return self._rng.gauss(0.0, 0.5) * self._sigma(tag)
        bound = tag.accuracy.bias_bound
        return self._rng.uniform(-1.0, 1.0) * (self._in_tag_unit(tag, bound) if bound is not None else 0.0)

    @staticmethod
    def _in_tag_unit(tag: Tag, terms: ErrorTerms) -> float:
        """An error's size in the tag's unit, the %-of-reading part taken at half of full scale."""
        full_scale = max(abs(tag.range_max), abs(tag.range_min))
        span = tag.range_max - tag.range_min
        return terms.pct_of_reading / 100.0 * 0.5 * full_scale + terms.pct_of_span / 100.0 * span + terms.absolute

    def _sigma(self, tag: Tag) -> float:
        """One standard deviation of the instrument's noise, in the tag's unit (a stated accuracy read as 2 sigma)."""
        accuracy = tag.accuracy
        if accuracy.noise_sd is not None:
            return self._in_tag_unit(tag, accuracy.noise_sd)
        if accuracy.basis is AccuracyBasis.PCT_OF_SPAN:
            return (tag.range_max - tag.range_min) * accuracy.value / 100.0 / 2.0
        if accuracy.basis is AccuracyBasis.PCT_OF_READING:
            return max(abs(tag.range_max), abs(tag.range_min)) * 0.5 * accuracy.value / 100.0 / 2.0
        return accuracy.value / 2.0

    def true_value_si(self, tag: Tag, time_s: float) -> float:
        segment = self.network.segments[tag.segment_id]
        if tag.kind is TagKind.PRESSURE:
            inlet = 0.8 * segment.max_operating_pressure_pa
            # A few percent of drop over the segment's length, enough to tell the ends apart.
            drop = 0.03 * inlet * min(1.0, segment.length_m / 10_000.0)
            return inlet - drop * (tag.position_m / segment.length_m)
        if tag.kind is TagKind.FLOW:
            swing = 1.0 + 0.25 * math.sin(2 * math.pi * time_s / _DAY_S + self._phase)
            return segment.nominal_flow_kg_per_s * swing
        if tag.kind is TagKind.TEMPERATURE:
            return self.network.gas.temperature_k
        return 0.5  # methane, % LEL: background

    def sample(self, tag: Tag, time_s: float) -> float:
        value = self._conversions[tag.tag_id].from_si(self.true_value_si(tag, time_s))
        if self.noise:
            value += self._bias[tag.tag_id] + self._rng.gauss(0.0, self._sigma(tag))
        return min(max(value, tag.range_min), tag.range_max)
