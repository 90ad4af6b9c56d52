"""Errors the work-order domain raises. Every refusal leaves the aggregate unchanged (aggregates are immutable).

All are ``ValueError`` subclasses so that an entry point can map the whole family to one "bad request"
answer, while the service layer can still tell a garbage input from a refused business rule.
"""

from __future__ import annotations

from collections.abc import Iterable


class DomainError(ValueError):
    """Base of every error raised by ``services.workorders.domain``."""


class InvalidInput(DomainError):
    """Garbage in: a missing id, a NaN rate, a negative length, an unknown state name, a bad payload."""


class InvalidTransition(DomainError):
    """The command is not allowed in the aggregate's current state; the message names both and the moves."""

    def __init__(self, aggregate: str, command: str, current: str, allowed: Iterable[str]) -> None:
        self.aggregate = aggregate
        self.command = command
        self.current = current
        self.allowed = tuple(sorted(allowed))
        moves = ", ".join(self.allowed) if self.allowed else "none (terminal state)"
        super().__init__(f"cannot {command} {aggregate} in state {current!r}; allowed from {current!r}: {moves}")


class PermissionDenied(DomainError):
    """The actor's role may not do this (e.g. a dispatcher regrading a leak)."""


class RuleViolation(DomainError):
    """The command is allowed in this state but breaks a business rule (e.g. deferring a grade 1 leak)."""


class ReplacementLengthExceeded(RuleViolation):
    """Reported replacement progress would exceed the segment's length."""
