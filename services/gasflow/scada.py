"""Instrument readings from a simulation, the way a SCADA system would deliver them.

Every instrument samples one probe of a :class:`SimulationResult` at its own scan period with a
random phase. Per sample: timestamp jitter (the RTU samples a little off its nominal instant),
value = truth at the actual sampling instant (linear interpolation of the probe series, so record the
simulation at least as fast as the fastest scan) + error, quantised to the instrument's resolution,
and timestamped with the RTU clock (a fixed offset per instrument, NTP-grade by default, 1 ms
resolution).

Error model: the stated accuracy (± of reading, of span, or absolute) is taken as a 95 % bound
(2σ) of the total error, split into a fixed bias drawn once per instrument (σ_bias = bias_share·σ)
and white noise per sample (σ_noise = sqrt(1 - bias_share²)·σ), so the total σ is as stated. A tag
whose network file states its errors apart (accuracy: noise_sd, bias_bound) gets exactly those: white
noise of that s.d. and a fixed bias drawn uniformly within ±bias_bound (`ExplicitErrors`).
Flow meters add a floor of 0.05 % of span (low-flow uncertainty). Defaults follow the field figures
in ../shared/domain.md: flow ±0.5-1 % of reading, pressure ±0.05-0.1 % of span, temperature ±0.5 K.

Data problems: single dropped samples (probability per sample), communication outages (Poisson
episodes, exponential durations) that drop every sample in them, BAD-quality samples (value frozen
at the previous reading), and readings beyond the instrument's range, pinned at the range end and flagged
SATURATED, as a transmitter clamps. Quality codes: `services.network.quality` (pipewarden.telemetry.v1.Quality:
GOOD 1, UNCERTAIN 2, BAD 3, SATURATED 4).

Methane (% LEL) sensors next to the pipe see gas only from a leak: a first-order response (soil and
manhole filling, τ ``methane_time_constant_s``) to 100 % LEL · min(1, q/q_sat) · exp(-d/λ), with q the
leak outflow and d the distance to the leak. This is a physical measurement, not ground truth: the
readings carry no leak label, position or rate.

Output is flat arrays (batch friendly): tag index, time_unix_us (int64), value in SI (float64),
quality (int8), sorted by time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from services.network.quality import QUALITY_BAD, QUALITY_GOOD, QUALITY_SATURATED
from services.network.quality import QUALITY_UNCERTAIN as QUALITY_UNCERTAIN  # re-exported: the shared codes

from .model import FloatArray, SimulationResult

if TYPE_CHECKING:
    from services.network import Network


InstrumentKind = Literal["pressure", "flow", "temperature", "methane_lel"]


@dataclass(frozen=True)
class ExplicitErrors:
    """A meter's errors stated apart: white noise (1 s.d. per reading) and a fixed bias anywhere within ±bound."""

    noise_sd_rel: float = 0.0  # fraction of the reading
    noise_sd_abs_si: float = 0.0
    bias_bound_rel: float = 0.0
    bias_bound_abs_si: float = 0.0

    def __post_init__(self) -> None:
        for name in ("noise_sd_rel", "noise_sd_abs_si", "bias_bound_rel", "bias_bound_abs_si"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {v}")


@dataclass(frozen=True)
class Instrument:
    """One SCADA tag reading one probe. Accuracies are 95 % (2σ) bounds of the total error, SI units, unless
    ``errors`` states noise and bias apart (then the accuracies and ScadaConfig.bias_share are not used)."""

    tag_id: str
    probe_id: str
    kind: InstrumentKind
    scan_period_s: float
    accuracy_pct_of_reading: float = 0.0
    accuracy_abs_si: float = 0.0  # absolute, or pct-of-span already converted to SI
    range_min_si: float = -math.inf
    range_max_si: float = math.inf
    resolution_si: float = 0.0  # quantisation step; 0 = none
    errors: ExplicitErrors | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("pressure", "flow", "temperature", "methane_lel"):
            raise ValueError(f"instrument {self.tag_id}: unknown kind {self.kind!r}")
        if not (math.isfinite(self.scan_period_s) and self.scan_period_s > 0.0):
            raise ValueError(f"instrument {self.tag_id}: scan_period_s must be > 0")
        for name in ("accuracy_pct_of_reading", "accuracy_abs_si", "resolution_si"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"instrument {self.tag_id}: {name} must be finite and >= 0")
        if math.isnan(self.range_min_si) or math.isnan(self.range_max_si) or self.range_min_si >= self.range_max_si:
            raise ValueError(f"instrument {self.tag_id}: range_min_si must be below range_max_si")


@dataclass(frozen=True)
class ScadaConfig:
    bias_share: float = 0.7  # share of the error σ that is a fixed per-instrument bias
    jitter_s: float = 0.005  # sampling instant uniform within ± this (capped at 10 % of the period)
    clock_offset_std_s: float = 0.010  # RTU clock error, fixed per instrument
    timestamp_resolution_s: float = 0.001
    dropout_probability: float = 0.001  # per sample
    outage_rate_per_hour: float = 0.05  # communication outages per instrument and hour
    outage_mean_s: float = 120.0
    bad_quality_probability: float = 0.0005  # per sample
    flow_floor_pct_of_span: float = 0.05
    methane_saturation_kg_per_s: float = 0.02
    methane_length_scale_m: float = 25.0
    methane_time_constant_s: float = 300.0

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("bias_share", 0.0, 1.0),
            ("dropout_probability", 0.0, 1.0),
            ("bad_quality_probability", 0.0, 1.0),
        ):
            v = getattr(self, name)
            if not (math.isfinite(v) and lo <= v <= hi):
                raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")
        for name in (
            "jitter_s",
            "clock_offset_std_s",
            "timestamp_resolution_s",
            "outage_rate_per_hour",
            "outage_mean_s",
            "flow_floor_pct_of_span",
        ):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {v}")
        for name in ("methane_saturation_kg_per_s", "methane_length_scale_m", "methane_time_constant_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"{name} must be > 0, got {v}")

    @classmethod
    def ideal(cls) -> ScadaConfig:
        """No jitter, clock error, dropouts, outages or bad quality (errors from accuracy only)."""
        return cls(
            jitter_s=0.0,
            clock_offset_std_s=0.0,
            dropout_probability=0.0,
            outage_rate_per_hour=0.0,
            bad_quality_probability=0.0,
        )


@dataclass(frozen=True, eq=False)
class Readings:
    """Flat reading arrays sorted by time. tag_ids[tag_index] names the tag of each reading."""

    tag_ids: tuple[str, ...]
    tag_index: NDArray[np.int32]
    time_unix_us: NDArray[np.int64]
    value_si: FloatArray
    quality: NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.tag_index.shape[0])

    def of_tag(self, tag_id: str) -> tuple[NDArray[np.int64], FloatArray, NDArray[np.int8]]:
        """(time_unix_us, value_si, quality) of one tag."""
        k = self.tag_ids.index(tag_id)
        sel = self.tag_index == k
        return self.time_unix_us[sel], self.value_si[sel], self.quality[sel]


