"""Keysets: symmetric keys with ids, one primary, rotated without breaking old data.

A ``Keyset`` is the only secret the transform layer needs. Each key is 32
random bytes with an 8-character hex id. Operators never use that material
directly: they use a *purpose key* derived from it with HKDF-SHA256 and a
purpose label, so a key for hashing never encrypts a token or a vault file,
and one keyset serves every operator.

New data is always made under the primary key; data made under an older key
keeps working as long as that key stays in the set (``rotate`` adds, ``retire``
removes). A keyset is immutable and therefore safe to share between threads.
Its ``repr`` and every error it raises show key ids at most, never material.

The JSON form, for files and environment variables::

    {"version": 1, "primary": "1a2b3c4d",
     "keys": [{"id": "1a2b3c4d", "material": "<base64 of 32 bytes>"}]}
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privacy_partition._errors import KeysetError
from privacy_partition._files import check_private

__all__ = ["DEFAULT_KEYSET_ENV", "KEY_BYTES", "Keyset", "Purpose"]

DEFAULT_KEYSET_ENV = "PRIVACY_PARTITION_KEYSET"
KEY_BYTES = 32
_KEY_ID = re.compile(r"[0-9a-f]{8}")
_FORMAT_VERSION = 1


class Purpose(StrEnum):
    """What a derived key is for; each purpose gets its own key."""

    HASH = "hash"  # HMAC-SHA256 digests
    TOKENIZE = "tokenize"  # AES-SIV tokens (a 64-byte key: AES-256-SIV)
    VAULT = "vault"  # AES-256-GCM vault files


_PURPOSE_BYTES = {Purpose.HASH: 32, Purpose.TOKENIZE: 64, Purpose.VAULT: 32}


def _derive(material: bytes, purpose: Purpose) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=_PURPOSE_BYTES[purpose],
        salt=None,
        info=b"privacy-partition/v1/purpose/" + purpose.value.encode("ascii"),
    ).derive(material)


def _shown(key_id: object) -> str:
    # Quote only what has the shape of an id: a caller may pass anything, material included.
    return repr(key_id) if isinstance(key_id, str) and _KEY_ID.fullmatch(key_id) else "(malformed)"


class Keyset:
    """Keys with ids, exactly one of them primary. Immutable and thread-safe.

    ``Keyset.generate()`` makes an in-memory keyset: the test double, and the
    start of a real one (``to_json`` it into a file only the app can read).
    Keysets do not pickle: write them out explicitly with ``to_json``.
    """

    __slots__ = ("_derived", "_material", "_primary")

    _material: dict[str, bytes]
    _primary: str
    _derived: dict[tuple[str, Purpose], bytes]

    def __init__(self, keys: Mapping[str, bytes], primary: str) -> None:
        if not keys:
            raise KeysetError("a keyset needs at least one key")
        for index, (key_id, material) in enumerate(keys.items()):
            if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
                raise KeysetError(f"key {index}: the id must be 8 lower-case hex characters")
            if not isinstance(material, bytes) or len(material) != KEY_BYTES:
                raise KeysetError(f"key {key_id}: the material must be {KEY_BYTES} bytes")
        if primary not in keys:
            raise KeysetError(f"the primary key {_shown(primary)} is not in the keyset")
        object.__setattr__(self, "_material", dict(keys))
        object.__setattr__(self, "_primary", primary)
        # Derived once: HKDF per use would cost more than the operators themselves.
        derived = {
            (key_id, purpose): _derive(material, purpose)
            for key_id, material in keys.items()
            for purpose in Purpose
        }
        object.__setattr__(self, "_derived", derived)

    # -- construction -------------------------------------------------------

    @classmethod
    def generate(cls) -> Keyset:
        """A new keyset with one fresh random key."""
        key_id = secrets.token_hex(4)
        return cls({key_id: secrets.token_bytes(KEY_BYTES)}, key_id)

    def rotate(self) -> Keyset:
        """A keyset whose primary is a new key; every old key still decrypts and verifies."""
        key_id = secrets.token_hex(4)
        while key_id in self._material:
            key_id = secrets.token_hex(4)
        return Keyset({**self._material, key_id: secrets.token_bytes(KEY_BYTES)}, key_id)

    def retire(self, key_id: str) -> Keyset:
        """A keyset without ``key_id``: what it made no longer restores. The primary stays."""
        if key_id == self._primary:
            raise KeysetError("the primary key cannot be retired; rotate first")
        if key_id not in self._material:
            raise KeysetError(f"no key {_shown(key_id)} in the keyset")
        return Keyset({k: m for k, m in self._material.items() if k != key_id}, self._primary)

    # -- serialization ------------------------------------------------------

    def to_json(self) -> str:
        """The keyset as JSON, key material included: treat the result as a secret."""
        keys = [
            {"id": key_id, "material": base64.b64encode(material).decode("ascii")}
            for key_id, material in self._material.items()
        ]
        return json.dumps({"version": _FORMAT_VERSION, "primary": self._primary, "keys": keys})

    @classmethod
    def from_json(cls, text: str | bytes) -> Keyset:
        """Parse the JSON form. Malformed input raises ``KeysetError`` that quotes none of it."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            # from None: the decode error keeps the whole document, material included.
            raise KeysetError(
                f"keyset is not valid JSON (line {exc.lineno}, column {exc.colno})"
            ) from None
        except (UnicodeDecodeError, TypeError):
            raise KeysetError("keyset is not JSON text") from None
        except RecursionError:
            raise KeysetError("keyset is nested too deeply to be a keyset") from None
        return cls._from_document(document)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Keyset:
        """Read the JSON form from a file; refused if others may read or write it."""
        check_private(path, "keyset file", KeysetError)
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise KeysetError(
                f"cannot read keyset file {os.fspath(path)}: {exc.strerror}"
            ) from None
        return cls.from_json(text)

    @classmethod
    def from_env(cls, var: str = DEFAULT_KEYSET_ENV) -> Keyset:
        """Read the JSON form from an environment variable."""
        text = os.environ.get(var)
        if text is None:
            raise KeysetError(f"environment variable {var} is not set")
        return cls.from_json(text)

    @classmethod
    def _from_document(cls, document: Any) -> Keyset:
        def fail(message: str) -> NoReturn:
            raise KeysetError(f"keyset: {message}")

        if not isinstance(document, dict):
            fail("expected a JSON object")
        unknown = set(document) - {"version", "primary", "keys"}
        if unknown:
            fail(f"unknown fields {sorted(unknown)}")
        if document.get("version") != _FORMAT_VERSION:
            fail(f"'version' must be {_FORMAT_VERSION}")
        primary = document.get("primary")
        entries = document.get("keys")
        if not isinstance(primary, str):
            fail("'primary' must be a key id")
        if not isinstance(entries, list) or not entries:
            fail("'keys' must be a non-empty list")
        keys: dict[str, bytes] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or set(entry) != {"id", "material"}:
                fail(f"keys[{index}] must have exactly 'id' and 'material'")
            key_id, encoded = entry["id"], entry["material"]
            if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
                fail(f"keys[{index}].id must be 8 lower-case hex characters")
            if key_id in keys:
                fail(f"keys[{index}].id repeats an earlier id")
            try:
                material = base64.b64decode(encoded, validate=True)
            except (binascii.Error, TypeError, ValueError):
                fail(f"keys[{index}].material is not base64")
            if len(material) != KEY_BYTES:
                fail(f"keys[{index}].material must decode to {KEY_BYTES} bytes")
            keys[key_id] = material
        if primary not in keys:
            fail("'primary' names no key in 'keys'")
        return cls(keys, primary)

    # -- use ----------------------------------------------------------------

    @property
    def primary_id(self) -> str:
        """The id of the key new data is made under."""
        return self._primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, oldest first."""
        return tuple(self._material)

    def derive(self, purpose: Purpose, key_id: str | None = None) -> bytes:
        """Low layer: the ``purpose`` key derived from ``key_id`` (default: the primary).

        The bytes are secret: never log or send them. An unknown id raises
        ``KeysetError``; callers that decrypt untrusted input check
        ``key_id in keyset.key_ids`` first so that they can fail opaquely.
        """
        chosen = self._primary if key_id is None else key_id
        try:
            return self._derived[(chosen, purpose)]
        except KeyError:
            raise KeysetError(f"no key {_shown(chosen)} in the keyset") from None

    # -- safety -------------------------------------------------------------

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Keyset is immutable")

    def __repr__(self) -> str:
        return f"Keyset(primary={self._primary!r}, key_ids={self.key_ids!r})"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a Keyset does not pickle; use to_json() where a copy must be stored")

    def __copy__(self) -> Keyset:
        return self  # immutable: a copy is the same object

    def __deepcopy__(self, memo: object) -> Keyset:
        return self
