"""The reference gateway: a ``grpc.aio`` server that forwards sanitized requests upstream.

Stateless but for a replay cache: every request carries what it needs. For
each request the gateway checks it against ``ServerLimits``
(INVALID_ARGUMENT with a reason that names indexes and limits, never
content), runs its ``Screen`` on the turns if it was given one, opens every
sealed value at its hosted recipient under the request's id, admits them all
to the replay cache (each sealed value opens once), hands them to the
recipients, and only then calls the upstream with the chat turns.

A screen runs in a worker thread (detection is CPU-bound). Turns it finds
raw values in fail the request with PERMISSION_DENIED and a reason that
names their entity types, never a value or where it stands; a screen that
raises, or answers anything but entity type names, fails it with INTERNAL
and a fixed message (fail closed). Either way no sealed value is opened and
the upstream is not called.

A sealed value that does not open, belongs to another request or handle,
lies outside the time window or was opened before fails the request with
one opaque reason (``sealed[i] does not open``), before any value is
delivered or the upstream is called; one sealed to a key the recipient does
not hold fails with FAILED_PRECONDITION (the client fetches keys again). An
upstream's ``UpstreamError`` becomes the call's status with its content-free
message; any other exception from an upstream becomes INTERNAL with a fixed
message, since its text may hold anything. The standard ``grpc.health.v1``
service reports SERVING while the gateway runs and NOT_SERVING from the
moment it begins to stop; server reflection lists the services.

Logs carry codes, counts and entity types only, never a prompt, an answer or a value.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from privacy_partition._errors import ConfigurationError, PrivacyPartitionError, RestoreError
from privacy_partition.cloud._errors import UpstreamError
from privacy_partition.cloud._pb import gateway_pb2 as pb
from privacy_partition.cloud._recipients import (
    DEFAULT_REPLAY_ENTRIES,
    DEFAULT_REPLAY_WINDOW_S,
    HostedRecipient,
    ReplayCache,
)
from privacy_partition.cloud._screen import Screen
from privacy_partition.cloud._types import (
    ChatMessage,
    Delivery,
    GenerationOptions,
    finish_to_pb,
    recipient_to_pb,
    sealed_from_pb,
    usage_to_pb,
)
from privacy_partition.cloud._upstream import Upstream
from privacy_partition.transform import SealedValue

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "SERVICE_NAME",
    "BackgroundGateway",
    "GatewayServer",
    "GatewayStats",
    "ServerLimits",
    "ServerTls",
]

logger = logging.getLogger("privacy_partition.cloud")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Gateway"].full_name
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_DIGEST = re.compile(r"[0-9a-f]{0,128}")
_MAX_STOP = 4
_ENTITY_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one gateway accepts. Checked at construction; enforced on every request."""

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # each request and answer
    max_concurrent_streams: int = 100  # HTTP/2 streams per connection
    max_concurrent_rpcs: int = 1000  # calls in flight in the whole server; more: RESOURCE_EXHAUSTED
    max_messages: int = 256  # chat turns per request
    max_prompt_chars: int = 1_000_000  # all turns together
    max_sealed: int = 64  # sealed values per request
    replay_window_s: int = DEFAULT_REPLAY_WINDOW_S  # a sealed value opens this close to sealed_at
    replay_entries: int = DEFAULT_REPLAY_ENTRIES  # (key id, nonce) pairs remembered
    max_tokens: int = 32_768  # the largest max_tokens a request may ask for
    shutdown_grace_s: float = 5.0  # how long in-flight calls may finish on stop

    def __post_init__(self) -> None:
        for name in (
            "max_message_bytes",
            "max_concurrent_streams",
            "max_concurrent_rpcs",
            "max_messages",
            "max_prompt_chars",
            "max_sealed",
            "max_tokens",
            "replay_window_s",
            "replay_entries",
        ):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"ServerLimits.{name} must be at least 1")
        if self.shutdown_grace_s < 0:
            raise ConfigurationError("ServerLimits.shutdown_grace_s must not be negative")


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The gateway's certificate chain and key (PEM); with ``client_ca``, mTLS is required."""

    certificate_chain: bytes
    private_key: bytes = field(repr=False)
    client_ca: bytes | None = None

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("ServerTls holds a private key and is not serializable")

    def __copy__(self) -> ServerTls:
        return self  # immutable: a copy is the same object

    def __deepcopy__(self, memo: object) -> ServerTls:
        return self

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


