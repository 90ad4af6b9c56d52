"""The gateway's entry points: the command line and the health/metrics HTTP endpoint."""
