"""The audit trail on PostgreSQL: two servers writing one day's stream at once lose and duplicate nothing,
and a regulator reads the whole trail back through the API."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.workorders.bootstrap import build_runtime
from services.workorders.domain.audit import AuditRecord, audit_stream, day_of
from services.workorders.entrypoints.runtime import Runtime
from tests.support.workorders_api import auth, grpc_api, token

pytestmark = pytest.mark.integration
PER_WRITER = 300
NOW_US = 1_796_544_000_000_000  # 2026-12-06T08:00Z


@pytest.fixture
def runtimes(postgres_schema_url: str) -> Iterator[tuple[Runtime, Runtime]]:
    first, second = build_runtime(postgres_schema_url), build_runtime(postgres_schema_url)
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def _record(writer: str, i: int) -> AuditRecord:
    return AuditRecord(
        at_unix_us=NOW_US + i,
        subject=f"{writer}-{i}",
        role="crew",
        token_districts=("Dongsheng",),
        action="work_order.regrade",
        target="workorder-x",
        district="Dongsheng",
        outcome="permission_denied",
        reason="no",
        peer="ipv4:10.0.0.1:1",
    )


def test_two_servers_write_one_days_stream_at_once(runtimes: tuple[Runtime, Runtime]) -> None:
    errors: list[BaseException] = []

    def write(runtime: Runtime, writer: str) -> None:
        try:
            trail = runtime.app.audit
            for i in range(PER_WRITER):
                trail.record(_record(writer, i), capped=False)
                if i % 50 == 49:
                    trail.flush()
            trail.flush(final=True)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(rt, name)) for rt, name in zip(runtimes, ("a", "b"), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert runtimes[0].app.audit.stats.flush_failures == runtimes[1].app.audit.stats.flush_failures == 0
    store = runtimes[0].store
    assert store.stream_version(audit_stream(day_of(NOW_US))) == 2 * PER_WRITER

    with grpc_api(runtimes[1]) as api:
        meta = auth(token("regulator", ["*"], subject="reg"))
        subjects: list[str] = []
        page = ""
        while True:
            reply = api.stub.ListAuditRecords(
                pb.ListAuditRecordsRequest(
                    since_unix_us=NOW_US, until_unix_us=NOW_US + 10**6, page_size=250, page_token=page
                ),
                metadata=meta,
            )
            subjects += [r.subject for r in reply.records]
            page = reply.next_page_token
            if not page:
                break
        assert sorted(subjects) == sorted(f"{w}-{i}" for w in "ab" for i in range(PER_WRITER))
        with pytest.raises(grpc.RpcError) as denied:
            api.stub.ListAuditRecords(pb.ListAuditRecordsRequest(), metadata=auth(token("supervisor", ["*"])))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
