"""The profiles: each bounded in time (and so in count: the rate is bounded too)."""

from __future__ import annotations

from dataclasses import dataclass, replace

MAX_DURATION_S = 4 * 3600.0
MAX_RATE = 1_000_000.0


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    rate: float  # readings/s offered (ramp: the first step)
    duration_s: float  # load time (ramp: the most it can take, max_steps * step_s)
    leak: bool  # inject a leak and time it to the work order
    ghz_s: float  # ghz cross-check duration after the load
    leak_wait_s: float = 20.0  # after the load, the longest wait for the leak's work order
    leaks: int = 1  # leaks injected (one replay, each on its own segment; --leaks)
    ramp_step: float = 0.0  # ramp: readings/s added per step
    ramp_step_s: float = 0.0  # ramp: seconds per step
    ramp_max_steps: int = 0
    producer_perf_records: int = 0  # ramp: Kafka ProducerPerformance records (0: not run)
    # How often each gateway sends a batch. Telemetry writes one Kafka record per segment per batch: on a network
    # generated for the rate (tags near their scan rates, ~1,400 mains at 30,000 readings/s) 100-ms batches make
    # ~14,000 records/s of ~2 readings each; the soak's gateways report every second, as a field's RTUs do.
    batch_interval_s: float = 0.1
    # Refused (exit 2, unless --beyond-scan-rates) on a network whose tags would send more than MAX_OVER_SCAN times
    # their scan rates; ``network_args`` are loadtest.network's arguments for the network it is meant to run on.
    at_scan_rates: bool = False
    network_args: str = ""

    @property
    def ramp(self) -> bool:
        return self.ramp_step > 0

    @property
    def top_rate(self) -> float:
        """The highest rate it offers (ramp: its last step)."""
        return self.rate + self.ramp_step * max(0, self.ramp_max_steps - 1) if self.ramp else self.rate

    def rate_at(self, elapsed_s: float) -> float | None:
        """Offered readings/s at ``elapsed_s`` into the load; None when the load is over."""
        if elapsed_s >= self.duration_s:
            return None
        if not self.ramp:
            return self.rate
        return self.rate + self.ramp_step * int(elapsed_s // self.ramp_step_s)

    def with_overrides(
        self, rate: float | None, duration_s: float | None, leak_wait_s: float | None = None
    ) -> Profile:
        p = self
        if rate is not None:
            p = replace(p, rate=rate)
        if leak_wait_s is not None:
            p = replace(p, leak_wait_s=leak_wait_s)
        if duration_s is not None:
            if p.ramp:
                steps = max(1, int(duration_s // p.ramp_step_s))
                p = replace(p, ramp_max_steps=steps, duration_s=steps * p.ramp_step_s)
            else:
                p = replace(p, duration_s=duration_s)
        return p


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("smoke", "a post-deploy check: 30 s at 10,000 readings/s with a leak (up to 20 s more for its "
                "work order), ghz 4 s: under 60 s", rate=10_000, duration_s=30, leak=True, ghz_s=4, leak_wait_s=20),
        # The demo city's 3 load gateways read 64 readings/s at their scan rates: at 50,000/s each tag sent 784x its
        # scan rate, leakdetect raised methane and health alarms on the district mains and workorders spent 130 s of
        # CPU of a 313-s run on the hazards. Steady runs where the tags send at their scan rates: 35 gateways, 276
        # mains, each end's pressure at 100 Hz (as negative-pressure-wave detection samples) and flows at 1 Hz,
        # about 200 readings/s a main (deploy/local/steady.yaml). Each gateway reports once a second, as the soak's.
        Profile("steady", "5 min at 50,000 readings/s (the sustained-rate goal) with a leak, gateways batching every "
                "second; on a network whose tags read that rate at their scan rates (deploy/local/steady.yaml)",
                rate=50_000, duration_s=300, leak=True, ghz_s=10, batch_interval_s=1.0, at_scan_rates=True,
                network_args="--rate 50000 --pressure-scan-s 0.01 --segments-per-gateway 8 "
                             "--out var/steady-network.yaml"),
        Profile("ramp", "5,000 readings/s + 5,000 every 20 s until an SLO breaks (at most 16 steps: 80,000/s, "
                "5 min 20 s); the knee against Kafka's ProducerPerformance",
                rate=5_000, duration_s=320, leak=False, ghz_s=10, ramp_step=5_000, ramp_step_s=20,
                ramp_max_steps=16, producer_perf_records=2_000_000),
        Profile("soak", "30 min at 30,000 readings/s with a leak (--duration up to 4 h), gateways batching every "
                "second; on a network whose tags read that rate at their scan rates (loadtest.network --rate)",
                rate=30_000, duration_s=1800, leak=True, ghz_s=10, batch_interval_s=1.0, at_scan_rates=True,
                network_args="--rate 30000 --out FILE"),
    )
}
