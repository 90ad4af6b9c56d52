"""Fuzz targets for the gRPC APIs: telemetry ingest, workorders, leakdetect's query API, each on a real port.

One target per server; its cases go round the server's methods (so every method gets garbage bytes, mutations
of real requests and structured requests with hostile values, with a valid token on most and a missing,
malformed or foreign one on the rest). Calls go out as raw bytes, so nothing on the client side filters
them. A canary call (a valid request on another connection, as another caller) runs beside the fuzz every
``canary_interval_s``: the server must keep answering it.

Outcomes: OK is accepted; INTERNAL and UNKNOWN are crashes (the server broke, or let a Python exception
out); DEADLINE_EXCEEDED on a unary call is a hang; every other status is a refusal and must carry a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from .core import Case, MessageCases, Outcome, Stats, Target, garbage

REPO = Path(__file__).resolve().parents[2]

T = TypeVar("T")
Metadata = Sequence[tuple[str, str]]
CRASH_CODES = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
# Large enough to send the 1 MB garbage cases: the server's own cap is what is tested.
CLIENT_OPTIONS = [("grpc.max_send_message_length", 64 * 1024 * 1024),
                  ("grpc.max_receive_message_length", 64 * 1024 * 1024)]


class LoopThread:
    """An event loop in a daemon thread, for a grpc.aio server that should not share the fuzzer's loop."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _outcome_of(code: grpc.StatusCode, details: str | None) -> Outcome:
    if code == grpc.StatusCode.OK:
        return Outcome.ok()
    if code in CRASH_CODES:
        return Outcome.crashed(code.name, details or "")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        raise TimeoutError(f"DEADLINE_EXCEEDED: {details}")
    return Outcome.refused(code.name, details or "")


