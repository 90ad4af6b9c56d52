"""Modbus TCP source (pymodbus client): reads planned register blocks at their scan periods.

Modbus gives no timestamps, so readings carry the gateway's clock at the middle of the request's round trip
(the host must keep its clock synchronised, e.g. by NTP; telemetry refuses readings more than its clock skew
ahead). Protocol errors become quality codes: an unreachable device, a timeout or an exception response (e.g.
ILLEGAL ADDRESS) makes its tags' readings BAD, a non-finite value BAD, a value outside the tag's range UNCERTAIN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from services.gateway.config import ModbusDevice
from services.gateway.domain import ReadBlock, Reading, RegisterPoint, RegisterTable, decode_registers, plan_blocks
from services.gateway.domain.registers import scaled_reading
from services.gateway.service_layer import GatewayMetrics
from services.network import Network
from services.network.quality import QUALITY_BAD

log = logging.getLogger(__name__)
Record = Callable[[str, Sequence[Reading]], Awaitable[None]]


class ModbusSource:
    def __init__(self, device: ModbusDevice, network: Network, record: Record, metrics: GatewayMetrics) -> None:
        self.device = device
        self.name = device.name
        self.record = record
        self.metrics = metrics
        points = []
        for t in device.tags:
            tag = network.tags[t.tag_id]
            points.append(
                RegisterPoint(
                    t.tag_id,
                    t.unit_id,
                    t.table,
                    t.address,
                    t.data_type,
                    t.word_order,
                    t.scale,
                    t.offset,
                    tag.range_min,
                    tag.range_max,
                    t.scan_period_s,
                )
            )
        self.blocks = plan_blocks(points, max_gap=device.max_gap)
        self.client = AsyncModbusTcpClient(
            device.host, port=device.port, timeout=device.timeout_s, retries=0, reconnect_delay=0
        )
        self.errors = 0
        self.scans = 0
        self.last_error = ""
        self._last_log = 0.0
        # Blocks that drew an exception response are read point by point from then on, so that one bad
        # address does not spoil its neighbours' readings.
        self._split: dict[ReadBlock, list[ReadBlock]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        periods = sorted({b.scan_period_s for b in self.blocks})
        try:
            await asyncio.gather(*(self._scan_loop(p, stop) for p in periods))
        finally:
            self.client.close()

    async def _scan_loop(self, period_s: float, stop: asyncio.Event) -> None:
        blocks = [b for b in self.blocks if b.scan_period_s == period_s]
        next_due = math.floor(time.time() / period_s) * period_s + period_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, next_due - time.time()))
            if stop.is_set():
                return
            readings = await self.scan(blocks)
            await self.record(self.name, readings)
            self.scans += 1
            next_due += period_s
            now = time.time()
            if next_due <= now:  # overran: skip the missed scans rather than bunching them up
                next_due = math.floor(now / period_s) * period_s + period_s

    async def scan(self, blocks: Sequence[ReadBlock]) -> list[Reading]:
        readings: list[Reading] = []
        if not self.client.connected:
            try:
                ok = await self.client.connect()
            except Exception as error:
                ok = False
                self.last_error = str(error)
            if not ok:
                self._error("unreachable", f"cannot connect to {self.device.host}:{self.device.port}")
                return self._bad(blocks)
        for block in blocks:
            parts = self._split.get(block, [block])
            for part in parts:
                readings.extend(await self._read(part))
        return readings

    def _error(self, kind: str, detail: str) -> None:
        self.errors += 1
        self.metrics.read_error(self.name, kind)
        self.last_error = f"{kind}: {detail}"
        now = time.monotonic()
        if now - self._last_log > 10.0:
            self._last_log = now
            log.warning("modbus read failed", extra={"source": self.name, "kind": kind, "error": detail})

    def _bad(self, blocks: Sequence[ReadBlock]) -> list[Reading]:
        t_us = time.time_ns() // 1000
        return [Reading(p.tag_id, t_us, p.range_min, QUALITY_BAD) for b in blocks for p in b.points]

    async def _read(self, block: ReadBlock) -> list[Reading]:
        client = self.client
        read = client.read_holding_registers if block.table is RegisterTable.HOLDING else client.read_input_registers
        sent_ns = time.time_ns()
        try:
            response = await read(block.address, count=block.count, device_id=block.unit_id)
        except (TimeoutError, ModbusException, OSError) as error:
            text = str(error).lower()
            self._error("timeout" if "timeout" in text or "no response" in text else "io", str(error))
            return self._bad([block])
        t_us = (sent_ns + time.time_ns()) // 2000
        if response.isError():
            code = getattr(response, "exception_code", 0)
            if len(block.points) > 1:
                self._split[block] = [
                    ReadBlock(block.unit_id, block.table, p.address, p.count, block.scan_period_s, (p,))
                    for p in block.points
                ]
                log.warning(
                    "modbus exception for a block read: reading its tags one by one",
                    extra={
                        "source": self.name,
                        "unit_id": block.unit_id,
                        "address": block.address,
                        "exception_code": code,
                    },
                )
                out: list[Reading] = []
                for part in self._split[block]:
                    out.extend(await self._read(part))
                return out
            self._error(f"exception_{code}", f"unit {block.unit_id} address {block.address}: exception code {code}")
            return self._bad([block])
        registers = response.registers
        out = []
        for p in block.points:
            start = p.address - block.address
            raw = decode_registers(registers[start : start + p.count], p.data_type, p.word_order)
            value, quality = scaled_reading(raw, p.scale, p.offset, p.range_min, p.range_max)
            out.append(Reading(p.tag_id, t_us, value, quality))
        return out
