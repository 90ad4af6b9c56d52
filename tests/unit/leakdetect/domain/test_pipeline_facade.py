"""The public facade (`services.leakdetect.domain.Pipeline`): readings in the tags' own units, named alarms,
segment status, checkpoints, and garbage refused with the problem named."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from services.leakdetect.domain import (
    Alarm,
    DetectorState,
    Pipeline,
    UnknownTagError,
    config_from_network,
    decode_events,
    events,
    process_batch,
)
from services.network import conversion_to_si, load_demo_network
from tests.support.leakdetect_scenario import LeakScenario

NET = load_demo_network()
SCENARIO = LeakScenario(seconds=5400)  # an hour to learn, a rupture-sized leak at 4500 s, 2.5 km along TR-01


def _readings() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tags, times, values, quality = [], [], [], []
    for rec in SCENARIO.records(NET):
        for s in rec.series:
            n = len(s.source_time_unix_us)
            tags.append(np.full(n, s.tag_id, dtype=object))
            times.append(np.array(s.source_time_unix_us, np.int64))
            values.append(np.array(s.values_si))
            quality.append(np.array(s.quality, np.int64))
    return np.concatenate(tags), np.concatenate(times), np.concatenate(values), np.concatenate(quality)


TAG, TIME_US, VALUE_SI, QUALITY = _readings()


def _in_tag_units(tags: np.ndarray, value_si: np.ndarray) -> np.ndarray:
    out = np.empty_like(value_si)
    for tid in np.unique(tags):
        t = NET.tags[tid]
        conv = conversion_to_si(t.kind, t.unit, NET.gas.specific_gravity)
        sel = tags == tid
        out[sel] = (value_si[sel] - conv.offset) / conv.scale
    return out


@pytest.fixture(scope="module")
def fed() -> Pipeline:
    p = Pipeline.from_network(NET, ["TR-01"])
    p.feed(tag=TAG, time_unix_us=TIME_US, value=VALUE_SI, quality=QUALITY, si_units=True)
    return p


def test_a_rupture_is_one_alarm_with_named_fields_rate_and_position(fed: Pipeline) -> None:
    (alarm,) = fed.alarms
    assert isinstance(alarm, Alarm)
    assert alarm.kind == "rupture" and alarm.segment == "TR-01"
    assert set(alarm.methods) == {"rupture", "pressure_wave", "mass_balance"}
    assert SCENARIO.leak_start_s is not None and alarm.rate_kg_per_s is not None
    onset_s = SCENARIO.leak_start_s + 1_767_225_600
    assert abs(alarm.onset_unix_s - onset_s) < 30 and alarm.decided_unix_s >= alarm.onset_unix_s
    assert alarm.decided_unix_s - onset_s < 60  # the rupture decides within seconds
    assert alarm.rate_kg_per_s == pytest.approx(SCENARIO.leak_kg_per_s, rel=0.1)
    lo, hi = alarm.rate_interval_kg_per_s or (0, 0)
    assert lo < alarm.rate_kg_per_s < hi
    assert alarm.position_m is not None and abs(alarm.position_m - SCENARIO.leak_position_m) < 200
    plo, phi = alarm.position_interval_m or (0, 0)
    assert 0 <= plo < alarm.position_m < phi <= NET.segments["TR-01"].length_m
    # the rupture's own evidence: the pressure's collapse, or (decided first since issue 19's spread fronts) the
    # inflow's jump at the upstream end with its pressure not rising
    assert (float(alarm.evidence["drop_pa"]) > 10_000
            or (alarm.evidence["rupture_evidence"] == "flow_jump"
                and float(alarm.evidence["flow_jump_kg_per_s"]) > 0.0))
    assert "statistic" in alarm.evidence
    record = alarm.as_json()
    for key in ("kind", "segment_id", "decided_unix_s", "onset_unix_s", "rate_kg_per_s", "rate_interval_kg_per_s",
                "position_m", "position_interval_m", "methods"):
        assert key in record


def test_status_states_imbalance_threshold_mdlr_and_health(fed: Pipeline) -> None:
    st = fed.status("TR-01")
    assert st.monitoring and 0 < st.mdlr_kg_per_s < SCENARIO.leak_kg_per_s
    assert [w.window_s for w in st.windows] == [60, 120, 240, 480, 900, 3600]
    four = st.windows[2]
    assert four.imbalance_kg_per_s == pytest.approx(SCENARIO.leak_kg_per_s, rel=0.15)
    assert four.imbalance_kg_per_s > four.threshold_kg_per_s
    assert set(st.sensor_health.values()) == {"ok"} and "TR-01-FT-UP" in st.sensor_health
    assert st.time_unix_s == pytest.approx(TIME_US.max() / 1e6, abs=1)
    with pytest.raises(KeyError, match="TR-09"):
        fed.status("TR-09")


def test_the_facade_decides_as_the_kernels_do() -> None:
    built = config_from_network(NET, segment_ids=["TR-01"])
    state = DetectorState.new(built.config)
    seg, role = built.index_arrays(list(TAG))
    raw = decode_events(process_batch(state, seg, role, TIME_US, VALUE_SI, QUALITY))
    p = Pipeline.from_network(NET, ["TR-01"])
    p.feed(tag=TAG, time_unix_us=TIME_US, value=VALUE_SI, quality=QUALITY, si_units=True)
    assert p.last_events == raw
    assert any(isinstance(e, events.Rupture) for e in raw)


def test_a_frame_in_the_tags_own_units_gives_the_same_alarms(fed: Pipeline) -> None:
    frame = pd.DataFrame({
        "tag": pd.Categorical(TAG),
        "time": pd.to_datetime(TIME_US, unit="us"),
        "value": _in_tag_units(TAG, VALUE_SI),
        "quality": QUALITY,
    })
    p = Pipeline.from_network(NET, ["TR-01"])
    p.feed(frame.iloc[: len(frame) // 2])
    p.feed(frame.iloc[len(frame) // 2 :])
    (a,), (b,) = p.alarms, fed.alarms
    assert (a.kind, a.methods, a.onset_unix_s) == (b.kind, b.methods, b.onset_unix_s)
    assert a.rate_kg_per_s == pytest.approx(b.rate_kg_per_s, rel=1e-6)
    assert a.position_m == pytest.approx(b.position_m, rel=1e-6)


def test_checkpoints_continue_bit_for_bit() -> None:
    half = len(TAG) // 2
    whole = Pipeline.from_network(NET, ["TR-01"])
    whole.feed(tag=TAG, time_unix_us=TIME_US, value=VALUE_SI, quality=QUALITY, si_units=True)
    first = Pipeline.from_network(NET, ["TR-01"])
    first.feed(tag=TAG[:half], time_unix_us=TIME_US[:half], value=VALUE_SI[:half], quality=QUALITY[:half],
               si_units=True)
    second = first.restore(first.to_bytes())
    second.feed(tag=TAG[half:], time_unix_us=TIME_US[half:], value=VALUE_SI[half:], quality=QUALITY[half:],
                si_units=True)
    assert second.to_bytes() == whole.to_bytes()
    assert first.fresh().status("TR-01").time_unix_s is None


def test_tags_the_detectors_do_not_use_are_accepted_and_not_counted_as_dropped() -> None:
    p = Pipeline.from_network(NET, ["DS-M01"])
    assert set(p.detector_tag_ids) <= set(p.tag_ids)
    p.feed(tag=list(p.tag_ids), time_unix_s=np.full(len(p.tag_ids), 1.8e9), value=np.ones(len(p.tag_ids)))
    assert sum(v for k, v in p.counters().items() if "unknown" in k) == 0


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"tag": ["NOPE"], "time_unix_s": [1.8e9], "value": [1.0]}, "NOPE"),
        ({"tag": [10_000], "time_unix_s": [1.8e9], "value": [1.0]}, "tag indices outside"),
        ({"tag": ["TR-01-FT-UP"], "time_unix_s": [1.8e9, 1.8e9], "value": [1.0]}, "time has shape"),
        ({"tag": ["TR-01-FT-UP"], "time_unix_s": [float("nan")], "value": [1.0]}, "non-finite"),
        ({"tag": ["TR-01-FT-UP"], "time_unix_s": [1.8e9], "value": [1.0], "quality": [9]}, "quality codes"),
        ({"tag": ["TR-01-FT-UP"], "value": [1.0]}, "one of time_unix_s"),
        ({"tag": ["TR-01-FT-UP"], "time_unix_s": [1.8e9], "time_unix_us": [1], "value": [1.0]}, "one of"),
    ],
)
def test_garbage_is_refused_naming_the_problem(kwargs: dict, problem: str) -> None:
    p = Pipeline.from_network(NET, ["TR-01"])
    with pytest.raises(ValueError, match=problem):
        p.feed(**kwargs)


def test_garbage_frames_and_networks() -> None:
    p = Pipeline.from_network(NET, ["TR-01"])
    with pytest.raises(ValueError, match="lacks columns"):
        p.feed(pd.DataFrame({"tag": ["TR-01-FT-UP"], "value": [1.0]}))
    with pytest.raises(UnknownTagError):
        p.feed(pd.DataFrame({"tag": ["TR-02-FT-UP"], "time": [1.8e9], "value": [1.0]}))
    with pytest.raises(ValueError, match="not in the network"):
        Pipeline.from_network(NET, ["XX-1"])
    unmonitored = dataclasses.replace(
        NET, segments={k: dataclasses.replace(s, monitored=False) for k, s in NET.segments.items()})
    with pytest.raises(ValueError, match="no monitored segment"):
        Pipeline.from_network(unmonitored)


def test_the_rupture_balance_location_is_fused_with_its_pressure_wave_by_inverse_variance(fed: Pipeline) -> None:
    (alarm,) = fed.alarms
    ev = alarm.evidence
    assert ev["position_method"] == "pressure_gradient+pressure_wave" and ev["position_covers_segment"] == 0
    # the fused s.d. is below the gradient's own (the wave, far sharper here, dominates the weighted mean)
    assert 0 < float(ev["position_sd_m"]) < float(ev["gradient_position_sd_m"])
    assert abs(alarm.position_m - SCENARIO.leak_position_m) < 200  # type: ignore[operator]