def true_series(
    result: SimulationResult, inst: Instrument, cfg: ScadaConfig, methane_initial: float | None = None
) -> FloatArray:
    """The physical value the instrument looks at, per record of the result (SI)."""
    q = result.probe(inst.probe_id)
    if inst.kind == "pressure":
        return result.probe_pressure_pa[:, q]
    if inst.kind == "flow":
        return result.probe_flow_kg_per_s[:, q]
    if inst.kind == "temperature":
        return np.full(result.time_s.shape, result.probe_temperature_k[q])
    # methane: sum over leaks on the same pipe, first-order lag
    target = np.zeros(result.time_s.shape)
    for k, leak in enumerate(result.leaks):
        if leak.pipe_id != result.probe_pipe_ids[q]:
            continue
        d = abs(leak.position_m - result.probe_position_m[q])
        rate = result.leak_outflow_kg_per_s[:, k]
        target += (
            100.0 * np.minimum(1.0, rate / cfg.methane_saturation_kg_per_s) * math.exp(-d / cfg.methane_length_scale_m)
        )
    target = np.minimum(target, 100.0)
    if not np.any(target > 0.0) and not methane_initial:
        return target
    out = np.empty_like(target)
    out[0] = target[0] if methane_initial is None else methane_initial
    dt = np.diff(result.time_s)
    alpha = 1.0 - np.exp(-dt / cfg.methane_time_constant_s)
    for i in range(1, target.size):
        out[i] = out[i - 1] + alpha[i - 1] * (target[i] - out[i - 1])
    return out


