"""Run a network's gateways together against one telemetry endpoint (library entry point)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc

from services.network import Network

from .gateway import BadReadings, BatchBuilder, GatewayStats, GatewayStreamer
from .values import PlausibleValues, ValueSource

log = logging.getLogger(__name__)


@dataclass
class FleetConfig:
    target: str = "127.0.0.1:50051"
    tokens: Mapping[str, str] = field(default_factory=dict)  # gateway_id -> token
    gateways: tuple[str, ...] | None = None  # None: every gateway that has a token
    batch_interval_s: float = 1.0
    duration_s: float | None = None  # None: until stop() / cancellation
    bad: BadReadings = field(default_factory=BadReadings)
    # None: milliseconds since the epoch at start, so a restarted simulator never reuses a sequence
    first_sequence: int | None = None
    ack_timeout_s: float = 10.0
    backoff_s: tuple[float, float] = (0.2, 5.0)  # first and longest wait before reconnecting
    tls_root_cert: bytes | None = None
    # Mutual TLS (a telemetry that asks gateways for certificates): gateway_id -> (certificate PEM, key PEM); a
    # gateway listed here gets a connection of its own presenting its certificate, as the real one does.
    tls_client_certs: Mapping[str, tuple[bytes, bytes]] = field(default_factory=dict)
    seed: int | None = None
    # Time-compressed catch-up ("store-and-forward" replay of stored history): when start_unix_s is set,
    # source time = start_unix_s + time_scale * elapsed wall time, never beyond now. The gateways step
    # together in batches of batch_source_s of source time, as fast as acks allow up to that clock, so
    # a shared physics ValueSource is asked for times in order. None: real time, as a live RTU.
    start_unix_s: float | None = None
    time_scale: float = 1.0
    batch_source_s: float = 1.0
    end_unix_s: float | None = None  # compressed mode: stop once source time reaches this
    max_unacked_batches: int = 64  # compressed mode: wait for acks beyond this many per gateway

    def __post_init__(self) -> None:
        if not (self.time_scale >= 1.0 and math.isfinite(self.time_scale)):
            raise ValueError(f"time_scale must be a finite number >= 1, got {self.time_scale}")
        if not self.batch_source_s > 0:
            raise ValueError(f"batch_source_s must be > 0, got {self.batch_source_s}")
        if self.end_unix_s is not None and self.start_unix_s is None:
            raise ValueError("end_unix_s needs start_unix_s (time-compressed mode)")

    def source_time(self, elapsed_s: float, now_s: float) -> float:
        """Source time after ``elapsed_s`` of wall time in compressed mode (``now_s`` otherwise)."""
        if self.start_unix_s is None:
            return now_s
        return min(self.start_unix_s + self.time_scale * elapsed_s, now_s)


@dataclass
class FleetReport:
    duration_s: float
    gateways: dict[str, GatewayStats]

    def total(self, name: str) -> int:
        return sum(int(getattr(stats, name)) for stats in self.gateways.values())

    def summary(self) -> dict[str, object]:
        latencies = sorted(x for s in self.gateways.values() for x in s.ack_latencies_s)

        def pct(q: float) -> float | None:
            return (
                round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2) if latencies else None
            )

        names = (
            "batches_sent", "batches_acked", "duplicate_acks", "batches_failed", "batches_dropped",
            "readings_sent", "readings_accepted", "readings_rejected", "retries",
        )  # fmt: skip
        return {
            "duration_s": round(self.duration_s, 2),
            **{name: self.total(name) for name in names},
            "ack_latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)},
            "errors": {g: s.last_error for g, s in self.gateways.items() if s.last_error},
        }


class Fleet:
    def __init__(self, network: Network, config: FleetConfig, values: ValueSource | None = None) -> None:
        self.network = network
        self.config = config
        self.values = values if values is not None else PlausibleValues(network, seed=config.seed)
        ids = (
            config.gateways
            if config.gateways is not None
            else tuple(g for g in network.gateways if g in config.tokens)
        )
        missing = [g for g in ids if g not in config.tokens]
        if missing:
            raise ValueError(f"no token for gateway(s) {', '.join(missing)}")
        unknown = [g for g in ids if g not in network.gateways]
        if unknown:
            raise ValueError(f"gateway(s) {', '.join(unknown)} not in network {network.name!r}")
        if not ids:
            raise ValueError("no gateways to simulate: give tokens for at least one gateway of the network")
        self.gateway_ids = ids
        self._stop = asyncio.Event()
        self.source_time_s: float | None = None  # compressed mode: source time reached so far

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> FleetReport:
        config = self.config
        first = config.first_sequence if config.first_sequence is not None else int(time.time() * 1000)
        channel = self._channel(None)
        own_channels: list[grpc.aio.Channel] = []
        started = time.monotonic()
        streamers: dict[str, GatewayStreamer] = {}
        try:
            tasks: list[asyncio.Future[object]] = []
            pairs: list[tuple[BatchBuilder, GatewayStreamer]] = []
            for index, gateway_id in enumerate(self.gateway_ids):
                builder = BatchBuilder(
                    gateway_id,
                    self.network.tags_of_gateway(gateway_id),
                    self.values,
                    first_sequence=first,
                    bad=config.bad,
                    seed=None if config.seed is None else config.seed + index,
                )
                if gateway_id in config.tls_client_certs and config.tls_root_cert is not None:
                    own_channels.append(self._channel(gateway_id))
                streamer = GatewayStreamer(
                    own_channels[-1] if gateway_id in config.tls_client_certs and own_channels else channel,
                    config.tokens[gateway_id],
                    ack_timeout_s=config.ack_timeout_s,
                    backoff_s=config.backoff_s,
                )
                streamers[gateway_id] = streamer
                tasks.append(asyncio.ensure_future(streamer.run(self._stop)))
                if config.start_unix_s is None:
                    tasks.append(asyncio.ensure_future(self._produce(builder, streamer)))
                pairs.append((builder, streamer))
            if config.start_unix_s is not None:
                tasks.append(asyncio.ensure_future(self._replay(pairs)))
            if config.duration_s is not None:
                try:
                    await asyncio.wait_for(self._stop.wait(), config.duration_s)
                except TimeoutError:
                    self._stop.set()
            await asyncio.gather(*tasks)
        finally:
            self._stop.set()
            for open_channel in (channel, *own_channels):
                await open_channel.close()
        return FleetReport(time.monotonic() - started, {g: s.stats for g, s in streamers.items()})

    def _channel(self, gateway_id: str | None) -> grpc.aio.Channel:
        """Plaintext, TLS, or (``gateway_id`` with its certificate in tls_client_certs) mutual TLS as that gateway."""
        config = self.config
        if config.tls_root_cert is None:
            return grpc.aio.insecure_channel(config.target)
        cert, key = config.tls_client_certs.get(gateway_id, (None, None)) if gateway_id else (None, None)
        credentials = grpc.ssl_channel_credentials(config.tls_root_cert, private_key=key, certificate_chain=cert)
        return grpc.aio.secure_channel(config.target, credentials)

    async def _produce(self, builder: BatchBuilder, streamer: GatewayStreamer) -> None:
        interval = self.config.batch_interval_s
        next_tick = time.monotonic()
        while not self._stop.is_set():
            batch = builder.build(time.time())
            if batch is not None:
                streamer.submit(batch)
            next_tick += interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, next_tick - time.monotonic()))

    async def _replay(self, pairs: list[tuple[BatchBuilder, GatewayStreamer]]) -> None:
        """Compressed mode: every gateway replays source time in lockstep, batch_source_s per batch."""
        config = self.config
        assert config.start_unix_s is not None
        started = time.monotonic()
        source = config.start_unix_s
        for builder, streamer in pairs:  # the first samples, at the start itself
            batch = builder.build(source)
            if batch is not None:
                streamer.submit(batch)
        self.source_time_s = source
        while not self._stop.is_set():
            if config.end_unix_s is not None and source >= config.end_unix_s:
                self._stop.set()  # streamers drain what is unacked, then finish
                break
            target = config.source_time(time.monotonic() - started, time.time())
            backlog = any(s.unacked >= config.max_unacked_batches for _, s in pairs)
            if backlog or source + config.batch_source_s > target:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 0.02)
                continue
            source += config.batch_source_s
            if config.end_unix_s is not None:
                source = min(source, config.end_unix_s)
            for builder, streamer in pairs:
                batch = builder.build(source)
                if batch is not None:
                    streamer.submit(batch)
            self.source_time_s = source
            await asyncio.sleep(0)  # let the streamers write and read acks
