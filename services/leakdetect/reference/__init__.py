"""Test oracles and fixtures for the numeric core, in plain NumPy/pandas: `balance.run_reference` (the compensated
mass balance and its statistical test; also the speed baseline), `methane.methane_events` (the methane
detector, one sensor at a time), `pressure.PressureReference` (negative pressure waves and rupture, one segment a
reading at a time), `health.health_events` (the sensor-health checks: stale, flat-lined, stuck, implausible
rate; one segment a reading at a time) and `synthetic.SyntheticSegment` (a small synthetic segment for unit
tests). The package exports nothing itself."""
