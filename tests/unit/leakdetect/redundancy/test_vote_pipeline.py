"""Redundant meters through the facade (issue 19): one of two or three meters of a role fails mid-run (stuck,
drifting beyond its stated accuracy, noisy); the vote outvotes it, sensor health names that tag and no other, no
false alarm results, and a 3 % leak later is still found. Without the vote the same drift is a false alarm."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from services.leakdetect.domain import Pipeline
from services.leakdetect.domain import events as E
from services.leakdetect.domain import layout as L
from services.leakdetect.domain.kernels.redundancy import HEALTH_OUTVOTED

from .scenario import FT_UP, PT_UP, SEG, T0_S, network, readings

# the fault after the vote learned and a pair agreed for two model windows (the model's scatter is trusted then),
# at the same phase of the scenario's hourly demand swing as the fault of earlier versions (40 min), the leak 30 min
# later
LEAK_START_S = 7800.0
FAULT_S = 6000.0
SECONDS = 9000


def _run(groups: dict[str, int], fault: tuple[str, str, float] | None, rename: dict[str, str] | None = None
         ) -> tuple[Pipeline, list[E.SensorHealthChanged]]:
    tag, t, v = readings(SECONDS, groups, fault, leak_frac=0.03, leak_start_s=LEAK_START_S)
    if rename:  # feed a member's readings as another tag's (a network without the group)
        keep = np.isin(tag, list(rename.values()), invert=True) | np.isin(tag, list(rename))
        tag, t, v = tag[keep], t[keep], v[keep]
        tag = np.array([rename.get(x, x) for x in tag], dtype=object)
    p = Pipeline.from_network(network(groups if not rename else {}), [SEG])
    health: list[E.SensorHealthChanged] = []
    # the service's batches are about a second; the vote's model reads the detectors' state between batches
    edges = np.searchsorted(t, t[0] + np.arange(0, SECONDS + 10, 10) * 1_000_000)
    for a, b in itertools.pairwise(edges):
        p.feed(tag=tag[a:b], time_unix_us=t[a:b], value=v[a:b], si_units=True)
        health += [e for e in p.last_events if isinstance(e, E.SensorHealthChanged) and e.tag_id]
    return p, health


def _check_alarms(p: Pipeline) -> None:
    early = [a for a in p.alarms if a.onset_unix_s - T0_S < LEAK_START_S]
    assert early == [], f"false alarms before the leak: {early}"
    found = [a for a in p.alarms if "mass_balance" in a.methods]
    assert found and found[0].decided_unix_s - T0_S < LEAK_START_S + 600


@pytest.mark.parametrize(
    ("groups", "failed", "mode", "code", "words"),
    [
        ({FT_UP: 3, PT_UP: 2}, "TR-01-FT-UP-B", "stuck", L.HEALTH_FLATLINED, "same value"),
        ({FT_UP: 3, PT_UP: 2}, "TR-01-FT-UP-B", "drift", HEALTH_OUTVOTED, "off its redundant partners"),
        ({FT_UP: 3, PT_UP: 2}, FT_UP, "noisy", HEALTH_OUTVOTED, "scatter"),
        ({FT_UP: 2, PT_UP: 2}, "TR-01-FT-UP-B", "drift", HEALTH_OUTVOTED, "the balance sided with its partner"),
        ({FT_UP: 2, PT_UP: 2}, PT_UP, "drift", HEALTH_OUTVOTED, "the friction model sided with its partner"),
        ({FT_UP: 2, PT_UP: 2}, "TR-01-PT-UP-B", "stuck", L.HEALTH_FLATLINED, "same value"),
    ],
)
def test_a_failed_member_is_outvoted_and_named(groups: dict[str, int], failed: str, mode: str, code: int,
                                               words: str) -> None:
    p, health = _run(groups, (failed, mode, FAULT_S))
    assert [(e.tag_id, e.health) for e in health] == [(failed, code)]
    (event,) = health
    assert FAULT_S <= event.time_us / 1e6 - T0_S < FAULT_S + 900 and words in event.cause
    assert event.segment == 0 and event.previous == L.HEALTH_OK
    assert p.status(SEG).sensor_health[failed] == ("flatlined" if code == L.HEALTH_FLATLINED else "outvoted")
    _check_alarms(p)


def test_healthy_members_are_left_alone() -> None:
    p, health = _run({FT_UP: 3, PT_UP: 2}, None)
    assert health == []
    assert set(p.status(SEG).sensor_health.values()) == {"ok"}
    _check_alarms(p)


def test_without_the_vote_the_same_drift_is_a_false_alarm() -> None:
    # the drifting meter as the role's only flow meter: the balance reads its drift as gas lost
    p, _ = _run({FT_UP: 2}, ("TR-01-FT-UP-B", "drift", FAULT_S), rename={"TR-01-FT-UP-B": FT_UP})
    assert any(a.onset_unix_s - T0_S < LEAK_START_S for a in p.alarms)


def test_one_long_batch_is_voted_in_slices_with_the_model_current() -> None:
    # the replay CLI feeds long batches: the pair's arbitration needs the detectors' tick means as they go
    groups = {FT_UP: 2, PT_UP: 2}
    tag, t, v = readings(SECONDS, groups, ("TR-01-FT-UP-B", "drift", FAULT_S), leak_frac=0.03,
                         leak_start_s=LEAK_START_S)
    p = Pipeline.from_network(network(groups), [SEG])
    p.feed(tag=tag, time_unix_us=t, value=v, si_units=True)
    health = [e for e in p.last_events if isinstance(e, E.SensorHealthChanged) and e.tag_id]
    assert [(e.tag_id, e.health) for e in health] == [("TR-01-FT-UP-B", HEALTH_OUTVOTED)]
    _check_alarms(p)


def test_the_vote_and_the_sub_segment_balances_resume_from_a_checkpoint() -> None:
    """A worker restarted from a checkpoint goes on voting with the members' learned offsets (a fresh vote would
    average a pair with a drifting member until it re-learned them): restored mid-run, the pipeline names the same
    failed member at the same time and ends in the same state as one that never stopped. An older checkpoint
    (the detectors' state alone) still loads, with the vote afresh."""
    groups = {FT_UP: 2, PT_UP: 2}
    tag, t, v = readings(SECONDS, groups, ("TR-01-FT-UP-B", "drift", FAULT_S), leak_frac=0.03,
                         leak_start_s=LEAK_START_S)
    net = network(groups, midflow_m=4000.0)
    edges = list(np.searchsorted(t, t[0] + np.arange(0, SECONDS + 10, 10) * 1_000_000))
    restart_at = len(edges) // 3  # after the offsets are learned, before the fault

    def run(restart: bool) -> tuple[Pipeline, list[tuple[str, int, int]]]:
        p = Pipeline.from_network(net, [SEG])
        health = []
        for i, (a, b) in enumerate(itertools.pairwise(edges)):
            if restart and i == restart_at:
                p = Pipeline.from_network(net, [SEG]).restore(p.to_bytes())
            p.feed(tag=tag[a:b], time_unix_us=t[a:b], value=v[a:b], si_units=True)
            health += [(e.tag_id, e.health, e.time_us) for e in p.last_events
                       if isinstance(e, E.SensorHealthChanged) and e.tag_id]
        return p, health

    straight, health = run(restart=False)
    restarted, health_restarted = run(restart=True)
    assert [(tag_id, code) for tag_id, code, _ in health] == [("TR-01-FT-UP-B", HEALTH_OUTVOTED)]
    assert health_restarted == health
    for mine, theirs in zip((*straight._vote, *straight._ss), (*restarted._vote, *restarted._ss), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    older = straight._state.to_bytes()  # no vote section
    assert Pipeline.from_network(net, [SEG]).restore(older)._vote[2][:, 0].tolist() == \
        Pipeline.from_network(net, [SEG])._vote[2][:, 0].tolist()


def test_a_damaged_checkpoint_of_the_vote_is_refused_by_name() -> None:
    from services.leakdetect.domain.detector import CheckpointError

    net = network({FT_UP: 2}, midflow_m=4000.0)
    data = Pipeline.from_network(net, [SEG]).to_bytes()
    for damaged in (data[:-10], data[:12] + b"\xff" * 20):  # (the segment state's frame checks the length)
        with pytest.raises(CheckpointError):
            Pipeline.from_network(net, [SEG]).restore(damaged)
    other = Pipeline.from_network(network({FT_UP: 3}, midflow_m=4000.0), [SEG])
    with pytest.raises(CheckpointError):  # another grouping: another configuration
        other.restore(data)
