"""Sealed values bound to their request: the format, its test vectors, and the attacks on it.

The vectors in ``docs/sealing-vectors.json`` are checked three ways: the
implementation builds the same ``info`` bytes; an independent RFC 9180
encryption written here from primitives (X25519, HKDF, AES-GCM), with the
vector's fixed ephemeral key, gives exactly the vector's ``enc`` and
``ciphertext``; the implementation opens them. The ``cryptography`` HPKE
API draws its ephemeral key itself, so the implementation's own sealing is
checked by opening it with the independent code.

The attacks (from issue 13) run against a real gateway on loopback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from privacy_partition import PrivacyClient
from privacy_partition._actions import Action, FindingAction
from privacy_partition._errors import RestoreError
from privacy_partition.cloud import (
    BackgroundGateway,
    Delivery,
    EchoUpstream,
    GatewayClient,
    GatewayServer,
    HostedRecipient,
    RequestRejected,
    ServerLimits,
)
from privacy_partition.cloud._recipients import ReplayCache, add_key_to_file, load_key_files
from privacy_partition.cloud._types import key_id_for
from privacy_partition.detection import Analyzer, Finding
from privacy_partition.transform import Keyset, SealedValue, Transformer, Vault, _seal, open_sealed
from test_cloud_support import free_port

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "docs" / "sealing-vectors.json"
PHONE = "+1 415 555 0100"
TEXT = f"Call {PHONE} to confirm."
ACTION = FindingAction(
    Finding("PHONE_NUMBER", 5, 5 + len(PHONE), 0.9, "test", "en"), Action.SEAL, "booking"
)
REFUSED = "sealed[0] does not open"


# -- an independent RFC 9180 base-mode seal, from primitives -------------------

_KEM_ID, _KDF_ID, _AEAD_ID = 0x0020, 0x0001, 0x0002  # DHKEM(X25519, HKDF-SHA256), AES-256-GCM


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled = length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info
    return HKDFExpand(hashes.SHA256(), length, labeled).derive(prk)


def _raw(key: x25519.X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _schedule(shared_secret: bytes, info: bytes) -> tuple[bytes, bytes]:
    suite = b"HPKE" + b"".join(i.to_bytes(2, "big") for i in (_KEM_ID, _KDF_ID, _AEAD_ID))
    context = (
        b"\x00"
        + _labeled_extract(suite, b"", b"psk_id_hash", b"")
        + _labeled_extract(suite, b"", b"info_hash", info)
    )
    secret = _labeled_extract(suite, shared_secret, b"secret", b"")
    key = _labeled_expand(suite, secret, b"key", context, 32)
    return key, _labeled_expand(suite, secret, b"base_nonce", context, 12)


def _shared_secret(dh: bytes, enc: bytes, pk_r: bytes) -> bytes:
    kem = b"KEM" + _KEM_ID.to_bytes(2, "big")
    prk = _labeled_extract(kem, b"", b"eae_prk", dh)
    return _labeled_expand(kem, prk, b"shared_secret", enc + pk_r, 32)


def reference_seal(
    sk_e: x25519.X25519PrivateKey, pk_r: x25519.X25519PublicKey, info: bytes, plaintext: bytes
) -> dict[str, bytes]:
    """RFC 9180 SealBase with a given ephemeral key: enc, ciphertext and the key schedule."""
    enc = _raw(sk_e.public_key())
    shared = _shared_secret(sk_e.exchange(pk_r), enc, _raw(pk_r))
    key, base_nonce = _schedule(shared, info)
    ciphertext = AESGCM(key).encrypt(base_nonce, plaintext, b"")
    return {
        "shared_secret": shared,
        "key": key,
        "base_nonce": base_nonce,
        "enc": enc,
        "ciphertext": ciphertext,
    }


def reference_open(
    sk_r: x25519.X25519PrivateKey, enc: bytes, info: bytes, ciphertext: bytes
) -> bytes:
    pk_e = x25519.X25519PublicKey.from_public_bytes(enc)
    shared = _shared_secret(sk_r.exchange(pk_e), enc, _raw(sk_r.public_key()))
    key, base_nonce = _schedule(shared, info)
    return AESGCM(key).decrypt(base_nonce, ciphertext, b"")


# -- the vectors ----------------------------------------------------------------


def _public_test_key(label: str) -> x25519.X25519PrivateKey:
    # PUBLIC TEST KEYS, derived from a published label: never use them for anything else.
    return x25519.X25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


_CASES: list[dict[str, Any]] = [
    {
        "name": "phone number",
        "request_id": "req-0001",
        "handle": "<PHONE_NUMBER_1>",
        "recipient": "booking",
        "nonce": bytes(range(16)),
        "sealed_at": 1_796_500_000,
        "plaintext": "+1 415 555 0100",
        "ephemeral": "privacy-partition sealing test vector ephemeral key 1",
    },
    {
        "name": "non-ASCII value, longest request id",
        "request_id": "r" * 63 + "9",
        "handle": "<PERSON_12>",
        "recipient": "payments.eu-1",
        "nonce": bytes.fromhex("ff" * 16),
        "sealed_at": 0,
        "plaintext": "Zoë 张伟 ✈",
        "ephemeral": "privacy-partition sealing test vector ephemeral key 2",
    },
    {
        "name": "empty value",
        "request_id": "a",
        "handle": "<CREDIT_CARD_3>",
        "recipient": "booking",
        "nonce": bytes.fromhex("00112233445566778899aabbccddeeff"),
        "sealed_at": (1 << 64) - 1,
        "plaintext": "",
        "ephemeral": "privacy-partition sealing test vector ephemeral key 3",
    },
]
_RECIPIENT_LABEL = "privacy-partition sealing test vector recipient key"


def build_vectors() -> dict[str, Any]:
    """The vectors file, computed from its fixed inputs with the independent code."""
    sk_r = _public_test_key(_RECIPIENT_LABEL)
    pk_r = sk_r.public_key()
    key_id = key_id_for(pk_r)
    vectors = []
    for case in _CASES:
        sk_e = _public_test_key(case["ephemeral"])
        info = _seal.seal_info(
            case["request_id"],
            case["handle"],
            case["recipient"],
            key_id,
            case["nonce"],
            case["sealed_at"],
        )
        plaintext = case["plaintext"].encode("utf-8")
        out = reference_seal(sk_e, pk_r, info, plaintext)
        vectors.append(
            {
                "name": case["name"],
                "request_id": case["request_id"],
                "handle": case["handle"],
                "recipient": case["recipient"],
                "key_id": key_id,
                "nonce": case["nonce"].hex(),
                "sealed_at": case["sealed_at"],
                "plaintext_utf8": plaintext.hex(),
                "skE": sk_e.private_bytes_raw().hex(),
                "pkE": out["enc"].hex(),
                "info": info.hex(),
                "shared_secret": out["shared_secret"].hex(),
                "key": out["key"].hex(),
                "base_nonce": out["base_nonce"].hex(),
                "enc": out["enc"].hex(),
                "ciphertext": out["ciphertext"].hex(),
            }
        )
    return {
        "description": "Test vectors for docs/sealing.md (privacy-partition/seal/v2).",
        "warning": "PUBLIC TEST KEYS: every private key here is published; never use them.",
        "suite": {"mode": 0, "kem_id": _KEM_ID, "kdf_id": _KDF_ID, "aead_id": _AEAD_ID},
        "skR": sk_r.private_bytes_raw().hex(),
        "pkR": _raw(pk_r).hex(),
        "vectors": vectors,
    }


def write_vectors() -> None:  # pragma: no cover - run by hand when the format changes
    VECTORS.write_text(json.dumps(build_vectors(), indent=2, ensure_ascii=False) + "\n")


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return data


def _sealed_of(vector: dict[str, Any]) -> SealedValue:
    return SealedValue(
        vector["handle"],
        vector["recipient"],
        vector["key_id"],
        bytes.fromhex(vector["enc"]),
        bytes.fromhex(vector["ciphertext"]),
        bytes.fromhex(vector["nonce"]),
        vector["sealed_at"],
        vector["request_id"],
    )


def test_the_vectors_file_is_exactly_what_its_inputs_give(vectors: dict[str, Any]) -> None:
    assert vectors == build_vectors(), "the format changed: update docs/sealing.md and the vectors"


def test_the_implementation_builds_the_vectors_info_and_opens_them(
    vectors: dict[str, Any],
) -> None:
    sk_r = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(vectors["skR"]))
    assert _raw(sk_r.public_key()).hex() == vectors["pkR"]
    for vector in vectors["vectors"]:
        info = _seal.seal_info(
            vector["request_id"],
            vector["handle"],
            vector["recipient"],
            vector["key_id"],
            bytes.fromhex(vector["nonce"]),
            vector["sealed_at"],
        )
        assert info.hex() == vector["info"]
        sk_e = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["skE"]))
        redone = reference_seal(
            sk_e, sk_r.public_key(), info, bytes.fromhex(vector["plaintext_utf8"])
        )
        assert redone["enc"].hex() == vector["enc"]
        assert redone["ciphertext"].hex() == vector["ciphertext"]
        opened = open_sealed(_sealed_of(vector), sk_r)
        assert opened.encode("utf-8").hex() == vector["plaintext_utf8"]


def test_the_implementation_seals_what_the_independent_code_opens(
    monkeypatch: pytest.MonkeyPatch, vectors: dict[str, Any]
) -> None:
    """With the nonce and clock fixed, only HPKE's ephemeral key is left to chance."""
    vector = vectors["vectors"][0]
    sk_r = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(vectors["skR"]))
    recipient = _seal.Recipient(vector["recipient"], vector["key_id"], sk_r.public_key())
    monkeypatch.setattr(_seal.secrets, "token_bytes", lambda n: bytes.fromhex(vector["nonce"]))
    monkeypatch.setattr(_seal, "time", SimpleNamespace(time=lambda: vector["sealed_at"] + 0.75))
    sealed = _seal.seal(recipient, vector["handle"], PHONE, request_id=vector["request_id"])
    assert (sealed.nonce.hex(), sealed.sealed_at) == (vector["nonce"], vector["sealed_at"])
    info = bytes.fromhex(vector["info"])
    assert reference_open(sk_r, sealed.enc, info, sealed.ciphertext) == PHONE.encode()


