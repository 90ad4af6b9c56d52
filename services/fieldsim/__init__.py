"""Simulated SCADA gateways that stream a network's tags to telemetry over gRPC."""
