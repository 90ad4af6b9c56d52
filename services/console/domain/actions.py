"""The work-order actions a page can offer, their form fields, and the parsing of a submitted form.

Verbs are workorders' (``ExecuteWorkOrderCommandRequest``'s oneof field names). Which of them a role may
run is workorders' permission table, applied in the service layer; whether the order's state allows it
is for the API to say (its refusal is shown as it is).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

US_PER_S = 1_000_000
MAX_TEXT = 2000


class FormError(ValueError):
    """A submitted form the console cannot turn into a command; the message names the field."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | choice | date | flag | grade
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Action:
    verb: str
    label: str
    fields: tuple[Field, ...] = ()
    danger: bool = False


ACTIONS: tuple[Action, ...] = (
    Action("dispatch", "Dispatch a crew", (Field("crew_id", "Crew", required=True),)),
    Action("acknowledge", "Acknowledge"),
    Action("depart", "En route"),
    Action("arrive", "On site"),
    Action("make_safe", "Made safe", (Field("measures", "Interim measures", required=True),)),
    Action("repair", "Repaired", (Field("kind", "Repair", "choice", choices=("permanent", "temporary")),
                                  Field("notes", "Notes"))),
    Action("verify", "Verified", (Field("failed", "Leak still there", "flag"), Field("notes", "Notes"))),
    Action("close", "Close", (Field("notes", "Notes"),)),
    Action("defer", "Monitor (defer repair)", (Field("reevaluate_by", "Re-evaluate by", "date", required=True),
                                               Field("reason", "Reason", required=True))),
    Action("reevaluate", "Re-evaluated", (Field("findings", "Findings", required=True),
                                          Field("next_reevaluate_by", "Next re-evaluation", "date"))),
    Action("hold", "Hold", (Field("reason", "Reason", required=True),)),
    Action("resume", "Resume"),
    Action("cancel", "Cancel", (Field("reason", "Reason", required=True),), danger=True),
    Action("regrade", "Regrade", (Field("grade", "Grade", "grade", required=True),
                                  Field("reason", "Reason", required=True))),
)
ACTIONS_BY_VERB: Mapping[str, Action] = {a.verb: a for a in ACTIONS}


@dataclass(frozen=True, slots=True)
class CommandForm:
    """A parsed action form: the verb, the command's fields, and the concurrency metadata."""

    work_order_id: str
    verb: str
    fields: Mapping[str, Any]
    expected_version: int
    command_id: str


def _text(form: Mapping[str, str], name: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise FormError(f"field {name!r}: not text")
    value = value.strip()
    if len(value) > limit:
        raise FormError(f"field {name!r}: longer than {limit} characters")
    if any(not ch.isprintable() and ch not in "\t\n\r" for ch in value):
        raise FormError(f"field {name!r}: control characters are not allowed")
    if required and not value:
        raise FormError(f"field {name!r} is required")
    return value


def _date_us(name: str, value: str) -> int:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise FormError(f"field {name!r}: expected a date YYYY-MM-DD, got {value[:40]!r}") from None
    return int(day.timestamp()) * US_PER_S


def parse_command_form(work_order_id: str, form: Mapping[str, str]) -> CommandForm:
    """Turn a submitted action form into a command; refuses unknown verbs and bad fields by name."""
    order_id = _text(form, "work_order_id", required=True, limit=200) if "work_order_id" in form else work_order_id
    if order_id != work_order_id:
        raise FormError("field 'work_order_id' does not match the page's order")
    verb = _text(form, "verb", required=True, limit=40)
    action = ACTIONS_BY_VERB.get(verb)
    if action is None:
        raise FormError(f"field 'verb': unknown action {verb!r}")
    version_text = _text(form, "expected_version", required=True, limit=20)
    if not version_text.isdigit():
        raise FormError(f"field 'expected_version': expected a whole number, got {version_text!r}")
    command_id = _text(form, "command_id", required=True, limit=100)
    fields: dict[str, Any] = {}
    for f in action.fields:
        raw = _text(form, f.name, required=f.required)
        if f.kind == "flag":
            fields[f.name] = raw in ("1", "on", "true", "yes")
        elif f.kind == "choice":
            if raw and raw not in f.choices:
                raise FormError(f"field {f.name!r}: must be one of {', '.join(f.choices)}")
            fields[f.name] = raw
        elif f.kind == "grade":
            if raw not in ("1", "2", "3"):
                raise FormError(f"field {f.name!r}: must be 1, 2 or 3")
            fields[f.name] = int(raw)
        elif f.kind == "date":
            # The API's field is a time in microseconds: <name>_unix_us.
            fields[f"{f.name}_unix_us"] = _date_us(f.name, raw) if raw else 0
        else:
            fields[f.name] = raw
    return CommandForm(order_id, verb, fields, int(version_text), command_id)
