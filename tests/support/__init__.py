"""Scenario builders shared by unit tests, integration tests, load tests and benchmarks (never tests themselves).

`leakdetect_scenario`: synthetic per-segment telemetry records of one demo-city segment with an optional leak.
"""
