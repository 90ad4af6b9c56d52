"""The authorisation table, derived from the policy (``auth.PERMISSIONS`` x ``CallerRole``), and the scenarios
that bring an aggregate to where each command is valid; shared by the service-layer test of every pair
(service_layer/test_authorisation_policy.py) and the gRPC sample through the real servicer
(entrypoints/test_authorisation_api.py).

``SCENARIOS`` is test data, not policy: for each command, how to bring an aggregate (in district D1 of the
fakes) to a state where that command is valid, and the command itself. A setup supervisor builds it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

from services.workorders.domain import commands as c
from services.workorders.domain.hazard import DEFAULT_LEVEL_ROLES
from services.workorders.service_layer.auth import PERMISSIONS, CallerRole, Principal
from tests.unit.workorders.domain.factories import DAY, alarm
from tests.unit.workorders.fakes import T0, Faked

HOME, ABROAD = "D1", "D2"  # the scenarios' aggregates are all in HOME (segment S-D1)
SIGN_OFF_ROLES = frozenset(DEFAULT_LEVEL_ROLES)
SETUP = Principal("setup-supervisor", CallerRole.SUPERVISOR, frozenset({"*"}), SIGN_OFF_ROLES)
_ids = itertools.count(1)


def caller(role: CallerRole, district: str) -> Principal:
    # Every caller holds every sign-off role: a refusal is then due to role or district, never to the level.
    return Principal(f"{role.value}-{district}", role, frozenset({district}), SIGN_OFF_ROLES)


# -- scenarios: an aggregate in HOME brought to where the command is valid ------------------------------


def _order(faked: Faked, *moves: Callable[[str], c.Command]) -> str:
    alarm_id = f"A-{next(_ids)}"
    facts = dataclasses.replace(alarm(alarm_id=alarm_id), segment_id="S-D1")  # grade 3
    order_id = faked.app.handle_alarm(facts, f"{alarm_id}/0").stream_id
    for move in moves:
        faked.app.execute(SETUP, move(order_id))
    return order_id


def _dispatched(o: str) -> c.Command:
    return c.Dispatch(o, crew_id="crew-1")


_TO_SITE = (_dispatched, c.Acknowledge, c.Depart, c.Arrive)
_MADE_SAFE = (*_TO_SITE, lambda o: c.MakeSafe(o, measures="valve closed"))
_REPAIRED = (*_MADE_SAFE, lambda o: c.Repair(o, kind="permanent"))
_REEVALUATE_BY = T0 + 30 * DAY


def _hazard(faked: Faked, *, assigned: bool = False, rectifying: bool = False, awaiting: bool = False) -> str:
    hazard_id = faked.app.execute(SETUP, _record()).stream_id
    if assigned or rectifying or awaiting:
        faked.app.execute(SETUP, c.AssignHazard(hazard_id, responsible_unit="unit", supervising_department="dept"))
        faked.app.execute(SETUP, c.SetHazardDeadline(hazard_id, deadline_unix_us=T0 + 30 * DAY))
    if rectifying or awaiting:
        faked.app.execute(SETUP, c.StartRectification(hazard_id))
        faked.app.execute(SETUP, c.AddHazardEvidence(hazard_id, uri="doc://photo-1", description="photo"))
    if awaiting:
        faked.app.execute(SETUP, c.RectifyHazard(hazard_id, summary="pipe replaced"))
    return hazard_id


def _record() -> c.RecordHazard:
    return c.RecordHazard(
        district=HOME, location="manhole 4", description="gas smell", source_ref=f"finding-{next(_ids)}"
    )


def _year() -> int:
    """A programme year of its own (one replacement per segment and year), within the domain's 1800-2200."""
    return 1900 + next(_ids) % 300


def _replacement(faked: Faked, *, km_done: float = 0.0, completed: bool = False) -> str:
    year = _year()
    replacement_id = faked.app.execute(SETUP, c.OpenReplacement(segment_id="S-D1", year=year)).stream_id
    if km_done:
        faked.app.execute(SETUP, c.ReportReplacementProgress(replacement_id, km_done=km_done))
    if completed:
        faked.app.execute(SETUP, c.CompleteReplacement(replacement_id))
    return replacement_id


