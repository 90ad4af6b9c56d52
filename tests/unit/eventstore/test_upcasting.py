"""The upcaster registry on its own."""

from __future__ import annotations

from typing import Any

import pytest

from services.eventstore import EventStoreError, InvalidEventError, UpcasterRegistry


def test_chain_lifts_to_the_latest_version() -> None:
    registry = UpcasterRegistry()
    registry.add("Opened", 1, lambda p: {**p, "v2": True})
    registry.add("Opened", 2, lambda p: {**p, "v3": True})
    assert registry.upcast("Opened", 1, {"x": 1}) == (3, {"x": 1, "v2": True, "v3": True})
    assert registry.upcast("Opened", 2, {}) == (3, {"v3": True})
    assert registry.upcast("Opened", 3, {"y": 0}) == (3, {"y": 0})
    assert registry.upcast("Other", 1, {"z": 0}) == (1, {"z": 0})
    assert registry.latest_version("Opened") == 3
    assert len(registry) == 2


def test_upcasters_cannot_mutate_the_caller_payload() -> None:
    registry = UpcasterRegistry()

    @registry.register("Opened", from_version=1)
    def _mutating(payload: dict[str, Any]) -> dict[str, Any]:
        payload["added"] = 1
        return payload

    original = {"x": 1}
    registry.upcast("Opened", 1, original)
    assert original == {"x": 1}


def test_registering_twice_or_garbage_is_refused() -> None:
    registry = UpcasterRegistry()
    registry.add("Opened", 1, dict)
    with pytest.raises(ValueError, match="already registered"):
        registry.add("Opened", 1, dict)
    with pytest.raises(InvalidEventError):
        registry.add("bad type", 1, dict)
    with pytest.raises(InvalidEventError):
        registry.add("Opened", 0, dict)


def test_an_upcaster_returning_a_non_dict_is_reported() -> None:
    registry = UpcasterRegistry()
    registry.add("Opened", 1, lambda p: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(EventStoreError, match="returned NoneType"):
        registry.upcast("Opened", 1, {})
