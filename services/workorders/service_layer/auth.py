"""Who is calling: the principal a verified token names, and what each role may do where.

The gRPC layer turns a bearer token into a ``Principal`` (``adapters.tokens``); this module decides.
Rules: a caller sees and acts only in its districts (``"*"`` = all); regulators only read; only
supervisors regrade, sign off or reject hazards and set replacement targets. A hazard sign-off level is
signed by a supervisor who also holds that level's sign-off role (token claim ``sign_off_roles``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from services.workorders.domain import commands as c

ALL_DISTRICTS = "*"


class CallerRole(enum.StrEnum):
    DISPATCHER = "dispatcher"
    CREW = "crew"
    SUPERVISOR = "supervisor"
    REGULATOR = "regulator"


class AccessDenied(Exception):
    """The caller is authenticated but may not do this (gRPC PERMISSION_DENIED)."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: CallerRole
    districts: frozenset[str]
    # Sign-off positions held (e.g. "unit_head"), matched against the hazard's level roles.
    sign_off_roles: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        """The ``actor`` recorded with events: ``role:subject``."""
        return f"{self.role.value}:{self.subject}"

    @property
    def all_districts(self) -> bool:
        return ALL_DISTRICTS in self.districts

    def may_see(self, district: str) -> bool:
        return self.all_districts or district in self.districts

    def visible_districts(self, requested: Iterable[str]) -> frozenset[str] | None:
        """Districts to filter on (None = no filter); refuses explicitly requested foreign districts."""
        wanted = frozenset(d for d in requested if d)
        foreign = sorted(d for d in wanted if not self.may_see(d))
        if foreign:
            raise AccessDenied(f"{self.actor} may not see district(s) {', '.join(foreign)}")
        if wanted:
            return wanted
        return None if self.all_districts else self.districts

    def require_district(self, district: str) -> None:
        if not self.may_see(district):
            raise AccessDenied(f"{self.actor} does not work in district {district!r}")

    def require_sign_off_role(self, level: int, role: str) -> None:
        if role not in self.sign_off_roles:
            held = ", ".join(sorted(self.sign_off_roles)) or "none"
            raise AccessDenied(f"level {level} must be signed by the sign-off role {role!r}; {self.actor} holds {held}")


_ANYONE = frozenset({CallerRole.CREW, CallerRole.DISPATCHER, CallerRole.SUPERVISOR})
_DESK = frozenset({CallerRole.DISPATCHER, CallerRole.SUPERVISOR})
_SUPERVISOR = frozenset({CallerRole.SUPERVISOR})

# Which roles may run which command. Anything not listed: nobody. Crews record hazards and attach
# evidence; dispatchers run the loop; only supervisors regrade, sign, reject, reclassify and set targets.
PERMISSIONS: dict[type[c.Command], frozenset[CallerRole]] = {
    c.Dispatch: _DESK,
    c.Acknowledge: _ANYONE,
    c.Depart: _ANYONE,
    c.Arrive: _ANYONE,
    c.MakeSafe: _ANYONE,
    c.Repair: _ANYONE,
    c.Verify: _DESK,
    c.Close: _DESK,
    c.Defer: _DESK,
    c.Hold: _DESK,
    c.Resume: _DESK,
    c.Reevaluate: _ANYONE,
    c.Cancel: _DESK,
    c.Regrade: _SUPERVISOR,
    c.RecordHazard: _ANYONE,
    c.AssignHazard: _DESK,
    c.SetHazardDeadline: _DESK,
    c.StartRectification: _DESK,
    c.AddHazardEvidence: _ANYONE,
    c.UpdateInterimMeasures: _DESK,
    c.RectifyHazard: _DESK,
    c.SignOffHazard: _SUPERVISOR,
    c.RejectHazard: _SUPERVISOR,
    c.ReclassifyHazard: _SUPERVISOR,
    c.FlagProblemPipeline: _DESK,
    c.SetReplacementTarget: _SUPERVISOR,
    c.OpenReplacement: _DESK,
    c.ReportReplacementProgress: _ANYONE,
    c.CompleteReplacement: _DESK,
    c.VerifyReplacement: _SUPERVISOR,
}


# Which roles may run which query (the API's query names; each is confined to the caller's districts as
# well). The audit trail is the regulator's: the domain brief gives reading and supervising to regulators.
_EVERYONE = frozenset(CallerRole)
QUERY_PERMISSIONS: dict[str, frozenset[CallerRole]] = {
    "ListWorkOrders": _EVERYONE,
    "GetWorkOrder": _EVERYONE,
    "ListHazards": _EVERYONE,
    "GetReport": _EVERYONE,
    "Watch": _EVERYONE,
    "ListAuditRecords": frozenset({CallerRole.REGULATOR}),
}


def require_query(principal: Principal, query: str) -> None:
    allowed = QUERY_PERMISSIONS.get(query, frozenset())
    if principal.role not in allowed:
        who = ", ".join(sorted(r.value for r in allowed)) or "nobody"
        raise AccessDenied(f"role {principal.role.value!r} may not call {query}; allowed: {who}")


def require_command(principal: Principal, command: c.Command) -> None:
    allowed = PERMISSIONS.get(type(command), frozenset())
    if principal.role not in allowed:
        who = ", ".join(sorted(r.value for r in allowed)) or "nobody"
        raise AccessDenied(
            f"role {principal.role.value!r} may not {command.verb} a {command.aggregate}; allowed: {who}"
        )
