"""Properties run at fuzzing scale: restore, link-safe and streaming restore, the policy loader.

Each runs 1,000 examples in ``make test`` and 10,000 under the ``fuzz``
Hypothesis profile: ``make test-properties``, which CI runs after ``make test``,
and ``make fuzz``. They stay on the transform layer and the loader, with
findings planted where the values are, so that an example takes milliseconds,
not the tens of milliseconds of detection.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import x25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from pydantic import ValidationError

from privacy_partition._actions import Action, FindingAction
from privacy_partition._errors import ConfigurationError
from privacy_partition.policy import Policy, load_policy
from privacy_partition.transform import (
    Keyset,
    Recipient,
    Restorer,
    TokenScope,
    Transformer,
    Vault,
)
from strategies import (
    RECIPIENT,
    RESTORABLE,
    answers,
    chunkings,
    finding_action,
    leaked,
    plain_texts,
    prompts,
    rendered_answers,
)

# 10,000 examples of each take about five minutes of one core (the loader most of it).
EXAMPLES = max(1_000, settings().max_examples)
FUZZ = settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])

KEYSET = Keyset.generate()
RECIPIENTS = {
    RECIPIENT: Recipient(RECIPIENT, "k1", x25519.X25519PrivateKey.generate().public_key())
}
TRANSFORMER = Transformer(KEYSET, RECIPIENTS, faker_seed=3)

# Personal values as prompts carry them, disguised ones and handle look-alikes included.
PLANTED = {
    "Ann Lee": "PERSON",
    "ANN LEE": "PERSON",
    "Jоhn Smith": "PERSON",  # a Cyrillic о
    "王小明": "PERSON",
    "İstanbul": "LOCATION",
    "Paris": "LOCATION",
    "ann@acme.com": "EMAIL_ADDRESS",
    "jane\u200b@exam\u00adple.org": "EMAIL_ADDRESS",
    "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ": "EMAIL_ADDRESS",
    "212-555-0199": "PHONE_NUMBER",
    "１３８００１３８０００": "PHONE_NUMBER",
    "4111 1111 1111 1111": "CREDIT_CARD",
    "536-22-1234": "US_SSN",
    "11010519491231002X": "cn_resident_id",
    "<PERSON_1>": "PERSON",
    "<TOK:PERSON:0123abcd:MFRGG>": "PERSON",
    "https://x.io/?q=ann": "URL",
}


@st.composite
def planted_prompts(draw: st.DrawFn) -> tuple[str, list[FindingAction]]:
    """A prompt with personal values planted in it (some repeated, some touching)."""
    text, found = "", []
    for _ in range(draw(st.integers(0, 10))):
        if draw(st.booleans()):
            text += draw(st.one_of(plain_texts, prompts))
            continue
        value = draw(st.one_of(st.sampled_from(sorted(PLANTED)), plain_texts.filter(bool)))
        entity = PLANTED.get(value, "ORGANIZATION")
        action = draw(st.sampled_from(RESTORABLE))
        found.append(finding_action(entity, len(text), len(text) + len(value), action))
        text += value
    return text, found


@FUZZ
@given(st.lists(planted_prompts(), min_size=1, max_size=3), st.sampled_from(["en", "zh"]))
def test_every_turn_comes_back_from_the_echo(
    turns: list[tuple[str, list[FindingAction]]], language: str
) -> None:
    """Each turn alone, and the turns of a session sharing one vault."""
    session = Vault.session()
    sent: list[str] = []  # what the session's vault issued in earlier turns
    for text, actions in turns:
        vault = Vault.request()
        cloud = TRANSFORMER.apply(text, actions, vault, language).cloud_text
        restorer = Restorer(vault, KEYSET, allow_in_links=True, token_scope=TokenScope.VAULT)
        assert restorer.restore(cloud) == text
        result = TRANSFORMER.apply(text, actions, session, language)
        restorer = Restorer(session, KEYSET, allow_in_links=True, token_scope=TokenScope.VAULT)
        # Known limit: a later turn that writes out what an earlier turn was sent as
        # (a handle, a token, a surrogate) gets the earlier value back in the answer.
        if not any(part.lower() in text.lower() for part in sent):
            assert restorer.restore(result.cloud_text) == text
        sent += [
            result.cloud_text[r.cloud_start : r.cloud_end]
            for r in result.replacements
            if r.action is not Action.KEEP
        ]


@FUZZ
@given(planted_prompts(), st.booleans(), st.data())
def test_a_streamed_answer_equals_the_whole_one_for_any_chunking(
    case: tuple[str, list[FindingAction]], allow_in_links: bool, data: st.DataObject
) -> None:
    text, actions = case
    vault = Vault.session()
    result = TRANSFORMER.apply(text, actions, vault)
    issued: dict[str, list[str]] = {"redact": [], "seal": [], "tokenize": [], "pseudonymize": []}
    for r in result.replacements:
        issued.setdefault(r.action.value, []).append(result.cloud_text[r.cloud_start : r.cloud_end])
    answer = data.draw(
        st.one_of(
            st.just(result.cloud_text),
            answers(issued["redact"] + issued["seal"], issued["tokenize"], issued["pseudonymize"]),
        )
    )
    restorer = Restorer(vault, KEYSET, allow_in_links=allow_in_links)
    whole = restorer.restore(answer)
    stream = restorer.stream()
    pieces = data.draw(chunkings(answer))
    assert "".join(stream.feed(piece) for piece in pieces) + stream.finish() == whole
    if allow_in_links and answer == result.cloud_text:
        assert whole == text


# -- link-safe restore ----------------------------------------------------------------

SESSION = Vault.session()
_PROMPT = "Ann Lee (ann@acme.com) paid with 4111 1111 1111 1111 from Paris; Bob Ray too."
_SPANS = [
    ("PERSON", "Ann Lee", Action.PSEUDONYMIZE),
    ("EMAIL_ADDRESS", "ann@acme.com", Action.TOKENIZE),
    ("CREDIT_CARD", "4111 1111 1111 1111", Action.SEAL),
    ("LOCATION", "Paris", Action.REDACT),
    ("PERSON", "Bob Ray", Action.PSEUDONYMIZE),
]
_ISSUED = TRANSFORMER.apply(
    _PROMPT,
    [
        finding_action(entity, _PROMPT.index(v), _PROMPT.index(v) + len(v), action)
        for entity, v, action in _SPANS
    ],
    SESSION,
)
# What the cloud saw (a surrogate, a token, handles) -> the value it stands for.
ORIGINALS = {
    _ISSUED.cloud_text[r.cloud_start : r.cloud_end]: _PROMPT[r.start : r.end]
    for r in _ISSUED.replacements
}
GUARDED = Restorer(SESSION, KEYSET)
COMMONMARK = MarkdownIt("commonmark", {"html": True})


@FUZZ
@given(st.data())
def test_a_rendered_answer_has_no_restored_value_where_a_renderer_fetches(
    data: st.DataObject,
) -> None:
    """Handles, surrogates and tokens anywhere in a markdown/HTML answer: rendered, the
    restored answer has no value in a fetchable sink, and the values in prose are back."""
    answer, prose = data.draw(rendered_answers(sorted(ORIGINALS)))
    whole = GUARDED.restore(answer)
    assert leaked(COMMONMARK.render(whole), list(ORIGINALS.values())) == []
    for template, (v, w) in prose:
        assert template.format(v=ORIGINALS[v], w=ORIGINALS[w]) in whole
    stream = GUARDED.stream()
    pieces = data.draw(chunkings(answer))
    assert "".join(stream.feed(piece) for piece in pieces) + stream.finish() == whole


# -- the policy loader ---------------------------------------------------------------

BASE: dict[str, Any] = {
    "apiVersion": "privacy-partition/v1",
    "name": "fuzzed",
    "description": "a policy with a little of everything",
    "detection": {
        "languages": ["en", "zh"],
        "min_score": 0.4,
        "score_thresholds": {"URL": 0.9},
        "recognizers": [
            {
                "entity": "EMPLOYEE_ID",
                "patterns": [{"regex": "EMP-\\d{6}", "score": 0.9}],
                "context": ["employee"],
            },
            {"entity": "PROJECT", "deny_list": ["Apollo"]},
        ],
        "topics": {"health": {"examples": ["my doctor says"], "threshold": 0.6}},
    },
    "categories": {"contact": ["EMAIL_ADDRESS", "PHONE_NUMBER"]},
    "entities": {
        "default": {"action": "redact"},
        "PERSON": {"action": "pseudonymize"},
        "CREDIT_CARD": {"action": "seal", "recipient": "payments"},
        "LOCATION": {"action": "pseudonymize", "public": {"action": "keep"}},
        "US_SSN": {"action": "block"},
    },
    "recipients": {"payments": {"description": "the payment tool"}},
    "routing": [
        {"name": "health", "when": {"topics": ["health"]}, "route": "local"},
        {"when": {"categories_any": ["contact"], "min_count": 3}, "route": "local"},
        {"route": "cloud"},
    ],
    "fallback": {"cloud_unavailable": "local", "local_unavailable": "block"},
    "restore": {"allow_in_links": False},
    "tests": [{"prompt": "Email jane@example.org", "expect": {"route": "cloud"}}],
}
KEYS = sorted({*BASE, *BASE["detection"], "action", "recipient", "when", "route", "regex"})
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["cloud", "local", "redact", "seal", "en", "zh", "PERSON", "0.5", "default"]),
)
_keys = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=10))
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)


def _containers(node: Any) -> Iterator[Any]:
    if isinstance(node, dict | list):
        yield node
        for child in node.values() if isinstance(node, dict) else node:
            yield from _containers(child)


@st.composite
def mutated_policies(draw: st.DrawFn) -> str:
    """The text of a policy file: a valid one with values changed, dropped or added,
    and at times the text itself cut or given a stray character."""
    document = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(list(_containers(document))))
        move = draw(st.sampled_from(["set", "drop", "add"]))
        if isinstance(target, dict):
            if move == "add" or not target:
                target[draw(_keys)] = draw(_values)
            elif move == "set":
                target[draw(st.sampled_from(sorted(target)))] = draw(_values)
            else:
                del target[draw(st.sampled_from(sorted(target)))]
        elif move == "add" or not target:
            target.append(draw(_values))
        elif move == "set":
            target[draw(st.integers(0, len(target) - 1))] = draw(_values)
        else:
            del target[draw(st.integers(0, len(target) - 1))]
    text = yaml.dump(document, Dumper=_NoAliases, allow_unicode=True, sort_keys=False)
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(text)))
        stray = draw(
            st.sampled_from([":", "-", "[", "{", "&a", "*a", "!!python/object", "\t", "'"])
        )
        text = text[:at] + draw(st.sampled_from([stray, ""])) + text[at + draw(st.integers(0, 3)) :]
    return text


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _load(path: Path) -> str | type[ConfigurationError]:
    """The loaded policy's digest, or the error class (any other exception fails the test)."""
    try:
        return load_policy(path).digest
    except ConfigurationError:  # PolicyError is one
        return ConfigurationError


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzzed-policies")
    (folder / "child.yaml").write_text("apiVersion: privacy-partition/v1\nextends: base.yaml\n")
    return folder


@FUZZ
@given(mutated_policies())
def test_the_policy_loader_fails_only_with_policy_errors_and_never_half_loads(
    folder: Path, text: str
) -> None:
    (folder / "base.yaml").write_text(text, encoding="utf-8")
    loaded = _load(folder / "base.yaml")
    # A file that extends it (and changes nothing) loads the same, or fails the same.
    assert _load(folder / "child.yaml") == loaded
    mapping: Any = None
    try:
        mapping = yaml.safe_load(text)
        schema: str | type[ConfigurationError] = Policy.model_validate(mapping).digest
    except (yaml.YAMLError, ValidationError, ConfigurationError):
        schema = ConfigurationError
    if isinstance(mapping, dict) and "extends" not in mapping:
        # The loader accepts exactly what the schema accepts, and loads all of it.
        assert loaded == schema
