"""Telemetry: the gRPC ingest service that validates SCADA readings and writes them to Kafka."""
