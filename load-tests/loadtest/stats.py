"""What the load generator measures: ack latencies in HDR histograms (whole run and per second), counts,
errors by gRPC status code. Single-threaded (the asyncio loop of the generator)."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

# Latencies in microseconds, 1 us .. 120 s, 3 significant digits.
_LOWEST_US, _HIGHEST_US, _DIGITS = 1, 120_000_000, 3


def histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def percentiles_ms(h: HdrHistogram) -> dict[str, float | None]:
    if h.get_total_count() == 0:
        return {"p50": None, "p95": None, "p99": None, "p999": None, "max": None}
    out: dict[str, float | None] = {
        name: round(h.get_value_at_percentile(q) / 1000.0, 3)
        for name, q in (("p50", 50.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9))
    }
    out["max"] = round(h.get_max_value() / 1000.0, 3)
    return out


@dataclass
class Interval:
    """One second of the run."""

    t_s: float  # since the start of the measured run
    offered_readings: int = 0
    sent_batches: int = 0
    acked_readings: int = 0
    errors: int = 0
    latency: HdrHistogram | None = field(default_factory=histogram)  # None once summarised (``freeze``)
    summary: dict[str, float | None] | None = None  # its percentiles, kept when the histogram is dropped

    def percentiles(self) -> dict[str, float | None]:
        if self.latency is None:
            return self.summary or {}
        return percentiles_ms(self.latency)

    def freeze(self) -> None:
        """Keep the second's percentiles, drop its histogram: each HDR histogram (1 us..120 s, 3 digits) holds
        ~100 KB, and a soak of 10 min grew the load tester by 86 MB with one kept per second (4 h: ~2 GB)."""
        if self.latency is not None:
            self.summary = percentiles_ms(self.latency)
            self.latency = None


@dataclass
class Recorder:
    started: float = field(default_factory=time.monotonic)
    interval_s: float = 1.0
    total: HdrHistogram = field(default_factory=histogram)
    intervals: list[Interval] = field(default_factory=list)
    offered_readings: int = 0
    sent_batches: int = 0
    acked_batches: int = 0
    acked_readings: int = 0
    acked_records: int = 0  # Kafka records the acked batches make (one per segment with readings)
    accepted_readings: int = 0
    rejected_readings: int = 0
    errored_batches: int = 0  # batches that met an error on some attempt (counted once)
    dropped_batches: int = 0  # offered but never sent: the gateway's buffer was full
    late_batches: int = 0  # the generator fell behind its own schedule
    load_end_s: float | None = None  # when the load stopped being offered (the streams drain after it)
    errors_by_status: Counter[str] = field(default_factory=Counter)
    rejections_by_reason: Counter[str] = field(default_factory=Counter)
    # Per-second histograms are merged into windows by the ramp only; otherwise a second is summarised once it
    # is this many seconds old (acks land in the current second; the live progress reads the last whole one).
    keep_histograms: bool = True  # the load tester keeps them for the ramp only (cli)
    freeze_after: int = 5

    def _interval(self, now: float) -> Interval:
        index = int((now - self.started) / self.interval_s)
        while len(self.intervals) <= index:
            self.intervals.append(Interval(len(self.intervals) * self.interval_s))
            old = len(self.intervals) - 1 - self.freeze_after
            if not self.keep_histograms and old >= 0:
                self.intervals[old].freeze()
        return self.intervals[index]

    def offered(self, readings: int, now: float) -> None:
        self.offered_readings += readings
        self._interval(now).offered_readings += readings

    def sent(self, now: float) -> None:
        self.sent_batches += 1
        self._interval(now).sent_batches += 1

    def acked(self, readings: int, accepted: int, rejected: int, latency_s: float, now: float) -> None:
        us = max(_LOWEST_US, min(_HIGHEST_US, int(latency_s * 1e6)))
        self.total.record_value(us)
        interval = self._interval(now)
        assert interval.latency is not None  # the current second is never summarised yet
        interval.latency.record_value(us)
        interval.acked_readings += readings
        self.acked_batches += 1
        self.acked_readings += readings
        self.accepted_readings += accepted
        self.rejected_readings += rejected

    def histogram_ms(self, buckets: int = 60) -> list[tuple[float, int]]:
        """(latency ms, batches) on log-spaced buckets, for the histogram plot."""
        if self.total.get_total_count() == 0:
            return []
        low, high = max(1, self.total.get_min_value()), max(2, self.total.get_max_value())
        edges = [low * (high / low) ** (k / buckets) for k in range(buckets + 1)]
        counts = [0] * buckets
        for item in self.total.get_recorded_iterator():
            v = item.value_iterated_to
            k = min(buckets - 1, max(0, int(buckets * math.log(max(v, low) / low) / math.log(high / low))))
            counts[k] += item.count_added_in_this_iter_step
        return [(round(edges[k] / 1000.0, 4), c) for k, c in enumerate(counts) if c]

    def error(self, status: str, batches: int, now: float) -> None:
        self.errors_by_status[status] += 1
        self._interval(now).errors += max(1, batches)

    def elapsed_s(self, now: float | None = None) -> float:
        return (now if now is not None else time.monotonic()) - self.started

    def last_seconds(self, seconds: float, now: float) -> tuple[float, float | None, int]:
        """(acked readings/s over the last ``seconds``, p99 ms of the last whole second, errors) for the live
        progress: cheap, it runs on the generator's loop (merging HDR histograms there would stall it)."""
        upto = int((now - self.started) / self.interval_s)
        window = self.intervals[max(0, upto - int(seconds)):upto]
        if not window:
            return 0.0, None, 0
        last = window[-1]
        p99 = last.percentiles()["p99"]
        return (sum(i.acked_readings for i in window) / (len(window) * self.interval_s), p99,
                sum(i.errors for i in window))

    def window(self, start_s: float, end_s: float) -> dict[str, Any]:
        """Figures of the intervals in [start_s, end_s) (a ramp step)."""
        chosen = [i for i in self.intervals if start_s <= i.t_s < end_s]
        merged = histogram()
        for i in chosen:
            if i.latency is None:
                raise RuntimeError("Recorder.window needs keep_histograms=True (the ramp's recorder)")
            merged.add(i.latency)
        span = max(self.interval_s, len(chosen) * self.interval_s)
        return {
            "offered_readings_per_s": sum(i.offered_readings for i in chosen) / span,
            "achieved_readings_per_s": sum(i.acked_readings for i in chosen) / span,
            "ack_latency_ms": percentiles_ms(merged),
            "errors": sum(i.errors for i in chosen),
            "error_rate_pct": 100.0 * sum(i.errors for i in chosen) / max(1, sum(i.sent_batches for i in chosen)),
        }

    def achieved_readings_per_s(self) -> float:
        """Readings acked while the load was offered, per second of it (acks of the drain after it are
        not throughput: an overloaded target would look as fast as the offer)."""
        end = self.load_end_s if self.load_end_s is not None else len(self.intervals) * self.interval_s
        whole = int(end // self.interval_s)
        acked = sum(i.acked_readings for i in self.intervals[:whole])
        return acked / (whole * self.interval_s) if whole else 0.0

    def offered_readings_per_s(self) -> float:
        end = self.load_end_s if self.load_end_s is not None else len(self.intervals) * self.interval_s
        return self.offered_readings / end if end > 0 else 0.0

    def series(self) -> list[dict[str, Any]]:
        return [
            {"t_s": i.t_s, "offered_readings_per_s": i.offered_readings / self.interval_s,
             "achieved_readings_per_s": i.acked_readings / self.interval_s, "errors": i.errors,
             **{f"ack_{k}_ms": v for k, v in i.percentiles().items() if k in ("p50", "p99", "max")}}
            for i in self.intervals
        ]
