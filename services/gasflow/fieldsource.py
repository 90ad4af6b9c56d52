"""A `services.fieldsim` ValueSource backed by the transient simulator.

:class:`SimulatedValues` simulates the whole network (regulators included) in chunks as the field
simulator asks for later times, continuing each chunk from the previous one's final state, with every
demand node following the daily profile at the UTC hour of day (plus a slow random fluctuation),
and optional leaks given in Unix time. A tag reads the truth at its position, interpolated in time,
plus its own fixed bias and noise from its stated accuracy (see scada.py for the error model),
converted to the tag's unit. Requests may go back in time by up to one chunk; earlier ones read the
oldest kept value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

from .model import LeakSpec, Scenario, SimulationResult
from .network_adapter import network_spec, tag_probes
from .profiles import RESIDENTIAL_24H, daily_profile_schedule
from .scada import Instrument, ScadaConfig, instruments_from_tags, true_series
from .simulator import Simulator

if TYPE_CHECKING:
    from services.network import Network, Tag


# A 4-20 mA transmitter's saturation limits beyond its range, fractions of the span (NAMUR NE 43: 3.8-20.5 mA).
LOOP_UNDER_RANGE = 0.2 / 16.0
LOOP_OVER_RANGE = 0.5 / 16.0


class SimulatedValues:
    """ValueSource: ``sample(tag, time_s)`` -> the tag's reading at Unix time time_s, in its unit.

    leaks: LeakSpec with onset_time_s (and end_time_s) in Unix seconds.
    """

    def __init__(
        self,
        model: Network,
        seed: int = 0,
        demand_scale: float = 0.5,
        leaks: Sequence[LeakSpec] = (),
        chunk_s: float = 300.0,
        record_interval_s: float = 0.1,
        demand_noise_fraction: float = 0.02,
        noise: bool = True,
    ) -> None:
        from services.network import conversion_to_si

        if not (math.isfinite(chunk_s) and chunk_s >= 10.0):
            raise ValueError("chunk_s must be >= 10 s")
        self.model = model
        self.seed = seed
        self.leaks = tuple(leaks)
        self.chunk_s = chunk_s
        self.record_interval_s = record_interval_s
        self.demand_noise_fraction = demand_noise_fraction
        self.net = network_spec(model, demand_scale=demand_scale)
        self.sim = Simulator(self.net)
        self.probes = tag_probes(model)
        self.instruments: dict[str, Instrument] = {
            i.tag_id: i for i in instruments_from_tags(model, [p.probe_id for p in self.probes])
        }
        sg = model.gas.specific_gravity
        self._conv = {t.tag_id: conversion_to_si(t.kind, t.unit, sg) for t in model.tags.values()}
        self._rng = np.random.default_rng(seed)
        self._noise = noise
        self._bias: dict[str, tuple[float, float]] = {}
        self._cfg = ScadaConfig()
        self._t0: float | None = None
        self._chunks: list[tuple[float, SimulationResult]] = []  # (start Unix time, result), last two
        self._cache: dict[tuple[int, str], np.ndarray] = {}

    def _scenario(self, start_unix: float) -> Scenario:
        hour = (start_unix % 86_400.0) / 3600.0
        k = round(start_unix / self.chunk_s)
        schedules = {
            n.node_id: daily_profile_schedule(
                n.value,
                self.chunk_s,
                profile=RESIDENTIAL_24H,
                start_hour=hour,
                step_s=min(60.0, self.chunk_s),
                noise_fraction=self.demand_noise_fraction,
                seed=(self.seed * 1_000_003 + k * 7919 + i) % (2**32),
            )
            for i, n in enumerate(self.net.nodes)
            if n.kind == "flow" and n.regulator_outlet is None and n.value > 0.0
        }
        leaks = tuple(
            dataclasses.replace(lk, onset_time_s=lk.onset_time_s - start_unix, end_time_s=lk.end_time_s - start_unix)
            for lk in self.leaks
            if lk.end_time_s > start_unix and lk.onset_time_s < start_unix + self.chunk_s
        )
        return Scenario(
            duration_s=self.chunk_s,
            schedules=schedules,
            leaks=leaks,
            probes=self.probes,
            record_interval_s=self.record_interval_s,
            start_time_unix_s=start_unix,
        )

    def _advance_to(self, time_s: float) -> None:
        if self._t0 is None:
            self._t0 = math.floor(time_s / self.chunk_s) * self.chunk_s
            result = self.sim.run(self._scenario(self._t0))
            self._chunks = [(self._t0, result)]
        while time_s > self._chunks[-1][0] + self.chunk_s:
            start, last = self._chunks[-1]
            nxt = start + self.chunk_s
            result = self.sim.run(self._scenario(nxt), initial_state=last)
            self._chunks = [*self._chunks[-1:], (nxt, result)]
            self._cache = {key: v for key, v in self._cache.items() if key[0] in {id(r) for _, r in self._chunks}}

    def _series(self, start: float, result: SimulationResult, tag: Tag) -> np.ndarray:
        """The tag's true values (SI) per record of the chunk starting at ``start``."""
        inst = self.instruments[tag.tag_id]
        key = (id(result), tag.tag_id)
        series = self._cache.get(key)
        if series is None:
            initial = None
            if inst.kind == "methane_lel":  # the gas in the manhole carries over from the previous chunk
                prev = [r for s, r in self._chunks if s < start]
                before = self._cache.get((id(prev[-1]), tag.tag_id)) if prev else None
                initial = float(before[-1]) if before is not None else None
            series = true_series(result, inst, self._cfg, initial)
            self._cache[key] = series
        return series

    def true_value_si(self, tag: Tag, time_s: float) -> float:
        """The simulated true value at the tag, SI units (Pa absolute, kg/s, K, % LEL)."""
        self._advance_to(time_s)
        start, result = self._chunks[0]
        for s, r in self._chunks:
            if s <= time_s:
                start, result = s, r
        return float(np.interp(time_s - start, result.time_s, self._series(start, result, tag)))

    def true_values_si(self, tag: Tag, times_s: np.ndarray) -> np.ndarray:
        """``true_value_si`` at many increasing times at once (within the span ``true_value_si`` may go back)."""
        times_s = np.asarray(times_s, dtype=float)
        out = np.empty(times_s.shape)
        if times_s.size == 0:
            return out
        self._advance_to(float(times_s[-1]))
        starts = np.array([s for s, _ in self._chunks])
        which = np.maximum(np.searchsorted(starts, times_s, side="right") - 1, 0)
        for k, (start, result) in enumerate(self._chunks):
            sel = which == k
            if np.any(sel):
                out[sel] = np.interp(times_s[sel] - start, result.time_s, self._series(start, result, tag))
        return out

    def sample(self, tag: Tag, time_s: float) -> float:
        return float(self._measured(tag, self.true_value_si(tag, time_s), None))

    def sample_many(self, tag: Tag, times_s: np.ndarray) -> np.ndarray:
        """``sample`` at many increasing times at once, vectorised (a replay's history: hundreds of thousands of
        readings). The same error model and bias; the noise is drawn in another order than one call a time."""
        truth = self.true_values_si(tag, times_s)
        return np.asarray(self._measured(tag, truth, truth.shape), dtype=float)

    def _measured(self, tag: Tag, truth: float | np.ndarray, size: tuple[int, ...] | None) -> float | np.ndarray:
        """The tag's reading(s) of ``truth`` in its unit: bias, noise (``size`` draws; None: one, a float) and the
        transmitter's saturation."""
        value = truth
        if self._noise:
            inst = self.instruments[tag.tag_id]
            e = inst.errors
            if tag.tag_id not in self._bias:
                if e is not None:  # stated apart in the network file: a bias anywhere within its bound
                    self._bias[tag.tag_id] = (
                        float(self._rng.uniform(-e.bias_bound_rel, e.bias_bound_rel)),
                        float(self._rng.uniform(-e.bias_bound_abs_si, e.bias_bound_abs_si)),
                    )
                else:
                    self._bias[tag.tag_id] = (
                        float(self._rng.normal(0.0, 0.7 * inst.accuracy_pct_of_reading / 200.0)),
                        float(self._rng.normal(0.0, 0.7 * inst.accuracy_abs_si / 2.0)),
                    )
            b_rel, b_abs = self._bias[tag.tag_id]
            if e is not None:
                s_rel, s_abs = e.noise_sd_rel, e.noise_sd_abs_si
            else:
                s_rel = 0.714 * inst.accuracy_pct_of_reading / 200.0
                s_abs = 0.714 * inst.accuracy_abs_si / 2.0
            noise_rel = self._rng.normal(0.0, s_rel, size)
            value = truth * (1.0 + b_rel + noise_rel) + b_abs + self._rng.normal(0.0, s_abs, size)
            if inst.kind == "methane_lel":
                value = np.maximum(value, 0.0)
        # a transmitter's output saturates a little beyond the ends of its range, as a real one would during a
        # rupture's flow reversal: a 4-20 mA loop reads 3.8-20.5 mA at most (NAMUR NE 43), -1.25 % to +3.125 %
        # of the span. Telemetry takes such a value as a saturated reading (QUALITY_SATURATED, at the range end).
        span = tag.range_max - tag.range_min
        low, high = tag.range_min - LOOP_UNDER_RANGE * span, tag.range_max + LOOP_OVER_RANGE * span
        # from_si is linear: it takes an array as it takes a float
        return np.clip(self._conv[tag.tag_id].from_si(cast(float, value)), low, high)
