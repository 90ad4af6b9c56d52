"""The package docstring lists the public surface: every name in ``__all__``, and nothing is missing."""

from __future__ import annotations

import re

import services.eventstore as eventstore


def test_docstring_names_every_export() -> None:
    doc = eventstore.__doc__ or ""
    named = set(re.findall(r"``([A-Za-z_]+)``", doc))
    assert sorted(set(eventstore.__all__) - named) == []


def test_every_export_exists_and_no_service_is_named() -> None:
    for name in eventstore.__all__:
        assert hasattr(eventstore, name), name
    assert "WORKORDERS_EVENTS_TOPIC" not in eventstore.__all__
    assert "to_envelope" not in eventstore.__all__
