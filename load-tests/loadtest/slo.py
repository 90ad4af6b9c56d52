"""The SLO file: which thresholds a run is judged by, and the verdict per SLO.

A bad file is refused naming the file and the key (``SloError``); nothing here does I/O but reading it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "slo.yaml"


@dataclass(frozen=True)
class Kind:
    unit: str
    # "max": measured must be <= threshold; "min": measured must be >= threshold.
    sense: str
    description: str


KINDS: dict[str, Kind] = {
    "ack_p99_ms": Kind("ms", "max", "ingest ack latency p99"),
    "error_rate_pct": Kind("%", "max", "batches with a gRPC error"),
    "lost_acked_readings": Kind("readings", "max", "acked readings missing on Kafka"),
    "leakdetect_lag_s": Kind("s", "max", "leakdetect consumer lag (highest sample)"),
    "leak_to_workorder_over_detect_s": Kind("s", "max", "leak onset -> work order, beyond time to detect (p99)"),
    "alarm_to_watch_p99_s": Kind("s", "max", "alarm -> dispatcher's Watch p99"),
    "achieved_to_offered_min": Kind("ratio", "min", "achieved / offered readings/s"),
}


class SloError(ValueError):
    """The SLO file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Verdict:
    name: str
    threshold: float
    measured: float | None  # None: not measured in this run (e.g. no leak injected)
    ok: bool | None  # None: not measured, so not judged

    def as_dict(self) -> dict[str, Any]:
        kind = KINDS[self.name]
        return {"name": self.name, "threshold": self.threshold, "measured": self.measured, "ok": self.ok,
                "unit": kind.unit, "sense": "<=" if kind.sense == "max" else ">=", "description": kind.description}


def parse(text: str, source: str) -> dict[str, float]:
    """Thresholds by SLO name from the YAML text (``source`` names it in errors)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SloError(f"{source}: not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(raw, dict) or set(raw) != {"slos"}:
        raise SloError(f"{source}: expected a mapping with one key, slos (got {type(raw).__name__}"
                       + (f" with keys {sorted(map(str, raw))}" if isinstance(raw, dict) else "") + ")")
    slos = raw["slos"]
    if not isinstance(slos, dict) or not slos:
        raise SloError(f"{source}: slos must be a non-empty mapping of SLO name to threshold")
    out: dict[str, float] = {}
    for name, value in slos.items():
        if name not in KINDS:
            raise SloError(f"{source}: unknown SLO {name!r} (known: {', '.join(KINDS)})")
        if value is None:
            continue  # turned off
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise SloError(f"{source}: slos.{name} must be a finite number >= 0 or null, got {value!r}")
        out[name] = float(value)
    return out


def load(path: Path | str | None = None) -> dict[str, float]:
    file = Path(path) if path else DEFAULT_FILE
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SloError(f"{file}: cannot be read: {error}") from None
    return parse(text, str(file))


def judge(thresholds: dict[str, float], measured: dict[str, float | None]) -> list[Verdict]:
    """One verdict per SLO of the file; an SLO without a measurement is reported, not judged."""
    verdicts = []
    for name, threshold in thresholds.items():
        value = measured.get(name)
        if value is None or not math.isfinite(value):
            verdicts.append(Verdict(name, threshold, None, None))
            continue
        ok = value <= threshold if KINDS[name].sense == "max" else value >= threshold
        verdicts.append(Verdict(name, threshold, round(value, 4), ok))
    return verdicts


def passed(verdicts: list[Verdict]) -> bool:
    return all(v.ok is not False for v in verdicts)
