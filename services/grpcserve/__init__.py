"""Serving gRPC APIs: refuse undecodable requests as INVALID_ARGUMENT instead of the framework's INTERNAL.

The generated ``add_..._to_server`` functions decode requests before the servicer is called, and a decode
failure becomes INTERNAL ("Exception deserializing request!"): the client is told the server broke when
its own request was at fault. ``add_lenient_service`` registers a servicer with deserializers that hand
an ``Undecodable`` to the method instead, so the servicer can answer INVALID_ARGUMENT naming the
expected message type (after authenticating the caller, as for any other bad request). A method may also
return or yield ``bytes``, a response it serialized itself (one message fanned out to many streams).

    >>> from services.grpcserve import Undecodable, add_lenient_service
    >>> add_lenient_service(server, servicer, pb.DESCRIPTOR.services_by_name["TelemetryIngestService"])
    >>> # in a method: if isinstance(request, Undecodable): abort(INVALID_ARGUMENT, request.problem)

It also holds the per-caller limits every server with streams shares (``StreamLimit``, ``stream_slot``) and
the one way a refusal for a limit is told (RESOURCE_EXHAUSTED with ``pipewarden-limit`` and
``retry-after-ms`` trailing metadata, ``refuse_for_limit``; clients read it back with ``limit_of``).
"""

from ._decoding import Undecodable, add_lenient_service, lenient_deserializer
from ._limits import (
    LIMIT_KEY,
    RETRY_AFTER_KEY,
    StreamLimit,
    limit_metadata,
    limit_of,
    refuse_for_limit,
    stream_slot,
)

__all__ = [
    "LIMIT_KEY",
    "RETRY_AFTER_KEY",
    "StreamLimit",
    "Undecodable",
    "add_lenient_service",
    "lenient_deserializer",
    "limit_metadata",
    "limit_of",
    "refuse_for_limit",
    "stream_slot",
]
