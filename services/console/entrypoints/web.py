"""The console's ASGI app (Starlette): server-rendered pages, action forms, and the live feed (SSE).

Every page calls the APIs with the signed-in user's own token; the console adds no permission of its own.
Every POST carries the session's CSRF token. Sessions are signed cookies (HttpOnly, SameSite=strict,
Secure unless configured off) holding the user's name, role, districts, token and CSRF token.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console.domain import schematic
from services.console.domain.actions import ACTIONS_BY_VERB, FormError, parse_command_form
from services.console.domain.orders import STATES, FilterError, QueueFilter, format_duration, parse_queue_filter
from services.console.domain.records import format_time
from services.console.service_layer import pages
from services.console.service_layer.live import LiveHub
from services.console.service_layer.permissions import actions_for
from services.console.service_layer.ports import ApiRefusal, Clock, LeakQuery, TokenIssuer, Users, WorkOrdersApi
from services.console.service_layer.signin import SignInRefused, sign_in

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "pipewarden_console"
MAX_FORM_FIELDS = 50
# The largest request body the console reads (its forms are a few short fields and a note): a bigger one is
# refused (413) before it is read, so one client cannot fill the process's memory with a form.
MAX_BODY_BYTES = 64 * 1024
# API refusals as HTTP statuses (the page shows the API's own message).
_STATUS = {"PERMISSION_DENIED": 403, "NOT_FOUND": 404, "FAILED_PRECONDITION": 409, "ABORTED": 409,
           "INVALID_ARGUMENT": 400, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504, "RESOURCE_EXHAUSTED": 503}


@dataclass
class ConsoleDeps:
    api: WorkOrdersApi
    leak: LeakQuery
    users: Users
    tokens: TokenIssuer
    clock: Clock
    hub: LiveHub
    districts: tuple[str, ...]
    nodes: tuple[schematic.NodePoint, ...]
    segments: tuple[schematic.SegmentLine, ...]
    session_secret: str
    session_ttl_s: int
    secure_cookies: bool = True
    make_safe_sla_s: int = 7200
    max_live: int = 2000
    start_hub: bool = True
    on_shutdown: Callable[[], Awaitable[None]] | None = None


@dataclass(frozen=True)
class SessionUser:
    username: str
    role: str
    districts: tuple[str, ...]
    token: str
    expires_unix_us: int
    name: str


class _SignInNeeded(Exception):
    pass


def create_app(deps: ConsoleDeps) -> Starlette:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.globals.update(format_time=format_time, format_duration=format_duration, STATES=STATES,
                       DISTRICTS=deps.districts)
    env.filters["dt"] = format_time

    # ------------------------------------------------------------------ helpers
    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str) or len(token) < 32:
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    def current_user(request: Request) -> SessionUser:
        raw = request.session.get("user")
        if not isinstance(raw, dict):
            raise _SignInNeeded
        try:
            user = SessionUser(**raw)
        except TypeError:
            raise _SignInNeeded from None
        if user.expires_unix_us <= deps.clock.now_unix_us():
            request.session.pop("user", None)
            raise _SignInNeeded
        return user

    def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        try:
            user: SessionUser | None = current_user(request)
        except _SignInNeeded:
            user = None
        context.update(request=request, user=user, csrf=csrf_token(request), flash=request.session.pop("flash", None))
        return templates.TemplateResponse(request, template, context, status_code=status_code)

    def refusal_page(request: Request, refusal: ApiRefusal) -> Response:
        if refusal.code == "UNAUTHENTICATED":
            request.session.pop("user", None)
            request.session["flash"] = f"Please sign in again ({refusal.message})."
            return RedirectResponse("/login", 303)
        return render(request, "error.html", _STATUS.get(refusal.code, 502), title="Refused by the API",
                      code=refusal.code, message=refusal.message)

    async def checked_form(request: Request) -> FormData:
        """The submitted form after the CSRF check; garbage and a missing/wrong token raise 400/403."""
        try:
            form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=64 * 1024)
        except _BodyTooLarge:  # the body cap (_BodyCap), said as it is
            raise
        except Exception as error:  # malformed body: multipart's and urlencoded's parsers raise their own kinds
            raise HTTPException(400, f"the form could not be read: {str(error)[:200]}") from None
        sent = form.get("csrf_token")
        expected = request.session.get("csrf")
        # Compared as bytes: compare_digest refuses str with non-ASCII characters (a TypeError, HTTP 500, found
        # by make fuzz); "surrogatepass" because a form may carry lone surrogates.
        if not isinstance(sent, str) or not isinstance(expected, str) or not hmac.compare_digest(
            sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
        ):
            raise HTTPException(403, "CSRF token missing or wrong: reload the page and submit again")
        return form

    Handler = Callable[[Request, SessionUser], Awaitable[Response]]

    def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                user = current_user(request)
            except _SignInNeeded:
                if request.method == "GET" and "fragment" not in request.url.path:
                    return RedirectResponse(f"/login?next={request.url.path}", 303)
                return Response("sign in first", 401)
            try:
                return await handler(request, user)
            except ApiRefusal as refusal:
                return refusal_page(request, refusal)
        return endpoint

    # ------------------------------------------------------------------ sign-in
    async def login_form(request: Request) -> Response:
        return render(request, "login.html", next=_safe_next(request.query_params.get("next", "")))

    async def login(request: Request) -> Response:
        form = await checked_form(request)
        username, password = form.get("username", ""), form.get("password", "")
        nxt = _safe_next(str(form.get("next", "")))
        if not isinstance(username, str) or not isinstance(password, str):
            raise HTTPException(400, "user name and password must be text")
        try:
            # argon2 is deliberately slow: off the event loop so that live feeds keep flowing.
            signed = await asyncio.to_thread(sign_in, deps.users, deps.tokens, username.strip(), password)
        except SignInRefused as refused:
            log.info("sign-in refused", extra={"username": username[:150]})
            return render(request, "login.html", 401, error=str(refused), next=nxt)
        request.session.clear()  # a new session for the signed-in user: no fixation of an earlier one
        csrf_token(request)
        u = signed.user
        request.session["user"] = {
            "username": u.username, "role": u.role, "districts": list(u.districts), "token": signed.token,
            "expires_unix_us": deps.clock.now_unix_us() + deps.session_ttl_s * 1_000_000,
            "name": u.display_name or u.username,
        }
        log.info("signed in", extra={"username": u.username, "role": u.role})
        return RedirectResponse(nxt or "/queue", 303)

    async def logout(request: Request) -> Response:
        await checked_form(request)
        request.session.clear()
        return RedirectResponse("/login", 303)

    # ------------------------------------------------------------------ queue
    def queue_filter(request: Request) -> QueueFilter:
        try:
            return parse_queue_filter(list(request.query_params.multi_items()), deps.districts)
        except FilterError as error:
            raise HTTPException(400, str(error)) from None

    async def queue(request: Request, user: SessionUser) -> Response:
        flt = queue_filter(request)
        view = await pages.queue_view(deps.api, deps.clock, user.token, flt, deps.make_safe_sla_s)
        return render(request, "queue.html", view=view, flt=flt, query=str(request.url.query))

    async def queue_row(request: Request, user: SessionUser) -> Response:
        flt = queue_filter(request)
        try:
            order = await deps.api.get_order(user.token, request.path_params["order_id"])
        except ApiRefusal as refusal:
            if refusal.code in ("NOT_FOUND", "PERMISSION_DENIED", "INVALID_ARGUMENT"):
                return Response(status_code=204)
            raise
        if not order.open or not flt.matches(order):
            return Response(status_code=204, headers={"X-Remove": order.work_order_id})
        row = pages.queue_row(order, deps.clock.now_unix_us(), deps.make_safe_sla_s)
        return templates.TemplateResponse(request, "_queue_row.html", {"r": row})

    # ------------------------------------------------------------------ order page
    async def order_page(request: Request, user: SessionUser, *, status: int = 200,
                         error: str = "", error_code: str = "") -> Response:
        order_id = request.path_params["order_id"]
        view = await pages.order_view(deps.api, deps.clock, user.token, order_id, deps.make_safe_sla_s)
        return render(request, "order.html", status, view=view, actions=actions_for(user.role),
                      command_id=str(uuid.uuid4()), error=error, error_code=error_code)

    async def order_summary(request: Request, user: SessionUser) -> Response:
        view = await pages.order_view(deps.api, deps.clock, user.token, request.path_params["order_id"],
                                      deps.make_safe_sla_s)
        return templates.TemplateResponse(request, "_order_live.html", {"view": view})

    async def order_action(request: Request, user: SessionUser) -> Response:
        form = await checked_form(request)
        order_id = request.path_params["order_id"]
        try:
            command = parse_command_form(order_id, {k: v for k, v in form.items() if isinstance(v, str)})
        except FormError as error:
            return await order_page(request, user, status=400, error=str(error), error_code="FORM")
        try:
            await deps.api.execute(user.token, command)
        except ApiRefusal as refusal:
            if refusal.code == "UNAUTHENTICATED":
                return refusal_page(request, refusal)
            if refusal.code == "ABORTED":
                message = f"Someone else changed this order first; here is its current state. ({refusal.message})"
            else:
                message = refusal.message
            return await order_page(request, user, status=_STATUS.get(refusal.code, 502), error=message,
                                    error_code=refusal.code)
        request.session["flash"] = f"{ACTIONS_BY_VERB[command.verb].label}: done."
        return RedirectResponse(f"/orders/{order_id}", 303)

    # ------------------------------------------------------------------ network
    async def network(request: Request, user: SessionUser) -> Response:
        view = await pages.network_view(deps.api, deps.leak, user.token, deps.nodes, deps.segments)
        return render(request, "network.html", view=view)

    async def network_svg(request: Request, user: SessionUser) -> Response:
        view = await pages.network_view(deps.api, deps.leak, user.token, deps.nodes, deps.segments)
        return templates.TemplateResponse(request, "_network_svg.html", {"view": view})

    async def segment_status(request: Request, user: SessionUser) -> Response:
        segment_id = request.path_params["segment_id"]
        known = {s.segment_id: s for s in deps.segments}
        if segment_id not in known:
            return Response(f"unknown segment {segment_id[:60]!r}", 404)
        live = await deps.leak.segment_status(segment_id, user.token)  # the API answers in the user's districts only
        orders, _ = await deps.api.list_orders(user.token, QueueFilter(), open_only=True)
        mine = [o for o in orders if o.segment_id == segment_id]
        return templates.TemplateResponse(request, "_segment.html", {"segment": known[segment_id], "live": live,
                                                                     "orders": mine})

    # ------------------------------------------------------------------ hazards, programme, report
    async def hazards(request: Request, user: SessionUser) -> Response:
        q = request.query_params
        district = q.get("district", "")
        if district and district not in deps.districts:
            raise HTTPException(400, f"filter 'district': unknown district {district[:60]!r}")
        state = q.get("state", "")
        if state and (len(state) > 40 or not state.replace("_", "").isalpha()):
            raise HTTPException(400, "filter 'state': not a state name")
        view = await pages.hazards_view(deps.api, user.token, districts=[district] if district else [],
                                        states=[state] if state else [], major_only=q.get("major") == "1",
                                        overdue_only=q.get("overdue") == "1")
        return render(request, "hazards.html", view=view, district=district, state=state,
                      major=q.get("major") == "1", overdue=q.get("overdue") == "1")

    async def replacement(request: Request, user: SessionUser) -> Response:
        return render(request, "replacement.html", view=await pages.replacement_view(deps.api, user.token))

    async def report(request: Request, user: SessionUser) -> Response:
        tables = await pages.report_view(deps.api, user.token)
        return render(request, "report.html", tables=tables, now=format_time(deps.clock.now_unix_us()))

    # ------------------------------------------------------------------ live feed
    async def events(request: Request) -> Response:
        try:
            user = current_user(request)
        except _SignInNeeded:
            return Response("sign in first", 401)
        if deps.hub.subscribers >= deps.max_live:
            return Response("too many live connections", 503, headers={"Retry-After": "5"})
        last = request.headers.get("last-event-id") or request.query_params.get("after") or ""
        last_id = int(last) if last.isdigit() and len(last) < 20 else None
        sub = deps.hub.subscribe(frozenset(user.districts), last_id)

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 1000\n\n"
                if sub.reset:
                    yield f"event: reset\ndata: {deps.hub.position}\n\n"
                for replayed in sub.replay:
                    yield replayed
                while True:
                    # Frames that queued up while this connection waited for the CPU go out in one write:
                    # under load, a thousand connections cost a thousand writes per burst, not per event.
                    frames = [await sub.queue.get()]
                    while not sub.queue.empty() and len(frames) < 100:
                        frames.append(sub.queue.get_nowait())
                    if None in frames:
                        yield "".join(f for f in frames if f is not None)
                        yield f"event: reset\ndata: {deps.hub.position}\n\n"
                        return
                    yield "".join(f for f in frames if f is not None)
            finally:
                deps.hub.unsubscribe(sub)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def health(request: Request) -> Response:
        body = {"watch_connected": deps.hub.connected, "position": deps.hub.position,
                "live_connections": deps.hub.subscribers, "reconnects": deps.hub.reconnects}
        return JSONResponse(body, 200 if deps.hub.connected or not deps.start_hub else 503)

    async def root(request: Request) -> Response:
        return RedirectResponse("/queue", 303)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return render(request, "error.html", exc.status_code, title="Refused", code=str(exc.status_code),
                      message=exc.detail)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if deps.start_hub:
            position = 0
            try:
                _, position = await deps.api.list_orders(deps.tokens.service_token(), QueueFilter(), limit=1)
            except ApiRefusal as refusal:  # workorders not up yet: the hub starts from 0 and catches up
                log.warning("workorders not reachable at start", extra={"error": refusal.message})
            deps.hub.start(position)
        try:
            yield
        finally:
            await deps.hub.stop()
            if deps.on_shutdown is not None:
                await deps.on_shutdown()

    routes = [
        Route("/", root),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/queue", page(queue)),
        Route("/fragment/queue/row/{order_id}", page(queue_row)),
        Route("/orders/{order_id}", page(order_page), methods=["GET"]),
        Route("/orders/{order_id}/actions", page(order_action), methods=["POST"]),
        Route("/fragment/orders/{order_id}", page(order_summary)),
        Route("/network", page(network)),
        Route("/fragment/network/svg", page(network_svg)),
        Route("/fragment/network/segments/{segment_id}", page(segment_status)),
        Route("/hazards", page(hazards)),
        Route("/replacement", page(replacement)),
        Route("/report", page(report)),
        Route("/events", events),
        Route("/healthz", health),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(_BodyCap, max_bytes=MAX_BODY_BYTES),
        Middleware(SessionMiddleware, secret_key=deps.session_secret, session_cookie=SESSION_COOKIE,
                   max_age=deps.session_ttl_s, same_site="strict", https_only=deps.secure_cookies),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error})


class _BodyTooLarge(HTTPException):
    pass


class _BodyCap:
    """Refuses request bodies over ``max_bytes``: by their Content-Length at once (413, nothing read), and a
    chunked body as soon as it passes the cap (the form reader stops with 413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        message = f"request body over {limit // 1024} KiB, the most the console reads"
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        refusal: PlainTextResponse | None = None
        if declared:
            try:
                if int(declared) > limit:
                    refusal = PlainTextResponse(message, 413, headers={"Connection": "close"})
            except ValueError:
                refusal = PlainTextResponse("Content-Length is not a number", 400, headers={"Connection": "close"})
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        seen = 0

        async def capped_receive() -> Message:
            nonlocal seen
            event = await receive()
            if event["type"] == "http.request":
                seen += len(event.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge(413, message)
            return event

        await self.app(scope, capped_receive, send)


def _safe_next(value: str) -> str:
    """Only a local path: never an open redirect to another site."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value and value.isprintable():
        return value[:200]
    return ""
