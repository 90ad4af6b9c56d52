"""Consume ``leak.sensor-health.v1`` and record a hazard for every meter that went stale, flatlined, stuck
or implausible (``WorkOrdersApp.handle_sensor_health``).

Same delivery rules as the alarm consumer (it is one, with another message type): manual commits after
the store transaction, the event's deterministic ``event_id`` as command id and hazard source reference
(redelivery gives one hazard), poison records to ``leak.dead-letter.v1``, database trouble retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.contracts.pipewarden.leakdetect.v1 import alarms_pb2
from services.topics import LEAK_SENSOR_HEALTH
from services.workorders.adapters.sensor_health import SensorHealthFacts, sensor_health_facts
from services.workorders.entrypoints.alarm_consumer import AlarmConsumer

SensorHealthHandler = Callable[[SensorHealthFacts, str], Any]


class SensorHealthConsumer(AlarmConsumer):
    message_type = alarms_pb2.SensorHealthEvent
    client_id = "pipewarden-workorders-sensor-health"

    def __init__(
        self,
        bootstrap: str,
        handler: SensorHealthHandler,
        *,
        group_id: str = "pipewarden-workorders-sensor-health",
        topic: str = LEAK_SENSOR_HEALTH.name,
        **options: Any,
    ) -> None:
        super().__init__(bootstrap, handler, group_id=group_id, topic=topic, **options)

    def parse(self, message: Any) -> SensorHealthFacts:
        return sensor_health_facts(message)
