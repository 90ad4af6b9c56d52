"""The emulated fleet of SCADA gateways: one PublishStream per gateway, open loop at the offered rate.

Each gateway sends a batch every ``batch_interval_s`` holding its tags' samples since the last one; a
tag's share of the rate follows its scan rate (1 / scan_period_s), scaled so that the fleet offers
``rate`` readings/s in total. Batches are encoded by hand from pre-encoded pieces (tag, value) around
fresh timestamps, so that the generator is not the bottleneck. Values are plausible (services.fieldsim)
with instrument noise, so the detectors see a quiet network.

Before the schedule starts, every stream is opened and one warm-up batch is sent and acked on it (not
counted): a real gateway's stream is long-lived, and the first batch of a fresh one also waits for the TCP
and HTTP/2 set-up and the token's first check by the telemetry worker the kernel picked (a salted hash, per
worker), which queued the gateway's next batches behind it and put ~200 ms ack times in every run's first
second.

A gateway behaves as a real one: an ack is awaited per batch; when the stream breaks, it reconnects
after a backoff and resends every unacked batch with the same batch_sequence; while more than
``max_unacked`` batches are unacked it stops sending and counts the batches it could not send as
dropped (offered, never sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc

from loadtest import transport
from loadtest.stats import Recorder
from services.contracts.pipewarden.telemetry.v1 import reading_pb2, telemetry_ingest_service_pb2
from services.fieldsim import PlausibleValues
from services.network import Network, Tag

T = TypeVar("T")
METHOD = "/pipewarden.telemetry.v1.TelemetryIngestService/PublishStream"
_VALUE_VARIANTS = 16


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(field_tag: int, body: bytes) -> bytes:
    return bytes([field_tag]) + varint(len(body)) + body


class GatewayPlan:
    """Pre-encoded pieces of one gateway's readings."""

    def __init__(self, gateway_id: str, tags: tuple[Tag, ...], values: PlausibleValues, now_s: float,
                 seed: int) -> None:
        self.gateway_id = gateway_id
        self.tags = tags
        self.weights = [1.0 / t.scan_period_s for t in tags]
        ts_len = len(varint(int(now_s * 1e6)))
        rng = random.Random(seed)
        self._prefix: list[bytes] = []
        self._tails: list[list[bytes]] = []
        quality = b"\x20" + varint(reading_pb2.QUALITY_GOOD)
        for tag in tags:
            tag_field = _length_delimited(0x0A, tag.tag_id.encode())
            tails = []
            for k in range(_VALUE_VARIANTS):
                value = values.sample(tag, now_s - rng.uniform(0, 60) - k)
                value = min(max(value, tag.range_min), tag.range_max)
                tails.append(b"\x19" + struct.pack("<d", value) + quality)
            body_len = len(tag_field) + 1 + ts_len + len(tails[0])
            # Reading as ReadingBatch.readings (field 3): tag, length, then tag_id and the time's field tag.
            self._prefix.append(b"\x1a" + varint(body_len) + tag_field + b"\x10")
            self._tails.append(tails)
        self._carry = [0.0] * len(tags)
        self._gw = _length_delimited(0x0A, gateway_id.encode())

    def share(self, total_weight: float) -> float:
        return sum(self.weights) / total_weight

    def batch(self, sequence: int, rate: float, interval_s: float, end_us: int) -> tuple[bytes, int, int]:
        """A PublishStreamRequest (encoded) with this gateway's samples of the last interval, their count and
        the number of segments they belong to (telemetry writes one Kafka record per segment)."""
        parts: list[bytes] = []
        segments: set[str] = set()
        total_weight = sum(self.weights)
        count = 0
        for i, weight in enumerate(self.weights):
            want = rate * weight / total_weight * interval_s + self._carry[i]
            n = int(want)
            self._carry[i] = want - n
            if not n:
                continue
            step_us = interval_s * 1e6 / n
            prefix, tails = self._prefix[i], self._tails[i]
            for j in range(n):
                t = end_us - int((n - 1 - j) * step_us)
                parts.append(prefix + varint(t) + tails[(sequence + j) % _VALUE_VARIANTS])
            count += n
            segments.add(self.tags[i].segment_id)
        batch = self._gw + b"\x10" + varint(sequence) + b"".join(parts)
        return _length_delimited(0x0A, batch), count, len(segments)


@dataclass
class Pending:
    sequence: int
    payload: bytes
    readings: int
    segments: int
    first_sent: float
    errored: bool = False
    warmup: bool = False  # opens the stream before the measured load: acked, not measured


