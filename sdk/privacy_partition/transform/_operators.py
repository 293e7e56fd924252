"""The two one-way operators: mask and hash. Neither can be restored.

``mask`` reveals at most the last four letters or digits of a value and
never its length or layout: ``4111 1111 1111 1111`` becomes ``****1111``
(values with fewer than eight letters and digits become ``****``). Dropping
separators is deliberate: kept spaces and dashes would give away the format
and length, which for short identifiers narrows the value down.

``hash`` gives a keyed HMAC-SHA256 digest, typed and truncated to 48 bits:
``<PERSON#a1b2c3d4e5f6>``. Equal values of one type give equal digests under
one key (joinable), and without the key a digest cannot be brute-forced even
for small value spaces such as phone numbers. Digests change when the primary
key rotates, and the type is part of the MAC input, so equal values of two
types do not join.
"""

from __future__ import annotations

import hashlib
import hmac

from privacy_partition.transform._formats import format_digest
from privacy_partition.transform._keys import Keyset, Purpose

__all__ = ["MASK_MIN_ALNUM", "Digester", "mask"]

MASK_MIN_ALNUM = 8
_MASK_KEEP = 4
_MASK = "****"
_DIGEST_HEX = 12


def mask(value: str) -> str:
    """``****`` plus the last four letters or digits when the value has at least eight."""
    alnum = [c for c in value if c.isalnum()]
    if len(alnum) < MASK_MIN_ALNUM:
        return _MASK
    return _MASK + "".join(alnum[-_MASK_KEEP:])


class Digester:
    """Typed HMAC-SHA256 digests under the keyset's primary hash key. Immutable, thread-safe."""

    __slots__ = ("_key",)

    def __init__(self, keyset: Keyset) -> None:
        self._key = keyset.derive(Purpose.HASH)

    def digest(self, label: str, value: str) -> str:
        message = label.encode("ascii") + b"\x00" + value.encode("utf-8", "surrogatepass")
        hex_digest = hmac.new(self._key, message, hashlib.sha256).hexdigest()[:_DIGEST_HEX]
        return format_digest(label, hex_digest)