SEGMENT_KM = 1.2  # S-D1 in the fakes
Scenario = Callable[[Faked], c.Command]
SCENARIOS: dict[type[c.Command], Scenario] = {
    c.Dispatch: lambda f: c.Dispatch(_order(f), crew_id="crew-2"),
    c.Acknowledge: lambda f: c.Acknowledge(_order(f, _dispatched)),
    c.Depart: lambda f: c.Depart(_order(f, _dispatched, c.Acknowledge)),
    c.Arrive: lambda f: c.Arrive(_order(f, _dispatched, c.Acknowledge, c.Depart)),
    c.MakeSafe: lambda f: c.MakeSafe(_order(f, *_TO_SITE), measures="area cordoned"),
    c.Repair: lambda f: c.Repair(_order(f, *_MADE_SAFE), kind="permanent"),
    c.Verify: lambda f: c.Verify(_order(f, *_REPAIRED)),
    c.Close: lambda f: c.Close(_order(f, *_REPAIRED, c.Verify)),
    c.Defer: lambda f: c.Defer(_order(f), reevaluate_by_unix_us=_REEVALUATE_BY, reason="grade 3"),
    c.Reevaluate: lambda f: c.Reevaluate(
        _order(f, lambda o: c.Defer(o, reevaluate_by_unix_us=_REEVALUATE_BY, reason="grade 3")),
        findings="unchanged",
        next_reevaluate_by_unix_us=_REEVALUATE_BY,
    ),
    c.Hold: lambda f: c.Hold(_order(f), reason="road closed"),
    c.Resume: lambda f: c.Resume(_order(f, lambda o: c.Hold(o, reason="road closed"))),
    c.Cancel: lambda f: c.Cancel(_order(f), reason="false alarm"),
    c.Regrade: lambda f: c.Regrade(_order(f), grade=2, reason="gas near a school"),
    c.RecordHazard: lambda f: _record(),
    c.AssignHazard: lambda f: c.AssignHazard(_hazard(f), responsible_unit="unit-2"),
    c.SetHazardDeadline: lambda f: c.SetHazardDeadline(_hazard(f), deadline_unix_us=T0 + 10 * DAY),
    c.StartRectification: lambda f: c.StartRectification(_hazard(f, assigned=True)),
    c.AddHazardEvidence: lambda f: c.AddHazardEvidence(_hazard(f), uri="doc://report", description="report"),
    c.UpdateInterimMeasures: lambda f: c.UpdateInterimMeasures(_hazard(f), interim_measures="fenced off"),
    c.ReclassifyHazard: lambda f: c.ReclassifyHazard(_hazard(f), major=True, reason="near a school"),
    c.RectifyHazard: lambda f: c.RectifyHazard(_hazard(f, rectifying=True), summary="done"),
    c.SignOffHazard: lambda f: c.SignOffHazard(_hazard(f, awaiting=True)),
    c.RejectHazard: lambda f: c.RejectHazard(_hazard(f, awaiting=True), reason="photos missing"),
    c.FlagProblemPipeline: lambda f: c.FlagProblemPipeline(segment_id="S-D1", reason="material"),
    c.SetReplacementTarget: lambda f: c.SetReplacementTarget(
        district=HOME, pipe_class="municipal", year=2026, target_km=12.5
    ),
    c.OpenReplacement: lambda f: c.OpenReplacement(segment_id="S-D1", year=_year()),
    c.ReportReplacementProgress: lambda f: c.ReportReplacementProgress(_replacement(f), km_done=0.5),
    c.CompleteReplacement: lambda f: c.CompleteReplacement(_replacement(f, km_done=SEGMENT_KM)),
    c.VerifyReplacement: lambda f: c.VerifyReplacement(_replacement(f, km_done=SEGMENT_KM, completed=True)),
}


# -- the table, from the policy -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    role: CallerRole
    command: type[c.Command]
    refusal: str  # "role" (not allowed) or "district" (allowed, tried out of district)

    @property
    def id(self) -> str:
        return f"{self.refusal}:{self.role.value}:{self.command.aggregate}.{self.command.verb}"


def _allowed(role: CallerRole, command: type[c.Command]) -> bool:
    return role in PERMISSIONS.get(command, frozenset())


REFUSALS = [
    Case(role, command, "district" if _allowed(role, command) else "role")
    for command in c.COMMANDS
    for role in CallerRole
]
ALLOWED = [case for case in REFUSALS if case.refusal == "district"]
