"""`--param NAME=VALUE` of benchmarks.detection: parsed, attached to every simulated suite's scenarios and handed to
the detector those scenarios build (demo city and random layouts). No simulation: the simulator is stubbed and the
pipeline's construction is caught."""

from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from benchmarks import detection, detector_params, layout_suites
from services.leakdetect.domain import Pipeline
from services.leakdetect.domain.config import DetectorParams

OVERRIDES = {"rupture_spread_front": 0, "rupture_outflow_dip": 0}  # the defaults are 1


class _Built(Exception):
    """Raised by the stubbed Pipeline.from_network once it has seen its parameters."""


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    got: list[Any] = []

    def from_network(network: Any, segment_ids: Any = None, params: Any = None, **_kw: Any) -> Pipeline:
        got.append(params)
        raise _Built

    monkeypatch.setattr(Pipeline, "from_network", staticmethod(from_network))
    return got


@pytest.mark.parametrize("bad", ["nope=1", "z_window", "z_window=abc", "z_window=nan"])
def test_param_refuses_garbage(bad: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="--param"):
        detector_params.parse(bad)


def test_param_reads_numbers() -> None:
    assert detector_params.parse("persist_blocks=3") == ("persist_blocks", 3)
    assert detector_params.parse("z_window=4.5") == ("z_window", 4.5)


def test_every_simulated_suite_carries_the_overrides() -> None:
    suites = ["demo", "location", "rupture", "leak_free", "transients", "meters", "transient_free"]
    scen = detection.build_scenarios(suites, quick=True, overrides=OVERRIDES)
    assert {sc.get("suite", "demo") for sc in scen} == set(suites)
    for sc in scen:
        p = detector_params.for_scenario(sc)
        assert (p.rupture_spread_front, p.rupture_outflow_dip) == (0, 0), sc.get("suite", "demo")
    plain = detection.build_scenarios(suites, quick=True)
    assert all(detector_params.for_scenario(sc) == DetectorParams() for sc in plain)


def test_a_suites_own_setting_yields_to_the_command_line() -> None:
    p = detector_params.for_scenario({"params": {"persist_blocks": 7}}, persist_blocks=2, z_window=4.5)
    assert (p.persist_blocks, p.z_window) == (7, 4.5)


def test_the_demo_suites_detector_gets_the_overrides(monkeypatch: pytest.MonkeyPatch, seen: list[Any]) -> None:
    sc = next(s for s in detection.build_scenarios(["demo"], quick=True, overrides=OVERRIDES)
              if s["kind"] == "leak_free")
    fake = SimpleNamespace(probe_ids=[], probe_pipe_ids=[], probe_position_m=[], start_time_unix_s=0.0)
    monkeypatch.setattr(detection, "_simulate", lambda *a, **k: fake)
    monkeypatch.setattr("services.gasflow.scada.scada_readings", lambda *a, **k: None)
    with pytest.raises(_Built):
        detection.run_one(sc)
    assert (seen[0].rupture_spread_front, seen[0].rupture_outflow_dip) == (0, 0)


@pytest.mark.parametrize("suite", ["leak_free", "location"])
def test_the_layout_suites_detector_gets_the_overrides(monkeypatch: pytest.MonkeyPatch, seen: list[Any],
                                                       suite: str) -> None:
    sc = next(s for s in detection.build_scenarios([suite], quick=True, overrides=OVERRIDES))
    fake = SimpleNamespace(start_time_unix_s=0.0, leak_outflow_kg_per_s=np.zeros(2))
    monkeypatch.setattr(layout_suites, "_simulate", lambda *a, **k: (fake, {}))
    monkeypatch.setattr(layout_suites, "_readings", lambda *a, **k: None)
    with pytest.raises(_Built):
        layout_suites.run_one(sc)
    assert (seen[0].rupture_spread_front, seen[0].rupture_outflow_dip) == (0, 0)
