"""Entry points of the work orders service: the gRPC API, the alarm consumer, the CLI."""