def scada_readings(
    result: SimulationResult,
    instruments: Sequence[Instrument],
    seed: int,
    config: ScadaConfig | None = None,
) -> Readings:
    """Readings of every instrument over the run; reproducible from ``seed``."""
    cfg = config or ScadaConfig()
    if not instruments:
        raise ValueError("no instruments")
    ids = [i.tag_id for i in instruments]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate instrument tag ids")
    rng = np.random.default_rng(seed)
    t_end = float(result.time_s[-1])
    parts_idx: list[NDArray[np.int32]] = []
    parts_t: list[NDArray[np.int64]] = []
    parts_v: list[FloatArray] = []
    parts_q: list[NDArray[np.int8]] = []
    for k, inst in enumerate(instruments):
        truth_series = true_series(result, inst, cfg)
        period = inst.scan_period_s
        phase = rng.uniform(0.0, period)
        n = math.floor((t_end - phase) / period) + 1
        if n <= 0:
            continue
        nominal = phase + np.arange(n) * period
        jit = min(cfg.jitter_s, 0.1 * period)
        t_sample = np.clip(nominal + rng.uniform(-jit, jit, n), 0.0, t_end)
        truth = np.interp(t_sample, result.time_s, truth_series)
        # error: 95 % bound -> σ, split into a fixed bias and white noise
        span = inst.range_max_si - inst.range_min_si if math.isfinite(inst.range_max_si - inst.range_min_si) else 0.0
        sigma_abs = inst.accuracy_abs_si / 2.0
        if inst.kind == "flow":
            # the low-flow floor (zero stability) is a fraction of the meter's full scale in one direction: a
            # bidirectional meter's [-max, max] range is no noisier than a one-way [0, max] one
            full_scale = min(span, max(abs(inst.range_min_si), abs(inst.range_max_si)))
            sigma_abs = math.hypot(sigma_abs, cfg.flow_floor_pct_of_span / 100.0 * full_scale / 2.0)
        sigma_rel = inst.accuracy_pct_of_reading / 100.0 / 2.0
        if inst.errors is not None:
            e = inst.errors
            bias_rel = rng.uniform(-e.bias_bound_rel, e.bias_bound_rel)
            bias_abs = rng.uniform(-e.bias_bound_abs_si, e.bias_bound_abs_si)
            value = (
                truth * (1.0 + bias_rel + rng.normal(0.0, e.noise_sd_rel, n))
                + bias_abs
                + rng.normal(0.0, e.noise_sd_abs_si, n)
            )
        else:
            b = cfg.bias_share
            noise_share = math.sqrt(max(1.0 - b * b, 0.0))
            bias_rel = rng.normal(0.0, b * sigma_rel)
            bias_abs = rng.normal(0.0, b * sigma_abs)
            value = (
                truth * (1.0 + bias_rel + rng.normal(0.0, noise_share * sigma_rel, n))
                + bias_abs
                + rng.normal(0.0, noise_share * sigma_abs, n)
            )
        if inst.kind == "methane_lel":
            value = np.maximum(value, 0.0)  # a gas detector does not read below zero
        if inst.resolution_si > 0.0:
            value = np.round(value / inst.resolution_si) * inst.resolution_si
        quality = np.full(n, QUALITY_GOOD, dtype=np.int8)
        out_of_range = (value < inst.range_min_si) | (value > inst.range_max_si)
        value = np.clip(value, inst.range_min_si, inst.range_max_si)
        quality[out_of_range] = QUALITY_SATURATED
        bad = rng.random(n) < cfg.bad_quality_probability
        if np.any(bad):
            frozen_idx = np.maximum(np.flatnonzero(bad) - 1, 0)
            value[bad] = value[frozen_idx]
            quality[bad] = QUALITY_BAD
        keep = rng.random(n) >= cfg.dropout_probability
        if cfg.outage_rate_per_hour > 0.0:
            n_out = rng.poisson(cfg.outage_rate_per_hour * t_end / 3600.0)
            starts = rng.uniform(0.0, t_end, n_out)
            lengths = rng.exponential(cfg.outage_mean_s, n_out)
            for s0, ln in zip(starts, lengths, strict=True):
                keep &= ~((nominal >= s0) & (nominal < s0 + ln))
        clock = rng.normal(0.0, cfg.clock_offset_std_s) if cfg.clock_offset_std_s > 0 else 0.0
        stamp_s = result.start_time_unix_s + t_sample + clock
        if cfg.timestamp_resolution_s > 0.0:
            stamp_us = np.round(stamp_s / cfg.timestamp_resolution_s) * (cfg.timestamp_resolution_s * 1e6)
        else:
            stamp_us = stamp_s * 1e6
        parts_idx.append(np.full(int(keep.sum()), k, dtype=np.int32))
        parts_t.append(np.round(stamp_us[keep]).astype(np.int64))
        parts_v.append(value[keep].astype(np.float64))
        parts_q.append(quality[keep])
    if not parts_t:
        empty = np.zeros(0)
        return Readings(tuple(ids), empty.astype(np.int32), empty.astype(np.int64), empty, empty.astype(np.int8))
    t_all = np.concatenate(parts_t)
    order = np.argsort(t_all, kind="stable")
    return Readings(
        tag_ids=tuple(ids),
        tag_index=np.concatenate(parts_idx)[order],
        time_unix_us=t_all[order],
        value_si=np.concatenate(parts_v)[order],
        quality=np.concatenate(parts_q)[order],
    )