class GrpcApiTarget(Target):
    """Every method of ``service`` on ``address``; subclasses bring the server up and say who calls."""

    kind = "grpc"
    concurrency = 16
    canary_interval_s = 0.25
    call_timeout_s = 8.0
    stream_read_s = 0.3

    def __init__(self, service: ServiceDescriptor, vocabulary: Sequence[str]) -> None:
        self.service = service
        self.vocabulary = list(vocabulary)
        self.methods: list[MethodDescriptor] = list(service.methods)
        self.address = ""
        self.channel: grpc.aio.Channel | None = None
        self.sync_channel: grpc.Channel | None = None
        self.canary_channel: grpc.aio.Channel | None = None
        self._cases: dict[str, MessageCases] = {}
        self._callables: dict[str, Any] = {}

    # --- to fill in -------------------------------------------------------------------------------------
    def seeds(self, method: MethodDescriptor) -> list[bytes]:
        return [b""]

    def metadata(self, rng: random.Random) -> tuple[str, Metadata]:
        return "none", ()

    async def canary_call(self, channel: grpc.aio.Channel) -> None:
        raise NotImplementedError

    async def start_server(self) -> str:
        raise NotImplementedError

    async def stop_server(self) -> None:
        raise NotImplementedError

    # --- the engine -------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.address = await self.start_server()
        self.channel = grpc.aio.insecure_channel(self.address, options=CLIENT_OPTIONS)
        if any(m.client_streaming for m in self.methods):
            self.sync_channel = grpc.insecure_channel(self.address, options=CLIENT_OPTIONS)
        self.canary_channel = grpc.aio.insecure_channel(self.address, options=[("grpc.use_local_subchannel_pool", 1)])
        for method in self.methods:
            request_cls = message_factory.GetMessageClass(method.input_type)
            self._cases[method.name] = MessageCases(request_cls, self.seeds(method), self.vocabulary)
            path = f"/{self.service.full_name}/{method.name}"
            make = {
                (False, False): self.channel.unary_unary,
                (False, True): self.channel.unary_stream,
                (True, False): self.channel.stream_unary,
                (True, True): self.channel.stream_stream,
            }[(method.client_streaming, method.server_streaming)]
            self._callables[method.name] = make(path, request_serializer=bytes, response_deserializer=None)

    async def stop(self) -> None:
        for channel in (self.channel, self.canary_channel):
            if channel is not None:
                await channel.close()
        if self.sync_channel is not None:
            self.sync_channel.close()
        await self.stop_server()

    def replay_metadata(self, case: Case) -> Metadata:
        """The case's metadata; targets whose valid tokens are per process (and expire) issue a fresh one."""
        return tuple((k, v) for k, v in case.extra.get("metadata", ()))

    def cases_for(self, per_entry_point: int) -> int:
        return per_entry_point * len(self.methods)  # every method is an entry point of its own

    def make_case(self, rng: random.Random) -> Case:
        # The methods in turn: N x (methods) cases give each method N (a random pick left some short of N).
        self._turn = getattr(self, "_turn", -1) + 1
        method = self.methods[self._turn % len(self.methods)]
        kind, data = self._cases[method.name].make(rng)
        auth, metadata = self.metadata(rng)
        extra: dict[str, Any] = {"auth": auth, "metadata": [list(m) for m in metadata]}
        if method.client_streaming:  # a few more messages on the same stream
            extra["more"] = [self._cases[method.name].make(rng)[1].hex() for _ in range(rng.randrange(0, 3))]
        return Case(kind, method.name, data, extra)

    async def run(self, case: Case) -> Outcome:
        method = next(m for m in self.methods if m.name == case.label)
        call_fn = self._callables[method.name]
        metadata = self.replay_metadata(case)
        try:
            if not method.client_streaming and not method.server_streaming:
                await call_fn(case.data, metadata=metadata, timeout=self.call_timeout_s)
                return Outcome.ok()
            if not method.client_streaming:
                call = call_fn(case.data, metadata=metadata, timeout=self.call_timeout_s)
                try:
                    deadline = time.monotonic() + self.stream_read_s
                    for _ in range(2):
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        try:
                            message = await asyncio.wait_for(call.read(), left)
                        except TimeoutError:
                            break  # an open stream with nothing to say yet: served
                        if message is grpc.aio.EOF:
                            break
                finally:
                    call.cancel()
                code = await call.code()
                if code == grpc.StatusCode.CANCELLED:
                    return Outcome.ok("OK (stream open)")
                return _outcome_of(code, await call.details())
            payloads = [case.data, *(bytes.fromhex(h) for h in case.extra.get("more", ()))]
            # Client streams go through the blocking client in a thread: the asyncio client reports its own
            # INTERNAL ("Internal error from Core") for a write that races the server's end of the call, hiding
            # the server's status; the blocking client stops writing quietly and reports the server's.
            return await asyncio.to_thread(self._client_stream, method, payloads, metadata)
        except grpc.aio.AioRpcError as error:
            return _outcome_of(error.code(), error.details())

    def _client_stream(self, method: MethodDescriptor, payloads: list[bytes], metadata: Metadata) -> Outcome:
        path = f"/{self.service.full_name}/{method.name}"
        assert self.sync_channel is not None
        try:
            if method.server_streaming:
                for _ in self.sync_channel.stream_stream(path, request_serializer=bytes, response_deserializer=None)(
                    iter(payloads), metadata=metadata, timeout=self.call_timeout_s
                ):
                    pass
            else:
                self.sync_channel.stream_unary(path, request_serializer=bytes, response_deserializer=None)(
                    iter(payloads), metadata=metadata, timeout=self.call_timeout_s
                )
        except grpc.RpcError as error:
            return _outcome_of(error.code(), error.details())  # type: ignore[attr-defined]
        return Outcome.ok()

    async def canary(self) -> None:
        assert self.canary_channel is not None
        await self.canary_call(self.canary_channel)


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


