"""Adding servicers to a gRPC server so that a request whose bytes do not parse answers INVALID_ARGUMENT.

The generated ``add_*Servicer_to_server`` functions deserialize with ``FromString``; grpc answers a request that
fails to parse with INTERNAL ("Exception deserializing request!"), as if the server were broken. Here the
deserializer returns a :class:`Malformed` marker instead, and :func:`checked` turns it into an
:class:`~samem.errors.InputError` inside the handler, where errors are mapped to status codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from samem.errors import InputError
from samem.service.api import tracking_pb2 as pb

_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


class Malformed:
    """Bytes that are not a valid ``type_name`` message."""

    def __init__(self, type_name: str, error: Exception) -> None:
        self.type_name, self.error = type_name, error

    def raise_error(self) -> None:
        """Raise the InputError this request deserves."""
        raise InputError(f"the request is not a valid {self.type_name} message: {self.error}") from self.error


def _lenient(message_class: type[Message]) -> Any:
    def parse(data: bytes) -> Message | Malformed:
        try:
            return message_class.FromString(data)
        except (DecodeError, ValueError, RuntimeError) as e:
            return Malformed(message_class.DESCRIPTOR.full_name, e)

    return parse


def checked(request: Any) -> Any:
    """The request, with a :class:`Malformed` one (or stream element) raised as InputError."""
    if isinstance(request, Malformed):
        request.raise_error()
    if isinstance(request, Message):
        return request

    def stream(messages: Iterator[Any]) -> Iterator[Any]:
        for message in messages:
            if isinstance(message, Malformed):
                message.raise_error()
            yield message

    return stream(request)


def add_servicer(server: grpc.Server, service: str, servicer: object) -> None:
    """Register ``servicer`` for ``samem.v1.<service>`` with lenient request parsing."""
    descriptor = pb.DESCRIPTOR.services_by_name[service]
    handlers = {}
    for method in descriptor.methods:
        factory = _FACTORIES[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = factory(
            getattr(servicer, method.name),
            request_deserializer=_lenient(getattr(pb, method.input_type.name)),
            response_serializer=getattr(pb, method.output_type.name).SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(descriptor.full_name, handlers),))
    server.add_registered_method_handlers(descriptor.full_name, handlers)
