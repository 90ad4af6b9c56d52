"""Work orders: event-sourced leak work orders, hazard rectification and the pipeline replacement programme.

Turns leak alarms and sensor-health events into work, follows it to closure and serves dispatchers (gRPC)
and regulators (reports). Packages: ``domain`` (aggregates, commands, rules), ``service_layer`` (use
cases on ports), ``adapters`` (protobuf, SQL, network model, tokens), ``entrypoints`` (gRPC, Kafka
consumers, CLI); ``bootstrap`` wires them; ``config`` reads the environment. See README.md.
"""
