"""The transformer end to end: sanitize -> echo -> restore, validation, and no leaks."""

from __future__ import annotations

import logging
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_partition._actions import Action, FindingAction
from privacy_partition._errors import PrivacyPartitionError, TransformError
from privacy_partition.transform import (
    Keyset,
    Recipient,
    Restorer,
    Transformed,
    Transformer,
    Vault,
    open_sealed,
)
from strategies import (
    RECIPIENT,
    chunkings,
    finding,
    finding_action,
    prompts_with_findings,
)

KEYSET = Keyset.generate()
PRIVATE = x25519.X25519PrivateKey.generate()
RECIPIENTS = {RECIPIENT: Recipient(RECIPIENT, "k1", PRIVATE.public_key())}
TRANSFORMER = Transformer(KEYSET, RECIPIENTS, faker_seed=1)
CANARY = "Xanthippe Vorobyeva-Quist"
ALL_CLOUD_ACTIONS = tuple(a for a in Action if a not in (Action.LOCAL, Action.BLOCK))


def echo_round_trip(text: str, actions: list[FindingAction], language: str = "en") -> None:
    vault = Vault.session()
    result = TRANSFORMER.apply(text, actions, vault, language)
    restorer = Restorer(vault, KEYSET, allow_in_links=True)
    assert restorer.restore(result.cloud_text) == text
    for sealed in result.sealed:
        assert open_sealed(sealed, PRIVATE) == vault.view().handles[sealed.handle]


@settings(max_examples=200, deadline=None)
@given(prompts_with_findings(), st.sampled_from(["en", "zh"]))
def test_sanitize_echo_restore_gives_back_the_prompt(
    case: tuple[str, list[FindingAction]], language: str
) -> None:
    echo_round_trip(*case, language=language)


@settings(max_examples=100, deadline=None)
@given(prompts_with_findings(), st.data())
def test_streamed_restore_of_the_echo_gives_back_the_prompt(
    case: tuple[str, list[FindingAction]], data: st.DataObject
) -> None:
    text, actions = case
    vault = Vault.session()
    cloud = TRANSFORMER.apply(text, actions, vault).cloud_text
    stream = Restorer(vault, KEYSET, allow_in_links=True).stream()
    pieces = data.draw(chunkings(cloud))
    assert "".join(stream.feed(p) for p in pieces) + stream.finish() == text


@settings(max_examples=200, deadline=None)
@given(prompts_with_findings(ALL_CLOUD_ACTIONS))
def test_replacements_map_the_prompt_onto_the_cloud_text(
    case: tuple[str, list[FindingAction]],
) -> None:
    text, actions = case
    result = TRANSFORMER.apply(text, actions, Vault.session())
    assert len(result.replacements) == len(actions)
    cloud, previous, cloud_previous = result.cloud_text, 0, 0
    for item, replacement in zip(actions, result.replacements, strict=True):
        assert (replacement.start, replacement.end) == (item.finding.start, item.finding.end)
        # Text between findings is sent exactly as written.
        assert cloud[cloud_previous : replacement.cloud_start] == text[previous : replacement.start]
        if replacement.action is Action.KEEP:
            assert (
                cloud[replacement.cloud_start : replacement.cloud_end]
                == text[replacement.start : replacement.end]
            )
        if replacement.handle is not None:
            assert cloud[replacement.cloud_start : replacement.cloud_end] == replacement.handle
        previous, cloud_previous = replacement.end, replacement.cloud_end
    assert cloud[cloud_previous:] == text[previous:]


def test_multi_turn_session_keeps_handles_and_numbering() -> None:
    vault = Vault.session()
    first = TRANSFORMER.apply(
        "Ann called", [finding_action("PERSON", 0, 3, Action.REDACT)], vault
    ).cloud_text
    second = TRANSFORMER.apply(
        "Bob and Ann",
        [
            finding_action("PERSON", 0, 3, Action.REDACT),
            finding_action("PERSON", 8, 11, Action.REDACT),
        ],
        vault,
    ).cloud_text
    assert first == "<PERSON_1> called"
    assert second == "<PERSON_2> and <PERSON_1>"
    request = Vault.request()
    assert (
        TRANSFORMER.apply(
            "Bob", [finding_action("PERSON", 0, 3, Action.REDACT)], request
        ).cloud_text
        == "<PERSON_1>"
    )


def test_handle_numbers_skip_those_already_in_the_prompt() -> None:
    text = "<PERSON_1> is not Ann, and <PERSON_2> is not Bob"
    vault = Vault.session()
    result = TRANSFORMER.apply(
        text,
        [
            finding_action("PERSON", 18, 21, Action.REDACT),
            finding_action("PERSON", 45, 48, Action.REDACT),
        ],
        vault,
    )
    assert result.cloud_text == "<PERSON_1> is not <PERSON_3>, and <PERSON_2> is not <PERSON_4>"
    assert Restorer(vault, KEYSET).restore(result.cloud_text) == text


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["<PERSON_1>", "<PERSON_2>", "<PERSON_4>", "<US_SSN_1>"]), max_size=4),
    st.lists(st.sampled_from(["Ann", "Bob", "Cy"]), min_size=1, max_size=4),
    st.sampled_from([Action.REDACT, Action.SEAL, Action.PSEUDONYMIZE]),
)
def test_handles_written_in_the_prompt_are_never_issued(
    written: list[str], values: list[str], action: Action
) -> None:
    text = " ".join(written) + " :"
    actions = []
    for value in values:
        text += " "
        actions.append(finding_action("US_SSN", len(text), len(text) + len(value), action))
        text += value
    vault = Vault.session()
    result = TRANSFORMER.apply(text, actions, vault)
    issued = {r.handle for r in result.replacements}
    assert not issued & set(written)
    assert Restorer(vault, KEYSET).restore(result.cloud_text) == text


