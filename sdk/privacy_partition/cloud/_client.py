"""The clients: hardened channels to a gateway, synchronous and on ``asyncio``.

Every call has a deadline; UNAVAILABLE alone is retried, with exponential
backoff, through gRPC's service config (other failures are not retried: a
request the gateway refused stays refused). Keepalive pings find dead
connections; both message size limits are explicit, and a request over the
limit fails here, before it is sent. Failures surface as the typed errors of
``privacy_partition.cloud._errors``. The clients send only what they are given
(transformed turns and sealed values) and log nothing about it.

``GatewayClient`` and ``AsyncGatewayClient`` take the same options and share
everything but the channel: validation, channel options, credentials, the
service config, request building and error mapping live once, here.

Thread safety: a ``GatewayClient`` is shared by any number of threads; an
``AsyncGatewayClient`` belongs to the event loop it first calls on.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, TypedDict, TypeVar, Unpack

import grpc
import grpc.aio

from privacy_partition._errors import ConfigurationError
from privacy_partition.cloud._errors import MessageTooLarge, from_rpc_error
from privacy_partition.cloud._pb import gateway_pb2 as pb
from privacy_partition.cloud._server import DEFAULT_MAX_MESSAGE_BYTES, SERVICE_NAME
from privacy_partition.cloud._types import (
    Answer,
    ChatMessage,
    Chunk,
    GenerationOptions,
    Role,
    answer_from_pb,
    chunk_from_pb,
    recipient_from_pb,
    sealed_to_pb,
)
from privacy_partition.transform import Recipient, SealedValue

__all__ = [
    "DEFAULT_RETRY_ATTEMPTS",
    "DEFAULT_TIMEOUT_S",
    "AnswerStream",
    "AsyncAnswerStream",
    "AsyncGatewayClient",
    "CallOptions",
    "ClientTls",
    "GatewayClient",
]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRY_ATTEMPTS = 3
DEFAULT_KEEPALIVE_S = 30.0

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


@dataclass(frozen=True, slots=True)
class ClientTls:
    """TLS for the channel (PEM bytes). With a chain and key, the client also proves itself (mTLS).

    ``root_certificates`` None trusts the system roots; ``server_name``
    overrides the name checked against the gateway's certificate.
    """

    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = field(default=None, repr=False)
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.certificate_chain is None) != (self.private_key is None):
            raise ConfigurationError("a client certificate needs its private key, and the reverse")

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_certificates,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )


class CallOptions(TypedDict, total=False):
    """The keyword arguments of ``generate`` and ``stream`` on both clients, all optional."""

    sealed: Sequence[SealedValue]
    """Values sealed to recipients the gateway hosts; each handle appears in a turn."""
    options: GenerationOptions | None
    """How to generate; None leaves every setting to the gateway."""
    policy_name: str
    """The policy that made the request (for audits on both sides)."""
    policy_digest: str
    """That policy's digest, lower-case hex."""
    request_id: str | None
    """1 to 64 of ``[A-Za-z0-9._:-]``; a fresh one when None."""
    timeout_s: float | None
    """This call's deadline (for a stream: the whole stream); None: the client's."""


class _Method(TypedDict, Generic[_Request, _Response]):
    """One method of the contract, as both kinds of channel bind it."""

    method: str
    request_serializer: Callable[[_Request], bytes]
    response_deserializer: Callable[[bytes], _Response]


_GENERATE: _Method[pb.GenerateRequest, pb.GenerateResponse] = {
    "method": f"/{SERVICE_NAME}/Generate",
    "request_serializer": pb.GenerateRequest.SerializeToString,
    "response_deserializer": pb.GenerateResponse.FromString,
}
_GENERATE_STREAM: _Method[pb.GenerateRequest, pb.GenerateChunk] = {
    "method": f"/{SERVICE_NAME}/GenerateStream",
    "request_serializer": pb.GenerateRequest.SerializeToString,
    "response_deserializer": pb.GenerateChunk.FromString,
}
_GET_RECIPIENTS: _Method[pb.GetRecipientsRequest, pb.GetRecipientsResponse] = {
    "method": f"/{SERVICE_NAME}/GetRecipients",
    "request_serializer": pb.GetRecipientsRequest.SerializeToString,
    "response_deserializer": pb.GetRecipientsResponse.FromString,
}


