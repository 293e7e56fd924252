"""privacy-partition: keep personal data on the device, send general knowledge to the cloud.

The common case needs three names::

    from privacy_partition import PrivacyClient, PolicyViolation, Route

    with PrivacyClient.from_policy("default", gateway="gateway:443") as client:
        reply = client.generate("Email jane@example.org the minutes")
        print(reply.text, reply.route, reply.decision.entities)

Everything below this surface (detection, policy engine, transform, cloud,
local) lives in subpackages documented as the low layer. The client names
are imported on first use, so ``import privacy_partition`` and the CLI's
``--help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from privacy_partition._errors import (
    ChecksumError,
    ConfigurationError,
    DetectionError,
    InputError,
    KeysetError,
    ModelError,
    PolicyError,
    PolicyViolation,
    PrivacyPartitionError,
    RestoreError,
    TransformError,
)

if TYPE_CHECKING:
    from privacy_partition._actions import Route
    from privacy_partition.audit import AuditLog
    from privacy_partition.client import (
        AsyncChatSession,
        AsyncPrivacyClient,
        ChatSession,
        DecisionSummary,
        PrivacyClient,
        Reply,
        ReplyStream,
        Timings,
    )
    from privacy_partition.cloud import GatewayError, GenerationOptions
    from privacy_partition.policy import Policy, load_policy

__version__ = "0.1.0"

__all__ = [
    "AsyncChatSession",
    "AsyncPrivacyClient",
    "AuditLog",
    "ChatSession",
    "ChecksumError",
    "ConfigurationError",
    "DecisionSummary",
    "DetectionError",
    "GatewayError",
    "GenerationOptions",
    "InputError",
    "KeysetError",
    "ModelError",
    "Policy",
    "PolicyError",
    "PolicyViolation",
    "PrivacyClient",
    "PrivacyPartitionError",
    "Reply",
    "ReplyStream",
    "RestoreError",
    "Route",
    "Timings",
    "TransformError",
    "__version__",
    "load_policy",
]

# Public names whose modules load the NLP, gRPC and ONNX stacks: imported on first use.
_LAZY = {
    "AsyncChatSession": "privacy_partition.client",
    "AsyncPrivacyClient": "privacy_partition.client",
    "AuditLog": "privacy_partition.audit",
    "ChatSession": "privacy_partition.client",
    "DecisionSummary": "privacy_partition.client",
    "GatewayError": "privacy_partition.cloud",
    "GenerationOptions": "privacy_partition.cloud",
    "Policy": "privacy_partition.policy",
    "PrivacyClient": "privacy_partition.client",
    "Reply": "privacy_partition.client",
    "ReplyStream": "privacy_partition.client",
    "Route": "privacy_partition._actions",
    "Timings": "privacy_partition.client",
    "load_policy": "privacy_partition.policy",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'privacy_partition' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
