"""Leak-detection core (placeholder docstring, replaced below)."""
