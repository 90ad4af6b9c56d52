"""Validation of what callers hand to the event store (no database needed)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.eventstore import InvalidEventError, NewEvent
from services.eventstore.model import (
    canonical_json,
    check_json_object,
    check_new_events,
    check_optional_id,
    check_stream_id,
    check_version,
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8).filter(lambda k: "\x00" not in k), json_values, max_size=5))
def test_accepted_payloads_round_trip_through_json(payload: dict[str, Any]) -> None:
    checked = check_json_object("payload", payload)
    assert json.loads(canonical_json(checked)) == payload


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,199}", fullmatch=True))
def test_valid_stream_ids_pass(stream_id: str) -> None:
    assert check_stream_id(stream_id) == stream_id


@given(st.text())
def test_any_text_is_either_a_valid_stream_id_or_a_clear_error(text: str) -> None:
    try:
        check_stream_id(text)
    except InvalidEventError as error:
        assert "stream_id" in str(error)


def test_versions() -> None:
    assert check_version("v", 0) == 0
    assert check_version("v", 2**63 - 1) == 2**63 - 1
    for bad in (-1, 2**63, True, 1.5, "1", None):
        with pytest.raises(InvalidEventError, match="v must"):
            check_version("v", bad)


def test_optional_ids_accept_uuids_and_strings() -> None:
    assert check_optional_id("actor", None) is None
    assert check_optional_id("actor", "crew:7") == "crew:7"
    assert check_optional_id("causation_id", uuid.UUID(int=3)) == str(uuid.UUID(int=3))


def test_new_events_are_copied_and_keep_their_ids() -> None:
    payload = {"a": 1}
    event = NewEvent("WorkOrderOpened", payload)
    (checked,) = check_new_events([event])
    payload["a"] = 2
    assert checked.payload == {"a": 1}
    assert checked.event_id == event.event_id


def test_a_single_event_instead_of_a_list_is_refused() -> None:
    with pytest.raises(InvalidEventError, match="list"):
        check_new_events(NewEvent("X", {}))


def test_canonical_json_is_deterministic() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "é"]}) == '{"a":[1.5,"é"],"b":1}'
