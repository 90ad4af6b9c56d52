"""``make fuzz``: every entry point of Pipewarden fed garbage, mutated real inputs and hostile values.

Entry points: the gRPC APIs (telemetry ingest, workorders, leakdetect's query API) on real ports, the topic
consumers (telemetry readings into leakdetect's batch processor; ``leak.alarms.v1`` and
``leak.sensor-health.v1`` into workorders' consumers on a real Kafka broker), the file loaders (network file,
history file), the CLIs, and the console's web forms. ``python -m benchmarks.fuzz --help`` lists them and
the options (``--cases N``, ``--only``, ``--seed``). The engine and the guarantees it checks are in
``benchmarks/fuzz/core.py``; the report is ``reports/fuzz.json`` (one row per entry point: ``entry_point``,
``cases``, ``crashes``, ``hangs``, ``distinct_rejections``, ``cases_per_s``, ...; each gRPC method also has a row of
its own, ``grpc.<server>/<Method>``), ``reports/fuzz.md`` and ``reports/fuzz.png``. Loaders and CLIs run in process
with a per-case watchdog thread; 1 % of their cases (at most a tenth of the run's time) also run as a fresh process.
"""
