"""Per-gateway token buckets (readings/s, batches/s): what passes, what is refused, and the retry time given."""

from __future__ import annotations

import pytest

from services.telemetry.service_layer import GatewayRateLimiter, RateLimits


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_readings_limit_refuses_over_the_burst_takes_nothing_and_says_when_to_retry() -> None:
    clock = Clock()
    limiter = GatewayRateLimiter(RateLimits(readings_per_s=1_000, readings_burst=2_000, batches_per_s=0), clock)
    assert limiter.admit("gw-a", 1_500) is None
    refused = limiter.admit("gw-a", 1_000)  # 500 left: 500 missing at 1,000/s
    assert refused is not None
    assert refused.limit == "readings_per_s" and refused.rate_per_s == 1_000 and refused.burst == 2_000
    assert refused.retry_after_s == pytest.approx(0.5)
    # The refusal took nothing: after the wait it names, the same batch passes.
    clock.now_s += refused.retry_after_s
    assert limiter.admit("gw-a", 1_000) is None
    # Other gateways have buckets of their own.
    assert limiter.admit("gw-b", 2_000) is None


def test_batches_limit_and_the_longer_wait_of_two_refusals() -> None:
    clock = Clock()
    limiter = GatewayRateLimiter(
        RateLimits(readings_per_s=100, readings_burst=100, batches_per_s=2, batches_burst=2), clock
    )
    assert limiter.admit("gw", 10) is None
    assert limiter.admit("gw", 10) is None
    refused = limiter.admit("gw", 10)
    assert refused is not None and refused.limit == "batches_per_s"
    assert refused.retry_after_s == pytest.approx(0.5)
    clock.now_s += 0.5
    # Readings: 80 + 0.5 s x 100/s, capped at the burst of 100; batches: 1 refilled. Both have room.
    assert limiter.admit("gw", 100) is None


def test_a_batch_larger_than_the_burst_passes_on_a_full_bucket_and_leaves_it_in_debt() -> None:
    clock = Clock()
    limiter = GatewayRateLimiter(RateLimits(readings_per_s=1_000, readings_burst=1_000, batches_per_s=0), clock)
    assert limiter.admit("gw", 3_000) is None  # full bucket: passes, 2,000 in debt
    refused = limiter.admit("gw", 1)
    assert refused is not None and refused.retry_after_s == pytest.approx(2.001)
    clock.now_s += 3.0
    assert limiter.admit("gw", 3_000) is None  # full again: the average rate holds (3,000 per 3 s)


def test_zero_rates_turn_limits_off_and_bad_limits_are_refused() -> None:
    limiter = GatewayRateLimiter(RateLimits(readings_per_s=0, batches_per_s=0), Clock())
    assert all(limiter.admit("gw", 10**9) is None for _ in range(100))
    with pytest.raises(ValueError, match="readings_per_s must be >= 0"):
        RateLimits(readings_per_s=-1)
    with pytest.raises(ValueError, match="batches_burst must be > 0"):
        RateLimits(batches_per_s=1, batches_burst=0)


def test_full_buckets_are_forgotten_so_the_table_stays_small() -> None:
    clock = Clock()
    limiter = GatewayRateLimiter(RateLimits(readings_per_s=1_000, readings_burst=1_000, batches_per_s=0), clock)
    for i in range(4_095):
        limiter.admit(f"gw-{i}", 1)
    assert limiter.tracked_gateways() == 4_095
    clock.now_s += 1.0  # every bucket refilled
    limiter.admit("gw-last", 1)  # the 4,096th check sweeps
    assert limiter.tracked_gateways() == 1
