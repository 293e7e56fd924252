"""Recipients hosted by the gateway: tools that hold HPKE private keys and open sealed values.

A booking tool needs the real phone number; the model planning the booking
does not. The gateway hands each sealed value to its recipient, which opens
it with ``privacy_partition.transform.open_sealed`` and passes the value to
its ``on_open`` hook (the tool's own business); the upstream model gets the
handle only. Nothing here logs or returns a value.

Keys persist in a recipient key file (``privacy-partition keys generate``)
so that restarts and replicas open what clients sealed to the keys they
fetched. A file holds one recipient's keys, newest first: the newest is
published, every key in the file opens, so keys rotate by adding a new one
and dropping the old one once no client seals to it. The file is JSON,
mode 0600; a file that group or others may read is refused::

    {"format": "privacy-partition/recipient-keys/v1", "recipient": "booking",
     "keys": [{"key_id": "1a2b3c4d", "created": "2026-12-06T03:00:00Z",
               "suite": "X25519_HKDF_SHA256_AES_256_GCM", "private_key": "<base64, raw 32 bytes>"}]}

``ReplayCache`` makes each sealed value open once (see its docstring for the bounds).
"""

from __future__ import annotations

import base64
import heapq
import json
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from privacy_partition._errors import ConfigurationError, RestoreError
from privacy_partition._files import check_private
from privacy_partition.cloud._types import Delivery, key_id_for
from privacy_partition.transform import Recipient, SealedValue, open_sealed

__all__ = [
    "DEFAULT_REPLAY_ENTRIES",
    "DEFAULT_REPLAY_WINDOW_S",
    "KEY_FILE_FORMAT",
    "HostedRecipient",
    "OpenHook",
    "ReplayCache",
    "add_key_to_file",
    "load_key_files",
]

OpenHook = Callable[[str, Delivery, str], None]
"""``on_open(request_id, delivery, value)``: what the tool does with an opened value."""

KEY_FILE_FORMAT = "privacy-partition/recipient-keys/v1"
_SUITE = "X25519_HKDF_SHA256_AES_256_GCM"
DEFAULT_REPLAY_WINDOW_S = 300
"""A sealed value opens only within this many seconds of its ``sealed_at``, either side."""
DEFAULT_REPLAY_ENTRIES = 100_000
"""How many (key id, nonce) pairs a gateway remembers (about 20 MB at most)."""


class HostedRecipient:
    """A named recipient with one or more X25519 private keys, the first one current. Thread-safe.

    The current key is the one the gateway publishes; every key opens, so that
    values sealed to a key before a rotation still open. ``opened`` lists the
    last deliveries (request id and names, no value), so that tests and audits
    can see that a value was opened without seeing it.
    """

    def __init__(
        self,
        name: str,
        private_key: x25519.X25519PrivateKey | Sequence[x25519.X25519PrivateKey],
        *,
        on_open: OpenHook | None = None,
        remember: int = 256,
    ) -> None:
        keys = [private_key] if isinstance(private_key, x25519.X25519PrivateKey) else private_key
        if not keys:
            raise ConfigurationError(f"recipient {name}: no private key")
        self._keys: dict[str, x25519.X25519PrivateKey] = {}
        for key in keys:
            self._keys.setdefault(key_id_for(key.public_key()), key)
        public = keys[0].public_key()
        self.recipient = Recipient(name, key_id_for(public), public)
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
        """A recipient whose X25519 private key is in a PEM file (PKCS#8, unencrypted).

        Refused if others may read it, like a key file."""
        check_private(path, f"recipient {name}: key file")
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

    @classmethod
    def from_key_file(
        cls, path: str | os.PathLike[str], *, on_open: OpenHook | None = None
    ) -> HostedRecipient:
        """The recipient of a key file (``keys generate``); refused if others may read it."""
        name, keys = _read_key_file(Path(path))
        return cls(name, keys, on_open=on_open)

    @property
    def name(self) -> str:
        return self.recipient.name

    @property
    def key_ids(self) -> frozenset[str]:
        """The ids of every key this recipient opens with."""
        return frozenset(self._keys)

    def __repr__(self) -> str:
        return (
            f"HostedRecipient({self.name!r}, key_id={self.recipient.key_id!r},"
            f" keys={len(self._keys)})"
        )

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a HostedRecipient holds private keys and cannot be pickled")

    def open(self, sealed: SealedValue) -> str:
        """The value inside ``sealed`` (no hook, no memory). ``RestoreError`` if it does not open.

        Opening has no memory: the gateway's ``ReplayCache`` decides whether
        the value may be delivered.
        """
        key = self._keys.get(sealed.key_id)
        if key is None or sealed.recipient != self.name:
            raise RestoreError
        return open_sealed(sealed, key)

    def deliver(self, request_id: str, handle: str, value: str) -> Delivery:
        """Hand an opened value to the hook and remember the delivery (names only)."""
        delivery = Delivery(handle, self.name)
        if self._on_open is not None:
            self._on_open(request_id, delivery, value)
        with self._lock:
            self.opened.append((request_id, delivery))
        return delivery


