"""Test oracles and fixtures for the numeric core, in plain NumPy/pandas: `balance.run_reference` (the compensated
mass balance and its statistical test; also the speed baseline) and `synthetic.SyntheticSegment` (a small
synthetic segment for unit tests). The package exports nothing itself."""
