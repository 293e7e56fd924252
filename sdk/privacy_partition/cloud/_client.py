"""The clients: hardened channels to a gateway, synchronous and on ``asyncio``.

Every call has a deadline, and it holds with retries: a call's deadline
(for a stream, the whole stream) covers every attempt and the backoff between
them. A prompt is sent at most once: ``Generate`` and ``GenerateStream`` are
retried, with exponential backoff, only when the request surely never left
this process (no connection to the gateway could be made: refused,
unreachable, a name that does not resolve). An UNAVAILABLE the gateway
returns, or a connection lost after the call was written, may have reached
the gateway or its upstream, so it is raised (and ``PrivacyClient`` follows
the policy's fallback), never sent again. ``GetRecipients`` is a read and
is retried on any UNAVAILABLE, through gRPC's service config. Other failures
are not retried: a request the gateway refused stays refused.

Keepalive pings find dead connections; both message size limits are
explicit, and a request over the limit fails here, before it is sent.
Failures surface as the typed errors of ``privacy_partition.cloud._errors``.
The clients send only what they are given (transformed turns and sealed
values) and log nothing about it.

``GatewayClient`` and ``AsyncGatewayClient`` take the same options and share
everything but the channel: validation, channel options, credentials, the
service config, request building and error mapping live once, here.

Thread safety: a ``GatewayClient`` is shared by any number of threads; an
``AsyncGatewayClient`` belongs to the event loop it first calls on.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, NoReturn, Protocol, TypedDict, TypeVar, Unpack

import grpc
import grpc.aio

from privacy_partition._defaults import DEFAULT_TIMEOUT_S
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

DEFAULT_RETRY_ATTEMPTS = 3
DEFAULT_KEEPALIVE_S = 30.0
_FIRST_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 2.0
# How gRPC's own load balancer words a call it failed before writing it: no
# connection to any address, or no address at all. Checked as a prefix, so
# that only a status made by this process's gRPC library matches (a gateway's
# message would have to begin with these words).
_NEVER_SENT = (
    "failed to connect to all addresses",
    "errors resolving ",
    "DNS resolution failed",
    "empty address list",
)

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

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("ClientTls may hold a private key and is not serializable")

    def __copy__(self) -> ClientTls:
        return self  # immutable: a copy is the same object

    def __deepcopy__(self, memo: object) -> ClientTls:
        return self

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
    # Only GetRecipients, a read, is retried by gRPC: its retry policy retries
    # any UNAVAILABLE, including one the gateway returned after it received the
    # call, and (for a stream) can outlive the call's deadline. Generate and
    # GenerateStream are retried here instead (``_Deadline.retry_after``).
    method: dict[str, object] = {"name": [{"service": SERVICE_NAME, "method": "GetRecipients"}]}
    # gRPC refuses a retry policy of one attempt: no retries means no policy.
    if attempts > 1:
        method["retryPolicy"] = {
            "maxAttempts": attempts,
            "initialBackoff": f"{_FIRST_BACKOFF_S}s",
            "maxBackoff": f"{_MAX_BACKOFF_S:g}s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }
    return json.dumps({"methodConfig": [method]})


def _never_sent(error: grpc.RpcError) -> bool:
    """Whether the call surely never reached the gateway: gRPC failed it before writing it.

    With no connection to be had (refused, unreachable, a name that does not
    resolve), gRPC fails a call at its load balancer's pick, before a byte of
    it is written, with UNAVAILABLE and a message of its own. Any other
    UNAVAILABLE (the gateway's, or a connection lost once the call was out)
    may have reached the gateway, so it does not count.
    """
    # A synchronous call's error is also its grpc.Call; grpc.aio raises AioRpcError.
    if not isinstance(error, grpc.Call | grpc.aio.AioRpcError):
        return False
    details = error.details() or ""
    return error.code() is grpc.StatusCode.UNAVAILABLE and details.startswith(_NEVER_SENT)


class _Deadline:
    """One call's deadline and attempts: each attempt gets what is left of the time.

    The deadline covers every attempt and the backoff between them, so a call
    (a whole stream too) ends by it, however many attempts it makes.
    """

    def __init__(self, timeout_s: float, attempts: int) -> None:
        self._end = time.monotonic() + timeout_s
        self._attempts_left = attempts - 1
        self._backoff_s = _FIRST_BACKOFF_S

    def remaining(self) -> float:
        """Seconds left for the next attempt; a tiny positive floor so gRPC fails it at once."""
        return max(self._end - time.monotonic(), 0.001)

    def retry_after(self, error: grpc.RpcError) -> float | None:
        """The backoff before another attempt, or None: ``error`` is final.

        Another attempt is made only for a call that surely never left this
        process (``_never_sent``), while attempts remain and the backoff ends
        before the deadline.
        """
        if self._attempts_left < 1 or not _never_sent(error):
            return None
        delay = self._backoff_s
        if time.monotonic() + delay >= self._end:
            return None
        self._attempts_left -= 1
        self._backoff_s = min(self._backoff_s * 2, _MAX_BACKOFF_S)
        return delay


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
        self._attempts = retry_attempts
        self._max_message_bytes = max_message_bytes
        options: list[tuple[str, str | int]] = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.enable_retries", 1),
            ("grpc.service_config", _service_config(retry_attempts)),
            ("grpc.keepalive_time_ms", int(keepalive_s * 1000)),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 0),
            # Reconnect on the retries' schedule: with gRPC's own (1 s, then longer), a retry
            # would meet the same failed connection and fail unsent again.
            ("grpc.initial_reconnect_backoff_ms", int(_FIRST_BACKOFF_S * 1000)),
            ("grpc.min_reconnect_backoff_ms", int(_FIRST_BACKOFF_S * 1000)),
            ("grpc.max_reconnect_backoff_ms", int(_MAX_BACKOFF_S * 1000)),
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
    ) -> tuple[pb.GenerateRequest, _Deadline]:
        """The request to send and its deadline, which starts now."""
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
        return request, _Deadline(self._deadline(call.get("timeout_s")), self._attempts)

    def _deadline(self, timeout_s: float | None) -> float:
        return timeout_s or self._timeout_s


# -- synchronous ----------------------------------------------------------------


class _SyncCall(Protocol):
    """What a sync unary-stream call returns: the call and its messages, in one object."""

    def __next__(self) -> pb.GenerateChunk: ...

    def cancel(self) -> bool: ...

    def is_active(self) -> bool: ...


class AnswerStream:
    """An iterator over the chunks of one streamed answer.

    ``cancel()`` (or leaving a ``with`` block early) cancels the call; the
    gateway then stops generating. After a cancel, iteration simply ends.
    The deadline covers the whole stream; before the first chunk, a call that
    surely never reached the gateway is made again within it.
    """

    def __init__(self, start: Callable[[float], _SyncCall], deadline: _Deadline) -> None:
        self._start = start
        self._deadline = deadline
        self._call = start(deadline.remaining())
        self._started = False
        self._cancelled = False

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> Chunk:
        while True:
            if self._cancelled:
                raise StopIteration
            try:
                message = next(self._call)
            except grpc.RpcError as error:
                if self._cancelled:
                    raise StopIteration from None
                delay = None if self._started else self._deadline.retry_after(error)
                if delay is None:
                    raise from_rpc_error(error) from error
                time.sleep(delay)
                if not self._cancelled:
                    self._call = self._start(self._deadline.remaining())
                continue
            self._started = True
            return chunk_from_pb(message)

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
    attempts of a call that cannot reach the gateway (see the module's notes).
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
        request, deadline = self._prepare(messages, call)
        while True:
            try:
                return answer_from_pb(self._generate(request, timeout=deadline.remaining()))
            except grpc.RpcError as error:
                delay = deadline.retry_after(error)
                if delay is None:
                    raise from_rpc_error(error) from error
            time.sleep(delay)

    def stream(
        self, messages: str | Sequence[ChatMessage], **call: Unpack[CallOptions]
    ) -> AnswerStream:
        """The answer in chunks; the deadline covers the whole stream, retries included."""
        request, deadline = self._prepare(messages, call)
        return AnswerStream(lambda timeout: self._stream(request, timeout=timeout), deadline)

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


_AsyncCall = grpc.aio.UnaryStreamCall[pb.GenerateRequest, pb.GenerateChunk]


class AsyncAnswerStream:
    """An async iterator over the chunks of one streamed answer.

    ``cancel()`` (or leaving an ``async with`` block early) cancels the call;
    the gateway then stops generating. After a cancel, iteration simply ends.
    The deadline covers the whole stream; before the first chunk, a call that
    surely never reached the gateway is made again within it.
    """

    def __init__(self, start: Callable[[float], _AsyncCall], deadline: _Deadline) -> None:
        self._start = start
        self._deadline = deadline
        self._call = start(deadline.remaining())
        self._started = False
        self._cancelled = False

    def __aiter__(self) -> AsyncAnswerStream:
        return self

    async def __anext__(self) -> Chunk:
        while True:
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
                delay = None if self._started else self._deadline.retry_after(error)
                if delay is None:
                    raise from_rpc_error(error) from error
                await asyncio.sleep(delay)
                if not self._cancelled:
                    self._call = self._start(self._deadline.remaining())
                continue
            if not isinstance(message, pb.GenerateChunk):  # grpc.aio.EOF: the stream ended
                raise StopAsyncIteration
            self._started = True
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
        request, deadline = self._prepare(messages, call)
        while True:
            try:
                return answer_from_pb(await self._generate(request, timeout=deadline.remaining()))
            except grpc.RpcError as error:
                delay = deadline.retry_after(error)
                if delay is None:
                    raise from_rpc_error(error) from error
            await asyncio.sleep(delay)

    def stream(
        self, messages: str | Sequence[ChatMessage], **call: Unpack[CallOptions]
    ) -> AsyncAnswerStream:
        """The answer in chunks (``async for``); the deadline covers it all, retries included."""
        request, deadline = self._prepare(messages, call)
        return AsyncAnswerStream(lambda timeout: self._stream(request, timeout=timeout), deadline)

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
