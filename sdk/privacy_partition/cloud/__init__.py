"""The cloud side: the gRPC contract's client, the reference gateway and its upstreams.

``GatewayClient`` is what the SDK (and an app) uses to reach a gateway: TLS
or mTLS, a deadline on every call, retries on UNAVAILABLE only, typed
errors. ``GatewayServer`` is the reference gateway on ``grpc.aio``; it opens
sealed values at ``HostedRecipient``s and forwards only the chat turns to an
upstream (``EchoUpstream`` so far). ``BackgroundGateway`` runs one on
loopback for tests. The contract is ``proto/privacy_partition/v1/gateway.proto``;
its generated code lives in ``_pb`` and is not public API.
"""

from privacy_partition.cloud._client import (
    DEFAULT_RETRY_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    AnswerStream,
    ClientTls,
    GatewayClient,
)
from privacy_partition.cloud._errors import (
    GatewayAuthError,
    GatewayCancelled,
    GatewayError,
    GatewayInternalError,
    GatewayTimeout,
    GatewayUnavailable,
    MessageTooLarge,
    RequestRejected,
    ResourceExhausted,
)
from privacy_partition.cloud._recipients import HostedRecipient, OpenHook
from privacy_partition.cloud._server import (
    DEFAULT_MAX_MESSAGE_BYTES,
    SERVICE_NAME,
    BackgroundGateway,
    GatewayServer,
    GatewayStats,
    ServerLimits,
    ServerTls,
)
from privacy_partition.cloud._types import (
    Answer,
    ChatMessage,
    Chunk,
    Delivery,
    FinishReason,
    GenerationOptions,
    Role,
    Usage,
)
from privacy_partition.cloud._upstream import EchoUpstream, Upstream, UpstreamAnswer, UpstreamPiece

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_RETRY_ATTEMPTS",
    "DEFAULT_TIMEOUT_S",
    "SERVICE_NAME",
    "Answer",
    "AnswerStream",
    "BackgroundGateway",
    "ChatMessage",
    "Chunk",
    "ClientTls",
    "Delivery",
    "EchoUpstream",
    "FinishReason",
    "GatewayAuthError",
    "GatewayCancelled",
    "GatewayClient",
    "GatewayError",
    "GatewayInternalError",
    "GatewayServer",
    "GatewayStats",
    "GatewayTimeout",
    "GatewayUnavailable",
    "GenerationOptions",
    "HostedRecipient",
    "MessageTooLarge",
    "OpenHook",
    "RequestRejected",
    "ResourceExhausted",
    "Role",
    "ServerLimits",
    "ServerTls",
    "Upstream",
    "UpstreamAnswer",
    "UpstreamPiece",
    "Usage",
]
