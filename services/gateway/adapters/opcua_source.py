"""OPC UA source (asyncua client): tags are read by subscription (the server samples at the tag's scan period
and reports changes), or polled when ``subscribe: false`` or the server refuses subscriptions.

Readings carry the server's SourceTimestamp (else its ServerTimestamp, else the gateway's clock). Status codes map
to quality codes: Good -> GOOD, Uncertain -> UNCERTAIN, Bad -> BAD. A node that disappears (BadNodeIdUnknown in a
notification, or in the check the watchdog makes on nodes that have been silent for a while) gives BAD readings
and a logged error; an unreachable server gives BAD readings for its tags every scan period until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from asyncua import Client, ua

from services.gateway.config import OpcUaServer, OpcUaTag
from services.gateway.domain import Reading
from services.gateway.domain.registers import scaled_reading
from services.gateway.service_layer import GatewayMetrics
from services.network import Network
from services.network.quality import QUALITY_BAD, QUALITY_GOOD, QUALITY_UNCERTAIN

log = logging.getLogger(__name__)
Record = Callable[[str, Sequence[Reading]], Awaitable[None]]


def _time_us(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value.timestamp() * 1_000_000)
    except (AttributeError, ValueError, OverflowError, OSError):
        return None


class OpcUaSource:
    def __init__(self, server: OpcUaServer, network: Network, record: Record, metrics: GatewayMetrics) -> None:
        self.server = server
        self.name = server.name
        self.record = record
        self.metrics = metrics
        self.tags = {t.node_id: t for t in server.tags}
        self.ranges = {
            t.tag_id: (network.tags[t.tag_id].range_min, network.tags[t.tag_id].range_max) for t in server.tags
        }
        self.errors = 0
        self.last_error = ""
        self.subscribed = False
        self._last_seen: dict[str, float] = {}  # node id -> monotonic time of its last notification
        self._last_source_us: dict[str, int] = {}
        self._missing: set[str] = set()
        self._last_log = 0.0

    def _error(self, kind: str, detail: str, *, always_log: bool = False) -> None:
        self.errors += 1
        self.metrics.read_error(self.name, kind)
        self.last_error = f"{kind}: {detail}"
        now = time.monotonic()
        if always_log or now - self._last_log > 10.0:
            self._last_log = now
            log.warning("opc ua read failed", extra={"source": self.name, "kind": kind, "error": detail})

    def reading(self, tag: OpcUaTag, data_value: Any) -> Reading:
        """A reading from an OPC UA DataValue (value, status, timestamps)."""
        lo, hi = self.ranges[tag.tag_id]
        t_us = _time_us(data_value.SourceTimestamp) or _time_us(data_value.ServerTimestamp) or time.time_ns() // 1000
        status = data_value.StatusCode_ if hasattr(data_value, "StatusCode_") else data_value.StatusCode
        code = status.value if status is not None else 0
        severity = code >> 30  # 0 good, 1 uncertain, 2/3 bad (OPC UA Part 4, 7.34)
        if severity >= 2:
            if code == ua.StatusCodes.BadNodeIdUnknown:
                self._node_gone(tag)
            else:
                name = ua.StatusCode(code).name  # type: ignore[arg-type]
                self._error("status", f"{tag.node_id}: {name}")
            return Reading(tag.tag_id, t_us, lo, QUALITY_BAD)
        raw = data_value.Value.Value if data_value.Value is not None else None
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            self._error("type", f"{tag.node_id}: value {raw!r} is not a number")
            return Reading(tag.tag_id, t_us, lo, QUALITY_BAD)
        value, quality = scaled_reading(float(raw), tag.scale, tag.offset, lo, hi)
        if severity == 1 and quality == QUALITY_GOOD:
            quality = QUALITY_UNCERTAIN
        self._missing.discard(tag.node_id)
        return Reading(tag.tag_id, t_us, value, quality)

    def _node_gone(self, tag: OpcUaTag) -> None:
        first = tag.node_id not in self._missing
        self._missing.add(tag.node_id)
        self._error(
            "node_unknown", f"node {tag.node_id} ({tag.tag_id}) does not exist on {self.server.url}", always_log=first
        )

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            client = Client(self.server.url, timeout=self.server.timeout_s)
            try:
                await client.connect()
            except (TimeoutError, OSError, ua.UaError, ConnectionError) as error:
                self._error("unreachable", f"{self.server.url}: {error or type(error).__name__}")
                await self.record(self.name, self._bad_all())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(backoff, self._shortest_period()))
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            try:
                if self.server.subscribe:
                    try:
                        await self._subscribed(client, stop)
                    except ua.UaStatusCodeError as error:
                        log.warning(
                            "server refused subscriptions: polling instead",
                            extra={"source": self.name, "error": str(error)},
                        )
                        await self._polled(client, stop)
                else:
                    await self._polled(client, stop)
            except (TimeoutError, OSError, ua.UaError, ConnectionError) as error:
                self._error("connection_lost", f"{self.server.url}: {error or type(error).__name__}")
            finally:
                self.subscribed = False
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(), 2.0)

    def _shortest_period(self) -> float:
        return min(t.scan_period_s for t in self.server.tags)

    def _bad_all(self) -> list[Reading]:
        t_us = time.time_ns() // 1000
        return [Reading(t.tag_id, t_us, self.ranges[t.tag_id][0], QUALITY_BAD) for t in self.server.tags]

    async def _subscribed(self, client: Client, stop: asyncio.Event) -> None:
        source = self
        queue: asyncio.Queue[Reading] = asyncio.Queue()

        class Handler:
            def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
                node_id = node.nodeid.to_string()
                tag = source.tags.get(node_id)
                if tag is None:
                    return
                source._last_seen[node_id] = time.monotonic()
                data_value = data.monitored_item.Value
                t_us = _time_us(data_value.SourceTimestamp)
                if t_us is not None:
                    source._last_source_us[node_id] = t_us
                queue.put_nowait(source.reading(tag, data_value))

            def status_change_notification(self, status: Any) -> None:
                source._error("subscription", f"subscription status {status}")

        by_period: dict[float, list[OpcUaTag]] = {}
        for tag in self.server.tags:
            by_period.setdefault(tag.scan_period_s, []).append(tag)
        for period, tags in by_period.items():
            subscription = await client.create_subscription(period * 1000.0, Handler())
            for tag in tags:
                try:
                    await subscription.subscribe_data_change(
                        client.get_node(tag.node_id), sampling_interval=ua.Double(period * 1000.0)
                    )
                except ua.UaStatusCodeError as error:
                    self._node_gone(tag) if error.code == ua.StatusCodes.BadNodeIdUnknown else self._error(
                        "subscribe", str(error)
                    )
                    await self.record(
                        self.name,
                        [Reading(tag.tag_id, time.time_ns() // 1000, self.ranges[tag.tag_id][0], QUALITY_BAD)],
                    )
        self.subscribed = True
        now = time.monotonic()
        for tag in self.server.tags:
            self._last_seen.setdefault(tag.node_id, now)
        flush_every_s = min(0.1, self._shortest_period())
        next_check = now + 1.0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), flush_every_s)
            batch = []
            while not queue.empty():
                batch.append(queue.get_nowait())
            if batch:
                await self.record(self.name, batch)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 1.0
                await client.check_connection()
                await self._check_silent(client)

    async def _check_silent(self, client: Client) -> None:
        """Subscriptions report changes only: a node that has said nothing for three scan periods (at least 2 s)
        is read directly, which tells a steady value from a node that is gone."""
        now = time.monotonic()
        silent = [
            t for t in self.server.tags if now - self._last_seen.get(t.node_id, now) > max(2.0, 3 * t.scan_period_s)
        ]
        if not silent:
            return
        values = await self._read(client, silent)
        out = []
        for tag, data_value in zip(silent, values, strict=True):
            self._last_seen[tag.node_id] = now
            t_us = _time_us(data_value.SourceTimestamp)
            status = data_value.StatusCode
            if status is not None and status.value >> 30 >= 2:
                out.append(self.reading(tag, data_value))
            elif t_us is not None and t_us > self._last_source_us.get(tag.node_id, 0):
                self._last_source_us[tag.node_id] = t_us
                out.append(self.reading(tag, data_value))
        if out:
            await self.record(self.name, out)

    async def _read(self, client: Client, tags: Sequence[OpcUaTag]) -> list[Any]:
        params = ua.ReadParameters()
        params.TimestampsToReturn = ua.TimestampsToReturn.Both
        for tag in tags:
            rv = ua.ReadValueId()
            rv.NodeId = ua.NodeId.from_string(tag.node_id)
            rv.AttributeId = ua.AttributeIds.Value
            params.NodesToRead.append(rv)
        return list(await client.uaclient.read(params))

    async def _polled(self, client: Client, stop: asyncio.Event) -> None:
        by_period: dict[float, list[OpcUaTag]] = {}
        for tag in self.server.tags:
            by_period.setdefault(tag.scan_period_s, []).append(tag)

        async def loop(period: float, tags: list[OpcUaTag]) -> None:
            next_due = math.floor(time.time() / period) * period + period
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, next_due - time.time()))
                if stop.is_set():
                    return
                values = await self._read(client, tags)
                readings = []
                for tag, dv in zip(tags, values, strict=True):
                    readings.append(self.reading(tag, dv))
                await self.record(self.name, readings)
                next_due += period
                if next_due <= time.time():
                    next_due = math.floor(time.time() / period) * period + period

        await asyncio.gather(*(loop(p, tags) for p, tags in by_period.items()))
