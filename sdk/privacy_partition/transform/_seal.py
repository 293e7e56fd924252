"""Seal: encrypt a value with HPKE (RFC 9180) to one named recipient, for one request.

The cloud model sees only a handle such as ``<CREDIT_CARD_1>``; the value
travels beside the prompt as a ``SealedValue`` that only the holder of the
recipient's private key (a payment or booking tool) can open. HPKE's
``info`` binds the request id, the handle, the recipient's name and key id,
a fresh 16-byte nonce and the time of sealing: a sealed value moved to
another request or handle, relabelled to another recipient or key, or with
its nonce or time altered fails to open. The nonce and time let the gateway
open each sealed value once (its replay cache). The byte layout is specified
in ``docs/sealing.md``, with test vectors. Every failure to open is the same
opaque ``RestoreError``.

Suites: DHKEM(X25519, HKDF-SHA256) or the post-quantum hybrid
ML-KEM-768 + X25519, each with HKDF-SHA256 and AES-256-GCM; the suite
follows the recipient's key type. HPKE mode base, single-shot, empty AAD.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import x25519

from privacy_partition._errors import ConfigurationError, RestoreError

__all__ = [
    "NONCE_BYTES",
    "PrivateKey",
    "PublicKey",
    "Recipient",
    "SealedValue",
    "open_sealed",
    "seal",
    "seal_info",
]

PublicKey = x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey
PrivateKey = x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey

NONCE_BYTES = 16
"""Bytes of the fresh random nonce every sealed value carries."""

_INFO_VERSION = b"privacy-partition/seal/v2"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_MAX_FIELD_BYTES = 0xFFFF
_X25519 = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_HYBRID = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a ``seal`` action seals to: a name the policy uses, a key id and a public key.

    ``name`` and ``key_id``: 1 to 64 characters of ``[A-Za-z0-9._:-]``.
    """

    name: str
    key_id: str
    public_key: PublicKey = field(repr=False)

    def __post_init__(self) -> None:
        for what, text in (("name", self.name), ("key_id", self.key_id)):
            if not isinstance(text, str) or not _NAME.fullmatch(text):
                raise ConfigurationError(
                    f"recipient {what} must be 1 to 64 characters of letters, digits, '._:-'"
                )
        if not isinstance(self.public_key, x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey):
            raise ConfigurationError(
                f"recipient {self.name}: the public key must be X25519 or ML-KEM-768+X25519"
            )


@dataclass(frozen=True, slots=True)
class SealedValue:
    """A value sealed to one recipient for one request, sent beside the prompt under ``handle``.

    ``enc`` is the HPKE encapsulated key, ``ciphertext`` the AEAD output,
    ``nonce`` 16 random bytes drawn for this value, ``sealed_at`` the Unix
    time in seconds when it was sealed. ``request_id`` is not sent with the
    value: it is the id of the request that carries it, and the gateway opens
    the value under that id. The ``repr`` shows byte lengths only.
    """

    handle: str
    recipient: str
    key_id: str
    enc: bytes
    ciphertext: bytes
    nonce: bytes
    sealed_at: int
    request_id: str

    def __repr__(self) -> str:
        return (
            f"SealedValue(handle={self.handle!r}, recipient={self.recipient!r},"
            f" key_id={self.key_id!r}, request_id={self.request_id!r},"
            f" enc=<{len(self.enc)} bytes>, ciphertext=<{len(self.ciphertext)} bytes>,"
            f" nonce=<{len(self.nonce)} bytes>, sealed_at={self.sealed_at})"
        )


def _field(data: bytes) -> bytes:
    if len(data) > _MAX_FIELD_BYTES:
        raise RestoreError
    return len(data).to_bytes(2, "big") + data


def seal_info(
    request_id: str, handle: str, recipient: str, key_id: str, nonce: bytes, sealed_at: int
) -> bytes:
    """The HPKE ``info`` of a sealed value (layout in ``docs/sealing.md``).

    ``"privacy-partition/seal/v2"``, then request id, handle, recipient name,
    key id (UTF-8) and nonce, each prefixed by its length in 2 bytes big-endian,
    then ``sealed_at`` in 8 bytes big-endian. Length prefixes make the map
    from fields to bytes one-to-one.
    """
    if not 0 <= sealed_at < 1 << 64:
        raise RestoreError
    parts = [_INFO_VERSION]
    for text in (request_id, handle, recipient, key_id):
        parts.append(_field(text.encode("utf-8")))
    parts.append(_field(nonce))
    parts.append(sealed_at.to_bytes(8, "big"))
    return b"".join(parts)


def _suite(key: PublicKey | PrivateKey) -> tuple[hpke.Suite, int]:
    if isinstance(key, x25519.X25519PublicKey | x25519.X25519PrivateKey):
        return _X25519, hpke.KEM.X25519.enc_length()
    return _HYBRID, hpke.KEM.MLKEM768_X25519.enc_length()


def seal(recipient: Recipient, handle: str, value: str, *, request_id: str) -> SealedValue:
    """Seal ``value`` to ``recipient`` under ``handle`` for request ``request_id``.

    Fresh randomness on every call (HPKE's ephemeral key and the nonce), so
    sealing the same value twice gives two sealed values, each opening once.
    """
    suite, enc_length = _suite(recipient.public_key)
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed_at = int(time.time())
    info = seal_info(request_id, handle, recipient.name, recipient.key_id, nonce, sealed_at)
    # The suite returns enc || ciphertext (the single-shot API of RFC 9180).
    out = suite.encrypt(value.encode("utf-8", "surrogatepass"), recipient.public_key, info=info)
    return SealedValue(
        handle,
        recipient.name,
        recipient.key_id,
        out[:enc_length],
        out[enc_length:],
        nonce,
        sealed_at,
        request_id,
    )


def open_sealed(sealed: SealedValue, private_key: PrivateKey) -> str:
    """The value inside ``sealed``, for the recipient that holds ``private_key``.

    Opens under ``sealed.request_id``: a gateway sets it to the id of the
    request the value arrived in. Raises ``RestoreError`` on any failure
    (wrong key, another request or handle, altered or relabelled value) and
    says nothing about which. Opening has no memory: refusing a second
    opening is the replay cache's job (``privacy_partition.cloud``).
    """
    try:
        suite, enc_length = _suite(private_key)
        if len(sealed.enc) != enc_length or len(sealed.nonce) != NONCE_BYTES:
            raise RestoreError
        info = seal_info(
            sealed.request_id,
            sealed.handle,
            sealed.recipient,
            sealed.key_id,
            sealed.nonce,
            sealed.sealed_at,
        )
        plaintext = suite.decrypt(sealed.enc + sealed.ciphertext, private_key, info=info)
        return plaintext.decode("utf-8", "surrogatepass")
    except RestoreError:
        raise
    except Exception:
        # Any failure, typed or not, is the same answer: no oracle.
        raise RestoreError from None
