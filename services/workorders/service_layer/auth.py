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


# Which roles may run which command (by its request field name). Anything not listed: nobody.
_WORK_ORDER = {
    "dispatch": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "acknowledge": {CallerRole.CREW, CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "en_route": {CallerRole.CREW, CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "on_site": {CallerRole.CREW, CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "made_safe": {CallerRole.CREW, CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "repaired": {CallerRole.CREW, CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "verified": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "close": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "monitor": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "hold": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "resume": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "reevaluate": {CallerRole.CREW, CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "cancel": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "regrade": {CallerRole.SUPERVISOR},
}
# Crews record hazards and attach evidence; dispatchers run the loop; only supervisors sign, reject, reclassify.
_HAZARD = {
    "record": {CallerRole.DISPATCHER, CallerRole.CREW, CallerRole.SUPERVISOR},
    "assign": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "set_deadline": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "start_rectification": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "add_evidence": {CallerRole.DISPATCHER, CallerRole.CREW, CallerRole.SUPERVISOR},
    "update_interim_measures": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "rectify": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "sign_off": {CallerRole.SUPERVISOR},
    "reject": {CallerRole.SUPERVISOR},
    "reclassify": {CallerRole.SUPERVISOR},
}
_REPLACEMENT = {
    "flag_problem_pipeline": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "set_target": {CallerRole.SUPERVISOR},
    "open": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "report_progress": {CallerRole.CREW, CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "complete": {CallerRole.DISPATCHER, CallerRole.SUPERVISOR},
    "verify": {CallerRole.SUPERVISOR},
}
PERMISSIONS: dict[str, dict[str, set[CallerRole]]] = {
    "work_order": _WORK_ORDER,
    "hazard": _HAZARD,
    "replacement": _REPLACEMENT,
}


def require_command(principal: Principal, aggregate: str, command: str) -> None:
    allowed = PERMISSIONS.get(aggregate, {}).get(command, set())
    if principal.role not in allowed:
        who = ", ".join(sorted(r.value for r in allowed)) or "nobody"
        raise AccessDenied(f"role {principal.role.value!r} may not {command} a {aggregate}; allowed: {who}")
