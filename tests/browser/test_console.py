"""The console in a real browser (headless Chromium) against the real stack: an alarm published on
leak.alarms.v1 reaches a dispatcher's queue without a reload, a dispatch shows in another session, roles
and districts are the API's, wrong passwords and missing CSRF tokens are refused; screenshots of every
view go to reports/console/."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from kafka import KafkaProducer

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
from services.topics import LEAK_ALARMS, encode
from services.workorders.domain.workorder import work_order_id_for_alarm
from tests.browser.stack import Console, Workorders
from tests.support.tokens import issue
from tests.support.workorders_api import alarm

pytestmark = pytest.mark.integration

SEGMENT, DISTRICT = "DS-M02", "Dongsheng"
WAIT_MS = 20_000


def sign_in(browser: Any, console: Console, username: str, *, javascript: bool = True) -> Any:
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{console.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", console.password(username))
    page.click("button[type=submit]")
    page.wait_for_url(f"{console.url}/queue*")
    return page


def publish_alarm(kafka_bootstrap: str, alarm_id: str, *, segment: str = SEGMENT, district: str = DISTRICT) -> str:
    message = alarm(alarm_id, segment, district, lel=85.0, at_unix_us=time.time_ns() // 1000)
    message.location.position_km = 1.2
    message.location.uncertainty_km = 0.1
    message.leak_rate.rate_kg_per_s = 0.042
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        producer.send(LEAK_ALARMS.name, key=segment.encode(), value=encode(message))
        producer.flush(30)
    finally:
        producer.close()
    return work_order_id_for_alarm(alarm_id)


@pytest.fixture(scope="module")
def live_order(stack: tuple[Workorders, Console], browser: Any, kafka_bootstrap: str,
               screenshots: Path) -> dict[str, Any]:
    """A dispatcher watching the queue sees a new grade 1 order arrive without a reload."""
    _, console = stack
    page = sign_in(browser, console, "dispatcher-ds")
    page.wait_for_selector("body[data-live=on]", timeout=WAIT_MS)
    before = page.evaluate("window.__pw.applied")
    order_id = publish_alarm(kafka_bootstrap, f"BR-{uuid.uuid4().hex[:8]}")
    row = page.wait_for_selector(f"#queue-body tr[data-id='{order_id}']", timeout=WAIT_MS)
    assert row is not None
    assert page.evaluate("window.__pw.applied") > before
    page.wait_for_selector("#cue:not([hidden])", timeout=WAIT_MS)
    page.screenshot(path=str(screenshots / "queue.png"), full_page=True)
    return {"order_id": order_id, "page": page}


def test_alarm_appears_in_the_queue_without_reload_with_a_cue(live_order: dict[str, Any]) -> None:
    page = live_order["page"]
    row = page.locator(f"#queue-body tr[data-id='{live_order['order_id']}']")
    assert row.get_attribute("data-grade") == "1"
    assert row.locator("td.state").inner_text() == "triaged"
    assert "on site" in row.locator("td.slas").inner_text()
    assert SEGMENT in page.inner_text("#cue")
    assert int(page.get_attribute("body", "data-cues") or 0) >= 1
    assert page.get_attribute("body", "data-audible") == "played"
    # The page was never reloaded: the state the page set up at load is still there.
    assert page.evaluate("window.__pw.applied") >= 1


def test_dispatch_is_seen_in_a_second_session_and_a_racing_dispatcher_sees_why(
    stack: tuple[Workorders, Console], browser: Any, live_order: dict[str, Any], screenshots: Path
) -> None:
    _, console = stack
    order_id = live_order["order_id"]
    watcher = sign_in(browser, console, "dispatcher-ds2")
    watcher.goto(f"{console.url}/orders/{order_id}")
    watcher.wait_for_selector("body[data-live=on]", timeout=WAIT_MS)
    # A third dispatcher's page without JavaScript keeps the version it loaded: it will lose the race.
    racer = sign_in(browser, console, "dispatcher-ds2", javascript=False)
    racer.goto(f"{console.url}/orders/{order_id}")

    page = live_order["page"]
    page.goto(f"{console.url}/orders/{order_id}")
    page.fill("form[data-verb=dispatch] input[name=crew_id]", "crew-7")
    page.click("form[data-verb=dispatch] button")
    page.wait_for_selector("#flash", timeout=WAIT_MS)
    assert page.inner_text("#order-state") == "dispatched"
    assert "crew-7" in page.inner_text("#order-crew")
    assert "crew dispatched" in page.inner_text("#timeline").lower()
    assert "km 1.2" in page.inner_text("#order-location")  # where to dig, from the alarm's location

    watcher.wait_for_function("document.querySelector('#order-state').textContent === 'dispatched'",
                              timeout=WAIT_MS)
    assert not watcher.is_hidden("#changed")
    watcher.screenshot(path=str(screenshots / "order.png"), full_page=True)

    racer.fill("form[data-verb=dispatch] input[name=crew_id]", "crew-9")
    racer.click("form[data-verb=dispatch] button")
    error = racer.inner_text("#error")
    assert "ABORTED" in error and "Someone else changed this order first" in error
    assert racer.inner_text("#order-crew") == "crew-7"  # the winner's crew, shown after the refusal

    # An invalid move shows the API's message (close from dispatched).
    page.click("form[data-verb=close] button")
    error = page.inner_text("#error")
    assert "FAILED_PRECONDITION" in error and "dispatched" in error
    page.screenshot(path=str(screenshots / "order_refused.png"), full_page=True)
    for p in (watcher, racer):
        p.context.close()


def test_a_crew_cannot_regrade(stack: tuple[Workorders, Console], browser: Any, live_order: dict[str, Any]) -> None:
    _, console = stack
    order_id = live_order["order_id"]
    crew = sign_in(browser, console, "crew-ds")
    crew.goto(f"{console.url}/orders/{order_id}")
    assert crew.locator("form[data-verb=regrade]").count() == 0
    assert crew.locator("form[data-verb=acknowledge]").count() == 1
    # A forged regrade (a valid CSRF token, the crew's own session) is refused by the API, and says so.
    status, text = crew.evaluate(
        """async (id) => {
            const form = document.querySelector('form[data-verb=acknowledge]');
            const data = new URLSearchParams(new FormData(form));
            data.set('verb', 'regrade'); data.set('grade', '3'); data.set('reason', 'forged');
            const r = await fetch(`/orders/${id}/actions`, {method: 'POST', body: data});
            return [r.status, await r.text()];
        }""",
        order_id,
    )
    assert status == 403 and "PERMISSION_DENIED" in text and "regrade" in text
    crew.reload()
    assert crew.inner_text("#order-grade").strip() == "1"
    crew.context.close()


def test_a_dispatcher_of_another_district_cannot_see_the_order(
    stack: tuple[Workorders, Console], browser: Any, live_order: dict[str, Any]
) -> None:
    _, console = stack
    order_id = live_order["order_id"]
    other = sign_in(browser, console, "dispatcher-kb")
    assert other.locator(f"#queue-body tr[data-id='{order_id}']").count() == 0
    response = other.goto(f"{console.url}/orders/{order_id}")
    assert response is not None and response.status == 404
    assert "NOT_FOUND" in other.inner_text("#error")
    other.context.close()


def test_wrong_password_and_missing_csrf_are_refused(stack: tuple[Workorders, Console], browser: Any,
                                                     live_order: dict[str, Any], screenshots: Path) -> None:
    _, console = stack
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{console.url}/login")
    page.fill("input[name=username]", "dispatcher-ds")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "wrong user name or password" in page.inner_text("#error")
    page.screenshot(path=str(screenshots / "login_refused.png"), full_page=True)
    assert page.goto(f"{console.url}/queue") is not None and page.url.startswith(f"{console.url}/login")
    # Sign-in without the CSRF token: refused, nobody signed in.
    reply = context.request.post(f"{console.url}/login", form={
        "username": "dispatcher-ds", "password": console.password("dispatcher-ds")}, max_redirects=0)
    assert reply.status == 403 and "CSRF" in reply.text()
    context.close()
    # A signed-in dispatcher's action without the CSRF token: refused, the order unchanged.
    signed = sign_in(browser, console, "dispatcher-ds")
    order_id = live_order["order_id"]
    signed.goto(f"{console.url}/orders/{order_id}")
    version = signed.get_attribute("#order-live", "data-version")
    reply = signed.context.request.post(f"{console.url}/orders/{order_id}/actions", form={
        "verb": "cancel", "reason": "csrf test", "expected_version": version or "0", "command_id": "x"},
        max_redirects=0)
    assert reply.status == 403 and "CSRF" in reply.text()
    signed.reload()
    assert signed.inner_text("#order-state") != "cancelled"
    signed.context.close()


def _seed_hazard_and_programme(workorders: Workorders) -> None:
    """A hazard and a replacement project so that the ledger and the programme have something to show."""
    run = uuid.uuid4().hex[:6]
    meta = (("authorization", "Bearer " + issue("supervisor", ["*"], subject="seed-supervisor")),)
    with grpc.insecure_channel(workorders.address) as channel:
        stub = pb_grpc.WorkOrdersServiceStub(channel)
        stub.ExecuteHazardCommand(pb.ExecuteHazardCommandRequest(
            context=pb.CommandContext(command_id=f"hz-{run}"),
            record=pb.RecordHazardCommand(district=DISTRICT, location="valve pit V12", major=True,
                                          description="corroded riser", inspector="inspector-3",
                                          reported_via="inspection round", segment_id=SEGMENT)), metadata=meta)
        stub.ExecuteReplacementCommand(pb.ExecuteReplacementCommandRequest(
            context=pb.CommandContext(command_id=f"fl-{run}"),
            flag_problem_pipeline=pb.FlagProblemPipelineCommand(segment_id="DS-M03", reason="material")),
            metadata=meta)
        year = time.gmtime().tm_year
        stub.ExecuteReplacementCommand(pb.ExecuteReplacementCommandRequest(
            context=pb.CommandContext(command_id=f"tg-{run}"),
            set_target=pb.SetReplacementTargetCommand(district=DISTRICT, pipe_class="municipal", year=year,
                                                      target_km=5.0)), metadata=meta)
        opened = stub.ExecuteReplacementCommand(pb.ExecuteReplacementCommandRequest(
            context=pb.CommandContext(command_id=f"op-{run}"),
            open=pb.OpenReplacementCommand(segment_id="DS-M03", year=year)), metadata=meta)
        stub.ExecuteReplacementCommand(pb.ExecuteReplacementCommandRequest(
            replacement_id=opened.result.stream_id, context=pb.CommandContext(command_id=f"pr-{run}"),
            report_progress=pb.ReportReplacementProgressCommand(km_done=0.8)), metadata=meta)


def test_screenshots_of_every_view(stack: tuple[Workorders, Console], browser: Any, live_order: dict[str, Any],
                                   screenshots: Path) -> None:
    workorders, console = stack
    try:
        _seed_hazard_and_programme(workorders)
    except grpc.RpcError as error:  # the views must still render; the failure is reported
        pytest.fail(f"seeding the hazard ledger and programme failed: {error.code()} {error.details()}")
    page = sign_in(browser, console, "supervisor")
    page.goto(f"{console.url}/network")
    page.locator(f"#schematic g.seg[data-segment='{SEGMENT}']").dispatch_event("click")
    page.wait_for_selector(f"#segment[data-segment='{SEGMENT}']", timeout=WAIT_MS)
    assert "no leakdetect query API is configured" in page.inner_text("#segment-panel")
    assert page.locator(f"#schematic g.seg.alarm[data-segment='{SEGMENT}']").count() == 1
    assert page.locator("#schematic g.leak").count() >= 1
    page.screenshot(path=str(screenshots / "network.png"), full_page=True)
    page.goto(f"{console.url}/hazards")
    assert "corroded riser" in page.inner_text("#hazards")
    assert page.locator("#rectification tbody tr").count() >= 1
    page.screenshot(path=str(screenshots / "hazards.png"), full_page=True)
    page.goto(f"{console.url}/replacement")
    assert page.locator("figure.chart").count() >= 1
    page.screenshot(path=str(screenshots / "replacement.png"), full_page=True)
    page.context.close()
    regulator = sign_in(browser, console, "regulator")
    regulator.goto(f"{console.url}/orders/{live_order['order_id']}")
    assert regulator.locator("form.action").count() == 0  # read-only
    regulator.goto(f"{console.url}/report")
    assert regulator.locator("section.report-section").count() >= 5
    regulator.screenshot(path=str(screenshots / "report.png"), full_page=True)
    regulator.emulate_media(media="print")
    regulator.screenshot(path=str(screenshots / "report_print.png"), full_page=True)
    regulator.context.close()
    login = browser.new_context().new_page()
    login.goto(f"{console.url}/login")
    login.screenshot(path=str(screenshots / "login.png"))
    login.context.close()


def test_a_dispatcher_takes_the_order_to_closed(stack: tuple[Workorders, Console], browser: Any,
                                                 live_order: dict[str, Any]) -> None:
    """Every step a person takes in the demo, through the pages: on to closed."""
    _, console = stack
    page = sign_in(browser, console, "dispatcher-ds")
    page.goto(f"{console.url}/orders/{live_order['order_id']}")
    if page.inner_text("#order-state") == "triaged":
        page.fill("form[data-verb=dispatch] input[name=crew_id]", "crew-7")
        page.click("form[data-verb=dispatch] button")
    steps = [("acknowledge", {}, "acknowledged"), ("depart", {}, "en_route"), ("arrive", {}, "on_site"),
             ("make_safe", {"measures": "area cordoned, valve V12 closed"}, "made_safe"),
             ("repair", {"notes": "clamp fitted"}, "repaired"), ("verify", {"notes": "0 % LEL"}, "verified"),
             ("close", {"notes": "done"}, "closed")]
    for verb, fields, state in steps:
        for name, value in fields.items():
            page.fill(f"form[data-verb={verb}] input[name={name}]", value)
        page.click(f"form[data-verb={verb}] button")
        page.wait_for_selector("#flash", timeout=WAIT_MS)
        assert page.inner_text("#order-state") == state, page.inner_text("body")[:500]
    timeline = page.inner_text("#timeline").lower()
    assert "work order closed" in timeline or "closed" in timeline
    page.goto(f"{console.url}/queue")
    assert page.locator(f"#queue-body tr[data-id='{live_order['order_id']}']").count() == 0  # closed: not queued
    page.context.close()
