"""Entry points of the leak detection service: `worker` (the faust stream worker and the wiring of the service,
`build_processor`) and `query_grpc` (`LeakQueryServicer`, the gRPC query API). The package exports nothing."""
