"""``python -m services.workorders ctl``: the API's command-line client against the real gRPC server.

It acts with the caller's token and shows the server's refusals as they are; garbage on its command line,
a missing token and an unreachable server each give a clear message and an exit code, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.workorders.adapters.alarms import alarm_facts
from services.workorders.domain.workorder import work_order_id_for_alarm
from services.workorders.entrypoints.cli import main as cli_main
from services.workorders.entrypoints.ctl import TOKEN_ENV, main
from services.workorders.entrypoints.runtime import Runtime
from tests.fixtures.kafka import free_port
from tests.support.workorders_api import Api, alarm, token

DISTRICT = "Dongsheng"
OTHER = "Kangbashi"
ROOT = Path(__file__).resolve().parents[4]


def _open(runtime: Runtime, alarm_id: str, district: str = DISTRICT) -> str:
    segment = next(s.segment_id for s in runtime.network.segments.values() if s.district == district)
    runtime.app.handle_alarm(alarm_facts(alarm(alarm_id, segment, district)), f"{alarm_id}/0")
    runtime.runner.run_until_caught_up()
    return work_order_id_for_alarm(alarm_id)


@pytest.fixture
def as_dispatcher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, token("dispatcher", [DISTRICT], subject="ana"))


def _ctl(api: Api, *argv: str) -> int:
    return main(["--address", api.address, *argv])


@pytest.mark.usefixtures("as_dispatcher")
def test_list_show_and_a_lifecycle_through_the_api(
    runtime: Runtime, api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    order_id = _open(runtime, "CTL-1")
    assert _ctl(api, "list", "--open") == 0
    listed = capsys.readouterr().out
    assert order_id in listed and "triaged" in listed

    assert _ctl(api, "dispatch", order_id, "--crew-id", "crew-7", "--expected-version", "1") == 0
    assert "now dispatched" in capsys.readouterr().out
    assert _ctl(api, "acknowledge", order_id) == 0
    assert _ctl(api, "depart", order_id) == 0
    assert _ctl(api, "arrive", order_id) == 0
    assert _ctl(api, "make-safe", order_id, "--measures", "valve closed") == 0
    assert "now made_safe" in capsys.readouterr().out.splitlines()[-1]

    assert _ctl(api, "--json", "show", order_id) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"] == "made_safe" and shown["crew_id"] == "crew-7"


@pytest.mark.usefixtures("as_dispatcher")
def test_refusals_are_the_servers_own(runtime: Runtime, api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    order_id = _open(runtime, "CTL-2")
    assert _ctl(api, "close", order_id, "--notes", "too early") == 1
    assert "refused (FAILED_PRECONDITION): cannot close" in capsys.readouterr().err
    assert _ctl(api, "dispatch", order_id, "--crew-id", "c", "--expected-version", "7") == 1
    assert "refused (ABORTED)" in capsys.readouterr().err
    assert _ctl(api, "regrade", order_id, "--grade", "2", "--reason", "dispatchers may not") == 1
    assert "refused (PERMISSION_DENIED)" in capsys.readouterr().err
    foreign = _open(runtime, "CTL-3", OTHER)
    assert _ctl(api, "show", foreign) == 1  # another district's order: the API does not even confirm it exists
    assert "refused (NOT_FOUND)" in capsys.readouterr().err
    assert _ctl(api, "dispatch", order_id, "--crew-id", "crew\x00x") == 1
    assert "refused (INVALID_ARGUMENT)" in capsys.readouterr().err


def test_token_from_a_file_and_wrong_tokens(
    runtime: Runtime, api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    token_file = tmp_path / "token"
    token_file.write_text(token("regulator", ["*"]) + "\n")
    _open(runtime, "CTL-4")
    assert _ctl(api, "--token-file", str(token_file), "report", "open-work-orders") == 0
    assert "open-work-orders" in capsys.readouterr().out

    assert _ctl(api, "list") == 2
    assert f"no token: give --token-file FILE or set {TOKEN_ENV}" in capsys.readouterr().err
    assert _ctl(api, "--token-file", str(tmp_path / "missing"), "list") == 2
    assert "cannot read the token file" in capsys.readouterr().err
    (tmp_path / "empty").write_text("  \n")
    assert _ctl(api, "--token-file", str(tmp_path / "empty"), "list") == 2
    assert "is empty" in capsys.readouterr().err
    monkeypatch.setenv(TOKEN_ENV, "not-a-jwt")
    assert _ctl(api, "list") == 1
    assert "refused (UNAUTHENTICATED)" in capsys.readouterr().err


def test_unreachable_server_is_named(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, token("dispatcher", [DISTRICT]))
    address = f"127.0.0.1:{free_port()}"
    assert main(["--address", address, "--timeout", "1", "list"]) == 1
    assert f"cannot reach workorders at {address}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["dispatch"],
        ["dispatch", "wo-1", "--crew-id"],
        ["regrade", "wo-1", "--grade", "two"],
        ["list", "--grade", "4"],
        ["report", "no-such-report"],
        ["hazard", "sign-off", "h-1", "--level", "1.5"],
        ["--timeout", "soon", "list"],
    ],
)
def test_garbage_command_lines_exit_2(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, token("dispatcher", [DISTRICT]))
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


@pytest.mark.usefixtures("as_dispatcher")
def test_report_through_the_api_draws_counts_on_whole_number_ticks(
    runtime: Runtime, api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _open(runtime, "CTL-5")
    png = tmp_path / "open.png"
    assert _ctl(api, "report", "open-work-orders", "--png", str(png)) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "as of global position" in capsys.readouterr().out


def test_the_chart_of_a_count_report_has_integer_ticks(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from services.workorders.entrypoints import tables
    from services.workorders.service_layer.views import Table

    table = Table("open-work-orders", ("district", "open"), (("Dongsheng", 1), ("Kangbashi", 0)))
    drawn: list[list[float]] = []
    original = plt.Figure.savefig

    def keep_ticks(figure: plt.Figure, *args: object, **kwargs: object) -> None:
        drawn.append([float(t) for t in figure.axes[0].get_yticks()])
        original(figure, *args, **kwargs)  # type: ignore[arg-type]

    plt.Figure.savefig = keep_ticks  # type: ignore[method-assign]
    try:
        tables.write_bar_chart(table, tmp_path / "c.png", label="district", values=("open",))
    finally:
        plt.Figure.savefig = original  # type: ignore[method-assign]
    [ticks] = drawn
    assert ticks and all(t.is_integer() for t in ticks), ticks


def test_ctl_is_a_subcommand_of_the_service_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert cli_main(["ctl", "list"]) == 2  # reached ctl: it asks for a token
    done = subprocess.run(
        [sys.executable, "-m", "services.workorders", "ctl", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0 and "make-safe" in done.stdout and "hazard" in done.stdout
