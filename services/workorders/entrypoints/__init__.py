"""Entry points of the work orders service: where requests and records come in.

- ``grpc_api``: ``WorkOrdersServicer`` (``command_of`` maps a request's command oneof to its
  ``domain.commands`` dataclass) and ``GrpcServer`` (grpc.aio, health, reflection).
- ``watch_feed``: ``WatchFeed``, the event-store tail every ``Watch`` stream shares; ``StreamLimit``.
- ``alarm_consumer``, ``sensor_health_consumer``: the Kafka consumers of leak.alarms.v1 and
  leak.sensor-health.v1 (manual commits, dead letters).
- ``runtime``: ``Runtime``, the background loops (projection, SLA and hazard tickers, outbox relay).
- ``cli``: ``python -m services.workorders serve | ctl | report | rebuild`` (``main``).
- ``ctl``: the API's command-line client (list, show, every command verb, hazards, report, watch).
- ``tables``: report tables for people (``format_table``, ``write_bar_chart``).
"""
