"""Learning commands end to end on the real broker: a supervisor's "learn now" and "this period was leak-free"
go through the worker's query API onto leak.learning-commands.v1 and are applied by the worker that owns the
segment (their outcome in its status); a dispatcher is refused; a garbage command record is dead-lettered and
the stream goes on."""

from __future__ import annotations

import grpc
import pytest
from kafka import KafkaProducer

from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as qpb
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2_grpc as qgrpc
from services.network import load_demo_network
from services.topics import LEAK_DEAD_LETTER, LEAK_LEARNING_COMMANDS
from services.topics.codecs import DLQ_SOURCE_TOPIC
from tests.fixtures.kafka import consume_all
from tests.support import tokens
from tests.support.leakdetect_scenario import T0_US, LeakScenario

from .conftest import produce, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

NETWORK = load_demo_network()
SEG = "KB-M03"  # Kangbashi; no other test's segment
SCENARIO = LeakScenario(segment_id=SEG, gateway_id="gw-kb-03", leak_start_s=None, seconds=720, pressure_hz=1)
GARBAGE = b"\x0a\xff\xff not a learning command"


def test_commands_reach_the_owning_worker_and_garbage_is_dead_lettered(kafka_bootstrap: str, worker_factory) -> None:
    produce(kafka_bootstrap, SCENARIO.records(NETWORK, 0, 600))
    worker = worker_factory()
    worker.start()
    wait_for(lambda: worker.status(SEG).readings_processed > 0, 150, f"{SEG} served")
    sup = (("authorization", f"Bearer {tokens.issue('supervisor', ['Kangbashi'], subject='ann')}"),)
    dispatcher = (("authorization", f"Bearer {tokens.issue('dispatcher', ['*'])}"),)
    with grpc.insecure_channel(f"127.0.0.1:{worker.grpc_port}") as channel:
        stub = qgrpc.LeakQueryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.LearnNow(qpb.LearnNowRequest(segment_id=SEG), metadata=dispatcher, timeout=10)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        learn = stub.LearnNow(qpb.LearnNowRequest(segment_id=SEG, at_unix_us=T0_US + 300_000_000), metadata=sup,
                              timeout=20)
    # a garbage record on the command topic, then more readings
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    producer.send(LEAK_LEARNING_COMMANDS.name, key=SEG.encode(), value=GARBAGE).get(30)
    producer.close()
    produce(kafka_bootstrap, SCENARIO.records(NETWORK, 600, 660, first_seq=600))

    def last_command():  # type: ignore[no-untyped-def]
        b = worker.status(SEG).baseline
        return b.last_command if b.last_command.command_id else None

    done = wait_for(lambda: (c := last_command()) is not None and c.command_id == learn.command_id and c, 120,
                    "the learn-now command applied")
    assert done.outcome == "applied" and done.requested_by == "supervisor:ann"
    with grpc.insecure_channel(f"127.0.0.1:{worker.grpc_port}") as channel:
        free = qgrpc.LeakQueryServiceStub(channel).MarkLeakFree(qpb.MarkLeakFreeRequest(
            segment_id=SEG, start_unix_us=T0_US + 400_000_000, end_unix_us=T0_US + 460_000_000), metadata=sup,
            timeout=20)
    produce(kafka_bootstrap, SCENARIO.records(NETWORK, 660, 720, first_seq=660))
    refused_cmd = wait_for(lambda: (c := last_command()) is not None and c.command_id == free.command_id
                           and c.outcome != "pending" and c, 120, "the leak-free command decided")
    # a minute is too short a period to fit a baseline on: refused, and why
    assert refused_cmd.outcome == "refused" and "fewer than 3 groups" in refused_cmd.message
    dead = [r for r in consume_all(kafka_bootstrap, LEAK_DEAD_LETTER.name) if r.value == GARBAGE]
    assert dead and dead[0].header(DLQ_SOURCE_TOPIC) == LEAK_LEARNING_COMMANDS.name.encode()
    assert worker.status(SEG).readings_processed > 0