class ReplayCache:
    """Remembers which sealed values were opened, so that each opens once. Thread-safe.

    A batch (one request's sealed values) is admitted whole or not at all.
    It is refused when a value's ``sealed_at`` lies more than ``window_s``
    from now (either side), when one of its (key id, nonce) pairs was
    admitted before or appears twice in the batch, or when its ``sealed_at``
    is at or below the floor. Bounds: an entry is dropped once its
    ``sealed_at`` is more than ``window_s`` old (the window refuses it from
    then on), and at most ``max_entries`` are kept: when full, the oldest is
    evicted and the floor rises to its ``sealed_at``, so an evicted value can
    never open again (under a flood, values sealed in the same second as the
    evicted one are refused too). In memory, per process: replicas behind a
    load balancer each keep their own (see ``docs/sealing.md``).
    """

    def __init__(
        self,
        *,
        window_s: int = DEFAULT_REPLAY_WINDOW_S,
        max_entries: int = DEFAULT_REPLAY_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window_s < 1 or max_entries < 1:
            raise ConfigurationError("a replay cache needs window_s and max_entries of at least 1")
        self.window_s = window_s
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: set[tuple[str, bytes]] = set()
        self._by_age: list[tuple[int, str, bytes]] = []  # heap of (sealed_at, key id, nonce)
        self._floor = -1

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, batch: Iterable[tuple[str, bytes, int]]) -> int | None:
        """Record a batch of (key id, nonce, sealed_at); the index of the first refused, or None.

        None means every value of the batch was admitted; otherwise none was.
        """
        items = list(batch)
        with self._lock:
            now = self._clock()
            self._expire(now)
            fresh: set[tuple[str, bytes]] = set()
            for index, (key_id, nonce, sealed_at) in enumerate(items):
                pair = (key_id, nonce)
                if (
                    abs(now - sealed_at) > self.window_s
                    or sealed_at <= self._floor
                    or pair in self._seen
                    or pair in fresh
                ):
                    return index
                fresh.add(pair)
            for key_id, nonce, sealed_at in items:
                while len(self._seen) >= self.max_entries:
                    old_at, old_key, old_nonce = heapq.heappop(self._by_age)
                    self._seen.discard((old_key, old_nonce))
                    self._floor = max(self._floor, old_at)
                self._seen.add((key_id, nonce))
                heapq.heappush(self._by_age, (sealed_at, key_id, nonce))
            return None

    def _expire(self, now: float) -> None:
        while self._by_age and now - self._by_age[0][0] > self.window_s:
            _, key_id, nonce = heapq.heappop(self._by_age)
            self._seen.discard((key_id, nonce))


# -- key files -----------------------------------------------------------------


def _read_key_file(path: Path) -> tuple[str, list[x25519.X25519PrivateKey]]:
    where = f"recipient key file {path}"
    check_private(path, "recipient key file")
    try:
        data = json.loads(path.read_bytes())
    except OSError as error:
        raise ConfigurationError(f"cannot read {where} ({type(error).__name__})") from None
    except ValueError:
        raise ConfigurationError(f"{where} is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != KEY_FILE_FORMAT:
        raise ConfigurationError(f"{where}: format must be {KEY_FILE_FORMAT!r}")
    name, entries = data.get("recipient"), data.get("keys")
    if not isinstance(name, str) or not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{where} needs a recipient name and at least one key")
    keys = []
    for index, entry in enumerate(entries):
        try:
            if entry["suite"] != _SUITE:
                raise ValueError
            key = x25519.X25519PrivateKey.from_private_bytes(
                base64.b64decode(entry["private_key"], validate=True)
            )
            if entry["key_id"] != key_id_for(key.public_key()):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError(
                f"{where}: keys[{index}] is malformed or its key_id does not match its key"
            ) from None
        keys.append(key)
    Recipient(name, "0", keys[0].public_key())  # validates the name
    return name, keys


def load_key_files(
    path: str | os.PathLike[str], *, on_open: OpenHook | None = None
) -> list[HostedRecipient]:
    """The recipients of a key file, or of every ``*.json`` file in a directory."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise ConfigurationError(f"no recipient key files (*.json) in {path}")
    return [HostedRecipient.from_key_file(file, on_open=on_open) for file in files]


def add_key_to_file(path: str | os.PathLike[str], name: str) -> str:
    """Add a fresh key for recipient ``name`` to the key file at ``path`` (made if absent).

    The new key comes first, so the gateway publishes it; older keys stay and
    still open. Written atomically with mode 0600. Returns the new key's id.
    """
    path = Path(path)
    Recipient(name, "0", x25519.X25519PrivateKey.generate().public_key())  # validates the name
    keys: list[dict[str, str]] = []
    if path.exists():
        existing, _ = _read_key_file(path)
        if existing != name:
            raise ConfigurationError(
                f"{path} holds the keys of recipient {existing!r}, not {name!r}"
            )
        keys = json.loads(path.read_bytes())["keys"]
    key = x25519.X25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    key_id = key_id_for(key.public_key())
    if any(entry.get("key_id") == key_id for entry in keys):  # pragma: no cover - 2^-32
        raise ConfigurationError("the new key's id collides with an old one: run again")
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = {
        "key_id": key_id,
        "created": created,
        "suite": _SUITE,
        "private_key": base64.b64encode(raw).decode("ascii"),
    }
    document = {"format": KEY_FILE_FORMAT, "recipient": name, "keys": [entry, *keys]}
    text = json.dumps(document, indent=2) + "\n"
    folder = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=".keys-", dir=folder)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return key_id
