"""The console's HTTP entry points on fakes of the ports (no browser, no network): sign-in, sessions,
CSRF on every form, garbage forms and filters, the API's refusals shown as they are."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from services.console.domain.schematic import NodePoint, SegmentLine
from services.console.entrypoints.web import ConsoleDeps, _safe_next, create_app
from services.console.service_layer.live import LiveHub
from tests.unit.console.fakes import FakeClock, FakeLeak, FakeTokens, FakeUsers, FakeWorkOrders, order


@pytest.fixture
def api() -> FakeWorkOrders:
    fake = FakeWorkOrders()
    fake.add(order("wo-ds", district="Dongsheng"))
    fake.add(order("wo-kb", district="Kangbashi", segment="KB-M01", grade=2))
    return fake


@pytest.fixture
def client(api: FakeWorkOrders) -> Iterator[TestClient]:
    users = FakeUsers()
    users.add("li", "dispatcher", ["Dongsheng"])
    users.add("wu", "crew", ["Dongsheng"])
    users.add("zhao", "regulator", ["*"])
    deps = ConsoleDeps(
        api=api, leak=FakeLeak(), users=users, tokens=FakeTokens(), clock=FakeClock(),
        hub=LiveHub(api, FakeTokens().service_token), districts=("Dongsheng", "Kangbashi"),
        nodes=(NodePoint("A", 0, 0), NodePoint("B", 1000, 0)),
        segments=(SegmentLine("DS-M02", "Dongsheng", "A", "B", 1000.0),),
        session_secret="k" * 40, session_ttl_s=3600, start_hub=False,
    )
    with TestClient(create_app(deps), base_url="https://testserver") as c:
        yield c


def csrf(client: TestClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def login(client: TestClient, user: str = "li", password: str = "secret") -> None:
    reply = client.post("/login", data={"csrf_token": csrf(client), "username": user, "password": password},
                        follow_redirects=False)
    assert reply.status_code == 303, reply.text


def test_pages_need_a_session_and_sign_in_opens_the_queue(client: TestClient) -> None:
    assert client.get("/queue", follow_redirects=False).headers["location"] == "/login?next=/queue"
    assert client.get("/fragment/queue/row/wo-ds").status_code == 401
    assert client.get("/events").status_code == 401
    login(client)
    queue = client.get("/queue")
    assert queue.status_code == 200 and 'data-id="wo-ds"' in queue.text
    assert 'data-id="wo-kb"' not in queue.text  # the API's districts, not the console's
    cookie = client.cookies.jar
    assert any(c.name == "pipewarden_console" and c.secure for c in cookie)
    for path in ("/network", "/hazards", "/replacement", "/report", "/orders/wo-ds"):
        assert client.get(path).status_code == 200, path


def test_the_schematic_colours_problem_pipelines_still_to_replace(
    client: TestClient, api: FakeWorkOrders
) -> None:
    login(client)
    api.orders.clear()  # no open order: the segment's own status shows
    page = client.get("/network").text
    assert '<g class="seg problem" data-segment="DS-M02"' in page
    api.refuse_reports = True
    assert "problem pipelines: no reports for you" in client.get("/network").text


def test_session_cookie_is_http_only_secure_and_strict(client: TestClient) -> None:
    reply = client.get("/login")
    header = reply.headers["set-cookie"].lower()
    assert "httponly" in header and "secure" in header and "samesite=strict" in header


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(client: TestClient) -> None:
    reply = client.post("/login", data={"csrf_token": csrf(client), "username": "li", "password": "nope"})
    assert reply.status_code == 401 and "wrong user name or password" in reply.text
    reply = client.post("/login", data={"csrf_token": csrf(client), "username": "ghost", "password": "secret"})
    assert reply.status_code == 401 and "wrong user name or password" in reply.text
    assert client.get("/queue", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("token", [None, "", "forged-token-" + "x" * 30])
def test_forms_without_the_sessions_csrf_token_are_refused(client: TestClient, api: FakeWorkOrders,
                                                           token: str | None) -> None:
    data = {"username": "li", "password": "secret"} | ({"csrf_token": token} if token is not None else {})
    reply = client.post("/login", data=data, follow_redirects=False)
    assert reply.status_code == 403 and "CSRF" in reply.text
    login(client)
    action = {"verb": "cancel", "reason": "x", "expected_version": "1", "command_id": "c"}
    action |= {"csrf_token": token} if token is not None else {}
    reply = client.post("/orders/wo-ds/actions", data=action)
    assert reply.status_code == 403 and "CSRF" in reply.text and api.executed == []
    assert client.post("/logout", data={}).status_code == 403


def _action(client: TestClient, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf(client, "/orders/wo-ds"), "verb": "dispatch", "expected_version": "1",
            "command_id": "c-1", "crew_id": "crew-7"} | fields


def test_an_action_runs_with_the_users_token_and_the_page_shows_the_result(client: TestClient,
                                                                             api: FakeWorkOrders) -> None:
    login(client)
    reply = client.post("/orders/wo-ds/actions", data=_action(client))
    assert reply.status_code == 200 and "Dispatch a crew: done." in reply.text
    assert api.executed[0][0] == "dispatcher" and api.orders["wo-ds"].state == "dispatched"


def test_refusals_of_the_api_are_shown_as_they_are(client: TestClient, api: FakeWorkOrders) -> None:
    login(client, "wu")  # a crew
    page = client.get("/orders/wo-ds").text
    assert 'data-verb="regrade"' not in page and 'data-verb="acknowledge"' in page
    reply = client.post("/orders/wo-ds/actions", data=_action(client, verb="regrade", grade="3", reason="r"))
    assert reply.status_code == 403 and "PERMISSION_DENIED" in reply.text and "may not regrade" in reply.text
    reply = client.post("/orders/wo-ds/actions", data=_action(client, verb="acknowledge", expected_version="0"))
    assert reply.status_code == 409 and "Someone else changed this order first" in reply.text
    reply = client.get("/orders/wo-kb")
    assert reply.status_code == 404 and "NOT_FOUND" in reply.text
    assert api.executed == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"verb": "explode"}, "unknown action"),
        ({"crew_id": ""}, "crew_id"),
        ({"expected_version": "NaN"}, "expected_version"),
        ({"crew_id": "\x00\x01"}, "control characters"),
    ],
)
def test_garbage_action_forms_get_a_clear_message_and_do_nothing(client: TestClient, api: FakeWorkOrders,
                                                                 fields: dict[str, str], message: str) -> None:
    login(client)
    reply = client.post("/orders/wo-ds/actions", data=_action(client, **fields))
    assert reply.status_code == 400 and message in reply.text and "Traceback" not in reply.text
    assert api.executed == []


def test_undecodable_and_oversized_bodies_are_refused(client: TestClient) -> None:
    login(client)
    token = csrf(client, "/orders/wo-ds")
    reply = client.post("/orders/wo-ds/actions", content=b"--x\r\n\xff\xfe garbage",
                        headers={"content-type": "multipart/form-data; boundary=x"})
    assert reply.status_code in (400, 403) and "Traceback" not in reply.text
    many = {f"f{i}": "v" for i in range(200)} | {"csrf_token": token}
    reply = client.post("/orders/wo-ds/actions", data=many)
    assert reply.status_code == 400 and "could not be read" in reply.text


def test_queue_filters_and_row_fragments(client: TestClient) -> None:
    login(client, "zhao")
    assert 'data-id="wo-kb"' in client.get("/queue?grade=2").text
    assert 'data-id="wo-ds"' not in client.get("/queue?grade=2").text
    bad = client.get("/queue?grade=9")
    assert bad.status_code == 400 and "filter &#39;grade&#39;: must be 1, 2 or 3" in bad.text
    assert client.get("/queue?district=Atlantis").status_code == 400
    assert client.get("/fragment/queue/row/wo-ds").status_code == 200
    assert client.get("/fragment/queue/row/wo-ds?grade=2").headers.get("x-remove") == "wo-ds"
    assert client.get("/fragment/queue/row/nope").status_code == 204
    assert client.get("/hazards?district=Atlantis").status_code == 400
    assert client.get("/fragment/network/segments/NOPE").status_code == 404
    assert "no leakdetect query API" in client.get("/fragment/network/segments/DS-M02").text


def test_regulator_reads_only_and_report_shows_refusals(client: TestClient, api: FakeWorkOrders) -> None:
    login(client, "zhao")
    assert "only reads work orders" in client.get("/orders/wo-ds").text
    api.refuse_reports = True
    reply = client.get("/report")
    assert reply.status_code == 200 and "no reports for you" in reply.text


def test_sign_in_never_redirects_off_site() -> None:
    assert _safe_next("/orders/x") == "/orders/x"
    for bad in ("https://evil.example/", "//evil.example", "/\\evil", "javascript:alert(1)", "/a\nb"):
        assert _safe_next(bad) == ""


def test_health_reports_the_feed(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert set(body) == {"watch_connected", "position", "live_connections", "reconnects"}


def test_the_order_page_shows_where_to_dig(client: TestClient, api: FakeWorkOrders) -> None:
    login(client)
    assert '<dd id="order-location">—</dd>' in client.get("/orders/wo-ds").text  # a workorders without it
    api.add(order("wo-ds", location="km 1.2 (1.0–1.4, 95 %, pressure gradient)"))
    page = client.get("/orders/wo-ds").text
    assert '<dd id="order-location">km 1.2 (1.0–1.4, 95 %, pressure gradient)</dd>' in page
    api.add(order("wo-ds", location="km 1.1 (whole segment, 0.0–2.1: not located yet) <b>"))
    assert "not located yet) &lt;b&gt;</dd>" in client.get("/orders/wo-ds").text  # escaped like any text
