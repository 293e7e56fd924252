"""The cloud side: the gRPC contract's clients, the reference gateway and its upstreams.

``GatewayClient`` (and ``AsyncGatewayClient`` on ``asyncio``, with the same
options) is what the SDK and an app use to reach a gateway: TLS or mTLS, a
deadline on every call, retries on UNAVAILABLE only, typed errors.
``GatewayServer`` is the reference gateway on ``grpc.aio``; it opens sealed
values at ``HostedRecipient``s and forwards only the chat turns to an
upstream: ``OnnxUpstream`` (a model in the gateway's own process, the
offline default), ``OpenAIUpstream`` (any OpenAI-compatible endpoint) or
``EchoUpstream`` (tests and leak audits). An upstream reports failures as
``UpstreamError``. A gateway given a ``Screen`` refuses turns that carry raw
personal values; ``PolicyScreen`` is the one a policy implies (it loads the
policy and its Analyzer when built, not on import).

Test doubles, public so that users test without a network: ``EchoUpstream``,
``BackgroundGateway`` (a gateway on loopback in a thread),
``OpenAICompatibleEcho`` (a chat-completions HTTP server on loopback) and
``LoopbackPki`` (throwaway TLS certificates). The contract is
``proto/privacy_partition/v1/gateway.proto``; its generated code lives in
``_pb`` and is not public API.
"""

from privacy_partition.cloud._client import (
    DEFAULT_RETRY_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    AnswerStream,
    AsyncAnswerStream,
    AsyncGatewayClient,
    CallOptions,
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
    UpstreamError,
)
from privacy_partition.cloud._loopback_pki import LoopbackPki
from privacy_partition.cloud._openai_echo import OpenAICompatibleEcho
from privacy_partition.cloud._recipients import HostedRecipient, OpenHook
from privacy_partition.cloud._screen import PolicyScreen, Screen
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
from privacy_partition.cloud._upstream_onnx import DEFAULT_ONNX_MAX_TOKENS, OnnxUpstream
from privacy_partition.cloud._upstream_openai import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_UPSTREAM_TIMEOUT_S,
    OpenAIUpstream,
)

__all__ = [
    "DEFAULT_API_KEY_ENV",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_ONNX_MAX_TOKENS",
    "DEFAULT_RETRY_ATTEMPTS",
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_UPSTREAM_TIMEOUT_S",
    "SERVICE_NAME",
    "Answer",
    "AnswerStream",
    "AsyncAnswerStream",
    "AsyncGatewayClient",
    "BackgroundGateway",
    "CallOptions",
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
    "LoopbackPki",
    "MessageTooLarge",
    "OnnxUpstream",
    "OpenAICompatibleEcho",
    "OpenAIUpstream",
    "OpenHook",
    "PolicyScreen",
    "RequestRejected",
    "ResourceExhausted",
    "Role",
    "Screen",
    "ServerLimits",
    "ServerTls",
    "Upstream",
    "UpstreamAnswer",
    "UpstreamError",
    "UpstreamPiece",
    "Usage",
]
