"""Fakes of the gateway's ports: a telemetry link that acks or refuses as told, and metrics that count."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence

from services.gateway.adapters.wire import decode_readings
from services.gateway.domain import Failure, Reading
from services.gateway.service_layer.ports import Ack, Row, SendError


class FakeMetrics:
    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def readings_taken(self, source: str, count: int) -> None:
        self.counts["taken"] += count

    def read_error(self, source: str, kind: str) -> None:
        self.counts[f"error:{kind}"] += 1

    def readings_dropped(self, reason: str, count: int) -> None:
        self.counts[f"dropped:{reason}"] += count

    def batch_acked(self, readings: int, latency_s: float, lane: str) -> None:
        self.counts[f"acked:{lane}"] += readings

    def batch_failed(self, failure: str) -> None:
        self.counts[f"failed:{failure}"] += 1

    def readings_dead_lettered(self, count: int) -> None:
        self.counts["dead"] += count

    def queue_state(self, depth: int, oldest_age_s: float) -> None:
        pass

    def connected(self, up: bool) -> None:
        self.counts["connected"] = int(up)


# Decides about each batch (its readings, decoded): None acks it, a SendError refuses it (and ends the stream, as
# telemetry does).
Judge = Callable[[int, list[Reading]], SendError | None]


class FakeStream:
    def __init__(self, link: FakeLink) -> None:
        self.link = link
        self.acks: asyncio.Queue[Ack | SendError] = asyncio.Queue()
        self.ended: SendError | None = None

    async def write(self, sequence: int, rows: Sequence[Row]) -> None:
        if self.ended is not None:
            raise self.ended  # as the gRPC adapter does: the status the stream ended with
        if self.link.down:
            self.ended = SendError(Failure.TRANSIENT, "UNAVAILABLE: down")
            self.acks.put_nowait(self.ended)
            return
        readings = [r for row in rows for r in decode_readings(row[2])]
        assert len(readings) == sum(row[1] for row in rows)
        self.link.attempts.append((sequence, len(readings)))
        verdict = self.link.judge(sequence, readings)
        if verdict is not None:
            self.ended = verdict
            self.acks.put_nowait(verdict)
            return
        duplicate = sequence in self.link.acked
        if not duplicate:
            self.link.acked[sequence] = readings
        self.acks.put_nowait(Ack(sequence, len(readings), 0, duplicate))

    async def read_ack(self) -> Ack:
        item = await self.acks.get()
        if isinstance(item, SendError):
            raise item
        return item

    async def close(self) -> None:
        self.ended = self.ended or SendError(Failure.TRANSIENT, "closed")


class FakeLink:
    def __init__(self, judge: Judge | None = None) -> None:
        self.judge: Judge = judge or (lambda sequence, rows: None)
        self.down = False
        self.attempts: list[tuple[int, int]] = []
        self.acked: dict[int, list[Reading]] = {}  # sequence -> readings, in ack order

    async def open(self) -> FakeStream:
        return FakeStream(self)

    def delivered(self) -> list[tuple[str, int]]:
        return [(r.tag_id, r.time_unix_us) for readings in self.acked.values() for r in readings]
