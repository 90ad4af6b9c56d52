"""Use cases of the leak detection service: `processor.BatchProcessor` (a batch of raw records -> alarms, health
events, dead letters, checkpoints), `segment_state` (recoverable per-segment state), `alarms` (alarm lifecycle,
`AlarmTracker`), `ports` (what it needs from adapters). Imports the domain, never the adapters; exports nothing
itself."""
