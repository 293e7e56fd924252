"""The values of the cloud contract, as the SDK sees them, and their wire forms.

Plain frozen dataclasses on the Python side; ``gateway_pb2`` messages on the
wire. Conversion lives here and only here, in both directions, so that no
other module touches generated code for messages.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from privacy_partition._errors import ConfigurationError
from privacy_partition.cloud._pb import gateway_pb2 as pb
from privacy_partition.transform import Recipient, SealedValue

__all__ = [
    "Answer",
    "ChatMessage",
    "Chunk",
    "Delivery",
    "FinishReason",
    "GenerationOptions",
    "Role",
    "Usage",
    "key_id_for",
]


class Role(StrEnum):
    """Who wrote a chat turn."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class FinishReason(StrEnum):
    """Why generation stopped."""

    STOP = "stop"
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"


_ROLE_TO_PB = {
    Role.SYSTEM: pb.ROLE_SYSTEM,
    Role.USER: pb.ROLE_USER,
    Role.ASSISTANT: pb.ROLE_ASSISTANT,
}
_ROLE_FROM_PB = {wire: role for role, wire in _ROLE_TO_PB.items()}
_FINISH_TO_PB = {
    FinishReason.STOP: pb.FINISH_REASON_STOP,
    FinishReason.LENGTH: pb.FINISH_REASON_LENGTH,
    FinishReason.CONTENT_FILTER: pb.FINISH_REASON_CONTENT_FILTER,
}
_FINISH_FROM_PB = {wire: reason for reason, wire in _FINISH_TO_PB.items()}


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat turn, already transformed: handles in place of personal values."""

    role: Role
    content: str = field(repr=False)

    def to_pb(self) -> pb.ChatMessage:
        return pb.ChatMessage(role=_ROLE_TO_PB[Role(self.role)], content=self.content)

    @classmethod
    def from_pb(cls, message: pb.ChatMessage) -> ChatMessage | None:
        """The turn, or None when its role is unspecified or unknown."""
        role = _ROLE_FROM_PB.get(message.role)
        return None if role is None else cls(role, message.content)


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """How to generate; None or 0 leaves a setting to the gateway."""

    max_tokens: int = 0
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def to_pb(self) -> pb.GenerationOptions:
        message = pb.GenerationOptions(max_tokens=self.max_tokens, stop=list(self.stop))
        if self.temperature is not None:
            message.temperature = self.temperature
        if self.top_p is not None:
            message.top_p = self.top_p
        if self.seed is not None:
            message.seed = self.seed
        return message

    @classmethod
    def from_pb(cls, message: pb.GenerationOptions) -> GenerationOptions:
        # The wire holds float32: 0.9 arrives as 0.8999999761581421. Six decimals give back
        # the value the client wrote (float32 keeps about seven digits).
        return cls(
            max_tokens=message.max_tokens,
            temperature=round(message.temperature, 6) if message.HasField("temperature") else None,
            top_p=round(message.top_p, 6) if message.HasField("top_p") else None,
            stop=tuple(message.stop),
            seed=message.seed if message.HasField("seed") else None,
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the upstream reports them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """A sealed value its recipient opened: names only, never the value."""

    handle: str
    recipient: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer: text with handles as the model wrote them (restore it on the device)."""

    request_id: str
    text: str = field(repr=False)
    finish_reason: FinishReason
    usage: Usage
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a streamed answer; the last one carries ``finish_reason`` and ``usage``."""

    request_id: str
    index: int
    text: str = field(repr=False)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    deliveries: tuple[Delivery, ...] = ()


# -- wire conversions used by client and server ------------------------------


def sealed_to_pb(value: SealedValue) -> pb.SealedValue:
    """The wire form; ``request_id`` travels once, in the request that carries the value."""
    return pb.SealedValue(
        handle=value.handle,
        recipient=value.recipient,
        key_id=value.key_id,
        enc=value.enc,
        ciphertext=value.ciphertext,
        nonce=value.nonce,
        sealed_at=value.sealed_at,
    )


def sealed_from_pb(message: pb.SealedValue, request_id: str) -> SealedValue:
    """The sealed value as it arrived in the request ``request_id``: it opens only under that id."""
    return SealedValue(
        message.handle,
        message.recipient,
        message.key_id,
        message.enc,
        message.ciphertext,
        message.nonce,
        message.sealed_at,
        request_id,
    )


def usage_to_pb(usage: Usage) -> pb.Usage:
    return pb.Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)


def usage_from_pb(message: pb.Usage) -> Usage:
    return Usage(message.prompt_tokens, message.completion_tokens)


def finish_to_pb(reason: FinishReason) -> pb.FinishReason:
    return _FINISH_TO_PB[reason]


def finish_from_pb(wire: pb.FinishReason) -> FinishReason | None:
    return _FINISH_FROM_PB.get(wire)


def deliveries_from_pb(messages: list[pb.Delivery]) -> tuple[Delivery, ...]:
    return tuple(Delivery(m.handle, m.recipient) for m in messages)


def answer_from_pb(message: pb.GenerateResponse) -> Answer:
    return Answer(
        request_id=message.request_id,
        text=message.text,
        finish_reason=finish_from_pb(message.finish_reason) or FinishReason.STOP,
        usage=usage_from_pb(message.usage),
        deliveries=deliveries_from_pb(list(message.deliveries)),
    )


def chunk_from_pb(message: pb.GenerateChunk) -> Chunk:
    last = message.finish_reason != pb.FINISH_REASON_UNSPECIFIED
    return Chunk(
        request_id=message.request_id,
        index=message.index,
        text=message.text,
        finish_reason=finish_from_pb(message.finish_reason) if last else None,
        usage=usage_from_pb(message.usage) if last else None,
        deliveries=deliveries_from_pb(list(message.deliveries)),
    )


def key_id_for(public_key: x25519.X25519PublicKey) -> str:
    """The key id of an X25519 public key: the first 8 hex digits of SHA-256 of its raw bytes.

    The same id ``privacy_partition._sanitize.load_recipients`` gives a PEM key file.
    """
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:8]


def recipient_to_pb(recipient: Recipient) -> pb.RecipientKey:
    key = recipient.public_key
    if not isinstance(key, x25519.X25519PublicKey):
        raise ConfigurationError(
            f"recipient {recipient.name}: only X25519 keys are published for now"
        )
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return pb.RecipientKey(
        name=recipient.name,
        key_id=recipient.key_id,
        suite=pb.HPKE_SUITE_X25519_HKDF_SHA256_AES_256_GCM,
        public_key=raw,
    )


def recipient_from_pb(message: pb.RecipientKey) -> Recipient:
    """A ``Recipient`` to seal to; raises ``ConfigurationError`` for an unusable key."""
    if message.suite != pb.HPKE_SUITE_X25519_HKDF_SHA256_AES_256_GCM:
        raise ConfigurationError(f"recipient {message.name!r}: unsupported HPKE suite")
    try:
        key = x25519.X25519PublicKey.from_public_bytes(message.public_key)
    except ValueError:
        raise ConfigurationError(f"recipient {message.name!r}: malformed public key") from None
    return Recipient(message.name, message.key_id, key)