def test_a_surrogate_that_could_not_be_found_again_is_redacted_instead() -> None:
    vault = Vault.session()
    # Earlier turns gave "Zed" the surrogate "Ann Lee" and "Bob" the surrogate "Lee Ray".
    assert vault.pseudonym_for("PERSON", "Zed", lambda n: ["Ann Lee"]) == "Ann Lee"
    assert vault.pseudonym_for("PERSON", "Bob", lambda n: ["Lee Ray"]) == "Lee Ray"
    text = "Ann Bob"  # "Ann " + "Lee Ray" would read as "Ann Lee" + " Ray"
    result = TRANSFORMER.apply(text, [finding_action("PERSON", 4, 7, Action.PSEUDONYMIZE)], vault)
    assert result.cloud_text == "Ann <PERSON_1>"
    assert result.replacements[0].action is Action.REDACT
    assert Restorer(vault, KEYSET).restore(result.cloud_text) == text


# -- validation ---------------------------------------------------------------


def canary_actions(action: Action, **changes: int) -> list[FindingAction]:
    start = changes.get("start", 6)
    return [
        FindingAction(
            finding("PERSON", start, changes.get("end", start + len(CANARY))),
            action,
            RECIPIENT if action is Action.SEAL else None,
        )
    ]


TEXT = f"Hello {CANARY}, how are you?"


@pytest.mark.parametrize(
    ("actions", "says"),
    [
        (canary_actions(Action.REDACT, end=len(TEXT) + 1), "outside the text"),
        (canary_actions(Action.REDACT) * 2, "sorted"),
        (
            [*canary_actions(Action.REDACT, start=10), *canary_actions(Action.REDACT, start=6)],
            "sorted",
        ),
        (canary_actions(Action.LOCAL), "'local'"),
        (canary_actions(Action.BLOCK), "'block'"),
        (
            [FindingAction(finding("CREDIT_CARD", 6, 10), Action.SEAL, "booking")],
            "'booking'",
        ),
    ],
)
def test_invalid_requests_raise_transform_error_without_the_value(
    actions: list[FindingAction], says: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vault = Vault.session()
    with pytest.raises(TransformError) as caught:
        TRANSFORMER.apply(TEXT, actions, vault)
    assert says in str(caught.value)
    assert CANARY not in str(caught.value)
    assert CANARY[:6] not in str(caught.value)
    assert all(CANARY not in r.getMessage() for r in caplog.records)


def test_no_value_in_cloud_text_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for action in (
        Action.REDACT,
        Action.MASK,
        Action.HASH,
        Action.PSEUDONYMIZE,
        Action.TOKENIZE,
        Action.SEAL,
    ):
        vault = Vault.session()
        result = TRANSFORMER.apply(TEXT, canary_actions(action), vault)
        assert CANARY not in result.cloud_text
        for part in CANARY.split("-"):
            assert part not in result.cloud_text
        restorer = Restorer(vault, KEYSET, strict=True)
        restored = restorer.restore(result.cloud_text)
        forged = result.cloud_text.replace("<TOK:PERSON:", "<TOK:LOCATION:")
        if forged != result.cloud_text:
            with pytest.raises(PrivacyPartitionError) as caught:
                restorer.restore(forged)
            assert CANARY not in str(caught.value)
        stream = restorer.stream()
        stream.feed(result.cloud_text)
        for text in (
            repr(result),
            str(result),
            repr(result.replacements),
            repr(result.sealed),
            repr(vault),
            repr(restorer),
            repr(stream),
            repr(vault.view()),
            repr(TRANSFORMER),
        ):
            assert CANARY not in text
        stream.finish()
        assert restored == TEXT or action in (Action.MASK, Action.HASH)
    messages = [r.getMessage() for r in caplog.records]
    assert messages, "the transformer and restorer log their counts"
    assert all(CANARY not in m for m in messages)
    assert all(CANARY not in str(r.args) for r in caplog.records)


def test_transformed_repr_shows_sizes_only() -> None:
    result = Transformed("Ann", (), ())
    assert repr(result) == "Transformed(cloud_text=<3 chars>, sealed=0, replacements=0)"


def test_one_transformer_serves_many_threads() -> None:
    errors: list[BaseException] = []
    texts = [f"user {i} is Person{i} Lastname, mail p{i}@mail.test" for i in range(40)]

    def work(text: str) -> None:
        try:
            name = text.index("Person")
            mail = text.index(" p") + 1
            actions = [
                finding_action("PERSON", name, text.index(","), Action.PSEUDONYMIZE),
                finding_action("EMAIL_ADDRESS", mail, len(text), Action.TOKENIZE),
            ]
            for _ in range(5):
                echo_round_trip(text, actions)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_one_vault_shared_by_threads_keeps_one_surrogate_per_value() -> None:
    vault = Vault.session()
    text = "Ann Lee met Bob Ray"
    actions = [
        finding_action("PERSON", 0, 7, Action.PSEUDONYMIZE),
        finding_action("PERSON", 12, 19, Action.PSEUDONYMIZE),
    ]
    results: list[str] = []

    def work() -> None:
        results.append(TRANSFORMER.apply(text, actions, vault).cloud_text)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert Restorer(vault, KEYSET).restore(results[0]) == text
