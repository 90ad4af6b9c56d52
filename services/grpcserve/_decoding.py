"""Lenient request decoding: an undecodable request reaches the servicer as an ``Undecodable``; responses
may be handed over already serialized."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError


class Undecodable:
    """Stands in for a request whose bytes are not the expected message (so it can be refused clearly)."""

    def __init__(self, message_type: str, error: Exception) -> None:
        self.message_type = message_type
        self.problem = f"request is not a valid {message_type}: {error}"


def lenient_deserializer(message_cls: Any) -> Callable[[bytes], Any]:
    """``message_cls.FromString``, but an ``Undecodable`` instead of raising on bytes that do not parse."""

    def deserialize(data: bytes) -> Any:
        try:
            return message_cls.FromString(data)
        except DecodeError as error:
            return Undecodable(message_cls.DESCRIPTOR.full_name, error)

    return deserialize


def _serialize(message: Any) -> bytes:
    # bytes: serialized once by the servicer for many calls (one message fanned out to many streams).
    return message if isinstance(message, bytes) else message.SerializeToString()  # type: ignore[no-any-return]


_HANDLERS: dict[tuple[bool, bool], Callable[..., grpc.RpcMethodHandler]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def add_lenient_service(server: grpc.Server | grpc.aio.Server, servicer: object, service: ServiceDescriptor) -> None:
    """Like the generated ``add_<Service>Servicer_to_server``, with lenient request deserializers.

    Every method of ``service`` is served by the servicer's attribute of the same name (sync or async,
    as the server is); a method the servicer lacks is a programming error (``AttributeError`` here). A
    method may return or yield ``bytes`` (the response already serialized) instead of a message.
    """
    handlers = {}
    for method in service.methods:
        request_cls = message_factory.GetMessageClass(method.input_type)
        make = _HANDLERS[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=lenient_deserializer(request_cls),
            response_serializer=_serialize,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
