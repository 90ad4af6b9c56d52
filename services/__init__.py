"""Pipewarden: services that watch gas pipelines for leaks and turn them into work orders."""
