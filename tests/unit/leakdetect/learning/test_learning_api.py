"""Learning commands on leakdetect's query API (gRPC, on a real port) and its CLI: who may (one permission table,
every refusal tested from it), garbage refused with the problem named, a command queued with the caller and
the segment, and the baseline in the status API."""

from __future__ import annotations

import io
import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2 as qpb
from services.contracts.pipewarden.leakdetect.v1 import leak_query_service_pb2_grpc as qgrpc
from services.contracts.pipewarden.leakdetect.v1 import learning_pb2
from services.leakdetect.domain import BaselineStatus
from services.leakdetect.entrypoints import learn_cli
from services.leakdetect.entrypoints.query_grpc import LeakQueryServicer, QueryServer
from services.leakdetect.service_layer.learning import LEARNING_PERMISSIONS, CommandPublishError
from services.network import load_demo_network
from tests.support.tokens import LEAKDETECT_VERIFIER, issue

NETWORK = load_demo_network()
ROLES = ("dispatcher", "crew", "supervisor", "regulator")
NOW_S = 1_767_230_000.0
SEG, DISTRICT, FOREIGN = "TR-03", "Kangbashi", "Dongsheng"

BASELINE = BaselineStatus(
    learned=True, source="leak_free", learned_unix_s=NOW_S, window_start_unix_s=NOW_S - 3000, blocks=90,
    offset_kg_per_s=-0.012, offset_sd_kg_per_s=0.001, gain=0.003, gain_sd=0.0004, kappa=1.1,
    throughput_kg_per_s=4.5, learning="idle", learning_blocks=0, learning_window_blocks=120,
    skipped_transient_blocks=2, skipped_transient_blocks_total=9, next_relearn_unix_s=NOW_S + 21600,
    relearns_adopted=1, relearns_rejected=2, last_rejection="offset_step", friction_k=None, friction_k_sd=None,
    friction_calibration_blocks=0.0, mdlr_15min_kg_per_s=math.inf)


def _view() -> SimpleNamespace:
    status = SimpleNamespace(window_s=(), imbalance_kg_per_s=(), statistic=(), threshold=(), mdlr_kg_per_s=0.03,
                             clock_us=1, tag_health={}, baseline=BASELINE)
    return SimpleNamespace(segment_id=SEG, district=DISTRICT, status=status, active_alarm=None, history=(),
                           readings=1, late_dropped=0, duplicates=0,
                           last_command={"command_id": "c-1", "outcome": "refused", "message": "out of reach",
                                         "requested_by": "supervisor:ann"})


class Recorder:
    def __init__(self) -> None:
        self.sent: list[learning_pb2.LearningCommand] = []
        self.down = False

    def __call__(self, cmd: learning_pb2.LearningCommand) -> None:
        if self.down:
            raise CommandPublishError("KafkaTimeoutError: no broker")
        self.sent.append(cmd)


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[qgrpc.LeakQueryServiceStub, Recorder, int]]:
    recorder = Recorder()
    servicer = LeakQueryServicer(NETWORK, lambda: {SEG: _view()}, LEAKDETECT_VERIFIER, recorder,  # type: ignore[arg-type,dict-item]
                                 clock_s=lambda: NOW_S)
    server = QueryServer(servicer, port=0)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield qgrpc.LeakQueryServiceStub(channel), recorder, server.port
    finally:
        server.stop(0.2)


def _auth(role: str, districts: list[str]) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {issue(role, districts, subject='ann')}"),)


def _call(stub: qgrpc.LeakQueryServiceStub, method: str, meta, segment: str = SEG, **fields):  # type: ignore[no-untyped-def]
    if method == "LearnNow":
        return stub.LearnNow(qpb.LearnNowRequest(segment_id=segment, **fields), metadata=meta, timeout=10)
    fields = fields or {"start_unix_us": int((NOW_S - 3600) * 1e6), "end_unix_us": int((NOW_S - 600) * 1e6)}
    return stub.MarkLeakFree(qpb.MarkLeakFreeRequest(segment_id=segment, **fields), metadata=meta, timeout=10)


def _refused(call) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details() or ""  # type: ignore[attr-defined]


