"""Generated protobuf and gRPC code for the contracts in ``protos/`` (``make proto``); do not edit by hand.

Import messages from their versioned module, e.g.
``from services.contracts.pipewarden.telemetry.v1 import reading_pb2``.
"""