# ============================================================================================== telemetry
class TelemetryTarget(GrpcApiTarget):
    """Telemetry's ingest API, wired as in production (``build_server``) with a real Kafka producer when a
    bootstrap address is given (else an in-memory publisher), on its own event loop thread."""

    name = "grpc.telemetry"

    def __init__(self, kafka_bootstrap: str | None, *, topic_suffix: str = "") -> None:
        from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as tpb
        from services.network import load_demo_network

        self.network = load_demo_network()
        network = self.network
        super().__init__(
            tpb.DESCRIPTOR.services_by_name["TelemetryIngestService"],
            [*network.segments, *network.tags, *network.gateways],
        )
        self.kafka_bootstrap = kafka_bootstrap
        self.topic_suffix = topic_suffix
        gateways = sorted(network.gateways)
        self.fuzz_gateway, self.canary_gateway = gateways[0], gateways[1]
        self.tokens = {g: f"fuzz-token-{i:02d}-{g}" for i, g in enumerate(gateways)}
        self._tags = {g: sorted(t.tag_id for t in network.tags.values() if t.gateway_id == g) for g in gateways}
        self._loop: LoopThread | None = None
        self._server: Any = None
        self._canary_sequence = 0
        self.published = 0

    def _batch(self, gateway: str, sequence: int, rng: random.Random | None = None) -> Any:
        from services.contracts.pipewarden.telemetry.v1 import reading_pb2

        now_us = time.time_ns() // 1000
        tags = self._tags[gateway]
        readings = []
        for i, tag_id in enumerate(tags[:8] if rng is None else rng.sample(tags, min(len(tags), 4))):
            tag = self.network.tags[tag_id]
            value = (tag.range_min + tag.range_max) / 2
            readings.append(reading_pb2.Reading(tag_id=tag_id, source_time_unix_us=now_us - i, value=value,
                                                quality=reading_pb2.QUALITY_GOOD))
        return reading_pb2.ReadingBatch(gateway_id=gateway, batch_sequence=sequence, readings=readings)

    def seeds(self, method: MethodDescriptor) -> list[bytes]:
        from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as tpb

        rng = random.Random(method.name)
        cls = tpb.PublishBatchRequest if method.name == "PublishBatch" else tpb.PublishStreamRequest
        return [cls(batch=self._batch(self.fuzz_gateway, 1_000_000 + i, rng)).SerializeToString() for i in range(8)]

    def metadata(self, rng: random.Random) -> tuple[str, Metadata]:
        roll = rng.random()
        if roll < 0.85:
            return "gateway", bearer(self.tokens[self.fuzz_gateway])
        if roll < 0.9:
            return "none", ()
        if roll < 0.95:
            return "malformed", (("authorization", rng.choice(("Bearer", "Basic abc", "Bearer  ", "bearer x" * 50))),)
        return "unknown", bearer(garbage(rng).hex()[:64] or "x")

    async def start_server(self) -> str:
        from services.telemetry.bootstrap import build_server
        from services.telemetry.config import TelemetryConfig

        config = TelemetryConfig(
            listen_address="127.0.0.1:0",
            gateway_tokens=self.tokens,
            metrics_port=-1,
            kafka_bootstrap=self.kafka_bootstrap or "127.0.0.1:1",
            readings_topic=f"telemetry.readings.v1{self.topic_suffix}",
            rejected_topic=f"telemetry.rejected.v1{self.topic_suffix}",
            kafka_start_timeout_s=60.0,
        )
        publisher = None if self.kafka_bootstrap else _CountingPublisher(self)
        if self.kafka_bootstrap:  # the run's own topics, so the fuzz's records stay out of the real ones
            from kafka.admin import KafkaAdminClient, NewTopic

            admin = KafkaAdminClient(bootstrap_servers=self.kafka_bootstrap)
            try:
                admin.create_topics([NewTopic(config.readings_topic, 3, 1), NewTopic(config.rejected_topic, 1, 1)])
            finally:
                admin.close()
        self._loop = LoopThread("fuzz-telemetry")

        async def up() -> int:
            self._server = build_server(config, network=self.network, publisher=publisher)
            return int(await self._server.start())

        port = self._loop.call(up())
        return f"127.0.0.1:{port}"

    async def stop_server(self) -> None:
        if self._loop is not None:
            if self._server is not None:
                self._loop.call(self._server.stop(grace_s=1.0))
            self._loop.close()

    async def canary_call(self, channel: grpc.aio.Channel) -> None:
        from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2 as tpb
        from services.contracts.pipewarden.telemetry.v1 import telemetry_ingest_service_pb2_grpc as tgrpc

        self._canary_sequence += 1
        batch = self._batch(self.canary_gateway, self._canary_sequence)
        reply = await tgrpc.TelemetryIngestServiceStub(channel).PublishBatch(
            tpb.PublishBatchRequest(batch=batch), metadata=bearer(self.tokens[self.canary_gateway]), timeout=4.0
        )
        if reply.ack.accepted_count != len(batch.readings):
            raise AssertionError(f"canary batch: {reply.ack.accepted_count} of {len(batch.readings)} accepted")


