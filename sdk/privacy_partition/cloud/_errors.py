"""The errors of the cloud path: mapped from gRPC status codes at the client, and the
one error an upstream raises inside the gateway.

At the client every one derives from ``GatewayError``, itself a ``PrivacyPartitionError``::

    GatewayError                          any failed call; ``code`` is the gRPC status name
    ├── GatewayUnavailable                server down, refused TLS, retries used up (UNAVAILABLE)
    ├── GatewayTimeout (TimeoutError)     the deadline passed (DEADLINE_EXCEEDED)
    ├── GatewayCancelled                  the call was cancelled (CANCELLED)
    ├── RequestRejected (ValueError)      the gateway refused the request as invalid
    │                                     (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE,
    │                                     NOT_FOUND)
    ├── ResourceExhausted                 the gateway is over a limit (RESOURCE_EXHAUSTED)
    │   └── MessageTooLarge               a message is over a size limit, either side
    ├── GatewayAuthError                  UNAUTHENTICATED, PERMISSION_DENIED
    └── GatewayInternalError              anything else (INTERNAL, UNKNOWN, UNIMPLEMENTED, ...)

Messages carry the status name and the gateway's detail, cut short. The
reference gateway writes details without content; what any gateway could
echo is at most the transformed text, since raw values never leave the
device.

Inside the gateway, an upstream reports a failure as ``UpstreamError`` (also
a ``PrivacyPartitionError``) with the status the gateway answers with;
anything else an upstream raises is answered INTERNAL.
"""

from __future__ import annotations

import grpc
import grpc.aio

from privacy_partition._errors import PrivacyPartitionError

__all__ = [
    "GatewayAuthError",
    "GatewayCancelled",
    "GatewayError",
    "GatewayInternalError",
    "GatewayTimeout",
    "GatewayUnavailable",
    "MessageTooLarge",
    "RequestRejected",
    "ResourceExhausted",
    "UpstreamError",
    "from_rpc_error",
]

_MAX_DETAIL_CHARS = 200


class GatewayError(PrivacyPartitionError):
    """A call to the gateway failed. ``code`` is the gRPC status name, e.g. ``UNAVAILABLE``."""

    def __init__(self, message: str, *, code: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.code = code


class GatewayUnavailable(GatewayError):
    """The gateway cannot be reached (down, TLS refused, retries used up)."""


class GatewayTimeout(GatewayError, TimeoutError):
    """The call's deadline passed before the answer arrived."""


class GatewayCancelled(GatewayError):
    """The call was cancelled."""


class RequestRejected(GatewayError, ValueError):
    """The gateway refused the request as invalid; the reason names no content."""


class ResourceExhausted(GatewayError):
    """The gateway is over one of its limits (concurrent streams, quotas)."""


class MessageTooLarge(ResourceExhausted):
    """A request or answer is over a maximum message size."""


class GatewayAuthError(GatewayError):
    """The gateway refused the caller's identity."""


class GatewayInternalError(GatewayError):
    """The gateway failed in a way the caller cannot fix."""


class UpstreamError(PrivacyPartitionError):
    """An upstream failed; the gateway answers the call with ``status`` and this message.

    The message goes to the caller as the call's detail, so it names a status
    and a cause, never content. Use ``UNAVAILABLE`` only where a retry may
    help: clients retry it.
    """

    def __init__(self, message: str, *, status: grpc.StatusCode = grpc.StatusCode.INTERNAL) -> None:
        super().__init__(message)
        self.status = status


_BY_CODE: dict[grpc.StatusCode, type[GatewayError]] = {
    grpc.StatusCode.UNAVAILABLE: GatewayUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: GatewayTimeout,
    grpc.StatusCode.CANCELLED: GatewayCancelled,
    grpc.StatusCode.INVALID_ARGUMENT: RequestRejected,
    grpc.StatusCode.FAILED_PRECONDITION: RequestRejected,
    grpc.StatusCode.OUT_OF_RANGE: RequestRejected,
    grpc.StatusCode.NOT_FOUND: RequestRejected,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAUTHENTICATED: GatewayAuthError,
    grpc.StatusCode.PERMISSION_DENIED: GatewayAuthError,
}


def from_rpc_error(error: grpc.RpcError) -> GatewayError:
    """The typed error for a failed call (raise it ``from`` the original)."""
    # A synchronous call's error is also its grpc.Call; grpc.aio raises AioRpcError.
    if isinstance(error, grpc.Call | grpc.aio.AioRpcError):
        code, detail = error.code(), error.details() or ""
    else:
        code, detail = grpc.StatusCode.UNKNOWN, ""
    if len(detail) > _MAX_DETAIL_CHARS:
        detail = detail[:_MAX_DETAIL_CHARS] + "..."
    kind = _BY_CODE.get(code, GatewayInternalError)
    # grpc core says "larger than max" for messages over either side's limit.
    if kind is ResourceExhausted and "larger than max" in detail:
        kind = MessageTooLarge
    message = f"gateway call failed: {code.name}" + (f" ({detail})" if detail else "")
    return kind(message, code=code.name)
