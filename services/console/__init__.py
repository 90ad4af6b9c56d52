"""The dispatcher console: a web application for dispatchers, crews, supervisors and regulators.

It is a client of workorders' gRPC API (with each user's own token) and of leakdetect's query API; it
keeps no state beyond the users' sessions. One ``Watch`` stream per console process is fanned out to the
browsers by server-sent events. Layers as in every service: ``domain`` (view models, no I/O),
``service_layer`` (sign-in, live fan-out, use cases on ``typing.Protocol`` ports), ``adapters`` (gRPC
clients, users file, token signing), ``entrypoints`` (the Starlette ASGI app), ``bootstrap`` (wiring).
"""
