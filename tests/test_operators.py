"""Each operator on its own: mask, hash, tokenize, pseudonymize, seal."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.hpke import MLKEM768X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_partition._actions import Action
from privacy_partition._errors import ConfigurationError, RestoreError, TransformError
from privacy_partition.transform import (
    MAX_TOKEN_VALUE_BYTES,
    Keyset,
    Recipient,
    Restorer,
    SealedValue,
    Transformer,
    Vault,
    open_sealed,
)
from privacy_partition.transform._formats import match_digest
from privacy_partition.transform._operators import Digester, mask
from privacy_partition.transform._pseudonyms import fold, locale_for
from privacy_partition.transform._tokens import Tokenizer
from strategies import RECIPIENT, finding_action

KEYSET = Keyset.generate()
PRIVATE = x25519.X25519PrivateKey.generate()
RECIPIENTS = {RECIPIENT: Recipient(RECIPIENT, "pay-2025", PRIVATE.public_key())}
TRANSFORMER = Transformer(KEYSET, RECIPIENTS, faker_seed=11)


def one(text: str, entity: str, action: Action, vault: Vault | None = None) -> str:
    """The cloud text of ``text`` taken whole as one finding."""
    vault = vault or Vault.session()
    return TRANSFORMER.apply(text, [finding_action(entity, 0, len(text), action)], vault).cloud_text


# -- mask ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("4111 1111 1111 1111", "****1111"),
        ("4111-1111-1111-1234", "****1234"),
        ("john.doe@example.com", "****ecom"),
        ("AB12CD34", "****CD34"),
        ("1234567", "****"),
        ("张伟", "****"),
        ("-- --", "****"),
    ],
)
def test_mask_examples(value: str, masked: str) -> None:
    assert mask(value) == masked
    assert one(value, "CREDIT_CARD", Action.MASK) == masked


@given(st.text(min_size=1, max_size=60))
def test_mask_reveals_at_most_the_last_four_letters_or_digits(value: str) -> None:
    masked = mask(value)
    assert masked.startswith("****")
    shown = masked[4:]
    alnum = "".join(c for c in value if c.isalnum())
    assert len(shown) in (0, 4)
    assert shown == (alnum[-4:] if len(alnum) >= 8 else "")


# -- hash ---------------------------------------------------------------------


def test_hash_is_typed_keyed_deterministic_and_never_bare() -> None:
    digest = one("Ann Lee", "PERSON", Action.HASH)
    assert re.fullmatch(r"<PERSON#[0-9a-f]{12}>", digest)
    assert one("Ann Lee", "PERSON", Action.HASH) == digest  # joinable across sessions
    assert one("Ann Lee", "LOCATION", Action.HASH) != digest.replace("PERSON", "LOCATION")
    assert one("Ann Leo", "PERSON", Action.HASH) != digest
    other_key = Digester(Keyset.generate()).digest("PERSON", "Ann Lee")
    assert other_key != digest
    assert Digester(KEYSET.rotate()).digest("PERSON", "Ann Lee") != digest
    assert match_digest(f"x {digest} y", 2) == 2 + len(digest)  # the grammar reads it back
    assert match_digest(f"x {digest} y", 0) is None
    assert match_digest("<PERSON#>", 0) is None


def test_hash_and_mask_are_not_restored() -> None:
    vault = Vault.session()
    cloud = TRANSFORMER.apply(
        "Ann Lee 4111111111111111",
        [
            finding_action("PERSON", 0, 7, Action.HASH),
            finding_action("CREDIT_CARD", 8, 24, Action.MASK),
        ],
        vault,
    ).cloud_text
    assert Restorer(vault, KEYSET).restore(cloud) == cloud
    assert repr(vault) == "Vault(scope='session', handles=0, pseudonyms=0, tokens=0)"


# -- tokenize -----------------------------------------------------------------

_TOKEN = re.compile(r"<TOK:([A-Z0-9_]+):([0-9a-f]{8}):([A-Z2-7]+)>")


def test_token_format_is_ascii_without_spaces_and_carries_the_key_id() -> None:
    token = one("Ann Lee", "PERSON", Action.TOKENIZE)
    m = _TOKEN.fullmatch(token)
    assert m is not None
    assert m.group(1) == "PERSON"
    assert m.group(2) == KEYSET.primary_id
    assert token.isascii()
    assert " " not in token
    assert one("Ann Lee", "PERSON", Action.TOKENIZE) == token  # deterministic
    assert one("Ann Leo", "PERSON", Action.TOKENIZE) != token


def test_token_associated_data_binds_type_key_and_context() -> None:
    tokenizer = Tokenizer(KEYSET)
    token = tokenizer.tokenize("PERSON", "Ann Lee")
    m = _TOKEN.fullmatch(token)
    assert m is not None
    _, key_id, data = m.groups()
    assert tokenizer.detokenize("PERSON", key_id, data) == "Ann Lee"
    assert tokenizer.detokenize("LOCATION", key_id, data) is None  # moved to another type
    assert tokenizer.detokenize("PERSON", "ffffffff", data) is None  # unknown key
    assert Tokenizer(KEYSET, context="tenant-2").detokenize("PERSON", key_id, data) is None
    assert Tokenizer(KEYSET, context="t").tokenize("PERSON", "Ann Lee") != token
    assert tokenizer.detokenize("PERSON", key_id, data[:-1]) is None


def test_token_case_is_ignored_in_data_but_not_in_authentication() -> None:
    vault = Vault.request()
    token = one("Ann Lee", "PERSON", Action.TOKENIZE)
    prefix, data = token[:-1].rsplit(":", 1)
    assert Restorer(vault, KEYSET).restore(f"{prefix}:{data.lower()}>") == "Ann Lee"
    swapped = token.replace("<TOK:PERSON:", "<TOK:LOCATION:")
    assert Restorer(vault, KEYSET).restore(swapped) == swapped


def test_too_long_values_are_refused_without_quoting_them() -> None:
    value = "Q" * (MAX_TOKEN_VALUE_BYTES + 1)
    with pytest.raises(TransformError) as caught:
        one(value, "PERSON", Action.TOKENIZE)
    assert value[:20] not in str(caught.value)
    assert str(MAX_TOKEN_VALUE_BYTES + 1) in str(caught.value)
    assert one("Q" * MAX_TOKEN_VALUE_BYTES, "PERSON", Action.TOKENIZE).startswith("<TOK:")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=80), st.sampled_from(["PERSON", "US_SSN", "x-y"]))
def test_tokens_round_trip_for_any_value(value: str, entity: str) -> None:
    token = one(value, entity, Action.TOKENIZE)
    assert Restorer(Vault.request(), KEYSET).restore(token) == value


# -- pseudonymize -------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "value", "shape"),
    [
        ("PERSON", "Ann Lee", r"[A-Z][a-z]+ [A-Z][a-z'-]+.*"),
        ("EMAIL_ADDRESS", "ann@acme.com", r"[^@\s]+@example\.(com|net|org)"),
        ("PHONE_NUMBER", "+1 212 555 0100", r"[0-9()+.x -]{7,}"),
        ("LOCATION", "Paris", r".+"),
        ("STREET_ADDRESS", "1 Main St", r"\d+ .+"),
        ("ORGANIZATION", "Acme Inc", r".+"),
    ],
)
def test_surrogates_have_the_right_kind(entity: str, value: str, shape: str) -> None:
    surrogate = one(value, entity, Action.PSEUDONYMIZE)
    assert re.fullmatch(shape, surrogate), surrogate
    assert fold(value) not in fold(surrogate)


def test_locale_follows_language() -> None:
    assert locale_for("zh") == "zh_CN"
    assert locale_for("zh-Hans") == "zh_CN"
    assert locale_for("en") == locale_for("de") == "en_US"
    vault = Vault.session()
    text = "我叫王小明。"
    cloud = TRANSFORMER.apply(
        text, [finding_action("PERSON", 2, 5, Action.PSEUDONYMIZE)], vault, language="zh"
    ).cloud_text
    name = cloud[2:-1]
    assert all("\u4e00" <= c <= "\u9fff" for c in name), name
    assert Restorer(vault, KEYSET).restore(cloud) == text


def test_types_without_a_surrogate_are_redacted() -> None:
    vault = Vault.session()
    result = TRANSFORMER.apply(
        "123-45-6789", [finding_action("US_SSN", 0, 11, Action.PSEUDONYMIZE)], vault
    )
    assert result.cloud_text == "<US_SSN_1>"
    assert result.replacements[0].action is Action.REDACT


def test_glued_surrogates_are_redacted_instead() -> None:
    text = "xAnn Lee, Bob Ray"
    vault = Vault.session()
    result = TRANSFORMER.apply(
        text,
        [
            finding_action("PERSON", 1, 8, Action.PSEUDONYMIZE),  # glued to "x"
            finding_action("PERSON", 10, 13, Action.PSEUDONYMIZE),  # touches the next finding
            finding_action("PERSON", 13, 17, Action.PSEUDONYMIZE),
        ],
        vault,
    )
    assert [r.action for r in result.replacements] == [Action.REDACT] * 3
    assert Restorer(vault, KEYSET).restore(result.cloud_text) == text


def test_surrogates_are_consistent_reproducible_and_unique_in_a_session() -> None:
    names = [f"Person{i} Realname" for i in range(60)]
    text = ", ".join(names)
    actions = []
    pos = 0
    for name in names:
        actions.append(finding_action("PERSON", pos, pos + len(name), Action.PSEUDONYMIZE))
        pos += len(name) + 2
    vault = Vault.session()
    first = TRANSFORMER.apply(text, actions, vault)
    surrogates = [first.cloud_text[r.cloud_start : r.cloud_end] for r in first.replacements]
    assert len({fold(s) for s in surrogates}) == len(surrogates)
    for s in surrogates:
        assert not any(fold(s) in fold(o) or fold(o) in fold(s) for o in surrogates if o != s)
        assert not any(fold(s) in fold(n) for n in names)
    # Same session: same surrogates. Same seed, new session: the same again (reproducible).
    assert TRANSFORMER.apply(text, actions, vault).cloud_text == first.cloud_text
    again = Transformer(KEYSET, faker_seed=11).apply(text, actions, Vault.session())
    assert again.cloud_text == first.cloud_text
    other = Transformer(KEYSET, faker_seed=12).apply(text, actions, Vault.session())
    assert other.cloud_text != first.cloud_text
    assert Restorer(vault, KEYSET).restore(first.cloud_text) == text


def test_a_surrogate_never_equals_a_real_value_of_the_session() -> None:
    # Offer the pool's own first picks as real values: each must then be avoided.
    vault = Vault.session()
    probe = one("Zed Quux", "PERSON", Action.PSEUDONYMIZE, Vault.session())
    cloud = one(probe.upper(), "PERSON", Action.PSEUDONYMIZE, vault)
    assert fold(cloud) != fold(probe)
    assert fold(cloud) not in fold(probe)


# -- seal ---------------------------------------------------------------------


def sealed_card(vault: Vault | None = None) -> tuple[str, SealedValue]:
    text = "card 4111 1111 1111 1111 please"
    result = TRANSFORMER.apply(
        text, [finding_action("CREDIT_CARD", 5, 24, Action.SEAL)], vault or Vault.session()
    )
    assert len(result.sealed) == 1
    return result.cloud_text, result.sealed[0]


def test_seal_sends_a_handle_and_a_value_only_the_recipient_opens() -> None:
    vault = Vault.session()
    cloud, sealed = sealed_card(vault)
    assert cloud == "card <CREDIT_CARD_1> please"
    assert (sealed.handle, sealed.recipient, sealed.key_id) == (
        "<CREDIT_CARD_1>",
        RECIPIENT,
        "pay-2025",
    )
    assert len(sealed.enc) == 32
    assert b"4111" not in sealed.ciphertext
    assert open_sealed(sealed, PRIVATE) == "4111 1111 1111 1111"
    assert Restorer(vault, KEYSET).restore(cloud) == "card 4111 1111 1111 1111 please"
    assert sealed_card(vault)[1].ciphertext != sealed.ciphertext  # fresh randomness


def test_relabelled_tampered_or_misdirected_seals_fail_opaquely() -> None:
    _, sealed = sealed_card()
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    attempts = [
        (dataclasses.replace(sealed, handle="<CREDIT_CARD_2>"), PRIVATE),
        (dataclasses.replace(sealed, recipient="booking"), PRIVATE),
        (dataclasses.replace(sealed, key_id="pay-2024"), PRIVATE),
        (dataclasses.replace(sealed, ciphertext=flipped), PRIVATE),
        (dataclasses.replace(sealed, enc=sealed.enc[:-1]), PRIVATE),
        (dataclasses.replace(sealed, enc=bytes(32)), PRIVATE),
        (sealed, x25519.X25519PrivateKey.generate()),
    ]
    for candidate, key in attempts:
        with pytest.raises(RestoreError) as caught:
            open_sealed(candidate, key)
        assert str(caught.value) == "restore failed"
        assert caught.value.__cause__ is None


def test_sealed_repr_shows_lengths_only() -> None:
    _, sealed = sealed_card()
    text = repr(sealed)
    assert f"ciphertext=<{len(sealed.ciphertext)} bytes>" in text
    assert sealed.ciphertext.hex()[:8] not in text
    assert base64.b64encode(sealed.ciphertext).decode()[:8] not in text
    assert "public_key" not in repr(RECIPIENTS[RECIPIENT])


def test_seal_to_a_post_quantum_hybrid_recipient() -> None:
    private = MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate()
    )
    recipient = Recipient("booking", "pq-1", private.public_key())
    transformer = Transformer(KEYSET, {"booking": recipient})
    action = finding_action("PASSPORT", 0, 9, Action.SEAL)
    action = dataclasses.replace(action, recipient="booking")
    result = transformer.apply("X12345678", [action], Vault.request())
    assert open_sealed(result.sealed[0], private) == "X12345678"
    with pytest.raises(RestoreError):
        open_sealed(result.sealed[0], PRIVATE)


def test_one_sealed_value_per_handle_and_recipient() -> None:
    text = "4111 1111 1111 1111 and again 4111 1111 1111 1111"
    result = TRANSFORMER.apply(
        text,
        [
            finding_action("CREDIT_CARD", 0, 19, Action.SEAL),
            finding_action("CREDIT_CARD", 30, 49, Action.SEAL),
        ],
        Vault.session(),
    )
    assert result.cloud_text == "<CREDIT_CARD_1> and again <CREDIT_CARD_1>"
    assert len(result.sealed) == 1


def test_recipients_are_validated() -> None:
    key = PRIVATE.public_key()
    for name in ("", "has space", "x" * 65):
        with pytest.raises(ConfigurationError):
            Recipient(name, "k1", key)
    with pytest.raises(ConfigurationError):
        Recipient("ok", "k1", PRIVATE)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Transformer(KEYSET, {"other": Recipient("payments", "k1", key)})
