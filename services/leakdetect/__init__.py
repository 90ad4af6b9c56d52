"""Leak detection: compensated mass balance, pressure-wave, methane and rupture detectors on the readings."""
