"""Entry points of the leak detection service: `worker` (the faust stream worker; wired in `bootstrap`),
`query_grpc` (`LeakQueryServicer`, the gRPC query API) and `replay` (the historian replay CLI, with its plots in
`replay_plots`). The package exports nothing."""