class GatewayStream:
    def __init__(self, plan: GatewayPlan, token: str, target: str, recorder: Recorder, first_sequence: int,
                 max_unacked: int, backoff_s: tuple[float, float] = (0.2, 2.0)) -> None:
        self.plan = plan
        self.token = token
        self.target = target
        self.recorder = recorder
        self.sequence = first_sequence
        self.max_unacked = max_unacked
        self.backoff_s = backoff_s
        self.unacked: OrderedDict[int, Pending] = OrderedDict()
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.warmed = asyncio.Event()

    def warm_up(self, rate: float, interval_s: float) -> None:
        """Send one batch (not measured) that opens the stream; ``warmed`` is set at its ack."""
        # At least one reading (telemetry refuses an empty batch, and the stream with it): where the tags send near
        # their scan rates (a network generated for the rate) a 100-ms interval may hold none of a gateway's tags.
        weights = self.plan.weights
        least = 1.5 * sum(weights) / max(weights) / interval_s  # the most frequent tag's share: 1.5 readings
        payload, count, segments = self.plan.batch(self.sequence, max(rate, least, 1.0), interval_s,
                                                   time.time_ns() // 1000)
        pending = Pending(self.sequence, payload, count, segments, time.monotonic(), warmup=True)
        self.sequence += 1
        self.unacked[pending.sequence] = pending
        self._queue.put_nowait(pending)

    def offer(self, rate: float, interval_s: float) -> None:
        now = time.monotonic()
        payload, count, segments = self.plan.batch(self.sequence, rate, interval_s, time.time_ns() // 1000)
        if not count:
            return
        self.recorder.offered(count, now)
        if len(self.unacked) >= self.max_unacked:
            self.recorder.dropped_batches += 1
            return
        pending = Pending(self.sequence, payload, count, segments, now)
        self.sequence += 1
        self.unacked[pending.sequence] = pending
        self._queue.put_nowait(pending)
        self.recorder.sent(now)

    async def run(self, stop: asyncio.Event, drain_s: float) -> None:
        """Keep a stream open until ``stop`` and then until everything is acked or ``drain_s`` passed."""
        backoff = self.backoff_s[0]
        # A connection of its own, as a real gateway has (gRPC would otherwise share one subchannel among
        # all channels to the same address, and every stream would reach the same telemetry worker).
        channel = transport.aio_channel(self.target, options=[("grpc.use_local_subchannel_pool", 1)],
                                        gateway=self.plan.gateway_id)  # its own client certificate (mutual TLS)
        try:
            while True:
                if stop.is_set() and not self.unacked:
                    return
                if await self._connection(channel, stop, drain_s):
                    return
                if stop.is_set() and time.monotonic() > self._drain_deadline(drain_s):
                    return
                await asyncio.sleep(backoff)
                backoff = min(self.backoff_s[1], backoff * 2)
        finally:
            await channel.close()

    _drain_until: float | None = None

    def _drain_deadline(self, drain_s: float) -> float:
        if self._drain_until is None:
            self._drain_until = time.monotonic() + drain_s
        return self._drain_until

    async def _connection(self, channel: grpc.aio.Channel, stop: asyncio.Event, drain_s: float) -> bool:
        """One stream; True when it ended with everything acked after ``stop``, False when it broke."""
        call = channel.stream_stream(METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b)(
            metadata=(("authorization", f"Bearer {self.token}"),))
        # A new stream first resends every unacked batch, same sequence (the server answers duplicates
        # from its window), then what is offered next.
        resend = list(self.unacked.values())
        resent_upto = resend[-1].sequence if resend else -1

        async def writer() -> None:
            for item in resend:
                if item.sequence in self.unacked:
                    await call.write(item.payload)
            while True:
                if stop.is_set() and self._queue.empty():
                    await call.done_writing()
                    return
                try:
                    item = await asyncio.wait_for(self._queue.get(), 0.1)
                except TimeoutError:
                    continue
                if item.sequence > resent_upto and item.sequence in self.unacked:
                    await call.write(item.payload)

        async def reader() -> None:
            async for raw in call:
                now = time.monotonic()
                ack = telemetry_ingest_service_pb2.PublishStreamResponse.FromString(raw).ack
                pending = self.unacked.pop(ack.batch_sequence, None)
                if pending is None:
                    continue  # the ack of a batch resent after its first ack arrived
                if pending.warmup:
                    if ack.accepted_count and not ack.rejected_count:
                        self.recorder.acked_records += pending.segments  # on Kafka too: counted as written
                    self.warmed.set()
                    continue
                self.recorder.acked(pending.readings, ack.accepted_count, ack.rejected_count,
                                    now - pending.first_sent, now)
                if ack.accepted_count and not ack.rejected_count:
                    self.recorder.acked_records += pending.segments
                for r in ack.rejections_by_reason:
                    self.recorder.rejections_by_reason[reading_pb2.RejectReason.Name(r.reason)] += r.count
                if stop.is_set() and not self.unacked:
                    return

        write_task = asyncio.ensure_future(writer())
        read_task = asyncio.ensure_future(reader())
        try:
            while not read_task.done():
                timeout = None
                if stop.is_set():
                    timeout = max(0.0, self._drain_deadline(drain_s) - time.monotonic())
                    if timeout == 0.0:
                        return True  # drain time over: what is unacked stays unacked
                waiting = {read_task} if write_task.done() and not write_task.exception() else {read_task,
                                                                                               write_task}
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED, timeout=timeout)
                if write_task.done() and write_task.exception() is not None:
                    raise write_task.exception()  # type: ignore[misc]
            if read_task.exception() is not None:
                raise read_task.exception()  # type: ignore[misc]
            if not stop.is_set() or self.unacked:
                self._failed("STREAM_CLOSED")  # the server ended the stream with batches unacked
                return False
            return True
        except grpc.aio.AioRpcError as error:
            self._failed(error.code().name)
            return False
        except (OSError, grpc.RpcError, asyncio.InvalidStateError) as error:
            self._failed(type(error).__name__)
            return False
        finally:
            for task in (read_task, write_task):
                task.cancel()
            call.cancel()

    def _failed(self, status: str) -> None:
        now = time.monotonic()
        fresh = [p for p in self.unacked.values() if not p.errored]
        for p in fresh:
            p.errored = True
        self.recorder.errored_batches += len(fresh)
        self.recorder.error(status, len(fresh), now)


@dataclass
class FleetPlan:
    streams: list[GatewayStream]
    batch_interval_s: float


def build(network: Network, tokens: dict[str, str], gateways: list[str], target: str, recorder: Recorder,
          batch_interval_s: float = 0.1, max_unacked: int = 200, seed: int = 11) -> FleetPlan:
    values = PlausibleValues(network, seed=seed)
    now = time.time()
    first = time.time_ns() // 1000
    streams = [
        GatewayStream(GatewayPlan(g, network.tags_of_gateway(g), values, now, seed + i), tokens[g], target,
                      recorder, first, max_unacked)
        for i, g in enumerate(gateways)
    ]
    return FleetPlan(streams, batch_interval_s)


# The shortest gap between two gateways' send times: gateways are spread over the batch interval in at most
# interval / MIN_SLOT_S phases.
MIN_SLOT_S = 0.01


def phase_slots(streams: Sequence[T], interval_s: float) -> list[list[T]]:
    """The streams in send phases spread evenly over one batch interval (stream i in phase i mod K): real gateways
    are not phase-locked, and sending every gateway's batch at the same instant makes a burst of the whole
    interval's readings (the generator builds them all in one go and telemetry and Kafka take them at once): steady's
    34 gateways' 1-s batches, 60 s at 50,000 readings/s on one deployment, ack p50 / p99 114 / 313 ms phase-locked
    against 8.8 / 106 ms spread. K is the number of streams, at most interval / MIN_SLOT_S."""
    k = max(1, min(len(streams), int(interval_s / MIN_SLOT_S + 1e-9)))
    return [list(streams[i::k]) for i in range(k)]


async def drive(plan: FleetPlan, rate_at: Callable[[float], float | None], stop: asyncio.Event,
                recorder: Recorder, drain_s: float = 10.0, warmup_timeout_s: float = 15.0) -> None:
    """Open every stream (one warm-up batch each, acked), then offer load until ``rate_at(elapsed)`` returns
    None or ``stop`` is set; then drain the streams. The run's clock (``recorder.started``) starts after the
    warm-up."""
    runners = [asyncio.ensure_future(s.run(stop, drain_s)) for s in plan.streams]
    total_weight = sum(sum(s.plan.weights) for s in plan.streams)
    interval = plan.batch_interval_s
    first_rate = rate_at(0.0) or 0.0
    for stream in plan.streams:
        stream.warm_up(first_rate * stream.plan.share(total_weight), interval)
    # A stream that cannot open meets its error in the load (counted there): the warm-up only waits so long.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(s.warmed.wait() for s in plan.streams)), warmup_timeout_s)
    started = time.monotonic()
    recorder.started = started
    slots = phase_slots(plan.streams, interval)
    slot_s = interval / len(slots)
    tick = 0
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            rate = rate_at(elapsed)
            if rate is None:
                recorder.load_end_s = elapsed
                break
            group = slots[tick % len(slots)]
            for stream in group:
                stream.offer(rate * stream.plan.share(total_weight), interval)
            tick += 1
            delay = started + tick * slot_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -interval:
                recorder.late_batches += len(group)
                await asyncio.sleep(0)
    finally:
        stop.set()
        await asyncio.gather(*runners, return_exceptions=True)
