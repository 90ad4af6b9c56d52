"""Entry points of telemetry: the gRPC servicer and the server that hosts it."""
