"""The gateway's edges: the SQLite queue, Modbus TCP and OPC UA sources, the gRPC link to telemetry, metrics."""
