"""Which work-order actions a page offers a role: workorders' own permission table, read, never widened.

The API checks again on every call; a page only leaves out buttons the API would refuse for the role.
"""

from __future__ import annotations

from services.console.domain.actions import ACTIONS, Action
from services.workorders.service_layer.auth import PERMISSIONS, CallerRole

_WORK_ORDER_ROLES: dict[str, frozenset[str]] = {
    command.verb: frozenset(r.value for r in roles)
    for command, roles in PERMISSIONS.items()
    if command.aggregate == "work_order"
}
ROLES = tuple(r.value for r in CallerRole)


def actions_for(role: str) -> tuple[Action, ...]:
    return tuple(a for a in ACTIONS if role in _WORK_ORDER_ROLES.get(a.verb, frozenset()))


def may(role: str, verb: str) -> bool:
    return role in _WORK_ORDER_ROLES.get(verb, frozenset())
