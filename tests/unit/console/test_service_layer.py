"""The live fan-out, sign-in and permissions on fakes of the ports."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.console.domain.records import Change
from services.console.service_layer.live import LiveHub
from services.console.service_layer.permissions import actions_for, may
from services.console.service_layer.signin import SignInRefused, sign_in
from tests.unit.console.fakes import FakeTokens, FakeUsers, FakeWorkOrders, order


def _decoded(frame: str | None) -> dict[str, object]:
    """The change a server-sent event frame carries (id, event and data lines)."""
    assert frame is not None
    lines = dict(line.split(": ", 1) for line in frame.strip().splitlines())
    assert lines["event"] == "change"
    data = json.loads(lines["data"])
    assert isinstance(data, dict) and str(data["position"]) == lines["id"]
    return data


async def _drain(queue: asyncio.Queue[str | None], n: int, timeout_s: float = 5.0) -> list[dict[str, object]]:
    return [_decoded(await asyncio.wait_for(queue.get(), timeout_s)) for _ in range(n)]


def test_one_watch_is_fanned_out_by_district_and_resumed_from_its_position_after_a_break() -> None:
    async def scenario() -> None:
        api = FakeWorkOrders(break_after=2)
        hub = LiveHub(api, FakeTokens().service_token, retry_max_s=0.05)
        dongsheng = hub.subscribe(frozenset({"Dongsheng"}))
        everyone = hub.subscribe(frozenset({"*"}))
        hub.start(0)
        for i in range(5):
            api.add(order(f"wo-{i}", district="Dongsheng" if i % 2 == 0 else "Kangbashi"))
        got_all = await _drain(everyone.queue, 5)
        got_ds = await _drain(dongsheng.queue, 3)
        await hub.stop()
        assert [c["stream_id"] for c in got_all] == [f"wo-{i}" for i in range(5)]  # none lost, none twice
        assert [c["stream_id"] for c in got_ds] == ["wo-0", "wo-2", "wo-4"]
        # The stream broke every 2 changes; each reconnect resumed after the last position received.
        assert api.watch_calls[:3] == [0, 2, 4] and hub.reconnects >= 2

    asyncio.run(scenario())


def test_a_reconnecting_browser_gets_what_it_missed_or_is_told_to_reload() -> None:
    async def scenario() -> None:
        api = FakeWorkOrders()
        hub = LiveHub(api, FakeTokens().service_token, buffer=3)
        for i in range(5):
            hub.publish(Change(i + 1, f"wo-{i}", 1, "E", "Dongsheng", kind="work_order"))
        hub.publish(Change(6, "hb", heartbeat=True))
        resumed = hub.subscribe(frozenset({"Dongsheng"}), last_event_id=3)
        assert [_decoded(f)["position"] for f in resumed.replay] == [4, 5] and not resumed.reset
        too_old = hub.subscribe(frozenset({"Dongsheng"}), last_event_id=1)
        assert too_old.reset  # positions 2.. are no longer buffered
        current = hub.subscribe(frozenset({"Dongsheng"}), last_event_id=6)
        assert current.replay == [] and not current.reset
        hub.publish(Change(4, "old", 1, "E", "Dongsheng"))  # a repeat from a server is not passed on
        assert current.queue.empty()

    asyncio.run(scenario())


def test_a_browser_that_falls_behind_is_told_to_reload_instead_of_missing_changes_silently() -> None:
    async def scenario() -> None:
        hub = LiveHub(FakeWorkOrders(), FakeTokens().service_token, queue_size=2)
        slow = hub.subscribe(frozenset({"*"}))
        for i in range(5):
            hub.publish(Change(i + 1, f"wo-{i}", 1, "E", "Dongsheng"))
        assert slow.overflowed and await slow.queue.get() is None

    asyncio.run(scenario())


def test_idle_browsers_get_a_keep_alive_from_one_timer() -> None:
    async def scenario() -> None:
        hub = LiveHub(FakeWorkOrders(), FakeTokens().service_token, keepalive_s=0.05)
        sub = hub.subscribe(frozenset({"*"}))
        hub.start(0)
        frame = await asyncio.wait_for(sub.queue.get(), 5)
        await hub.stop()
        assert frame is not None and frame.startswith(":")

    asyncio.run(scenario())


def test_sign_in_issues_the_users_token_and_refuses_wrong_passwords_alike() -> None:
    users = FakeUsers()
    users.add("li", "dispatcher", ["Dongsheng"], password="right")
    signed = sign_in(users, FakeTokens(), "li", "right")
    assert signed.user.role == "dispatcher" and '"districts": ["Dongsheng"]' in signed.token
    for name, password in (("li", "wrong"), ("nobody", "right"), ("", ""), ("li", "x" * 5000)):
        with pytest.raises(SignInRefused, match="wrong user name or password"):
            sign_in(users, FakeTokens(), name, password)


def test_pages_offer_each_role_only_what_workorders_allows_it() -> None:
    assert "regrade" in [a.verb for a in actions_for("supervisor")]
    crew = [a.verb for a in actions_for("crew")]
    assert "regrade" not in crew and "dispatch" not in crew and "acknowledge" in crew
    assert "dispatch" in [a.verb for a in actions_for("dispatcher")]
    assert actions_for("regulator") == () and actions_for("intruder") == ()
    assert not may("dispatcher", "regrade")
