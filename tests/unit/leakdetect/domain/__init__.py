"""Kernel (domain) tests of leakdetect: each method against its reference, state, garbage, configuration."""
