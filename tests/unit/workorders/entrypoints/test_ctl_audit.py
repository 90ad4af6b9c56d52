"""``ctl audit``: the audit trail from a terminal (a regulator's token), as a table or JSON; garbage exits 2."""

from __future__ import annotations

import json

import pytest

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.workorders.entrypoints.ctl import TOKEN_ENV, main, parser
from services.workorders.entrypoints.runtime import Runtime
from tests.support.workorders_api import Api, auth, token


def _ctl(api: Api, *argv: str) -> int:
    return main(["--address", api.address, *argv])


def test_the_audit_verb_is_listed_and_takes_its_filters() -> None:
    args = parser().parse_args(
        [
            "audit",
            "--since",
            "2026-12-06T08:00",
            "--until",
            "1796544000000001",
            "--outcome",
            "refused",
            "--subject",
            "bo",
        ]
    )
    assert args.since == 1_796_544_000_000_000 and args.until == 1_796_544_000_000_001  # 2026-12-06T08:00Z
    assert (args.outcome, args.subject) == (["refused"], ["bo"])
    assert "audit" in parser().format_help()


def test_a_regulator_reads_the_trail_as_a_table_and_as_json(
    runtime: Runtime, api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(Exception):  # noqa: B017 - any refusal: we only need it recorded
        api.stub.ListHazards(
            pb.ListHazardsRequest(districts=["Kangbashi"]), metadata=auth(token("crew", ["Dongsheng"], subject="bo"))
        )
    monkeypatch.setenv(TOKEN_ENV, token("regulator", ["*"], subject="reg"))
    assert _ctl(api, "audit", "--outcome", "refused") == 0
    out = capsys.readouterr().out
    assert out.startswith("audit trail") and "subject" in out and "peer" in out
    row = next(line for line in out.splitlines() if " bo " in line)
    assert "ListHazards" in row and "permission_denied" in row and "crew" in row
    assert _ctl(api, "--json", "audit", "--subject", "bo") == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["subject"], r["action"], r["outcome"]) for r in records] == [("bo", "ListHazards", "permission_denied")]


def test_a_dispatcher_is_refused_by_the_server(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, token("dispatcher", ["Dongsheng"], subject="ana"))
    assert _ctl(api, "audit") == 1
    assert "refused (PERMISSION_DENIED)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["audit", "--since", "yesterday"], ["audit", "--until", "-5"], ["audit", "--limit", "many"]],
)
def test_garbage_audit_command_lines_exit_2(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "x")
    with pytest.raises(SystemExit) as exited:
        main(["--address", "127.0.0.1:1", *argv])
    assert exited.value.code == 2


def test_a_limit_below_one_exits_2(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, token("regulator", ["*"]))
    assert _ctl(api, "audit", "--limit", "0") == 2
    assert "--limit" in capsys.readouterr().err


def test_the_servers_refusal_of_a_bad_range_is_shown(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, token("regulator", ["*"]))
    assert _ctl(api, "audit", "--since", "2026-12-06T10:00", "--until", "2026-12-06T09:00") == 1
    assert "refused (INVALID_ARGUMENT): since_unix_us" in capsys.readouterr().err
