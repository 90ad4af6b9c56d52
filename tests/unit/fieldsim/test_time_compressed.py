"""fieldsim's time-compressed mode: gateways replay stored history faster than real time, in lockstep,
with source times from the given start, never beyond now, and stop at the given end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from services.contracts.pipewarden.telemetry.v1 import records_pb2
from services.fieldsim import Fleet, FleetConfig
from services.network import load_demo_network
from services.telemetry.bootstrap import build_server
from services.telemetry.config import TelemetryConfig
from services.telemetry.service_layer import OutRecord

NETWORK = load_demo_network()
TOKENS = {"gw-ds-01": "tok-ds-01", "gw-kb-01": "tok-kb-01"}


class RecordingPublisher:
    def __init__(self) -> None:
        self.records: list[OutRecord] = []

    async def publish(self, records: Sequence[OutRecord]) -> None:
        await asyncio.sleep(0)
        self.records.extend(records)


def test_source_time_runs_scaled_and_never_beyond_now() -> None:
    config = FleetConfig(start_unix_s=1_000.0, time_scale=50.0)
    assert config.source_time(2.0, now_s=10_000.0) == 1_100.0
    assert config.source_time(1_000.0, now_s=10_000.0) == 10_000.0
    assert FleetConfig().source_time(5.0, now_s=123.0) == 123.0  # real time


@pytest.mark.parametrize(
    "kwargs",
    [{"time_scale": 0.5}, {"time_scale": float("inf")}, {"batch_source_s": 0.0}, {"end_unix_s": 5.0}],
)
def test_bad_compression_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FleetConfig(**kwargs)  # type: ignore[arg-type]


async def test_compressed_replay_covers_the_history_in_order_and_stops_at_the_end() -> None:
    publisher = RecordingPublisher()
    server = build_server(
        TelemetryConfig(listen_address="127.0.0.1:0", gateway_tokens=TOKENS, metrics_port=-1),
        network=NETWORK,
        publisher=publisher,
    )
    await server.start()
    start = float(int(time.time()) // 60 * 60 - 3600)  # an hour of stored history (on every scan grid) ...
    end = start + 600.0  # ... of which 10 minutes are replayed
    try:
        fleet = Fleet(
            NETWORK,
            FleetConfig(
                target=f"127.0.0.1:{server.port}", tokens=TOKENS, first_sequence=1, seed=1,
                start_unix_s=start, time_scale=600.0, batch_source_s=10.0, end_unix_s=end,
            ),
        )  # fmt: skip
        begun = time.monotonic()
        report = await asyncio.wait_for(fleet.run(), 30)
        wall_s = time.monotonic() - begun
    finally:
        await server.stop(grace_s=1.0)

    assert fleet.source_time_s == end
    assert wall_s < 30.0  # ten simulated minutes took far less than ten minutes
    summary = report.summary()
    assert summary["batches_failed"] == summary["batches_dropped"] == summary["readings_rejected"] == 0
    for gateway in TOKENS:
        assert report.gateways[gateway].batches_acked >= 60  # 600 s in 10 s batches
    times = [
        t / 1e6
        for r in publisher.records
        for s in records_pb2.SegmentReadings.FromString(r.value).series
        for t in s.source_time_unix_us
    ]
    assert min(times) == start and max(times) <= end
    assert max(times) >= end - 1.0
