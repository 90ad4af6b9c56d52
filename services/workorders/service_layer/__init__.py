"""Use cases of the work orders service: command handlers, alarm intake, SLA ticks, read models, reports."""
