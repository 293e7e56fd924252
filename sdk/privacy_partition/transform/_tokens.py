"""Tokenize: deterministic authenticated encryption (AES-SIV) of a value into its token.

Contract: deterministic (equal values of one type under one key and context
give equal tokens, so a cloud-side history stays consistent) and stateless
(any token that authenticates under a key of the keyset restores, no vault
needed). The associated data binds the format version, the entity label,
the key id and the configured *context*, so a token cannot be moved to
another type, key or context: it would fail authentication and stay as is.
Equal tokens reveal equal values to whoever sees them; that is the point of
the operator, and the reason ``redact`` is the default elsewhere.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from privacy_partition._errors import TransformError
from privacy_partition.transform._formats import MAX_TOKEN_VALUE_BYTES, format_token
from privacy_partition.transform._keys import Keyset, Purpose

__all__ = ["Tokenizer"]

_AD_VERSION = b"privacy-partition/token/v1"


class Tokenizer:
    """AES-SIV tokens under a keyset's tokenize keys. Immutable and thread-safe."""

    __slots__ = ("_ciphers", "_context", "_primary")

    def __init__(self, keyset: Keyset, context: str = "") -> None:
        self._primary = keyset.primary_id
        self._context = context.encode("utf-8")
        self._ciphers = {
            key_id: AESSIV(keyset.derive(Purpose.TOKENIZE, key_id)) for key_id in keyset.key_ids
        }

    def _associated(self, label: str, key_id: str) -> list[bytes]:
        return [_AD_VERSION, label.encode("ascii"), key_id.encode("ascii"), self._context]

    def tokenize(self, label: str, value: str) -> str:
        """The token of ``value`` as an entity of type ``label``, under the primary key."""
        # surrogatepass: any Python str round-trips, even one with lone surrogates.
        plaintext = value.encode("utf-8", "surrogatepass")
        if len(plaintext) > MAX_TOKEN_VALUE_BYTES:
            raise TransformError(
                f"a {label} value of {len(plaintext)} bytes is too long to tokenize"
                f" (at most {MAX_TOKEN_VALUE_BYTES})"
            )
        sealed = self._ciphers[self._primary].encrypt(
            plaintext, self._associated(label, self._primary)
        )
        data = base64.b32encode(sealed).decode("ascii").rstrip("=")
        return format_token(label, self._primary, data)

    def detokenize(self, label: str, key_id: str, data: str) -> str | None:
        """The value of a token's parts, or None unless it authenticates. Says nothing more."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            return None
        try:
            sealed = base64.b32decode(data + "=" * (-len(data) % 8))
            plaintext = cipher.decrypt(sealed, self._associated(label, key_id))
            return plaintext.decode("utf-8", "surrogatepass")
        except (binascii.Error, ValueError, InvalidTag):
            return None
