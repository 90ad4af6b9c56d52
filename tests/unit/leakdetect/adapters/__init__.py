"""Adapter tests of leakdetect: the port to the numeric core."""
