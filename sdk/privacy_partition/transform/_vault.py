"""The vault: what each handle and pseudonym stands for, kept on the device.

A vault maps every handle (``<PERSON_1>``) and surrogate it issued back to
the original value, and each (type, value) to the handle or surrogate it got,
so a value keeps one name for the vault's lifetime: one request
(``Vault.request()``) or a whole conversation (``Vault.session()``). It also
remembers the texts it has seen, so a new handle never takes a number that a
text already shows, and a surrogate never appears in, nor equals, anything a
user wrote.

Guarantees: thread-safe (one lock); never serialized onto the wire (pickling
or copying raises ``TypeError``; ``repr`` shows counts only); optional
persistence for multi-turn apps, encrypted with AES-256-GCM under the
keyset's vault key, whose id is written in the file (``save`` / ``load``).
A file that was altered, truncated or made under a key the keyset lacks
fails to load with the opaque ``RestoreError``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy_partition._errors import RestoreError
from privacy_partition.transform._formats import format_handle, handles_in
from privacy_partition.transform._keys import Keyset, Purpose
from privacy_partition.transform._pseudonyms import fold

__all__ = ["Vault", "VaultScope", "VaultView"]

_MAGIC = b"PPVAULT1"
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12

# Shorter originals ("Al") occur inside too many surrogates to be refused there.
_MIN_ORIGINAL_CHARS = 3


_WORD = re.compile(rf"\w{{{_MIN_ORIGINAL_CHARS},}}")


def _words(folded: str) -> set[str]:
    """The words of a folded text that a surrogate may not share with it."""
    return set(_WORD.findall(folded))


class VaultScope(StrEnum):
    """How long a vault lives: one request, or a conversation of many."""

    REQUEST = "request"
    SESSION = "session"


class VaultView:
    """An immutable snapshot of what a vault can restore. ``repr`` shows counts only."""

    __slots__ = ("handles", "pseudonyms", "tokens")

    def __init__(
        self,
        handles: Mapping[str, str],
        pseudonyms: tuple[tuple[str, str], ...],
        tokens: frozenset[str],
    ) -> None:
        self.handles = handles  # handle -> original
        self.pseudonyms = pseudonyms  # (surrogate, original)
        self.tokens = tokens  # tokens this vault issued (for TokenScope.VAULT)

    def __repr__(self) -> str:
        return (
            f"VaultView(handles={len(self.handles)}, pseudonyms={len(self.pseudonyms)},"
            f" tokens={len(self.tokens)})"
        )

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a VaultView holds the originals and is not serializable")

    def __copy__(self) -> VaultView:
        return self  # immutable: a copy is the same object

    def __deepcopy__(self, memo: object) -> VaultView:
        return self


class Vault:
    """Handle → original map of one request or session. Thread-safe; stays on the device."""

    __slots__ = (
        "_by_handle",
        "_by_surrogate",
        "_handle_of",
        "_last_number",
        "_lock",
        "_reserved",
        "_scope",
        "_seen",
        "_seen_words",
        "_surrogate_of",
        "_tokens",
        "_view",
    )

    def __init__(self, scope: VaultScope = VaultScope.SESSION) -> None:
        self._scope = VaultScope(scope)
        self._lock = threading.Lock()
        self._by_handle: dict[str, str] = {}
        self._handle_of: dict[tuple[str, str], str] = {}
        self._by_surrogate: dict[str, str] = {}
        self._surrogate_of: dict[tuple[str, str], str] = {}
        self._tokens: set[str] = set()
        self._last_number: dict[str, int] = {}
        self._reserved: dict[str, set[int]] = {}
        self._seen: list[str] = []  # folded texts, none contained in another
        self._seen_words: set[str] = set()  # their words of _MIN_ORIGINAL_CHARS or more
        self._view: VaultView | None = None

    @classmethod
    def session(cls) -> Vault:
        """A vault for a conversation: a value keeps its handle across turns."""
        return cls(VaultScope.SESSION)

    @classmethod
    def request(cls) -> Vault:
        """A vault for a single request."""
        return cls(VaultScope.REQUEST)

    @property
    def scope(self) -> VaultScope:
        return self._scope

    # -- used by the transformer and the restorer -----------------------------

    def observe(self, text: str) -> None:
        """Remember ``text``: its handles' numbers are never issued, surrogates avoid it."""
        found = handles_in(text)
        folded = fold(text)
        with self._lock:
            for label, number in found:
                self._reserved.setdefault(label, set()).add(number)
            # A conversation resends its history: keep only texts no other text contains.
            if not any(folded in seen for seen in self._seen):
                self._seen = [seen for seen in self._seen if seen not in folded]
                self._seen.append(folded)
                self._seen_words.update(_words(folded))

    def reserve(self, label: str, number: int) -> None:
        """Never issue ``<label_number>``: a model wrote it and meant something else."""
        with self._lock:
            self._reserved.setdefault(label, set()).add(number)

    def handle_for(self, label: str, original: str) -> str:
        """The handle of ``original`` as a ``label``: the one it has, or the next free number."""
        with self._lock:
            handle = self._handle_of.get((label, original))
            if handle is None:
                reserved = self._reserved.get(label, ())
                number = self._last_number.get(label, 0) + 1
                while number in reserved:
                    number += 1
                self._last_number[label] = number
                handle = format_handle(label, number)
                self._handle_of[(label, original)] = handle
                self._by_handle[handle] = original
                self._view = None
            return handle

    def pseudonym_for(
        self, label: str, original: str, candidates: Callable[[int], Iterable[str]]
    ) -> str | None:
        """The surrogate of ``original``: the one it has, or the first acceptable candidate.

        ``candidates(n)`` proposes surrogates for the vault's n-th pseudonym.
        A candidate is accepted when, case-insensitively, it appears in no
        text seen and shares no word with one ("Christopher Joseph" would carry
        the Joseph a prompt names, replaced or not), contains no original this
        vault replaces nor a word of one ("Johnson" would carry "John", "New
        Sandra" the "Andra" of "Andra Pradesh"), and neither
        contains nor is contained in another surrogate of this vault. None when
        every candidate is refused.
        """
        with self._lock:
            surrogate = self._surrogate_of.get((label, original))
            if surrogate is not None:
                return surrogate
            others = list(self._by_surrogate)
            originals = {fold(original), *(fold(o) for o in self._by_surrogate.values())}
            # The words of an original too: "New Sandra" would carry "Andra Pradesh".
            originals |= {word for o in list(originals) for word in _words(o)}
            for candidate in candidates(len(self._by_surrogate)):
                folded = fold(candidate)
                if any(folded in seen for seen in self._seen):
                    continue
                if not self._seen_words.isdisjoint(_words(folded)):
                    continue
                if any(o in folded for o in originals if len(o) >= _MIN_ORIGINAL_CHARS):
                    continue
                if any(folded in other or other in folded for other in others):
                    continue
                self._surrogate_of[(label, original)] = candidate
                self._by_surrogate[folded] = original
                self._view = None
                return candidate
            return None

    def record_token(self, token: str) -> None:
        """Remember a token this vault's requests carried (for ``TokenScope.VAULT``)."""
        with self._lock:
            if token not in self._tokens:
                self._tokens.add(token)
                self._view = None

    def view(self) -> VaultView:
        """An immutable snapshot of what can be restored now."""
        with self._lock:
            if self._view is None:
                self._view = VaultView(
                    dict(self._by_handle),
                    tuple(self._by_surrogate.items()),
                    frozenset(self._tokens),
                )
            return self._view

    # -- persistence --------------------------------------------------------

    def save(self, path: str | os.PathLike[str], keyset: Keyset) -> None:
        """Write the vault encrypted under ``keyset``'s primary vault key; atomic, mode 0600."""
        with self._lock:
            state = {
                "scope": self._scope.value,
                "handles": [
                    [label, original, handle]
                    for (label, original), handle in self._handle_of.items()
                ],
                "pseudonyms": [
                    [label, original, surrogate]
                    for (label, original), surrogate in self._surrogate_of.items()
                ],
                "tokens": sorted(self._tokens),
                "last": self._last_number,
                "reserved": {label: sorted(numbers) for label, numbers in self._reserved.items()},
                "seen": self._seen,
            }
            plaintext = json.dumps(state, ensure_ascii=False).encode("utf-8", "surrogatepass")
        key_id = keyset.primary_id.encode("ascii")
        header = _MAGIC + key_id
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = AESGCM(keyset.derive(Purpose.VAULT)).encrypt(nonce, plaintext, header)
        target = Path(path)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(header + nonce + ciphertext)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str], keyset: Keyset) -> Vault:
        """Read a vault written by ``save`` under any key still in ``keyset``.

        ``OSError`` if the file cannot be read; ``RestoreError`` (opaque) if
        it is not a vault, was altered, or its key is not in the keyset.
        """
        data = Path(path).read_bytes()
        header_len = len(_MAGIC) + _KEY_ID_BYTES
        header = data[:header_len]
        key_id = header[len(_MAGIC) :].decode("ascii", "replace")
        if len(data) < header_len + _NONCE_BYTES or not header.startswith(_MAGIC):
            raise RestoreError
        if key_id not in keyset.key_ids:
            raise RestoreError
        nonce = data[header_len : header_len + _NONCE_BYTES]
        try:
            plaintext = AESGCM(keyset.derive(Purpose.VAULT, key_id)).decrypt(
                nonce, data[header_len + _NONCE_BYTES :], header
            )
            return cls._from_state(json.loads(plaintext.decode("utf-8", "surrogatepass")))
        except (InvalidTag, ValueError, TypeError, KeyError, AttributeError):
            raise RestoreError from None

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> Vault:
        # The file authenticated, so a bad shape means a bug or another version: still opaque.
        vault = cls(VaultScope(state["scope"]))
        for label, original, handle in state["handles"]:
            vault._handle_of[(label, original)] = handle
            vault._by_handle[handle] = original
        for label, original, surrogate in state["pseudonyms"]:
            vault._surrogate_of[(label, original)] = surrogate
            vault._by_surrogate[fold(surrogate)] = original
        vault._tokens = set(state["tokens"])
        vault._last_number = {label: int(n) for label, n in state["last"].items()}
        vault._reserved = {label: set(ns) for label, ns in state["reserved"].items()}
        vault._seen = [str(text) for text in state["seen"]]
        vault._seen_words = {word for text in vault._seen for word in _words(text)}
        return vault

    # -- never leaves the device --------------------------------------------

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"Vault(scope={self._scope.value!r}, handles={len(self._by_handle)},"
                f" pseudonyms={len(self._by_surrogate)}, tokens={len(self._tokens)})"
            )

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("a Vault is not serializable; Vault.save() writes it encrypted")

    def __copy__(self) -> NoReturn:
        raise TypeError("a Vault cannot be copied: one value, one handle, one vault")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("a Vault cannot be copied: one value, one handle, one vault")
