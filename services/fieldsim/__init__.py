"""Simulated SCADA gateways that stream a network's tags to telemetry over gRPC (``PublishStream``).

Library use (tests, the demo, benchmarks)::

    fleet = Fleet(network, FleetConfig(target="127.0.0.1:50051", tokens={"gw-ds-01": "..."}, duration_s=30))
    report = await fleet.run()

Values come from a `ValueSource`; `PlausibleValues` is the default until the physics simulator
(``services.gasflow``) provides one. `BadReadings` injects out-of-range and unknown-tag readings.
"""

from .fleet import Fleet, FleetConfig, FleetReport
from .gateway import BadReadings, BatchBuilder, GatewayStats, GatewayStreamer
from .values import PlausibleValues, ValueSource

__all__ = [
    "BadReadings",
    "BatchBuilder",
    "Fleet",
    "FleetConfig",
    "FleetReport",
    "GatewayStats",
    "GatewayStreamer",
    "PlausibleValues",
    "ValueSource",
]