def instruments_from_tags(model: Network, tag_ids: Iterable[str]) -> tuple[Instrument, ...]:
    """Instruments for network-model tags: scan period, range and accuracy converted to SI.

    Probe ids are the tag ids (see network_adapter.tag_probes). Pressure/flow resolution: 16-bit over
    the span; temperature 0.01 K; methane 0.1 % LEL.
    """
    from services.network import AccuracyBasis, conversion_to_si

    out = []
    for tid in tag_ids:
        if tid not in model.tags:
            raise ValueError(f"unknown tag {tid!r}")
        tag = model.tags[tid]
        conv = conversion_to_si(tag.kind, tag.unit, model.gas.specific_gravity)
        lo, hi = sorted((conv.to_si(tag.range_min), conv.to_si(tag.range_max)))
        span = hi - lo
        # the stated form in the units Instrument takes (percent of reading, absolute SI); 0 in the explicit form
        rel = tag.accuracy.value if tag.accuracy.basis is AccuracyBasis.PCT_OF_READING else 0.0
        abs_si = (
            0.0
            if tag.accuracy.basis is AccuracyBasis.PCT_OF_READING
            else tag.accuracy.stated_to_si(span, conv.scale)[1]
        )
        errors = None
        if tag.accuracy.noise_sd is not None:
            noise_rel, noise_abs = tag.accuracy.noise_sd.to_si(span, conv.scale)
            bias = tag.accuracy.bias_bound
            bias_rel, bias_abs = bias.to_si(span, conv.scale) if bias is not None else (0.0, 0.0)
            errors = ExplicitErrors(noise_rel, noise_abs, bias_rel, bias_abs)
        kind = str(tag.kind.value)
        resolution = {"temperature": 0.01, "methane_lel": 0.1}.get(kind, span / 65536.0)
        out.append(
            Instrument(
                tag_id=tid,
                probe_id=tid,
                kind=kind,  # type: ignore[arg-type]
                scan_period_s=tag.scan_period_s,
                accuracy_pct_of_reading=rel,
                accuracy_abs_si=abs_si,
                range_min_si=lo,
                range_max_si=hi,
                resolution_si=resolution,
                errors=errors,
            )
        )
    return tuple(out)
