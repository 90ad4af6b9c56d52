"""Upcasters: lift stored event payloads written under an old schema to the current one, on read.

Stored events are never rewritten. An upcaster is registered for ``(event_type, from_version)`` and turns
a payload of that schema version into one of ``from_version + 1``; reading applies the chain until no
upcaster matches, so a v1 event comes out as v3 when v1→v2 and v2→v3 are registered.

    upcasters = UpcasterRegistry()

    @upcasters.register("WorkOrderOpened", from_version=1)
    def _add_priority(payload):
        return {**payload, "priority": "normal"}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.eventstore.errors import EventStoreError
from services.eventstore.model import JsonObject, check_event_type, check_schema_version

Upcaster = Callable[[JsonObject], JsonObject]


class UpcasterRegistry:
    def __init__(self) -> None:
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator registering ``fn(payload_vN) -> payload_vN+1`` for ``event_type`` at ``from_version``."""
        check_event_type(event_type)
        check_schema_version(from_version)

        def decorate(fn: Upcaster) -> Upcaster:
            self.add(event_type, from_version, fn)
            return fn

        return decorate

    def add(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        check_event_type(event_type)
        check_schema_version(from_version)
        key = (event_type, from_version)
        if key in self._upcasters:
            raise ValueError(f"an upcaster for {event_type} v{from_version} is already registered")
        self._upcasters[key] = fn

    def latest_version(self, event_type: str, schema_version: int = 1) -> int:
        """The schema version an event of ``schema_version`` reads as."""
        while (event_type, schema_version) in self._upcasters:
            schema_version += 1
        return schema_version

    def upcast(self, event_type: str, schema_version: int, payload: JsonObject) -> tuple[int, JsonObject]:
        while (fn := self._upcasters.get((event_type, schema_version))) is not None:
            lifted: Any = fn(dict(payload))
            if not isinstance(lifted, dict):
                raise EventStoreError(
                    f"upcaster for {event_type} v{schema_version} returned {type(lifted).__name__}, not dict"
                )
            payload = lifted
            schema_version += 1
        return schema_version, payload

    def __len__(self) -> int:
        return len(self._upcasters)
