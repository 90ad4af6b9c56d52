"""Entry points of the leak detection service: the faust stream worker and the gRPC query API."""
