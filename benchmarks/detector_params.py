"""`--param NAME=VALUE`: DetectorParams overrides for every simulated suite of `benchmarks.detection`.

One code path: the command line's overrides ride on each scenario dict under "params" (`attach`), and every suite
builds its detector's parameters from the scenario with `for_scenario` (a suite's own settings first, the command
line's last). A scenario without overrides runs the defaults."""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

KEY = "params"  # the scenario dict's key holding the overrides (NAME -> number)


def parse(text: str) -> tuple[str, Any]:
    """`--param NAME=VALUE`: a DetectorParams field and a number (int if it reads as one)."""
    from services.leakdetect.domain.config import DetectorParams

    name, sep, value = text.partition("=")
    fields = {f.name for f in dataclasses.fields(DetectorParams)}
    if not sep or name.strip() not in fields:
        raise argparse.ArgumentTypeError(f"--param wants NAME=VALUE with NAME a DetectorParams field, got {text!r}")
    try:
        number: Any = int(value) if value.strip().lstrip("-").isdigit() else float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--param {name}: {value!r} is not a number") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"--param {name}: {value!r} is not finite")
    return name.strip(), number


def attach(scenarios: list[dict[str, Any]], overrides: dict[str, Any]) -> None:
    """Give every scenario the command line's overrides (none: the scenarios are left as they are)."""
    if overrides:
        for sc in scenarios:
            sc[KEY] = dict(overrides)


def overrides_of(sc: dict[str, Any]) -> dict[str, Any]:
    return dict(sc.get(KEY) or {})


def for_scenario(sc: dict[str, Any], **suite_settings: Any) -> Any:
    """The DetectorParams a scenario's detector runs with: the defaults, the suite's own settings, the scenario's
    overrides last."""
    from services.leakdetect.domain.config import DetectorParams

    return DetectorParams(**{**suite_settings, **overrides_of(sc)})
