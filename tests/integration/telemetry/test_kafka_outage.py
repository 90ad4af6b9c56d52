"""With the broker down a batch is refused with UNAVAILABLE (never acked); after a restart the
gateway's retry of the same batch is stored and nothing is lost."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest

from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as api
from services.fieldsim import Fleet, FleetConfig

from .conftest import NETWORK, TOKENS, auth, make_batch, unique_sequence
from .test_ingest import READINGS, publish, records_of

pytestmark = pytest.mark.integration


async def test_broker_down_unavailable_then_retry_succeeds(kafka_broker: Any, start_telemetry: Any) -> None:
    if kafka_broker.external:
        pytest.skip("needs a broker the tests can stop")
    running = await start_telemetry()
    gateway, seq = "gw-transmission", unique_sequence()
    assert (await publish(running, make_batch(NETWORK, gateway, seq))).accepted_count > 0

    batch = make_batch(NETWORK, gateway, seq + 1)
    await asyncio.to_thread(kafka_broker.stop)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await publish(running, batch)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "retry with the same batch_sequence" in (caught.value.details() or "")
        call = running.stub.PublishStream(metadata=auth(gateway))
        await call.write(api.PublishStreamRequest(batch=batch))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert running.server.metrics.kafka_errors._value.get() == 2
    finally:
        await asyncio.to_thread(kafka_broker.start)

    # The gateway retries until it gets an ack (the producer may need a moment to reconnect).
    deadline = time.monotonic() + 30
    while True:
        try:
            ack = await publish(running, batch)
            break
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() < deadline, "no ack 30 s after the broker came back"
            await asyncio.sleep(0.5)
    assert not ack.duplicate_batch and ack.accepted_count == len(batch.readings)

    found = await records_of(running.bootstrap, READINGS, f"{gateway}/{seq + 1}/")
    segments = {t.segment_id for t in NETWORK.tags_of_gateway(gateway)}
    # Every segment's record is there; a copy from the refused attempt may exist, with the same record id.
    assert {m.segment_id for _, m in found} == segments
    for segment in segments:
        copies = [m for _, m in found if m.segment_id == segment]
        assert all(
            m.SerializeToString() == copies[0].SerializeToString() or m.record_id == copies[0].record_id
            for m in copies
        )
        assert sum(len(s.values_si) for s in copies[0].series) == sum(
            1 for r in batch.readings if NETWORK.tags[r.tag_id].segment_id == segment
        )


async def test_fieldsim_streams_a_city_and_rejects_show_up(start_telemetry: Any) -> None:
    running = await start_telemetry()
    fleet = Fleet(
        NETWORK,
        FleetConfig(target=running.target, tokens=TOKENS, batch_interval_s=0.25, duration_s=2.0, seed=5),
    )
    fleet.config.bad.fraction = 0.5
    report = await fleet.run()
    summary = report.summary()
    assert summary["batches_acked"] == summary["batches_sent"] > 8
    assert summary["readings_rejected"] > 0 and summary["readings_accepted"] > 100
    assert summary["batches_failed"] == summary["retries"] == 0
    metrics = running.server.metrics
    assert metrics.accepted._value.get() == summary["readings_accepted"]
