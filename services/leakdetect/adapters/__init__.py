"""Edges of the leak detection service, implementing `service_layer.ports`: `core_detector.CoreDetector` (the
numeric core per segment), `faust_state` (checkpoints in a faust table; `MemoryStateStore` for tests), `metrics`
(`PrometheusMetrics`), `clock` (`SystemClock`). Import the modules; the package exports nothing itself."""
