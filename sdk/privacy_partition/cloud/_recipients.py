"""Recipients hosted by the gateway: tools that hold an HPKE private key and open sealed values.

A booking tool needs the real phone number; the model planning the booking
does not. The gateway hands each sealed value to its recipient, which opens
it with ``privacy_partition.transform.open_sealed`` and passes the value to
its ``on_open`` hook (the tool's own business); the upstream model gets the
handle only. Nothing here logs or returns a value.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from privacy_partition._errors import ConfigurationError
from privacy_partition.cloud._types import Delivery, key_id_for
from privacy_partition.transform import Recipient, SealedValue, open_sealed

__all__ = ["HostedRecipient", "OpenHook"]

OpenHook = Callable[[str, Delivery, str], None]
"""``on_open(request_id, delivery, value)``: what the tool does with an opened value."""


class HostedRecipient:
    """A named recipient with an X25519 private key. Thread-safe.

    ``opened`` lists the last deliveries (request id and names, no value), so
    that tests and audits can see that a value was opened without seeing it.
    """

    def __init__(
        self,
        name: str,
        private_key: x25519.X25519PrivateKey,
        *,
        on_open: OpenHook | None = None,
        remember: int = 256,
    ) -> None:
        public = private_key.public_key()
        self.recipient = Recipient(name, key_id_for(public), public)
        self._private_key = private_key
        self._on_open = on_open
        self._lock = threading.Lock()
        self.opened: deque[tuple[str, Delivery]] = deque(maxlen=remember)

    @classmethod
    def generate(cls, name: str, *, on_open: OpenHook | None = None) -> HostedRecipient:
        """A recipient with a fresh key, made at start: sealed values die with the process."""
        return cls(name, x25519.X25519PrivateKey.generate(), on_open=on_open)

    @classmethod
    def from_pem_file(
        cls, name: str, path: str | os.PathLike[str], *, on_open: OpenHook | None = None
    ) -> HostedRecipient:
        """A recipient whose X25519 private key is in a PEM file (PKCS#8, unencrypted)."""
        try:
            key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as error:
            raise ConfigurationError(
                f"recipient {name}: cannot read a private key from {os.fspath(path)}"
                f" ({type(error).__name__})"
            ) from None
        if not isinstance(key, x25519.X25519PrivateKey):
            raise ConfigurationError(f"recipient {name}: {os.fspath(path)} is not an X25519 key")
        return cls(name, key, on_open=on_open)

    @property
    def name(self) -> str:
        return self.recipient.name

    def __repr__(self) -> str:
        return f"HostedRecipient({self.name!r}, key_id={self.recipient.key_id!r})"

    def accept(self, request_id: str, sealed: SealedValue) -> Delivery:
        """Open ``sealed`` and hand the value to the hook. ``RestoreError`` if it does not open."""
        value = open_sealed(sealed, self._private_key)
        delivery = Delivery(sealed.handle, self.name)
        if self._on_open is not None:
            self._on_open(request_id, delivery, value)
        with self._lock:
            self.opened.append((request_id, delivery))
        return delivery
