"""One reading as the gateway stores and forwards it (the tag's own unit, quality code of services.network)."""

from __future__ import annotations

from typing import NamedTuple


class Reading(NamedTuple):
    # A tuple, not a dataclass: thousands are made per second and go straight into SQLite rows.
    tag_id: str
    time_unix_us: int
    value: float
    quality: int
