"""Telemetry ingest: gateways stream SCADA readings over gRPC; valid readings, normalised to SI units,
go to ``telemetry.readings.v1`` (one record per segment per batch), refused ones to
``telemetry.rejected.v1``, and the gateway gets its ack only after Kafka has acknowledged the writes.
"""
