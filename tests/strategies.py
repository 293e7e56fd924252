"""Hypothesis strategies shared by the tests: prompts, findings, answers and chunkings."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hypothesis import strategies as st

from privacy_partition._actions import Action, FindingAction
from privacy_partition.detection import Finding

RECIPIENT = "payments"
ENTITY_TYPES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "LOCATION",
    "STREET_ADDRESS",
    "ORGANIZATION",
    "CREDIT_CARD",
    "US_SSN",
    "cn_resident_id",  # not upper case: labels normalise it
)
RESTORABLE = (Action.KEEP, Action.REDACT, Action.PSEUDONYMIZE, Action.TOKENIZE, Action.SEAL)

# Characters that mean something to a scanner: handle and token syntax, markup, links.
_SYNTAX = " \n\t<>_:/()[]=!\"'#.@-*"
_FRAGMENTS = (
    "<PERSON_1>",
    "<PERSON_2>",
    "<LOCATION_1>",
    "<EMAIL_ADDRESS_1>",
    "<US_SSN_1>",
    "<CN_RESIDENT_ID_1>",
    "<TOK:PERSON:",
    "<TOK:PERSON:0123abcd:MFRGG>",
    "<PERSON#a1b2c3d4e5f6>",
    "https://",
    "www.",
    "](",
    'href="',
    "src=",
    "<img ",
    "'s",
    "张伟",
    "İstanbul ΣΟΦΙΑ",
)

characters = st.one_of(
    st.sampled_from(_SYNTAX),
    st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")),
)
plain_texts = st.text(characters, max_size=40)

# A prompt: free text with handle-, token- and link-like fragments mixed in.
prompts = st.lists(st.one_of(plain_texts, st.sampled_from(_FRAGMENTS)), max_size=8).map("".join)


def finding(entity_type: str, start: int, end: int) -> Finding:
    return Finding(entity_type, start, end, 0.9, "test", "en")


def finding_action(entity_type: str, start: int, end: int, action: Action) -> FindingAction:
    recipient = RECIPIENT if action is Action.SEAL else None
    return FindingAction(finding(entity_type, start, end), action, recipient)


@st.composite
def findings_in(
    draw: st.DrawFn, text: str, actions: Sequence[Action] = RESTORABLE
) -> list[FindingAction]:
    """Sorted, non-overlapping findings over ``text``, each with an action from ``actions``."""
    if not text:
        return []
    cuts = draw(st.lists(st.integers(0, len(text)), max_size=16, unique=True).map(sorted))
    spans = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if a < b]
    return [
        finding_action(
            draw(st.sampled_from(ENTITY_TYPES)), start, end, draw(st.sampled_from(actions))
        )
        for start, end in spans
    ]


_VALUES = (
    "Ann Lee",
    "ann@acme.com",
    "4111 1111 1111 1111",
    "Paris",
    "王小明",
    "<PERSON_1>",  # a value that looks like a handle
    "<TOK:PERSON:0123abcd:MFRGG>",
)


@st.composite
def _segmented(draw: st.DrawFn, actions: Sequence[Action]) -> tuple[str, list[FindingAction]]:
    # Context and values side by side, the way a prompt reads (values may touch).
    text, found = "", []
    for _ in range(draw(st.integers(0, 10))):
        if draw(st.booleans()):
            text += draw(st.one_of(plain_texts, st.sampled_from(_FRAGMENTS)))
            continue
        value = draw(st.one_of(st.sampled_from(_VALUES), st.text(characters, min_size=1)))
        entity, action = draw(st.sampled_from(ENTITY_TYPES)), draw(st.sampled_from(actions))
        found.append(finding_action(entity, len(text), len(text) + len(value), action))
        text += value
    return text, found


@st.composite
def _cut(draw: st.DrawFn, actions: Sequence[Action]) -> tuple[str, list[FindingAction]]:
    text = draw(prompts)
    return text, draw(findings_in(text, actions))


def prompts_with_findings(
    actions: Sequence[Action] = RESTORABLE,
) -> st.SearchStrategy[tuple[str, list[FindingAction]]]:
    """A prompt and sorted, disjoint findings: values set in context, or spans cut anywhere."""
    return st.one_of(_segmented(actions), _cut(actions))


@st.composite
def chunkings(draw: st.DrawFn, text: str) -> list[str]:
    """``text`` cut into pieces at random places (empty pieces included)."""
    cuts = draw(st.lists(st.integers(0, len(text)), max_size=12).map(sorted))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def _prefix(text: str) -> st.SearchStrategy[str]:
    return st.integers(0, max(0, len(text) - 1)).map(lambda k: text[:k])


def _recase(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from((text, text.upper(), text.lower(), text.title(), text + "'s"))


def _tamper(text: str) -> st.SearchStrategy[str]:
    def flip(i: int) -> str:
        c = text[i]
        return text[:i] + ("B" if c == "A" else "A") + text[i + 1 :]

    return st.integers(1, max(1, len(text) - 2)).map(flip)


@st.composite
def answers(
    draw: st.DrawFn, handles: Sequence[str], tokens: Sequence[str], surrogates: Sequence[str]
) -> str:
    """A model's answer: text with issued, invented, cut and forged handles and tokens,
    surrogates in any case, and the links and markup a restorer must respect."""
    issued = [*handles, *tokens, *surrogates] or ["<PERSON_1>"]
    piece = st.one_of(
        plain_texts,
        st.sampled_from(issued),
        st.sampled_from(issued).flatmap(_prefix),
        st.sampled_from(issued).flatmap(_recase),
        st.sampled_from(issued).flatmap(_tamper),
        st.sampled_from(_FRAGMENTS),
        st.sampled_from(
            ("https://evil.example/?q=", "[x](", "![i](", ")", '<a href="', '">', "<img src=", ">")
        ),
        st.sampled_from(("<PERSON_99>", " ", "\n", "mailto:", "(", "]", "=", "'", '"')),
    )
    return "".join(draw(st.lists(piece, max_size=14)))
