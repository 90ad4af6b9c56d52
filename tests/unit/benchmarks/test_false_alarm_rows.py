"""`benchmarks.detection.false_alarm_rows`: each alarm of a leak-free day with what a replay needs, and nothing else."""

from __future__ import annotations

from benchmarks.detection import false_alarm_rows
from services.leakdetect.domain import events as E
from services.leakdetect.domain import layout as L

T0_US = 1_700_000_000_000_000


def test_each_alarm_kind_gives_its_time_since_the_start_and_what_fired() -> None:
    events = [
        E.LeakRaised(segment=0, time_us=T0_US + 30_000_000, onset_us=T0_US, rate_kg_per_s=0.1,
                     rate_sd_kg_per_s=0.01, statistic=6.0, test=2, mdlr_kg_per_s=0.05),
        E.Rupture(segment=0, role=L.ROLE_PRESSURE_DOWN, time_us=T0_US + 90_500_000, onset_us=T0_US + 85_000_000,
                  drop_pa=6e3, rate_pa_per_s=-600.0, reference_pa=4e6, evidence=L.RUP_PRESSURE),
        E.PressureWaveLeak(segment=0, time_us=T0_US + 120_000_000, onset_us=T0_US + 119_000_000,
                           position_m=1500.0, position_sd_m=50.0, arrival_difference_s=0.5,
                           size_estimate_kg_per_s=1.0, amplitude_pa=2e3),
        E.BalanceSuspended(segment=0, time_us=T0_US + 200_000_000),
    ]
    rows = false_alarm_rows(events, T0_US)
    assert rows == [
        {"method": "mass_balance", "t_s": 30.0, "test": 2},
        {"method": "rupture", "t_s": 90.5, "role": L.ROLE_PRESSURE_DOWN, "evidence": L.RUP_PRESSURE},
        {"method": "pressure_wave", "t_s": 120.0, "position_m": 1500.0},
    ]


def test_a_quiet_day_has_none() -> None:
    assert false_alarm_rows([], T0_US) == []
