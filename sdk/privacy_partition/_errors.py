"""The exception tree of privacy-partition.

Every error the SDK raises on purpose derives from one root, so an app can
catch them all at once::

    PrivacyPartitionError
    ├── ConfigurationError (ValueError)   bad settings: unknown language, bad threshold
    ├── InputError (ValueError)           a prompt the SDK refuses: too long, not text
    ├── DetectionError                    detection failed; callers must fail closed
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
    "ModelError",
    "PrivacyPartitionError",
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
