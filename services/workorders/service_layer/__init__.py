"""Use cases of the work orders service, written against ports (``ports``), never against adapters.

- ``app``: ``WorkOrdersApp``: ``execute(principal, command)``, alarm and sensor-health intake, SLA and
  hazard-deadline ticks, queries, ``watch_items``.
- ``handlers``: one handler per ``domain.commands`` class and ``COMMAND_HANDLERS``; ``Deps``.
- ``ports``: ``EventStore``, ``Clock``, ``NetworkFacts``, ``Queries`` (typing.Protocol).
- ``repository``: the event-sourced ``Repository`` (snapshot + newer events, decide, append),
  ``CommandMeta``, ``CommandOutcome``, ``NotFound``, ``event_uuid``.
- ``auth``: ``Principal``, ``CallerRole``, the ``PERMISSIONS`` per command class, ``AccessDenied``.
- ``views``: ``WorkOrderView`` (the work-order field list), ``HazardView``, filters, ``Table``, ``WatchItem``.
- ``notifier``: ``ChangeNotifier``, which wakes in-process watchers after every append.
"""
