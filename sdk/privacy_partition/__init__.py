"""privacy-partition: keep personal data on the device, send general knowledge to the cloud."""

from privacy_partition._errors import (
    ChecksumError,
    ConfigurationError,
    DetectionError,
    InputError,
    ModelError,
    PrivacyPartitionError,
)

__version__ = "0.1.0"

__all__ = [
    "ChecksumError",
    "ConfigurationError",
    "DetectionError",
    "InputError",
    "ModelError",
    "PrivacyPartitionError",
    "__version__",
]
