"""The client: a hardened, synchronous channel to a gateway.

Every call has a deadline; UNAVAILABLE alone is retried, with exponential
backoff, through gRPC's service config (other failures are not retried: a
request the gateway refused stays refused). Keepalive pings find dead
connections; both message size limits are explicit, and a request over the
limit fails here, before it is sent. Failures surface as the typed errors of
``privacy_partition.cloud._errors``. The client sends only what it is given
(transformed turns and sealed values) and logs nothing about it.

Thread-safe: one client, one channel, shared by any number of threads.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import grpc

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
    "ClientTls",
    "GatewayClient",
]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRY_ATTEMPTS = 3
DEFAULT_KEEPALIVE_S = 30.0


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


def _service_config(attempts: int) -> str:
    policy = {
        "maxAttempts": attempts,
        "initialBackoff": "0.1s",
        "maxBackoff": "2s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    method = {"name": [{"service": SERVICE_NAME}], "retryPolicy": policy}
    return json.dumps({"methodConfig": [method]})


def _to_messages(messages: str | Sequence[ChatMessage]) -> list[pb.ChatMessage]:
    if isinstance(messages, str):
        return [ChatMessage(Role.USER, messages).to_pb()]
    return [m.to_pb() for m in messages]


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


class GatewayClient:
    """A channel to one gateway. Use it as a context manager, or ``close()`` it.

    TLS is required (``tls=ClientTls(...)``); ``insecure=True`` allows clear
    text and is meant for loopback tests and benchmarks only.
    """

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
        if tls is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            if tls.server_name is not None:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            self._channel = grpc.secure_channel(target, tls.credentials(), options=options)
        prefix = f"/{SERVICE_NAME}/"
        self._generate = self._channel.unary_unary(
            prefix + "Generate",
            request_serializer=pb.GenerateRequest.SerializeToString,
            response_deserializer=pb.GenerateResponse.FromString,
        )
        self._stream = self._channel.unary_stream(
            prefix + "GenerateStream",
            request_serializer=pb.GenerateRequest.SerializeToString,
            response_deserializer=pb.GenerateChunk.FromString,
        )
        self._recipients = self._channel.unary_unary(
            prefix + "GetRecipients",
            request_serializer=pb.GetRecipientsRequest.SerializeToString,
            response_deserializer=pb.GetRecipientsResponse.FromString,
        )

    def __repr__(self) -> str:
        return f"GatewayClient(timeout_s={self._timeout_s})"

    def _request(
        self,
        messages: str | Sequence[ChatMessage],
        sealed: Sequence[SealedValue],
        options: GenerationOptions | None,
        policy_name: str,
        policy_digest: str,
        request_id: str | None,
    ) -> pb.GenerateRequest:
        request = pb.GenerateRequest(
            request_id=request_id or uuid.uuid4().hex,
            policy=pb.PolicyRef(name=policy_name, digest=policy_digest),
            messages=_to_messages(messages),
            sealed=[sealed_to_pb(s) for s in sealed],
            options=(options or GenerationOptions()).to_pb(),
        )
        size = request.ByteSize()
        if size > self._max_message_bytes:
            raise MessageTooLarge(
                f"request is {size} bytes, over the limit of {self._max_message_bytes}",
                code="RESOURCE_EXHAUSTED",
            )
        return request

    def generate(
        self,
        messages: str | Sequence[ChatMessage],
        *,
        sealed: Sequence[SealedValue] = (),
        options: GenerationOptions | None = None,
        policy_name: str = "",
        policy_digest: str = "",
        request_id: str | None = None,
        timeout_s: float | None = None,
    ) -> Answer:
        """The whole answer to ``messages`` (a string is one user turn)."""
        request = self._request(messages, sealed, options, policy_name, policy_digest, request_id)
        try:
            response = self._generate(request, timeout=timeout_s or self._timeout_s)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        return answer_from_pb(response)

    def stream(
        self,
        messages: str | Sequence[ChatMessage],
        *,
        sealed: Sequence[SealedValue] = (),
        options: GenerationOptions | None = None,
        policy_name: str = "",
        policy_digest: str = "",
        request_id: str | None = None,
        timeout_s: float | None = None,
    ) -> AnswerStream:
        """The answer in chunks; the deadline covers the whole stream."""
        request = self._request(messages, sealed, options, policy_name, policy_digest, request_id)
        call = self._stream(request, timeout=timeout_s or self._timeout_s)
        return AnswerStream(call, call)

    def recipients(self, *, timeout_s: float | None = None) -> dict[str, Recipient]:
        """The recipients the gateway hosts, by name, ready for a ``Transformer``."""
        try:
            response = self._recipients(
                pb.GetRecipientsRequest(), timeout=timeout_s or self._timeout_s
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        return {r.name: recipient_from_pb(r) for r in response.recipients}

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
