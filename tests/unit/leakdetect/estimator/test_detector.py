"""The detector with the line-pack state estimator (`line_pack_estimator=1`) against the quasi-steady profile, on
one simulated line through a supply set-point change and a demand ramp; its state in checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from services.leakdetect.domain import layout as L
from services.leakdetect.domain.config import DetectorParams
from services.leakdetect.domain.detector import CheckpointError, DetectorState, process_batch

from .sim import LEAK_ONSET_S, Q_NOMINAL, T0_US, detector_config, detector_readings

ON = DetectorParams(line_pack_estimator=1)
OFF = DetectorParams(line_pack_estimator=0)


def _leaks(events: np.ndarray) -> np.ndarray:
    return events[events["kind"] == L.EV_LEAK]


@pytest.mark.slow
def test_operations_raise_no_false_alarm_with_the_estimator() -> None:
    cfg = detector_config()
    readings = detector_readings("ops")
    state = DetectorState.new(cfg, ON)
    events = process_batch(state, *readings)
    assert len(events[events["kind"] == L.EV_BASELINE_LEARNED]) >= 1
    assert len(_leaks(events)) == 0
    assert state.seg_f[0, L.GF_EST0 + L.ES_OK] == 1.0


@pytest.mark.slow
def test_a_leak_that_starts_in_a_demand_ramp_is_found_and_rated() -> None:
    cfg = detector_config()
    leaks = _leaks(process_batch(DetectorState.new(cfg, ON), *detector_readings("ramp_leak")))
    assert len(leaks) == 1
    t_raise = (int(leaks["time_us"][0]) - T0_US) / 1e6
    # within 6 min: 330 s on the 16-cell grid; the 8-cell one raised it at 210 s, helped by its own error in the
    # ramp (the ramp alone, without the leak, took its windows' z to 3.2 by then, 2.7 on 16 cells, while the leak's
    # own share of the z was 1.1 and 1.2)
    assert LEAK_ONSET_S < t_raise <= LEAK_ONSET_S + 360.0
    rate, sd = float(leaks["value"][0]), float(leaks["sigma"][0])
    truth = 0.01 * Q_NOMINAL
    print(f"raised {t_raise - LEAK_ONSET_S:.0f} s after the onset at {rate:.4f} +- {1.96 * sd:.4f} kg/s "
          f"(true {truth})")
    # the residual still rises to the leak at the raise (the filter follows the onset over minutes): the rate is
    # its mean over the run divided by the estimator's response share (decision._est_rate), and the positions'
    # spread of that share widens the 95 % interval, which holds the truth
    assert 0.5 * truth < rate < 1.5 * truth
    assert rate - 1.96 * sd <= truth <= rate + 1.96 * sd


def test_the_quasi_steady_line_pack_false_alarms_on_the_same_operations_without_its_settling_allowance() -> None:
    """What the estimator replaces: with the quasi-steady profile and no settling allowance (settle_eps=0) the
    supply set-point change alone raises an alarm on this line (and the leak in the ramp is then never reported);
    the allowance's own test is tests/unit/leakdetect/domain/test_settling.py."""
    bare = DetectorParams(line_pack_estimator=0, settle_eps=0.0)
    leaks = _leaks(process_batch(DetectorState.new(detector_config(), bare), *detector_readings("ops")))
    assert len(leaks) >= 1


def test_the_estimator_state_survives_a_checkpoint() -> None:
    """Half the readings, a checkpoint, the rest on the restored state: the same events as one pass."""
    cfg = detector_config()
    readings = detector_readings("ops")
    cut = readings[0].size // 3
    whole = process_batch(DetectorState.new(cfg, ON), *(r[: 2 * cut] for r in readings))
    state = DetectorState.new(cfg, ON)
    first = process_batch(state, *(r[:cut] for r in readings))
    assert state.seg_f[0, L.GF_EST0 + L.ES_OK] == 1.0
    restored = DetectorState.from_bytes(state.to_bytes(), cfg, ON)
    second = process_batch(restored, *(r[cut : 2 * cut] for r in readings))
    assert np.array_equal(np.concatenate([first, second]), whole)


def test_a_checkpoint_of_another_layout_or_line_pack_model_is_refused() -> None:
    cfg = detector_config()
    state = DetectorState.new(cfg, ON)
    process_batch(state, *(r[:4000] for r in detector_readings("ops")))
    blob = state.to_bytes()
    # taken with the quasi-steady line pack: another parameter set
    with pytest.raises(CheckpointError, match="parameters"):
        DetectorState.from_bytes(blob, cfg, OFF)
    # the layout before the estimator's columns (same parameters): seg_f is too narrow, and says so
    old = DetectorState.new(cfg, ON)
    old.seg_f = old.seg_f[:, : L.GF_EST0].copy()
    with pytest.raises(CheckpointError, match="seg_f"):
        DetectorState.from_bytes(old.to_bytes(), cfg, ON)


def test_a_silent_end_keeps_the_balance_running() -> None:
    """The downstream transmitter silent for 20 min: the estimator's line pack carries on (the blocks stay valid,
    no alarm), its variance larger than with both ends."""
    cfg = detector_config()
    window = (5400.0, 6600.0)
    readings = detector_readings("ops", silent_down=window)
    n = int(np.searchsorted(readings[2], T0_US + int(6000.0 * 1e6)))
    state = DetectorState.new(cfg, ON)
    events = process_batch(state, *(r[:n] for r in readings))
    both = DetectorState.new(cfg, ON)
    process_batch(both, *(r[:n] for r in detector_readings("ops")))
    assert len(_leaks(events)) == 0
    assert state.seg_i[0, L.GI_LP_VALID] == 1
    assert state.seg_f[0, L.GF_LP_VAR] > 1.5 * both.seg_f[0, L.GF_LP_VAR]
    assert abs(state.seg_f[0, L.GF_LP] - both.seg_f[0, L.GF_LP]) < 3.0 * np.sqrt(state.seg_f[0, L.GF_LP_VAR])


@pytest.mark.slow
def test_a_mid_line_transmitter_feeds_the_estimator_and_the_leak_in_the_ramp_is_raised_sooner() -> None:
    """The detector hands its mid-line pressure to the estimator (issue 24 item 1: every meter of the segment), which
    then sees the leak's depression as it forms: the leak in the demand ramp is raised no later, and rated."""
    raised = {}
    for mid in (False, True):
        state = DetectorState.new(detector_config(mid=mid), ON)
        leaks = _leaks(process_batch(state, *detector_readings("ramp_leak", mid=mid)))
        assert len(leaks) == 1
        raised[mid] = (int(leaks["time_us"][0]) - T0_US) / 1e6 - LEAK_ONSET_S
        used = state.seg_f[0, L.GF_EST0 + L.ES_XM_REF0]
        assert used == (0.5 if mid else -1.0)
        rate = float(leaks["value"][0])
        print(f"mid={mid}: raised {raised[mid]:.0f} s after the onset at {rate / (0.01 * Q_NOMINAL):.2f} of the leak")
        assert 0.5 * 0.01 * Q_NOMINAL < rate < 1.5 * 0.01 * Q_NOMINAL
    assert 0.0 < raised[True] <= raised[False]
