"""Edges of the leak detection service: numeric-core adapter, faust state table, Kafka, metrics."""