class _CountingPublisher:
    def __init__(self, target: TelemetryTarget) -> None:
        self.target = target

    async def publish(self, records: Sequence[Any]) -> None:
        self.target.published += len(records)


# ============================================================================================= workorders
ROLES = ("dispatcher", "supervisor", "crew", "regulator")


class WorkOrdersTarget(GrpcApiTarget):
    """The workorders API as ``serve`` wires it (``GrpcServer``) on a SQLite event store with a few open work
    orders, in a process of its own (``benchmarks.fuzz.serve_workorders``: the server and the fuzzer each get a
    core); callers present the tokens that process issued with its test key pair, one per ``role@district``."""

    name = "grpc.workorders"
    # Calls in flight: a Watch case holds its stream open for ``stream_read_s`` (waiting, not working); with 12
    # in flight those waits left the server half idle.
    concurrency = 32

    def __init__(self, scratch: Path) -> None:
        from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as wpb
        from services.network import load_demo_network

        network = load_demo_network()
        self.network = network
        self.districts = sorted({s.district for s in network.segments.values()})
        self.order_ids: list[str] = []
        super().__init__(
            wpb.DESCRIPTOR.services_by_name["WorkOrdersService"],
            [*network.segments, *self.districts, *ROLES, "wo-unknown"],
        )
        self.scratch = scratch
        self.process: subprocess.Popen[str] | None = None
        self._tokens: dict[str, str] = {}

    def _token(self, role: str, district: str) -> str:
        return self._tokens[f"{role}@{district}"]

    async def start_server(self) -> str:
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.fuzz.serve_workorders", str(self.scratch)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert self.process.stdout is not None
        line = await asyncio.to_thread(self.process.stdout.readline)
        if not line:
            raise RuntimeError(f"the workorders server process exited {self.process.wait()} before serving")
        hello = json.loads(line)
        self._tokens = hello["tokens"]
        self.order_ids = list(hello["order_ids"])
        self.vocabulary.extend(self.order_ids)
        return str(hello["address"])

    def server_exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    async def run(self, case: Case) -> Outcome:
        outcome = await super().run(case)
        if outcome.status == "UNAVAILABLE" and self.server_exited() is not None:
            return Outcome.crashed("UNAVAILABLE", f"the workorders server process exited {self.server_exited()}")
        return outcome

    async def finish(self, stats: Stats) -> None:
        code = self.server_exited()
        if code is not None:
            stats.crashes += 1
            stats.note_failure(f"the workorders server process exited {code} during the fuzz")

    async def stop_server(self) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                await asyncio.to_thread(self.process.wait, 30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def seeds(self, method: MethodDescriptor) -> list[bytes]:
        request_cls = message_factory.GetMessageClass(method.input_type)
        seeds = [request_cls().SerializeToString()]
        fields = request_cls.DESCRIPTOR.fields_by_name
        for order_id in self.order_ids[:3]:
            message = request_cls()
            for name in ("work_order_id", "order_id", "id"):
                if name in fields and fields[name].type == fields[name].TYPE_STRING:
                    setattr(message, name, order_id)
            for name in ("district", "districts"):
                if name in fields:
                    if fields[name].is_repeated:
                        getattr(message, name).append(self.districts[0])
                    else:
                        setattr(message, name, self.districts[0])
            seeds.append(message.SerializeToString())
        return seeds

    def metadata(self, rng: random.Random) -> tuple[str, Metadata]:
        roll = rng.random()
        if roll < 0.85:
            role = rng.choice(ROLES)
            district = rng.choice([*self.districts, "*"])
            return f"{role}@{district}", bearer(self._token(role, district))
        if roll < 0.9:
            return "none", ()
        if roll < 0.95:
            from tests.support.tokens import foreign_token

            return "foreign", bearer(foreign_token())
        return "malformed", (("authorization", "Bearer " + rng.choice(("a.b.c", "x" * 5000, "e30.e30.", ""))),)

    def replay_metadata(self, case: Case) -> Metadata:
        # A saved case names its caller (role@district), not its token: the signing key is the server process's
        # own and tokens expire, so a case from the corpus gets a fresh token of the same caller.
        caller = str(case.extra.get("auth", ""))
        if caller in self._tokens:
            return bearer(self._tokens[caller])
        return super().replay_metadata(case)

    async def canary_call(self, channel: grpc.aio.Channel) -> None:
        from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as wpb
        from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as wgrpc

        reply = await wgrpc.WorkOrdersServiceStub(channel).ListWorkOrders(
            wpb.ListWorkOrdersRequest(), metadata=bearer(self._token("supervisor", "*")), timeout=4.0
        )
        if not reply.work_orders:
            raise AssertionError("canary ListWorkOrders returned no work orders")


# ========================================================================================== leakdetect query
class LeakQueryTarget(GrpcApiTarget):
    """Leakdetect's query API (``QueryServer``) over the views of a processor that has seen real readings."""

    name = "grpc.leakdetect-query"
    concurrency = 12

    def __init__(self, views: Callable[[], Mapping[str, Any]]) -> None:
        from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as qpb
        from services.network import load_demo_network

        self.network = load_demo_network()
        super().__init__(qpb.DESCRIPTOR.services_by_name["LeakQueryService"],
                         [*self.network.segments, *{s.district for s in self.network.segments.values()}])
        self.views = views
        self.server: Any = None
        self._token: str | None = None

    def _auth(self) -> Metadata:
        # The query API takes a token once it authenticates (issue 22): send one of the project's test tokens.
        if self._token is None:
            try:
                from tests.support.tokens import issue

                self._token = issue("supervisor", ["*"], subject="fuzz-query")
            except Exception:
                self._token = ""
        return bearer(self._token) if self._token else ()

    async def start_server(self) -> str:
        import inspect

        from services.leakdetect.entrypoints import query_grpc

        parameters = inspect.signature(query_grpc.LeakQueryServicer).parameters
        kwargs: dict[str, Any] = {}
        if "verifier" in parameters:
            from tests.support.tokens import LEAKDETECT_VERIFIER

            kwargs["verifier"] = LEAKDETECT_VERIFIER
        servicer = query_grpc.LeakQueryServicer(self.network, self.views, **kwargs)
        self.server = query_grpc.QueryServer(servicer, 0)
        self.server.start()
        return f"127.0.0.1:{self.server.port}"

    async def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()

    def seeds(self, method: MethodDescriptor) -> list[bytes]:
        request_cls = message_factory.GetMessageClass(method.input_type)
        seeds = [request_cls().SerializeToString()]
        if "segment_id" in request_cls.DESCRIPTOR.fields_by_name:
            seeds += [request_cls(segment_id=s).SerializeToString()  # type: ignore[call-arg]
                      for s in list(self.network.segments)[:5]]
        return seeds

    def metadata(self, rng: random.Random) -> tuple[str, Metadata]:
        roll = rng.random()
        if roll < 0.9:
            return "valid", self._auth()
        if roll < 0.95:
            return "none", ()
        return "malformed", (("authorization", "Bearer " + rng.choice(("a.b.c", "x" * 3000, ""))),)

    async def canary_call(self, channel: grpc.aio.Channel) -> None:
        from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as qpb
        from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2_grpc as qgrpc

        segment = next(iter(self.network.segments))
        await qgrpc.LeakQueryServiceStub(channel).GetSegmentStatus(
            qpb.GetSegmentStatusRequest(segment_id=segment), metadata=self._auth(), timeout=4.0
        )
