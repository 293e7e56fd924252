"""The exception tree of privacy-partition.

Every error the SDK raises on purpose derives from one root, so an app can
catch them all at once::

    PrivacyPartitionError
    ├── ConfigurationError (ValueError)   bad settings: unknown language, bad threshold
    │   ├── PolicyError                   a policy file is invalid (file, line, column)
    │   └── KeysetError                   keys missing, malformed or unusable
    ├── InputError (ValueError)           a prompt the SDK refuses: too long, not text
    ├── DetectionError                    detection failed; callers must fail closed
    ├── PolicyViolation                   the policy refuses this request (route block)
    ├── TransformError                    a value could not be transformed; nothing is sent
    ├── RestoreError                      one opaque error for any restore/decrypt failure
    └── ModelError                        a local model is missing, corrupt or unloadable
        └── ChecksumError                 a downloaded or built file has the wrong digest

Messages never carry a prompt or a personal value: they say what went wrong
and where (a length, a position, a file name), never the text itself.
Third-party errors are translated at the boundary with ``raise ... from``.
"""

from __future__ import annotations

__all__ = [
    "ChecksumError",
    "ConfigurationError",
    "DetectionError",
    "InputError",
    "KeysetError",
    "ModelError",
    "PolicyError",
    "PolicyViolation",
    "PrivacyPartitionError",
    "RestoreError",
    "TransformError",
]


class PrivacyPartitionError(Exception):
    """Root of every error raised by privacy-partition."""


class ConfigurationError(PrivacyPartitionError, ValueError):
    """A setting is invalid; raised at construction, never in a request."""


class InputError(PrivacyPartitionError, ValueError):
    """The input cannot be processed (too long, wrong type). Carries no content."""


class DetectionError(PrivacyPartitionError):
    """Detection failed. The request must not proceed to the cloud."""


class ModelError(PrivacyPartitionError):
    """A local model is missing, corrupt or cannot be loaded."""


class ChecksumError(ModelError):
    """A file's SHA-256 digest differs from the recorded one."""


class PolicyError(ConfigurationError):
    """A policy file is invalid. The message names file, line and column.

    ``path``, ``line`` and ``column`` (1-based) are set when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = ":".join(str(part) for part in (path, line, column) if part is not None)
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.line = line
        self.column = column


class KeysetError(ConfigurationError):
    """Keys are missing, malformed or cannot serve the request. Never quotes key material."""


class PolicyViolation(PrivacyPartitionError):
    """The policy refuses this request. ``reasons`` name entity types and rules, never values."""

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__("request refused by policy: " + "; ".join(reasons))
        self.reasons = reasons


class TransformError(PrivacyPartitionError):
    """A finding could not be transformed; the request must not be sent."""


class RestoreError(PrivacyPartitionError):
    """Restoring or decrypting failed. Deliberately says nothing more (no oracle)."""

    def __init__(self) -> None:
        super().__init__("restore failed")
