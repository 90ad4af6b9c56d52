"""Leak detection: compensated mass balance, pressure-wave, methane and rupture detectors on the readings.

`python -m services.leakdetect` runs the stream worker (README). Packages: `domain` (the numeric core, no I/O),
`service_layer` (batches, recoverable segment state, alarm lifecycle, ports), `adapters` (core, faust state,
metrics, clock), `entrypoints` (faust worker, gRPC query API), `reference` (test oracles). Exports nothing itself.
"""
