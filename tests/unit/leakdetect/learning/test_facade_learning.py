"""The facade's learning commands (issue 24 item 3): `Pipeline.learn_now`, `Pipeline.mark_leak_free`, the
baseline in `SegmentStatus` and in checkpoints, and garbage refused with the problem named."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from services.leakdetect.domain import DetectorParams, LearningError, Pipeline, events
from services.network import TagKind, load_demo_network

NET = load_demo_network()
SEG = "TR-01"
T0_S = 1_767_225_600.0


def _readings(start_s: float, seconds: int, seed: int) -> dict[str, np.ndarray]:
    """1 Hz flows at both ends (fixed biases, 0.25 % noise) and steady end pressures: a quiet line."""
    seg = NET.segments[SEG]
    tags = {(t.kind, round(t.position_m)): t.tag_id for t in NET.tags_of_segment(SEG)}
    length = round(seg.length_m)
    rng = np.random.default_rng(seed)
    t = start_s + np.arange(seconds, dtype=float)
    demand = seg.nominal_flow_kg_per_s * (1.0 + 0.05 * np.sin(2 * np.pi * (t - T0_S) / 3600.0))
    p_up = 0.85 * seg.max_operating_pressure_pa
    cols = {
        tags[(TagKind.FLOW, 0)]: demand * (1.003 + 0.0025 * rng.standard_normal(seconds)),
        tags[(TagKind.FLOW, length)]: demand * (0.998 + 0.0025 * rng.standard_normal(seconds)),
        tags[(TagKind.PRESSURE, 0)]: p_up + 300.0 * rng.standard_normal(seconds),
        tags[(TagKind.PRESSURE, length)]: p_up - 40_000.0 + 300.0 * rng.standard_normal(seconds),
    }
    return {"tag": np.concatenate([np.full(seconds, k, dtype=object) for k in cols]),
            "time_unix_s": np.tile(t, len(cols)), "value": np.concatenate(list(cols.values()))}


def _pipeline() -> Pipeline:
    return Pipeline.from_network(NET, [SEG], DetectorParams(learn_window_s=1800.0))


@pytest.fixture(scope="module")
def learned() -> Pipeline:
    p = _pipeline()
    p.feed(**_readings(T0_S, 3000, seed=1), si_units=True)
    return p


def test_status_reports_the_learned_baseline(learned: Pipeline) -> None:
    b = learned.status(SEG).baseline
    assert b is not None and b.learned and b.source == "initial" and b.learning == "idle"
    assert b.learned_unix_s is not None and b.window_start_unix_s is not None
    assert T0_S + 270 <= b.window_start_unix_s < b.learned_unix_s <= T0_S + 3000
    assert b.blocks >= 60 and b.learning_window_blocks == 60
    assert math.isfinite(b.offset_kg_per_s) and b.offset_sd_kg_per_s > 0 and b.kappa >= 0.5 and b.gain_sd > 0
    assert b.throughput_kg_per_s == pytest.approx(NET.segments[SEG].nominal_flow_kg_per_s, rel=0.1)
    assert b.next_relearn_unix_s == pytest.approx(b.learned_unix_s + 6 * 3600.0)
    assert 0 < b.mdlr_15min_kg_per_s < math.inf
    json.dumps(b.as_json())  # plain JSON: infinities and nan as null


def test_the_baseline_survives_a_checkpoint(learned: Pipeline) -> None:
    again = learned.restore(learned.to_bytes())
    assert again.baseline(SEG) == learned.baseline(SEG)


def test_learn_now_learns_a_new_baseline_over_the_window_after_it() -> None:
    p = _pipeline()
    p.feed(**_readings(T0_S, 3000, seed=2), si_units=True)
    first = p.baseline(SEG)
    p.learn_now(SEG, T0_S + 3000)
    p.feed(**_readings(T0_S + 3000, 120, seed=3), si_units=True)
    assert p.baseline(SEG).learning == "learn_now" and p.baseline(SEG).source == "initial"
    p.feed(**_readings(T0_S + 3120, 2100, seed=4), si_units=True)
    b = p.baseline(SEG)
    assert b.source == "learn_now" and b.learning == "idle"
    assert b.window_start_unix_s is not None and b.window_start_unix_s >= T0_S + 3000
    assert b.learned_unix_s is not None and first.learned_unix_s is not None
    assert b.learned_unix_s > first.learned_unix_s
    # adopted in the last feed, as an event naming how
    assert [e.source for e in p.last_events if isinstance(e, events.BaselineLearned)] == [3]


def test_mark_leak_free_refits_from_the_ring(learned: Pipeline) -> None:
    p = learned.restore(learned.to_bytes())
    b = p.mark_leak_free(SEG, T0_S + 1500, T0_S + 2900)
    assert b.source == "leak_free" and b.window_start_unix_s == pytest.approx(T0_S + 1500)
    assert 30 <= b.blocks <= 47
    assert any(isinstance(e, events.BaselineLearned) and e.source == 4 for e in p.last_events)
    before = learned.baseline(SEG)
    assert abs(b.offset_kg_per_s + b.gain * b.throughput_kg_per_s
               - before.offset_kg_per_s - before.gain * b.throughput_kg_per_s) < 0.05


@pytest.mark.parametrize(("start", "end", "message"), [
    (T0_S + 10, T0_S + 2900, r"before the detector's oldest block \(it holds back to 2026-01-01T00:"),
    (T0_S + 2000, T0_S + 4000, "after the segment's last closed block"),
    (T0_S + 2800, T0_S + 2900, "fewer than 3 groups"),
    (T0_S + 2900, T0_S + 2800, "must end after it starts"),
    (float("nan"), T0_S + 2800, "start_unix_s must be a finite time"),
    (T0_S, float("inf"), "end_unix_s must be a finite time"),
    ("yesterday", T0_S, "start_unix_s must be a finite time"),
    (-5.0, T0_S, "start_unix_s must be a finite time"),
])
def test_mark_leak_free_refuses_with_the_problem_named(learned: Pipeline, start, end, message) -> None:
    p = learned.restore(learned.to_bytes())
    with pytest.raises(LearningError, match=message):
        p.mark_leak_free(SEG, start, end)
    assert p.baseline(SEG) == learned.baseline(SEG)  # nothing changed


@pytest.mark.parametrize("at", [float("nan"), float("inf"), -1.0, 0, "now", None])
def test_learn_now_refuses_garbage(learned: Pipeline, at) -> None:
    p = learned.restore(learned.to_bytes())
    with pytest.raises(LearningError, match="at_unix_s must be a finite time"):
        p.learn_now(SEG, at)


def test_commands_name_an_unknown_segment(learned: Pipeline) -> None:
    with pytest.raises(KeyError, match="segment 'XX-99' is not one of this pipeline's"):
        learned.learn_now("XX-99", T0_S)
    with pytest.raises(KeyError, match="segment 'XX-99' is not one of this pipeline's"):
        learned.mark_leak_free("XX-99", T0_S, T0_S + 60)