def _service_config(attempts: int) -> str:
    method: dict[str, object] = {"name": [{"service": SERVICE_NAME}]}
    # gRPC refuses a retry policy of one attempt: no retries means no policy.
    if attempts > 1:
        method["retryPolicy"] = {
            "maxAttempts": attempts,
            "initialBackoff": "0.1s",
            "maxBackoff": "2s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }
    return json.dumps({"methodConfig": [method]})


_ALL_RECIPIENTS = pb.GetRecipientsRequest()


def _by_name(response: pb.GetRecipientsResponse) -> dict[str, Recipient]:
    return {r.name: recipient_from_pb(r) for r in response.recipients}


def _to_messages(messages: str | Sequence[ChatMessage]) -> list[pb.ChatMessage]:
    if isinstance(messages, str):
        return [ChatMessage(Role.USER, messages).to_pb()]
    return [m.to_pb() for m in messages]


class _Client:
    """What both clients share: validated settings, channel options, requests."""

    def __init__(
        self,
        target: str,
        *,
        tls: ClientTls | None = None,
        insecure: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        retry_attempts: int = DEFAULT_RETRY_ATTEMPTS,
        keepalive_s: float = DEFAULT_KEEPALIVE_S,
    ) -> None:
        if tls is None and not insecure:
            raise ConfigurationError(
                "a gateway channel needs tls=ClientTls(...); insecure=True is for loopback tests"
            )
        if tls is not None and insecure:
            raise ConfigurationError("choose tls or insecure, not both")
        if timeout_s <= 0 or max_message_bytes < 1 or not 1 <= retry_attempts <= 5:
            raise ConfigurationError(
                "timeout_s > 0, max_message_bytes >= 1 and 1 <= retry_attempts <= 5 are required"
            )
        self._timeout_s = timeout_s
        self._max_message_bytes = max_message_bytes
        options: list[tuple[str, str | int]] = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.enable_retries", 1),
            ("grpc.service_config", _service_config(retry_attempts)),
            ("grpc.keepalive_time_ms", int(keepalive_s * 1000)),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 0),
        ]
        if tls is not None and tls.server_name is not None:
            options.append(("grpc.ssl_target_name_override", tls.server_name))
        self._connect(target, options, None if tls is None else tls.credentials())

    def _connect(
        self,
        target: str,
        options: list[tuple[str, str | int]],
        credentials: grpc.ChannelCredentials | None,
    ) -> None:
        """Open the channel (clear text when ``credentials`` is None) and bind the methods."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(timeout_s={self._timeout_s})"

    def _prepare(
        self, messages: str | Sequence[ChatMessage], call: CallOptions
    ) -> tuple[pb.GenerateRequest, float]:
        """The request to send and its deadline in seconds."""
        request = pb.GenerateRequest(
            request_id=call.get("request_id") or uuid.uuid4().hex,
            policy=pb.PolicyRef(
                name=call.get("policy_name", ""), digest=call.get("policy_digest", "")
            ),
            messages=_to_messages(messages),
            sealed=[sealed_to_pb(s) for s in call.get("sealed", ())],
            options=(call.get("options") or GenerationOptions()).to_pb(),
        )
        size = request.ByteSize()
        if size > self._max_message_bytes:
            raise MessageTooLarge(
                f"request is {size} bytes, over the limit of {self._max_message_bytes}",
                code="RESOURCE_EXHAUSTED",
            )
        return request, self._deadline(call.get("timeout_s"))

    def _deadline(self, timeout_s: float | None) -> float:
        return timeout_s or self._timeout_s


# -- synchronous ----------------------------------------------------------------


class AnswerStream:
    """An iterator over the chunks of one streamed answer.

    ``cancel()`` (or leaving a ``with`` block early) cancels the call; the
    gateway then stops generating. After a cancel, iteration simply ends.
    """

    def __init__(self, call: grpc.Call, chunks: Iterator[pb.GenerateChunk]) -> None:
        self._call = call
        self._chunks = chunks
        self._cancelled = False

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> Chunk:
        if self._cancelled:
            raise StopIteration
        try:
            return chunk_from_pb(next(self._chunks))
        except grpc.RpcError as error:
            if self._cancelled:
                raise StopIteration from None
            raise from_rpc_error(error) from error

    def cancel(self) -> None:
        """Cancel the call; the gateway stops generating. Idempotent."""
        self._cancelled = True
        self._call.cancel()

    def __enter__(self) -> AnswerStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._call.is_active():
            self.cancel()


class GatewayClient(_Client):
    """A channel to one gateway. Use it as a context manager, or ``close()`` it.

    TLS is required (``tls=ClientTls(...)``); ``insecure=True`` allows clear
    text and is meant for loopback tests and benchmarks only. ``timeout_s`` is
    every call's default deadline; ``retry_attempts`` (1 to 5) bounds the
    attempts of a call that fails UNAVAILABLE.
    """

    def _connect(
        self,
        target: str,
        options: list[tuple[str, str | int]],
        credentials: grpc.ChannelCredentials | None,
    ) -> None:
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            self._channel = grpc.secure_channel(target, credentials, options=options)
        self._generate = self._channel.unary_unary(**_GENERATE)
        self._stream = self._channel.unary_stream(**_GENERATE_STREAM)
        self._recipients = self._channel.unary_unary(**_GET_RECIPIENTS)

    def generate(
        self, messages: str | Sequence[ChatMessage], **call: Unpack[CallOptions]
    ) -> Answer:
        """The whole answer to ``messages`` (a string is one user turn)."""
        request, timeout = self._prepare(messages, call)
        try:
            return answer_from_pb(self._generate(request, timeout=timeout))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    def stream(
        self, messages: str | Sequence[ChatMessage], **call: Unpack[CallOptions]
    ) -> AnswerStream:
        """The answer in chunks; the deadline covers the whole stream."""
        request, timeout = self._prepare(messages, call)
        chunks = self._stream(request, timeout=timeout)
        return AnswerStream(chunks, chunks)

    def recipients(self, *, timeout_s: float | None = None) -> dict[str, Recipient]:
        """The recipients the gateway hosts, by name, ready for a ``Transformer``."""
        try:
            response = self._recipients(_ALL_RECIPIENTS, timeout=self._deadline(timeout_s))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        return _by_name(response)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- asyncio --------------------------------------------------------------------


class AsyncAnswerStream:
    """An async iterator over the chunks of one streamed answer.

    ``cancel()`` (or leaving an ``async with`` block early) cancels the call;
    the gateway then stops generating. After a cancel, iteration simply ends.
    """

    def __init__(
        self, call: grpc.aio.UnaryStreamCall[pb.GenerateRequest, pb.GenerateChunk]
    ) -> None:
        self._call = call
        self._cancelled = False

    def __aiter__(self) -> AsyncAnswerStream:
        return self

    async def __anext__(self) -> Chunk:
        if self._cancelled:
            raise StopAsyncIteration
        try:
            message = await self._call.read()
        except asyncio.CancelledError:
            # grpc.aio raises CancelledError from a call cancelled here; a cancelled task
            # (not its call) must see its own cancellation.
            if self._cancelled:
                raise StopAsyncIteration from None
            raise
        except grpc.RpcError as error:
            if self._cancelled:
                raise StopAsyncIteration from None
            raise from_rpc_error(error) from error
        if not isinstance(message, pb.GenerateChunk):  # grpc.aio.EOF: the stream ended
            raise StopAsyncIteration
        return chunk_from_pb(message)

    def cancel(self) -> None:
        """Cancel the call; the gateway stops generating. Idempotent."""
        self._cancelled = True
        self._call.cancel()

    async def __aenter__(self) -> AsyncAnswerStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._call.done():
            self.cancel()


class AsyncGatewayClient(_Client):
    """``GatewayClient`` on ``grpc.aio``: the same options, deadlines, retries and errors.

    Use it as an async context manager, or ``await close()``. Create and use it
    on one event loop.
    """

    def _connect(
        self,
        target: str,
        options: list[tuple[str, str | int]],
        credentials: grpc.ChannelCredentials | None,
    ) -> None:
        if credentials is None:
            self._channel = grpc.aio.insecure_channel(target, options=options)
        else:
            self._channel = grpc.aio.secure_channel(target, credentials, options=options)
        self._generate = self._channel.unary_unary(**_GENERATE)
        self._stream = self._channel.unary_stream(**_GENERATE_STREAM)
        self._recipients = self._channel.unary_unary(**_GET_RECIPIENTS)

    async def generate(
        self, messages: str | Sequence[ChatMessage], **call: Unpack[CallOptions]
    ) -> Answer:
        """The whole answer to ``messages`` (a string is one user turn)."""
        request, timeout = self._prepare(messages, call)
        try:
            return answer_from_pb(await self._generate(request, timeout=timeout))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    def stream(
        self, messages: str | Sequence[ChatMessage], **call: Unpack[CallOptions]
    ) -> AsyncAnswerStream:
        """The answer in chunks (``async for``); the deadline covers the whole stream."""
        request, timeout = self._prepare(messages, call)
        return AsyncAnswerStream(self._stream(request, timeout=timeout))

    async def recipients(self, *, timeout_s: float | None = None) -> dict[str, Recipient]:
        """The recipients the gateway hosts, by name, ready for a ``Transformer``."""
        try:
            return _by_name(
                await self._recipients(_ALL_RECIPIENTS, timeout=self._deadline(timeout_s))
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncGatewayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
