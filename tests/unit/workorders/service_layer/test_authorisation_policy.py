"""Authorisation generated from the policy: every role x command, in and out of the caller's district.

The table is derived from ``auth.PERMISSIONS`` (the policy's one definition) and ``commands.COMMANDS``;
nothing here restates which role may do what. For each (role, command) pair:
- not allowed: refused (``AccessDenied``) in the caller's own district, nothing stored;
- allowed: refused out of the caller's district, nothing stored, and carried out in it.
So each pair yields exactly one refusal: 4 roles x 30 commands = 120 (57 by role + 63 by district today).

``SCENARIOS`` is test data, not policy: for each command, how to bring an aggregate (in district D1) to a
state where that command is valid, and the command itself. It is built by a setup supervisor.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import pytest

from services.workorders.domain import commands as c
from services.workorders.domain.hazard import DEFAULT_LEVEL_ROLES
from services.workorders.service_layer.auth import PERMISSIONS, AccessDenied, CallerRole, Principal
from tests.unit.workorders.domain.factories import DAY, alarm
from tests.unit.workorders.fakes import T0, Faked, make_app

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


def _replacement(faked: Faked, *, km_done: float = 0.0, completed: bool = False) -> str:
    year = 2000 + next(_ids) % 1000  # one replacement per segment and year
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
    c.OpenReplacement: lambda f: c.OpenReplacement(segment_id="S-D1", year=2000 + next(_ids) % 1000),
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


def test_the_table_covers_every_role_and_command_of_the_policy() -> None:
    assert set(PERMISSIONS) == set(c.COMMANDS) == set(SCENARIOS)
    by_role = sum(case.refusal == "role" for case in REFUSALS)
    by_district = sum(case.refusal == "district" for case in REFUSALS)
    assert len(REFUSALS) == len(CallerRole) * len(c.COMMANDS) == by_role + by_district
    # The policy as it is today (the count); a policy change moves these, and the table follows.
    assert (len(CallerRole), len(c.COMMANDS), by_role, by_district) == (4, 30, 57, 63)
    print(f"policy refusals tested: {by_role} by role + {by_district} by district = {len(REFUSALS)} of {len(REFUSALS)}")


@pytest.mark.parametrize("case", REFUSALS, ids=lambda case: case.id)
def test_every_policy_refusal(case: Case) -> None:
    faked = make_app()
    command = SCENARIOS[case.command](faked)
    who = caller(case.role, HOME if case.refusal == "role" else ABROAD)
    head = faked.store.head_position()
    with pytest.raises(AccessDenied) as refused:
        faked.app.execute(who, command)
    if case.refusal == "role":
        assert case.role.value in str(refused.value) or "read-only" in str(refused.value)
    else:
        assert HOME in str(refused.value)
    assert faked.store.head_position() == head, "a refused command stored something"


@pytest.mark.parametrize("case", ALLOWED, ids=lambda case: case.id.replace("district:", "allowed:"))
def test_every_allowed_pair_is_carried_out_in_the_callers_district(case: Case) -> None:
    faked = make_app()
    command = SCENARIOS[case.command](faked)
    who = caller(case.role, HOME)
    outcome = faked.app.execute(who, command)
    assert outcome.event_types, f"{case.id}: nothing was stored"
    assert faked.store.read_stream(outcome.stream_id)[-1].actor == who.actor


def test_the_setup_principal_can_do_everything_so_refusals_are_not_setup_failures() -> None:
    # Each scenario builds without errors for the all-district supervisor (and its command then succeeds
    # for the supervisor wherever the policy allows supervisors).
    for command_class, scenario in SCENARIOS.items():
        faked = make_app()
        command = scenario(faked)
        assert type(command) is command_class
