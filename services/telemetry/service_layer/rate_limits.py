"""Per-gateway rate limits: readings per second and batches per second, each a token bucket.

One gateway that misbehaves (a loop resending its whole history, a mis-set scan period of 1 ms) must not
take telemetry's CPU and Kafka's bandwidth from every other gateway. Each gateway id has two buckets; a
batch passes only when both have room, and then takes its readings and one batch from them. A refused
batch takes nothing and nothing of it is published or remembered, so the gateway's retry of the same
``batch_sequence`` after ``retry_after_s`` is processed as if it came first: nothing lost, nothing twice.

A batch larger than a bucket's burst could never find that many tokens; it passes when the bucket is
full and leaves it in debt, so the gateway's average rate still holds.

The limits are per telemetry process (a gateway's stream lands on one worker): with N workers sharing a
port a gateway that opens N streams could reach N times the limit. That is the price of keeping the check
free of shared state; the per-gateway stream limit bounds the factor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# Every this many checks, buckets that have refilled to full are forgotten (a new one starts full: the same
# thing), so the table holds only gateways that sent lately.
_SWEEP_EVERY = 4096


@dataclass(frozen=True)
class RateLimits:
    """Sustained rates and bursts per gateway; a rate of 0 turns that limit off."""

    readings_per_s: float = 200_000.0
    readings_burst: float = 400_000.0
    batches_per_s: float = 1_000.0
    batches_burst: float = 2_000.0

    def __post_init__(self) -> None:
        for name in ("readings_per_s", "readings_burst", "batches_per_s", "batches_burst"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if self.readings_per_s and not self.readings_burst:
            raise ValueError("readings_burst must be > 0 when readings_per_s is set")
        if self.batches_per_s and not self.batches_burst:
            raise ValueError("batches_burst must be > 0 when batches_per_s is set")


@dataclass(frozen=True)
class RateLimited:
    """Why a batch was refused: which limit, and after how long a retry can pass."""

    limit: str  # "readings_per_s" | "batches_per_s"
    rate_per_s: float
    burst: float
    retry_after_s: float


class _Bucket:
    __slots__ = ("stamp_s", "tokens")

    def __init__(self, tokens: float, stamp_s: float) -> None:
        self.tokens = tokens
        self.stamp_s = stamp_s


class GatewayRateLimiter:
    """Both buckets of every gateway. Event-loop thread only (no locking)."""

    def __init__(self, limits: RateLimits, monotonic_s: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._now = monotonic_s
        self._readings: dict[str, _Bucket] = {}
        self._batches: dict[str, _Bucket] = {}
        self._checks = 0

    def _level(self, table: dict[str, _Bucket], gateway: str, rate: float, burst: float, now: float) -> _Bucket:
        bucket = table.get(gateway)
        if bucket is None:
            bucket = table[gateway] = _Bucket(burst, now)
        else:
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp_s) * rate)
            bucket.stamp_s = now
        return bucket

    def admit(self, gateway: str, readings: int) -> RateLimited | None:
        """Take one batch of ``readings`` from the gateway's buckets, or say why not (taking nothing)."""
        limits = self.limits
        now = self._now()
        self._checks += 1
        if self._checks % _SWEEP_EVERY == 0:
            self._sweep(now)
        refused: list[RateLimited] = []
        taken: list[tuple[_Bucket, float]] = []
        for table, name, rate, burst, cost in (
            (self._readings, "readings_per_s", limits.readings_per_s, limits.readings_burst, float(readings)),
            (self._batches, "batches_per_s", limits.batches_per_s, limits.batches_burst, 1.0),
        ):
            if not rate:
                continue
            bucket = self._level(table, gateway, rate, burst, now)
            needed = min(cost, burst)
            if bucket.tokens + 1e-9 < needed:
                refused.append(RateLimited(name, rate, burst, (needed - bucket.tokens) / rate))
            else:
                taken.append((bucket, cost))
        if refused:
            # The longer wait is the one that lets the retry through both buckets.
            return max(refused, key=lambda r: r.retry_after_s)
        for bucket, cost in taken:
            bucket.tokens -= cost
        return None

    def _sweep(self, now: float) -> None:
        limits = self.limits
        for table, rate, burst in (
            (self._readings, limits.readings_per_s, limits.readings_burst),
            (self._batches, limits.batches_per_s, limits.batches_burst),
        ):
            for gateway in [g for g, b in table.items() if b.tokens + (now - b.stamp_s) * rate >= burst]:
                del table[gateway]

    def tracked_gateways(self) -> int:
        return len(set(self._readings) | set(self._batches))
