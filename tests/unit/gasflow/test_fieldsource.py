"""The fieldsim ValueSource backed by the simulator."""

from __future__ import annotations

import pytest

from services.gasflow import LeakSpec
from services.gasflow.fieldsource import SimulatedValues
from services.network import load_demo_network

T0 = 1_767_250_800.0  # on a 60 s chunk boundary


def test_simulated_values_in_tag_units_continuous_across_chunks_and_see_a_leak() -> None:
    model = load_demo_network()
    leak = LeakSpec("DS-M01", 1240.0, T0 + 70.0, rate_kg_per_s=0.05)
    src = SimulatedValues(model, seed=3, leaks=(leak,), chunk_s=60.0, record_interval_s=0.5)
    pt = model.tags["TR-01-PT-UP"]
    ft = model.tags["DS-M01-FT-UP"]
    ch4 = model.tags["DS-M01-CH4-MH1"]
    assert src.sample(pt, T0 + 1.0) == pytest.approx(1.6, abs=0.01)  # MPa_g: 1.7 MPa abs supply
    before = src.true_value_si(ft, T0 + 59.9)
    after = src.true_value_si(ft, T0 + 60.1)  # next chunk, continued from the previous state
    assert after == pytest.approx(before, rel=0.002)
    assert src.true_value_si(ch4, T0 + 60.0) == 0.0
    assert src.true_value_si(ch4, T0 + 170.0) > 10.0
    flow_kg_h = src.sample(ft, T0 + 170.0)
    assert flow_kg_h == pytest.approx(src.true_value_si(ft, T0 + 170.0) * 3600.0, rel=0.05)


def test_readings_saturate_at_the_transmitter_range_like_a_current_loop() -> None:
    # a full-bore rupture near the downstream end draws gas back through the one-way downstream meter: the
    # transmitter reads just below the bottom of its range, where a 4-20 mA loop saturates (3.8 mA), not a negative
    # flow; telemetry takes it as a saturated reading pinned at the range end
    model = load_demo_network()
    rupture = LeakSpec("DS-M01", 2400.0, T0 + 10.0, kind="rupture")
    src = SimulatedValues(model, seed=3, leaks=(rupture,), chunk_s=60.0, record_interval_s=0.5)
    ft_dn = model.tags["DS-M01-FT-DN"]
    assert src.true_value_si(ft_dn, T0 + 20.0) < 0.0
    span = ft_dn.range_max - ft_dn.range_min
    assert src.sample(ft_dn, T0 + 20.0) == pytest.approx(ft_dn.range_min - span * 0.2 / 16.0)
    assert 0.0 < src.sample(ft_dn, T0 + 5.0) < ft_dn.range_max