@dataclass(slots=True)
class GatewayStats:
    """Counters since start (read them from any thread; they are written on the server's loop)."""

    requests: int = 0
    rejected: int = 0
    streams_completed: int = 0
    streams_cancelled: int = 0
    sealed_opened: int = 0
    sealed_refused: int = 0
    upstream_errors: int = 0
    screened_out: int = 0  # refused because the screen found raw values
    screen_failures: int = 0  # refused because the screen failed


class _Rejected(Exception):
    def __init__(self, code: grpc.StatusCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Checked:
    request_id: str
    messages: tuple[ChatMessage, ...]
    options: GenerationOptions


class GatewayServer:
    """The gateway on ``grpc.aio``. One instance serves one address; start it once.

    ``upstream`` answers; ``recipients`` open sealed values; ``screen``, when
    given, refuses turns that carry raw values (``PolicyScreen.from_policy``
    builds one from a policy). Without ``tls`` the gateway listens in clear
    text: for loopback tests only. The gateway closes its upstream when it
    stops. ``interceptors`` go to the ``grpc.aio`` server as they are and see
    every call before the gateway does: a leak audit records with one what
    arrived on the wire.
    """

    def __init__(
        self,
        upstream: Upstream,
        recipients: Iterable[HostedRecipient] = (),
        *,
        limits: ServerLimits | None = None,
        tls: ServerTls | None = None,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        screen: Screen | None = None,
    ) -> None:
        self._upstream = upstream
        self._screen = screen
        self._interceptors = tuple(interceptors)
        self._recipients: dict[str, HostedRecipient] = {}
        for recipient in recipients:
            if recipient.name in self._recipients:
                raise ConfigurationError(f"recipient {recipient.name} is hosted twice")
            self._recipients[recipient.name] = recipient
        self._limits = limits or ServerLimits()
        self._replay = ReplayCache(
            window_s=self._limits.replay_window_s, max_entries=self._limits.replay_entries
        )
        self._tls = tls
        self._server: grpc.aio.Server | None = None
        self._stopped = False
        self._health = health.aio.HealthServicer()
        self.stats = GatewayStats()

    def __repr__(self) -> str:
        return (
            f"GatewayServer(upstream={self._upstream!r}, recipients={sorted(self._recipients)!r},"
            f" tls={self._tls is not None}, screen={self._screen is not None})"
        )

    # -- lifecycle ----------------------------------------------------------

    async def start(self, address: str = "127.0.0.1:0") -> int:
        """Listen on ``address`` (port 0: the OS picks one) and serve; return the port."""
        if self._server is not None:
            raise ConfigurationError("this gateway was already started")
        limits = self._limits
        server = grpc.aio.server(
            interceptors=self._interceptors,
            options=[
                ("grpc.max_receive_message_length", limits.max_message_bytes),
                ("grpc.max_send_message_length", limits.max_message_bytes),
                ("grpc.max_concurrent_streams", limits.max_concurrent_streams),
                # Accept the clients' keepalive pings (every 30 s by default), refuse floods.
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
                ("grpc.so_reuseport", 0),
            ],
            maximum_concurrent_rpcs=limits.max_concurrent_rpcs,
        )
        server.add_generic_rpc_handlers((self._handlers(),))
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        if self._tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, self._tls.credentials())
        if port == 0:
            raise ConfigurationError(f"cannot listen on {address}")
        await server.start()
        self._server = server
        for service in ("", SERVICE_NAME):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        logger.info("gateway listening on port %d (tls=%s)", port, self._tls is not None)
        return port

    async def stop(self, grace_s: float | None = None) -> None:
        """Report NOT_SERVING, refuse new calls, let in-flight ones finish within the grace,
        then close the upstream. Idempotent."""
        if self._server is None or self._stopped:
            return
        self._stopped = True
        await self._health.enter_graceful_shutdown()
        await self._server.stop(self._limits.shutdown_grace_s if grace_s is None else grace_s)
        await self._upstream.aclose()
        logger.info("gateway stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    def _handlers(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Generate": grpc.unary_unary_rpc_method_handler(
                    self._generate,
                    request_deserializer=pb.GenerateRequest.FromString,
                    response_serializer=pb.GenerateResponse.SerializeToString,
                ),
                "GenerateStream": grpc.unary_stream_rpc_method_handler(
                    self._generate_stream,
                    request_deserializer=pb.GenerateRequest.FromString,
                    response_serializer=pb.GenerateChunk.SerializeToString,
                ),
                "GetRecipients": grpc.unary_unary_rpc_method_handler(
                    self._get_recipients,
                    request_deserializer=pb.GetRecipientsRequest.FromString,
                    response_serializer=pb.GetRecipientsResponse.SerializeToString,
                ),
            },
        )

    # -- methods ------------------------------------------------------------

    async def _generate(
        self,
        request: pb.GenerateRequest,
        context: grpc.aio.ServicerContext[pb.GenerateRequest, pb.GenerateResponse],
    ) -> pb.GenerateResponse:
        checked, deliveries = await self._admit(request, context)
        try:
            answer = await self._upstream.generate(checked.messages, checked.options)
        except Exception as error:
            await self._upstream_failed(context, error)
        return pb.GenerateResponse(
            request_id=checked.request_id,
            text=answer.text,
            finish_reason=finish_to_pb(answer.finish_reason),
            usage=usage_to_pb(answer.usage),
            deliveries=deliveries,
        )

    async def _generate_stream(
        self,
        request: pb.GenerateRequest,
        context: grpc.aio.ServicerContext[pb.GenerateRequest, pb.GenerateChunk],
    ) -> AsyncIterator[pb.GenerateChunk]:
        checked, deliveries = await self._admit(request, context)
        index = 0
        pieces = self._upstream.stream(checked.messages, checked.options)
        try:
            async for piece in pieces:
                chunk = pb.GenerateChunk(
                    request_id=checked.request_id, text=piece.text, index=index
                )
                if index == 0:
                    chunk.deliveries.extend(deliveries)
                if piece.finish_reason is not None:
                    chunk.finish_reason = finish_to_pb(piece.finish_reason)
                if piece.usage is not None:
                    chunk.usage.CopyFrom(usage_to_pb(piece.usage))
                yield chunk
                index += 1
        except (asyncio.CancelledError, GeneratorExit):
            # The client cancelled or its deadline passed (GeneratorExit: while a chunk was
            # being written); the upstream's stream is closed below, which stops generation.
            self.stats.streams_cancelled += 1
            logger.debug("stream cancelled after %d chunks", index)
            raise
        except Exception as error:
            await self._upstream_failed(context, error)
        finally:
            if isinstance(pieces, AsyncGenerator):
                await pieces.aclose()
        self.stats.streams_completed += 1

    async def _get_recipients(
        self,
        request: pb.GetRecipientsRequest,
        context: grpc.aio.ServicerContext[pb.GetRecipientsRequest, pb.GetRecipientsResponse],
    ) -> pb.GetRecipientsResponse:
        return pb.GetRecipientsResponse(
            recipients=[recipient_to_pb(r.recipient) for r in self._recipients.values()]
        )

    async def _admit(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> tuple[_Checked, list[pb.Delivery]]:
        """The checked request and its deliveries, or the call aborted with the reason."""
        self.stats.requests += 1
        try:
            checked = self._check(request)
            if self._screen is not None:
                await self._screened(self._screen, checked.messages)
            deliveries = self._deliver(request, checked.request_id)
        except _Rejected as rejected:
            await self._abort(context, rejected)
        return checked, [pb.Delivery(handle=d.handle, recipient=d.recipient) for d in deliveries]

    async def _abort(
        self, context: grpc.aio.ServicerContext[Any, Any], rejected: _Rejected
    ) -> NoReturn:
        self.stats.rejected += 1
        logger.info("request rejected: %s", rejected.code.name)
        await context.abort(rejected.code, rejected.reason)
        raise AssertionError("abort returned")  # pragma: no cover - abort always raises

    async def _upstream_failed(
        self, context: grpc.aio.ServicerContext[Any, Any], error: Exception
    ) -> NoReturn:
        self.stats.upstream_errors += 1
        if isinstance(error, UpstreamError):
            status, detail = error.status, str(error)
        else:
            # Not an adapter's own error: its message may hold anything, the prompt included.
            status, detail = grpc.StatusCode.INTERNAL, "the upstream failed"
        logger.warning("upstream failed: %s (%s)", status.name, type(error).__name__)
        await context.abort(status, detail)
        raise AssertionError("abort returned")  # pragma: no cover - abort always raises

    # -- checks -------------------------------------------------------------

    def _check(self, request: pb.GenerateRequest) -> _Checked:
        """The request's turns and options, or ``_Rejected`` with a reason free of content."""
        limits = self._limits

        def invalid(reason: str) -> NoReturn:
            raise _Rejected(grpc.StatusCode.INVALID_ARGUMENT, reason)

        if not _REQUEST_ID.fullmatch(request.request_id):
            invalid("request_id must be 1 to 64 characters of letters, digits, '._:-'")
        if len(request.policy.name) > 64 or not _DIGEST.fullmatch(request.policy.digest):
            invalid("policy.name must be at most 64 characters, policy.digest lower-case hex")
        if not request.messages:
            invalid("messages must hold at least one turn")
        if len(request.messages) > limits.max_messages:
            invalid(f"messages holds more than {limits.max_messages} turns")
        messages: list[ChatMessage] = []
        chars = 0
        for index, wire in enumerate(request.messages):
            message = ChatMessage.from_pb(wire)
            if message is None:
                invalid(f"messages[{index}] has no known role")
            chars += len(message.content)
            messages.append(message)
        if chars > limits.max_prompt_chars:
            invalid(f"the turns hold more than {limits.max_prompt_chars} characters")
        if len(request.sealed) > limits.max_sealed:
            invalid(f"sealed holds more than {limits.max_sealed} values")
        options = GenerationOptions.from_pb(request.options)
        if options.max_tokens > limits.max_tokens:
            invalid(f"options.max_tokens is over {limits.max_tokens}")
        if options.temperature is not None and not 0.0 <= options.temperature <= 2.0:
            invalid("options.temperature must lie in [0, 2]")
        if options.top_p is not None and not 0.0 < options.top_p <= 1.0:
            invalid("options.top_p must lie in (0, 1]")
        if len(options.stop) > _MAX_STOP:
            invalid(f"options.stop holds more than {_MAX_STOP} sequences")
        return _Checked(request.request_id, tuple(messages), options)

    async def _screened(self, screen: Screen, messages: tuple[ChatMessage, ...]) -> None:
        """Return when ``screen`` finds the turns clean; else ``_Rejected``, naming types only."""
        failure: str | None = None
        try:
            # Detection is CPU-bound: a worker thread keeps the loop serving other calls.
            found = await asyncio.to_thread(
                _types_found, screen, tuple(m.content for m in messages)
            )
        except Exception as error:
            failure = type(error).__name__
        if failure is not None:
            # Raised outside the except block: the screen's error may quote the turns.
            self.stats.screen_failures += 1
            logger.warning("screen failed (%s)", failure)
            raise _Rejected(grpc.StatusCode.INTERNAL, "the gateway could not screen the turns")
        if found:
            types = ", ".join(found)
            self.stats.screened_out += 1
            logger.info("turns screened out: %s", types)
            raise _Rejected(
                grpc.StatusCode.PERMISSION_DENIED,
                f"the turns carry raw values the gateway's policy does not allow: {types}",
            )

    def _deliver(self, request: pb.GenerateRequest, request_id: str) -> tuple[Delivery, ...]:
        """Open every sealed value under ``request_id``, admit them all once, then deliver them.

        All or nothing: a request with one value that does not open, or that
        was opened before, delivers none and never reaches the upstream.
        """
        turns = [m.content for m in request.messages]
        opened: list[tuple[HostedRecipient, SealedValue, str]] = []
        for index, wire in enumerate(request.sealed):
            recipient = self._recipients.get(wire.recipient)
            if recipient is None:
                raise _Rejected(
                    grpc.StatusCode.INVALID_ARGUMENT, f"sealed[{index}] names no hosted recipient"
                )
            if wire.key_id not in recipient.key_ids:
                # The client sealed to a key the recipient no longer holds: fetch keys again.
                raise _Rejected(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"sealed[{index}] is sealed to a key the recipient does not hold",
                )
            if not wire.handle or not any(wire.handle in turn for turn in turns):
                raise _Rejected(
                    grpc.StatusCode.INVALID_ARGUMENT, f"sealed[{index}] has a handle no turn uses"
                )
            sealed = sealed_from_pb(wire, request_id)
            try:
                opened.append((recipient, sealed, recipient.open(sealed)))
            except (RestoreError, PrivacyPartitionError):
                self._refuse_sealed(index, "it does not open")
        refused = self._replay.admit((s.key_id, s.nonce, s.sealed_at) for _, s, _ in opened)
        if refused is not None:
            self._refuse_sealed(refused, "a replay or outside the time window")
        deliveries = []
        for recipient, sealed, value in opened:
            deliveries.append(recipient.deliver(request_id, sealed.handle, value))
            self.stats.sealed_opened += 1
        return tuple(deliveries)

    def _refuse_sealed(self, index: int, why: str) -> NoReturn:
        # The caller learns one reason whatever failed (no oracle); the log says which, no value.
        self.stats.sealed_refused += 1
        logger.info("sealed value refused: %s", why)
        raise _Rejected(grpc.StatusCode.INVALID_ARGUMENT, f"sealed[{index}] does not open")


def _types_found(screen: Screen, turns: tuple[str, ...]) -> tuple[str, ...]:
    """What ``screen`` found, sorted and distinct; ``TypeError`` unless it is entity types.

    The types go to the caller in the reason: nothing else may, whatever a screen returns.
    """
    found = screen(turns)
    if isinstance(found, str) or not all(
        isinstance(t, str) and _ENTITY_TYPE.fullmatch(t) for t in found
    ):
        raise TypeError("a screen returns entity type names")
    return tuple(sorted(set(found)))


class BackgroundGateway:
    """Runs a ``GatewayServer`` on its own event loop in a daemon thread.

    The loopback fixture for tests and examples, and the way a synchronous
    program hosts a gateway::

        with BackgroundGateway(GatewayServer(EchoUpstream())) as gateway:
            client = GatewayClient(gateway.target, insecure=True)
    """

    def __init__(self, server: GatewayServer, address: str = "127.0.0.1:0") -> None:
        self.server = server
        self._address = address
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="privacy-partition-gateway", daemon=True
        )
        self.port = 0

    @property
    def target(self) -> str:
        """``host:port`` to connect to."""
        host = self._address.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    def start(self) -> BackgroundGateway:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(
            self.server.start(self._address), self._loop
        ).result()
        return self

    def stop(self, grace_s: float | None = None) -> None:
        """Stop the server (draining in-flight calls within the grace) and the loop."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(grace_s), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> BackgroundGateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