@pytest.mark.parametrize(("method", "role"), list(itertools.product(sorted(LEARNING_PERMISSIONS), ROLES)))
def test_the_permission_table_decides_who_may(api, method: str, role: str) -> None:
    stub, recorder, _ = api
    before = len(recorder.sent)
    if role in LEARNING_PERMISSIONS[method]:
        reply = _call(stub, method, _auth(role, [DISTRICT]))
        cmd = recorder.sent[-1]
        assert cmd.command_id == reply.command_id and cmd.segment_id == SEG and cmd.requested_by == f"{role}:ann"
        assert cmd.WhichOneof("kind") == ("learn_now" if method == "LearnNow" else "mark_leak_free")
        # ... and only in its own districts
        code, details = _refused(lambda: _call(stub, method, _auth(role, [FOREIGN])))
        assert code == grpc.StatusCode.PERMISSION_DENIED and DISTRICT in details
        assert len(recorder.sent) == before + 1
    else:
        code, details = _refused(lambda: _call(stub, method, _auth(role, ["*"])))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert f"role {role!r} may not call {method}" in details and "allowed: supervisor" in details
        assert len(recorder.sent) == before


def test_the_obvious_roles_are_in_the_table() -> None:
    for method in ("LearnNow", "MarkLeakFree"):
        assert "supervisor" in LEARNING_PERMISSIONS[method]
        assert not {"regulator", "dispatcher"} & LEARNING_PERMISSIONS[method]


def test_learn_now_without_a_time_means_now(api) -> None:
    stub, recorder, _ = api
    _call(stub, "LearnNow", _auth("supervisor", [DISTRICT]))
    assert recorder.sent[-1].learn_now.at_unix_us == int(NOW_S * 1e6)


@pytest.mark.parametrize(("method", "segment", "fields", "code", "text"), [
    ("LearnNow", "", {}, grpc.StatusCode.INVALID_ARGUMENT, "segment_id is required"),
    ("LearnNow", "x" * 300, {}, grpc.StatusCode.INVALID_ARGUMENT, "segment_id is required"),
    ("LearnNow", "NO-SUCH", {}, grpc.StatusCode.NOT_FOUND, "unknown segment 'NO-SUCH'"),
    ("LearnNow", SEG, {"at_unix_us": 5}, grpc.StatusCode.INVALID_ARGUMENT, "before 2000-01-01"),
    ("LearnNow", SEG, {"at_unix_us": -10**15}, grpc.StatusCode.INVALID_ARGUMENT, "before 2000-01-01"),
    ("MarkLeakFree", SEG, {"start_unix_us": 0, "end_unix_us": 0}, grpc.StatusCode.INVALID_ARGUMENT,
     "before 2000-01-01"),
    ("MarkLeakFree", SEG, {"start_unix_us": int(NOW_S * 1e6), "end_unix_us": int(NOW_S * 1e6) - 1},
     grpc.StatusCode.INVALID_ARGUMENT, "must end after it starts"),
    ("MarkLeakFree", "ééé", {}, grpc.StatusCode.NOT_FOUND, "unknown segment"),
])
def test_garbage_requests_are_refused_with_the_problem_named(api, method, segment, fields, code, text) -> None:
    stub, recorder, _ = api
    before = len(recorder.sent)
    got, details = _refused(lambda: _call(stub, method, _auth("supervisor", ["*"]), segment, **fields))
    assert got == code and text in details
    assert len(recorder.sent) == before


