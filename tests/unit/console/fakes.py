"""Fakes of the console's ports for unit tests: an in-memory workorders API that applies the token's
districts and role the way the real one does (enough for the console's behaviour), users, tokens, clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace

from services.console.domain.actions import CommandForm
from services.console.domain.orders import Order, QueueFilter
from services.console.domain.records import Change, Hazard, Table
from services.console.service_layer.permissions import may
from services.console.service_layer.ports import ApiRefusal, SegmentLive, User

NOW_US = 1_800_000_000_000_000


def order(order_id: str = "wo-1", *, grade: int = 1, state: str = "triaged", district: str = "Dongsheng",
          segment: str = "DS-M02", opened_us: int = NOW_US - 60_000_000, version: int = 1,
          location: str = "") -> Order:
    detail = {"response_from_unix_us": opened_us, "alarm": {"methods": ["mass_balance"],
              "location": {"position_km": 1.0, "uncertainty_km": 0.1}, "leak_rate": {"rate_kg_per_s": 0.05}},
              "segment": {"length_km": 2.14}, "grade_reasons": ["G1-LEL"]}
    return Order(order_id, version, state, grade, segment, district, "municipal", "steel", opened_us, detail=detail,
                 location=location)


@dataclass
class FakeTokens:
    def issue(self, user: User) -> str:
        return json.dumps({"sub": user.username, "role": user.role, "districts": list(user.districts)})

    def service_token(self) -> str:
        return json.dumps({"sub": "console-feed", "role": "regulator", "districts": ["*"]})


@dataclass
class FakeUsers:
    users: dict[str, tuple[User, str]] = field(default_factory=dict)

    def add(self, username: str, role: str, districts: Sequence[str], password: str = "secret") -> None:
        self.users[username] = (User(username, role, tuple(districts)), password)

    def verify(self, username: str, password: str) -> User | None:
        found = self.users.get(username)
        return found[0] if found and found[1] == password else None


@dataclass
class FakeClock:
    now: int = NOW_US

    def now_unix_us(self) -> int:
        return self.now


@dataclass
class FakeWorkOrders:
    orders: dict[str, Order] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    executed: list[tuple[str, CommandForm]] = field(default_factory=list)
    # Break every Watch after this many changes (None: never), to test resuming.
    break_after: int | None = None
    watch_calls: list[int] = field(default_factory=list)
    refuse_reports: bool = False

    @staticmethod
    def _claims(token: str) -> dict[str, object]:
        try:
            claims = json.loads(token)
        except ValueError:
            raise ApiRefusal("UNAUTHENTICATED", "invalid token") from None
        assert isinstance(claims, dict)
        return claims

    def _may_see(self, token: str, district: str) -> bool:
        districts = self._claims(token)["districts"]
        assert isinstance(districts, list)
        return "*" in districts or district in districts

    def add(self, o: Order) -> None:
        self.orders[o.work_order_id] = o
        self.changes.append(Change(len(self.changes) + 1, o.work_order_id, o.version, "WorkOrderOpened",
                                   o.district, "system:leakdetect", NOW_US, "{}", order=o, kind="work_order"))

    async def list_orders(self, token: str, flt: QueueFilter, *, open_only: bool = True,
                          limit: int = 5000) -> tuple[list[Order], int]:
        found = [o for o in self.orders.values() if self._may_see(token, o.district) and flt.matches(o)
                 and (o.open or not open_only)]
        return found[:limit], len(self.changes)

    async def get_order(self, token: str, work_order_id: str) -> Order:
        o = self.orders.get(work_order_id)
        if o is None or not self._may_see(token, o.district):
            raise ApiRefusal("NOT_FOUND", f"no work order {work_order_id!r}")
        return o

    async def execute(self, token: str, form: CommandForm) -> Order:
        role = str(self._claims(token)["role"])
        o = await self.get_order(token, form.work_order_id)
        if not may(role, form.verb):
            raise ApiRefusal("PERMISSION_DENIED", f"role {role!r} may not {form.verb} a work_order")
        if form.expected_version != o.version:
            raise ApiRefusal("ABORTED", f"stream {o.work_order_id!r} is at version {o.version}, "
                                        f"expected {form.expected_version}")
        if form.verb == "close" and o.state != "verified":
            raise ApiRefusal("FAILED_PRECONDITION", f"cannot close work order in state {o.state!r}")
        self.executed.append((role, form))
        new_state = {"dispatch": "dispatched", "acknowledge": "acknowledged", "cancel": "cancelled"}.get(
            form.verb, o.state)
        updated = replace(o, state=new_state, version=o.version + 1, crew_id=form.fields.get("crew_id", o.crew_id))
        self.orders[o.work_order_id] = updated
        self.changes.append(Change(len(self.changes) + 1, o.work_order_id, updated.version, "Changed",
                                   o.district, f"{role}:x", NOW_US, "{}", order=updated, kind="work_order"))
        return updated

    async def list_hazards(self, token: str, *, districts: Sequence[str] = (), states: Sequence[str] = (),
                           major_only: bool = False, overdue_only: bool = False) -> list[Hazard]:
        return []

    async def report(self, token: str, name: str) -> Table:
        if self.refuse_reports:
            raise ApiRefusal("PERMISSION_DENIED", "no reports for you")
        if name == "replacement":
            return Table("replacement-2026", ("line", "district", "pipe_class", "target_km", "built_km",
                                              "replaced_km", "pct_of_target"),
                         (("Dongsheng/municipal", "Dongsheng", "municipal", "5.0", "1.0", "0.5", "10.0"),))
        if name == "inventory":
            return Table("inventory", ("material", "remaining_km"), (("grey_cast_iron", "3.2"),))
        if name == "problem-pipelines":  # one still to replace, one replaced and verified (0 km left)
            columns = ("segment_id", "district", "material", "pipe_class", "length_km", "remaining_km", "reasons",
                       "flagged_at_unix_us")
            return Table(name, columns, (
                ("DS-M02", "Dongsheng", "grey_cast_iron", "municipal", "2.14", "2.14", "material", "1"),
                ("DS-M04", "Dongsheng", "grey_cast_iron", "municipal", "1.26", "0.0", "material", "1"),
            ))
        return Table(name, ("district", "n"), (("Dongsheng", "1"),))

    async def watch(self, token: str, after_position: int, districts: Sequence[str] = ()) -> AsyncIterator[Change]:
        self.watch_calls.append(after_position)
        sent = 0
        position = after_position
        while True:
            for change in self.changes:
                if change.position <= position:
                    continue
                if self.break_after is not None and sent >= self.break_after:
                    raise ApiRefusal("UNAVAILABLE", "server restarting")
                position = change.position
                sent += 1
                if districts and change.district not in districts:
                    continue
                yield change
            await asyncio.sleep(0.01)


@dataclass
class FakeLeak:
    async def segment_status(self, segment_id: str, token: str | None = None) -> SegmentLive:
        return SegmentLive(segment_id, False, note="no leakdetect query API is configured")

    async def active_alarm_segments(self, token: str | None = None) -> set[str]:
        return set()