@pytest.mark.parametrize(
    "change",
    [
        {"request_id": "req-0002"},
        {"handle": "<PHONE_NUMBER_2>"},
        {"recipient": "payments"},
        {"key_id": "00000000"},
        {"nonce": bytes(16)},
        {"nonce": bytes(15)},
        {"sealed_at": 1_796_500_001},
        {"enc": bytes(32)},
        {"ciphertext": b"\x00" * 31},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_changed_field_fails_to_open_with_one_error(
    vectors: dict[str, Any], change: dict[str, Any]
) -> None:
    sk_r = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(vectors["skR"]))
    sealed = dataclasses.replace(_sealed_of(vectors["vectors"][0]), **change)
    with pytest.raises(RestoreError) as caught:
        open_sealed(sealed, sk_r)
    assert str(caught.value) == str(RestoreError())
    assert caught.value.__cause__ is None


# -- the replay cache -------------------------------------------------------------


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_replay_cache_admits_a_batch_whole_or_not_at_all() -> None:
    cache = ReplayCache(clock=_Clock(1000))
    assert cache.admit([("k", b"1" * 16, 1000), ("k", b"2" * 16, 1000)]) is None
    assert cache.admit([("k", b"3" * 16, 1000), ("k", b"1" * 16, 1000)]) == 1
    assert cache.admit([("k", b"3" * 16, 1000)]) is None  # the refused batch left no trace
    assert cache.admit([("k", b"4" * 16, 1000), ("k", b"4" * 16, 1000)]) == 1
    assert cache.admit([("other", b"1" * 16, 1000)]) is None  # pairs are (key id, nonce)
    assert len(cache) == 4


def test_replay_cache_bounds_time_and_entries() -> None:
    clock = _Clock(10_000)
    cache = ReplayCache(window_s=300, max_entries=3, clock=clock)
    assert cache.admit([("k", b"old", 10_000 - 301)]) == 0  # too old
    assert cache.admit([("k", b"new", 10_000 + 301)]) == 0  # too far ahead
    assert cache.admit([("k", bytes([n]), 10_000 + n) for n in range(3)]) is None
    # Full: the oldest is evicted and the floor rises to its time, so it never opens again.
    assert cache.admit([("k", b"x", 10_010)]) is None
    assert len(cache) == 3
    assert cache.admit([("k", bytes([0]), 10_000)]) == 0
    # Past the window the entries expire, and the window itself refuses them.
    clock.now = 10_000 + 320
    assert cache.admit([("k", b"y", 10_300)]) is None
    assert len(cache) == 1
    assert cache.admit([("k", b"x", 10_010)]) == 0


# -- the attacks, on a real gateway ------------------------------------------------


class _Hook:
    def __init__(self) -> None:
        self.deliveries: list[tuple[str, Delivery]] = []
        self.right: list[bool] = []

    def __call__(self, request_id: str, delivery: Delivery, value: str) -> None:
        self.deliveries.append((request_id, delivery))
        self.right.append(value == PHONE)  # a verdict, never the value


@pytest.fixture
def hook() -> _Hook:
    return _Hook()


@pytest.fixture
def echo() -> EchoUpstream:
    return EchoUpstream()


@pytest.fixture
def gateway(hook: _Hook, echo: EchoUpstream) -> Iterator[BackgroundGateway]:
    booking = HostedRecipient.generate("booking", on_open=hook)
    with BackgroundGateway(GatewayServer(echo, [booking])) as gateway:
        yield gateway


@pytest.fixture
def client(gateway: BackgroundGateway) -> Iterator[GatewayClient]:
    with GatewayClient(gateway.target, insecure=True, timeout_s=5.0) as client:
        yield client


def _sealed_for(client: GatewayClient, request_id: str) -> tuple[str, tuple[SealedValue, ...]]:
    transformer = Transformer(Keyset.generate(), client.recipients())
    done = transformer.apply(TEXT, [ACTION], Vault.request(), request_id=request_id)
    return done.cloud_text, done.sealed


def _refused(call: Callable[[], object]) -> str:
    with pytest.raises(RequestRejected) as caught:
        call()
    assert caught.value.code == "INVALID_ARGUMENT"
    assert PHONE not in str(caught.value)
    return str(caught.value)


def test_a_sealed_value_replayed_in_another_request_is_refused(
    client: GatewayClient, hook: _Hook, echo: EchoUpstream
) -> None:
    text, sealed = _sealed_for(client, "req-a")
    client.generate(text, sealed=sealed, request_id="req-a")
    assert hook.deliveries == [("req-a", Delivery("<PHONE_NUMBER_1>", "booking"))]
    assert hook.right == [True]
    calls = len(echo.seen)

    assert REFUSED in _refused(lambda: client.generate(text, sealed=sealed, request_id="req-b"))
    # The same request again (same id, same value): the replay cache refuses it.
    assert REFUSED in _refused(lambda: client.generate(text, sealed=sealed, request_id="req-a"))
    # Streams are checked the same way, before any chunk.
    assert REFUSED in _refused(lambda: list(client.stream(text, sealed=sealed, request_id="req-c")))
    assert len(hook.deliveries) == 1
    assert len(echo.seen) == calls  # the upstream was never called for a refused request


def test_the_same_sealed_value_twice_in_one_request_refuses_the_request_whole(
    client: GatewayClient, hook: _Hook, echo: EchoUpstream
) -> None:
    text, sealed = _sealed_for(client, "req-dup")
    for copies in (2, 64):
        message = _refused(
            lambda copies=copies: client.generate(
                text, sealed=sealed * copies, request_id="req-dup"
            )
        )
        assert "sealed[1] does not open" in message
    assert hook.deliveries == []
    assert not echo.seen
    # Nothing of a refused request is remembered: the value still opens, once.
    client.generate(text, sealed=sealed, request_id="req-dup")
    assert len(hook.deliveries) == 1
    _refused(lambda: client.generate(text, sealed=sealed, request_id="req-dup"))


def test_a_tampered_sealed_value_is_refused_with_the_same_error(
    client: GatewayClient, hook: _Hook
) -> None:
    text, sealed = _sealed_for(client, "req-t")
    (value,) = sealed
    text2 = text + " and <PHONE_NUMBER_2>"
    changes: list[dict[str, Any]] = [
        {"handle": "<PHONE_NUMBER_2>"},
        {"nonce": bytes(16)},
        {"sealed_at": value.sealed_at - 1},
        {"ciphertext": bytes(len(value.ciphertext))},
        {"enc": bytes(32)},
    ]
    messages = {
        _refused(
            lambda change=change: client.generate(
                text2, sealed=[dataclasses.replace(value, **change)], request_id="req-t"
            )
        )
        for change in changes
    }
    assert len(messages) == 1  # one error, whatever was changed: no oracle
    assert hook.deliveries == []
    client.generate(text, sealed=sealed, request_id="req-t")  # the untouched value still opens
    assert hook.right == [True]


def test_a_sealed_value_outside_the_time_window_is_refused(
    hook: _Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    booking = HostedRecipient.generate("booking", on_open=hook)
    limits = ServerLimits(replay_window_s=60)
    with (
        BackgroundGateway(GatewayServer(EchoUpstream(), [booking], limits=limits)) as gateway,
        GatewayClient(gateway.target, insecure=True, timeout_s=5.0) as client,
    ):
        monkeypatch.setattr(_seal, "time", SimpleNamespace(time=lambda: time.time() - 120))
        text, sealed = _sealed_for(client, "req-old")
        _refused(lambda: client.generate(text, sealed=sealed, request_id="req-old"))
    assert hook.deliveries == []


# -- persisted keys ------------------------------------------------------------------


def _serve(keys: Path | None, port: int, hook: _Hook) -> BackgroundGateway:
    recipients = (
        load_key_files(keys, on_open=hook)
        if keys is not None
        else [HostedRecipient.generate("booking", on_open=hook)]
    )
    return BackgroundGateway(GatewayServer(EchoUpstream(), recipients), f"127.0.0.1:{port}")


def test_a_restarted_gateway_with_persisted_keys_opens_what_clients_sealed_before(
    tmp_path: Path, hook: _Hook
) -> None:
    keys = tmp_path / "booking.json"
    add_key_to_file(keys, "booking")
    port = free_port()
    with GatewayClient(f"127.0.0.1:{port}", insecure=True, timeout_s=5.0) as client:
        with _serve(keys, port, hook):
            recipients = client.recipients()  # fetched once, before the restart
            transformer = Transformer(Keyset.generate(), recipients)
            done = transformer.apply(TEXT, [ACTION], Vault.request(), request_id="before")
            client.generate(done.cloud_text, sealed=done.sealed, request_id="before")
        with _serve(keys, port, hook):  # a restart, or another replica: same keys
            assert client.recipients() == recipients
            done = transformer.apply(TEXT, [ACTION], Vault.request(), request_id="after")
            client.generate(done.cloud_text, sealed=done.sealed, request_id="after")
        with _serve(None, port, hook):  # fresh keys: the old ones are gone
            done = transformer.apply(TEXT, [ACTION], Vault.request(), request_id="fresh")
            with pytest.raises(RequestRejected) as caught:
                client.generate(done.cloud_text, sealed=done.sealed, request_id="fresh")
            assert caught.value.code == "FAILED_PRECONDITION"
    assert [rid for rid, _ in hook.deliveries] == ["before", "after"]
    assert all(hook.right)


def test_a_rotated_key_file_publishes_the_new_key_and_still_opens_the_old(
    tmp_path: Path, hook: _Hook
) -> None:
    keys = tmp_path / "booking.json"
    first = add_key_to_file(keys, "booking")
    old = load_key_files(keys)[0].recipient
    second = add_key_to_file(keys, "booking")
    assert first != second
    (booking,) = load_key_files(tmp_path, on_open=hook)  # a folder of key files
    assert booking.recipient.key_id == second
    assert booking.key_ids == {first, second}
    with (
        BackgroundGateway(GatewayServer(EchoUpstream(), [booking])) as gateway,
        GatewayClient(gateway.target, insecure=True, timeout_s=5.0) as client,
    ):
        assert client.recipients()["booking"].key_id == second
        done = Transformer(Keyset.generate(), {"booking": old}).apply(
            TEXT, [ACTION], Vault.request(), request_id="old-key"
        )
        client.generate(done.cloud_text, sealed=done.sealed, request_id="old-key")
    assert hook.right == [True]


# -- the client fetches keys again once --------------------------------------------------

POLICY = """\
apiVersion: privacy-partition/v1
name: sealing
entities:
  default: {action: redact}
  PHONE_NUMBER: {action: seal, recipient: booking}
recipients:
  booking: {description: the booking tool; its key comes from the gateway}
routing:
  - {name: everything, route: cloud}
fallback: {cloud_unavailable: block}
"""


class _Count(grpc.aio.ServerInterceptor):
    """Counts calls by method name; with ``refuse``, answers every Generate FAILED_PRECONDITION."""

    def __init__(self, refuse: bool = False) -> None:
        self.calls: dict[str, int] = {}
        self.refuse = refuse

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        name = details.method.rsplit("/", 1)[-1]
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.refuse and name == "Generate":

            async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "stale key")

            return grpc.unary_unary_rpc_method_handler(refuse)
        return await continuation(details)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "sealing.yaml"
    path.write_text(textwrap.dedent(POLICY))
    return path


def _gateway_on(port: int, hook: _Hook, count: _Count) -> BackgroundGateway:
    booking = HostedRecipient.generate("booking", on_open=hook)
    server = GatewayServer(EchoUpstream(), [booking], interceptors=[count])
    return BackgroundGateway(server, f"127.0.0.1:{port}")


def test_failed_precondition_fetches_the_keys_again_and_retries_once(
    analyzer: Analyzer, policy_file: Path, hook: _Hook
) -> None:
    port = free_port()
    prompt = f"Please call {PHONE} to book."
    with PrivacyClient.from_policy(
        policy_file, gateway=f"127.0.0.1:{port}", analyzer=analyzer
    ) as client:
        first = _Count()
        with _gateway_on(port, hook, first):
            assert client.generate(prompt).text == prompt
        # Restarted with fresh keys: the client holds stale ones.
        second = _Count()
        with _gateway_on(port, hook, second):
            reply = client.generate(prompt)
            assert reply.text == prompt
            assert "".join(client.stream(prompt)) == prompt  # the new keys are kept
        assert second.calls == {"Generate": 2, "GetRecipients": 1, "GenerateStream": 1}
        # A gateway that refuses again: one retry only, then the error.
        third = _Count(refuse=True)
        with _gateway_on(port, hook, third):
            with pytest.raises(RequestRejected) as caught:
                client.generate(prompt)
            assert caught.value.code == "FAILED_PRECONDITION"
        assert third.calls == {"Generate": 2, "GetRecipients": 1}
    assert len(hook.deliveries) == 3
    assert all(hook.right)
    assert len({rid for rid, _ in hook.deliveries}) == 3


def test_the_async_client_fetches_the_keys_again_once_too(
    analyzer: Analyzer, policy_file: Path, hook: _Hook
) -> None:
    import asyncio

    from privacy_partition import AsyncPrivacyClient

    port = free_port()
    prompt = f"Please call {PHONE} to book."

    async def main() -> None:
        async with AsyncPrivacyClient.from_policy(
            policy_file, gateway=f"127.0.0.1:{port}", analyzer=analyzer
        ) as client:
            with _gateway_on(port, hook, _Count()):
                assert (await client.generate(prompt)).text == prompt
            count = _Count()
            with _gateway_on(port, hook, count):
                assert (await client.generate(prompt)).text == prompt
            assert count.calls == {"Generate": 2, "GetRecipients": 1}

    asyncio.run(main())
    assert len(hook.deliveries) == 2
    assert all(hook.right)