def test_undecodable_bytes_are_invalid_argument(api) -> None:
    _, _recorder, port = api
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        raw = channel.unary_unary("/pipewarden.leakdetect.v1.LeakQueryService/MarkLeakFree")
        with pytest.raises(grpc.RpcError) as caught:
            raw(b"\xff\xff\xff\xff", metadata=_auth("supervisor", ["*"]), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_an_unreachable_broker_is_unavailable_and_says_so(api) -> None:
    stub, recorder, _ = api
    recorder.down = True
    try:
        code, details = _refused(lambda: _call(stub, "LearnNow", _auth("supervisor", [DISTRICT])))
    finally:
        recorder.down = False
    assert code == grpc.StatusCode.UNAVAILABLE and "not queued" in details and "no broker" in details


def test_status_reports_the_baseline_and_the_last_command(api) -> None:
    stub, _, _ = api
    st = stub.GetSegmentStatus(qpb.GetSegmentStatusRequest(segment_id=SEG), metadata=_auth("regulator", ["*"]),
                               timeout=10).status
    b = st.baseline
    assert b.learned and b.source == "leak_free" and b.blocks == 90 and b.gain == pytest.approx(0.003)
    assert b.learned_unix_us == int(NOW_S * 1e6) and b.relearns_rejected == 2 and b.last_rejection == "offset_step"
    assert b.mdlr_15min_kg_per_s == 0.0 and b.friction_k == 0.0  # infinite / unknown: 0
    assert b.last_command.outcome == "refused" and b.last_command.message == "out of reach"


# --- the CLI -----------------------------------------------------------------------------------------------
def _cli(*argv: str, token: str | None = None, tmp: Path | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = list(argv)
    if token is not None and tmp is not None:
        f = tmp / "token"
        f.write_text(token)
        args = ["--token-file", str(f), *args]
    return learn_cli.main(args, stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_cli_queues_commands_and_shows_status(api, tmp_path: Path) -> None:
    _, recorder, port = api
    addr = ("--address", f"127.0.0.1:{port}")
    sup = issue("supervisor", [DISTRICT])
    code, out, err = _cli(*addr, "leak-free", SEG, "--start", "2026-01-01T01:00", "--end", "2026-01-01T01:50",
                          token=sup, tmp=tmp_path)
    assert code == 0 and "queued as" in out, err
    assert recorder.sent[-1].mark_leak_free.start_unix_us == 1_767_229_200_000_000
    code, out, _ = _cli(*addr, "now", SEG, "--at", "1767229200", token=sup, tmp=tmp_path)
    assert code == 0 and recorder.sent[-1].learn_now.at_unix_us == 1_767_229_200_000_000
    code, out, _ = _cli(*addr, "status", SEG, token=issue("regulator", ["*"]), tmp=tmp_path)
    assert code == 0 and "leak_free" in out and "last command c-1 by supervisor:ann: refused: out of reach" in out
    code, out, _ = _cli(*addr, "--json", "status", SEG, token=issue("regulator", ["*"]), tmp=tmp_path)
    assert code == 0 and json.loads(out)["source"] == "leak_free"


@pytest.mark.parametrize(("argv", "code", "text"), [
    (("now",), 2, "the following arguments are required: segment"),
    (("now", SEG, "--at", "yesterday"), 2, "neither seconds since 1970 nor an ISO 8601 time"),
    (("now", SEG, "--at", "nan"), 2, "not a time between 2000 and 3000"),
    (("leak-free", SEG, "--start", "2026-01-01T01:00"), 2, "--end"),
    (("leak-free", SEG, "--start", "2026-01-01T02:00", "--end", "2026-01-01T01:00"), 2, "--end must be after"),
    (("frobnicate", SEG), 2, "invalid choice"),
    (("--timeout", "-1", "now", SEG), 2, "--timeout must be a positive"),
    (("--tls-ca", "/no/such/ca.pem", "now", SEG), 2, "no such file"),
])
def test_cli_garbage_is_named_without_a_traceback(api, tmp_path: Path, argv, code, text, capsys) -> None:
    _, _, port = api
    got, _out, err = _cli("--address", f"127.0.0.1:{port}", *argv, token=issue("supervisor", ["*"]), tmp=tmp_path)
    err += capsys.readouterr().err  # argparse writes to the real stderr
    assert got == code and text in err and "Traceback" not in err


def test_cli_refusals_and_a_missing_token_are_said(api, tmp_path: Path, monkeypatch) -> None:
    _, _, port = api
    addr = ("--address", f"127.0.0.1:{port}")
    code, _, err = _cli(*addr, "now", SEG, token=issue("dispatcher", ["*"]), tmp=tmp_path)
    assert code == 1 and "refused (PERMISSION_DENIED)" in err and "may not call LearnNow" in err
    monkeypatch.delenv(learn_cli.TOKEN_ENV, raising=False)
    code, _, err = _cli(*addr, "now", SEG)
    assert code == 2 and "no token" in err
    (tmp_path / "empty").write_text("")
    code, _, err = _cli(*addr, "--token-file", str(tmp_path / "empty"), "now", SEG)
    assert code == 2 and "is empty" in err
    code, _, err = _cli("--address", "127.0.0.1:1", "--timeout", "0.5", "now", SEG, token="x", tmp=tmp_path)
    assert code == 1 and "cannot reach leakdetect" in err
