"""The edges of telemetry: Kafka producer, gateway token store, clock, Prometheus metrics."""
