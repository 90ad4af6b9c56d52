"""The console's ports (``typing.Protocol``): workorders' API, leakdetect's query API, the users, tokens
and the clock. Adapters implement them; unit tests use fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.console.domain.actions import CommandForm
from services.console.domain.orders import Order, QueueFilter
from services.console.domain.records import Change, Hazard, Table


class ApiRefusal(Exception):
    """The API refused a call: ``code`` is the gRPC status name, ``message`` the API's own words, shown
    to the user as they are (the console never rewrites a refusal into a permission)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class User:
    """A console user (from the users file): what the token will claim."""

    username: str
    role: str
    districts: tuple[str, ...]
    sign_off_roles: tuple[str, ...] = ()
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class WindowFigure:
    window_s: float
    imbalance_kg_per_s: float
    statistic: float
    threshold: float
    mdlr_kg_per_s: float


@dataclass(frozen=True, slots=True)
class SegmentLive:
    """leakdetect's live status of one segment."""

    segment_id: str
    served: bool
    windows: tuple[WindowFigure, ...] = ()
    mdlr_kg_per_s: float = 0.0
    mdlr_pct_of_nominal_flow: float = 0.0
    sensors: tuple[tuple[str, str], ...] = ()  # tag id, health
    clock_unix_us: int = 0
    active_alarm_id: str = ""
    note: str = ""
    faults: tuple[str, ...] = field(default=())


class WorkOrdersApi(Protocol):
    async def list_orders(self, token: str, flt: QueueFilter, *, open_only: bool = True,
                          limit: int = 5000) -> tuple[list[Order], int]: ...

    async def get_order(self, token: str, work_order_id: str) -> Order: ...

    async def execute(self, token: str, form: CommandForm) -> Order: ...

    async def list_hazards(self, token: str, *, districts: Sequence[str] = (), states: Sequence[str] = (),
                           major_only: bool = False, overdue_only: bool = False) -> list[Hazard]: ...

    async def report(self, token: str, name: str) -> Table: ...

    def watch(self, token: str, after_position: int, districts: Sequence[str] = ()) -> AsyncIterator[Change]: ...


class LeakQuery(Protocol):
    # token: the caller's (the API answers only in its districts); None: the console's own read-only token.
    async def segment_status(self, segment_id: str, token: str | None = None) -> SegmentLive: ...

    async def active_alarm_segments(self, token: str | None = None) -> set[str]: ...


class Users(Protocol):
    def verify(self, username: str, password: str) -> User | None: ...


class TokenIssuer(Protocol):
    def issue(self, user: User) -> str: ...

    def service_token(self) -> str: ...


class Clock(Protocol):
    def now_unix_us(self) -> int: ...
