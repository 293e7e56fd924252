"""Seal: encrypt a value with HPKE (RFC 9180) to one named recipient.

The cloud model sees only a handle such as ``<CREDIT_CARD_1>``; the value
travels beside the prompt as a ``SealedValue`` that only the holder of the
recipient's private key (a payment or booking tool) can open. HPKE's
``info`` binds the handle, the recipient's name and its key id, so a sealed
value relabelled to another handle or recipient fails to open. Every
failure to open is the same opaque ``RestoreError``.

Suites: DHKEM(X25519, HKDF-SHA256) or the post-quantum hybrid
ML-KEM-768 + X25519, each with HKDF-SHA256 and AES-256-GCM; the suite
follows the recipient's key type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import x25519

from privacy_partition._errors import ConfigurationError, RestoreError

__all__ = ["PrivateKey", "PublicKey", "Recipient", "SealedValue", "open_sealed", "seal"]

PublicKey = x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey
PrivateKey = x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey

_INFO_VERSION = b"privacy-partition/seal/v1"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
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
    """A value sealed to one recipient, sent beside the prompt under its ``handle``.

    ``enc`` is the HPKE encapsulated key, ``ciphertext`` the AEAD output.
    The ``repr`` shows their lengths only.
    """

    handle: str
    recipient: str
    key_id: str
    enc: bytes
    ciphertext: bytes

    def __repr__(self) -> str:
        return (
            f"SealedValue(handle={self.handle!r}, recipient={self.recipient!r},"
            f" key_id={self.key_id!r}, enc=<{len(self.enc)} bytes>,"
            f" ciphertext=<{len(self.ciphertext)} bytes>)"
        )


def _info(handle: str, recipient: str, key_id: str) -> bytes:
    # Length-prefixed fields: no two (handle, recipient, key id) share an info string.
    parts = [_INFO_VERSION]
    for text in (handle, recipient, key_id):
        data = text.encode("utf-8")
        parts.append(len(data).to_bytes(2, "big") + data)
    return b"".join(parts)


def _suite(key: PublicKey | PrivateKey) -> tuple[hpke.Suite, int]:
    if isinstance(key, x25519.X25519PublicKey | x25519.X25519PrivateKey):
        return _X25519, hpke.KEM.X25519.enc_length()
    return _HYBRID, hpke.KEM.MLKEM768_X25519.enc_length()


def seal(recipient: Recipient, handle: str, value: str) -> SealedValue:
    """Seal ``value`` to ``recipient`` under ``handle``. Fresh randomness on every call."""
    suite, enc_length = _suite(recipient.public_key)
    info = _info(handle, recipient.name, recipient.key_id)
    # The suite returns enc || ciphertext (the single-shot API of RFC 9180).
    out = suite.encrypt(value.encode("utf-8", "surrogatepass"), recipient.public_key, info=info)
    return SealedValue(handle, recipient.name, recipient.key_id, out[:enc_length], out[enc_length:])


def open_sealed(sealed: SealedValue, private_key: PrivateKey) -> str:
    """The value inside ``sealed``, for the recipient that holds ``private_key``.

    Raises ``RestoreError`` on any failure (wrong key, altered or relabelled
    value) and says nothing about which.
    """
    try:
        suite, enc_length = _suite(private_key)
        if len(sealed.enc) != enc_length:
            raise RestoreError
        info = _info(sealed.handle, sealed.recipient, sealed.key_id)
        plaintext = suite.decrypt(sealed.enc + sealed.ciphertext, private_key, info=info)
        return plaintext.decode("utf-8", "surrogatepass")
    except RestoreError:
        raise
    except Exception:
        # Any failure, typed or not, is the same answer: no oracle.
        raise RestoreError from None
