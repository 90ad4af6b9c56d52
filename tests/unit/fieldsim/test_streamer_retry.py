"""fieldsim resends an unacked batch with the same sequence after UNAVAILABLE, and loses none.

Runs against a real in-process telemetry gRPC server whose publisher is a stand-in that refuses the
first attempts (Kafka itself is covered by the integration tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from services.fieldsim import Fleet, FleetConfig
from services.network import load_demo_network
from services.telemetry.bootstrap import build_server
from services.telemetry.config import TelemetryConfig
from services.telemetry.service_layer import OutRecord, PublishUnavailable

NETWORK = load_demo_network()
TOKENS = {"gw-ds-01": "tok-ds-01", "gw-kb-01": "tok-kb-01"}


class FlakyPublisher:
    """Refuses every publish while ``down``; records what it accepted."""

    def __init__(self) -> None:
        self.down = True
        self.records: list[OutRecord] = []
        self.refused = 0

    async def publish(self, records: Sequence[OutRecord]) -> None:
        await asyncio.sleep(0)
        if self.down:
            self.refused += 1
            raise PublishUnavailable("stand-in broker is down")
        self.records.extend(records)


async def test_batches_are_resent_with_the_same_sequence_until_acked() -> None:
    publisher = FlakyPublisher()
    server = build_server(
        TelemetryConfig(listen_address="127.0.0.1:0", gateway_tokens=TOKENS, metrics_port=-1),
        network=NETWORK,
        publisher=publisher,
    )
    await server.start()
    try:
        fleet = Fleet(
            NETWORK,
            FleetConfig(
                target=f"127.0.0.1:{server.port}", tokens=TOKENS, batch_interval_s=0.1, duration_s=1.5,
                first_sequence=100, seed=1, backoff_s=(0.05, 0.2),
            ),
        )  # fmt: skip
        fleet_task = asyncio.ensure_future(fleet.run())
        await asyncio.sleep(0.6)
        assert publisher.refused > 0 and not publisher.records
        publisher.down = False
        report = await fleet_task
    finally:
        await server.stop(grace_s=1.0)

    summary = report.summary()
    assert summary["retries"] > 0
    assert summary["batches_acked"] > 0 and summary["batches_failed"] == summary["batches_dropped"] == 0
    for gateway in TOKENS:
        stats = report.gateways[gateway]
        # Every batch the gateway built was acked exactly once and published exactly once.
        acked = {r.value for r in publisher.records if r.key.decode().startswith(("DS-", "KB-"))}
        assert stats.batches_acked > 0 and acked
        sequences = sorted(
            {int(r.value.split(b"/", 2)[1]) for r in publisher.records if f"{gateway}/".encode() in r.value}
        )
        assert sequences == list(range(100, 100 + len(sequences)))
        assert len(sequences) == stats.batches_acked
