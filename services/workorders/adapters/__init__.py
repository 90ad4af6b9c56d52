"""Edges of the work orders service, each implementing a port or converting a wire format.

- ``alarms``: protobuf ``LeakAlarmEvent`` -> the domain's ``AlarmFacts`` (``alarm_facts``).
- ``sensor_health``: protobuf ``SensorHealthEvent`` -> the domain's ``SensorHealthFacts``.
- ``network``: ``NetworkSegments``, the ``NetworkFacts`` port over the network model; ``segment_context``.
- ``read_models``: ``WorkOrdersProjection`` and its ``wo_rm_*`` tables (the work-order table derived from
  ``service_layer.views.WorkOrderView``), ``view_from_row``, ``dump_read_models``.
- ``queries``: ``ReadModelQueries``, the ``Queries`` port (filtered lists, named ``REPORTS``).
- ``tokens``: callers' tokens (``services.tokens``) as ``Principal``s (``verify_token``, ``issue_token``).
- ``outbox_envelope``: ``encode_event_envelope``, the outbox relay's record value on workorders.events.v1.
- ``metrics``: the consumers' Prometheus metrics.

The composition root (``services.workorders.bootstrap``) chooses and wires them.
"""
