"""Authorisation generated from the policy: every role x command, in and out of the caller's district.

The table (``tests/unit/workorders/authorisation_table.py``) is derived from ``auth.PERMISSIONS`` (the
policy's one definition) and ``commands.COMMANDS``; nothing here restates which role may do what. For each
(role, command) pair:
- not allowed: refused (``AccessDenied``) in the caller's own district, nothing stored;
- allowed: refused out of the caller's district, nothing stored, and carried out in it.
So each pair yields exactly one refusal: 4 roles x 30 commands = 120 (57 by role + 63 by district today).
"""

from __future__ import annotations

import pytest

from services.workorders.domain import commands as c
from services.workorders.service_layer.auth import PERMISSIONS, AccessDenied, CallerRole
from tests.unit.workorders.authorisation_table import ABROAD, ALLOWED, HOME, REFUSALS, SCENARIOS, Case, caller
from tests.unit.workorders.fakes import make_app


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
