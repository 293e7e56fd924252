"""Repeated values: a value found once is found wherever it recurs.

Recognizers judge each mention on its own, so "Napco" is an organization
in "I work at Napco" and missed two sentences later, and "Rose Alex" is a
person while the "Rose" of the next line is not. A value that is personal
once is personal everywhere in the prompt, so ``propagate`` adds a finding
of the same type at every other whole-word occurrence of a found value
(matched with its case), at every occurrence of a capitalized part of a
found name ("Smith" after "John Smith"), and at every occurrence of a
company's name without its legal form ("D’Amico" after "The D’Amico
Company"). A capitalized value that the text
also uses in lower case ("Health" as a heading, "health" in a sentence) is
a common word, not a name, and is not followed. ``share_relations`` then makes
the occurrences of one value agree: if the text ties one to a person, it
ties them all.

Guarantees: pure and deterministic; existing findings are never moved,
retyped or dropped; a copy never overlaps another finding. Cost: one
substring search per distinct value (at most ``MAX_VALUES``), linear in the
text each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Final

from privacy_partition._text import fold, is_word
from privacy_partition.detection._finding import Finding
from privacy_partition.detection._relations import PERSONAL
from privacy_partition.detection.recognizers._organizations import LEGAL_FORM_END

__all__ = ["MAX_VALUES", "REPEATED", "common_word", "propagate", "share_relations"]

REPEATED: Final = "RepeatedValue"
"""The recognizer name of a finding copied from an earlier one."""
MAX_VALUES: Final = 1000
# Shorter values ("Al", "Li") recur inside ordinary words too often.
_MIN_CHARS: Final = 3
# Dates recur everywhere ("2020") and are kept by most policies anyway.
_NOT_PROPAGATED: Final = frozenset({"DATE_TIME"})
# A part of a name worth following alone: a capitalized word of 3+ letters.
_NAME_PART: Final = re.compile(r"(?<![^\W\d_])[^\W\d_a-z][^\W\d_]{2,}(?![^\W\d_])")
_ARTICLE: Final = re.compile(r"^(?i:the)[ \t]+")


def _occurrences(haystack: str, needle: str) -> Iterator[int]:
    """Where ``needle`` stands in ``haystack``, without overlaps: linear in the haystack
    (overlapping occurrences of a long, repetitive needle would make it quadratic)."""
    start = haystack.find(needle)
    while start != -1:
        yield start
        start = haystack.find(needle, start + len(needle))


def _bounded(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a whole word: not glued to a letter or digit."""
    glued_left = start > 0 and is_word(text[start - 1]) and is_word(text[start])
    glued_right = end < len(text) and is_word(text[end]) and is_word(text[end - 1])
    return not (glued_left or glued_right)


def common_word(text: str, value: str) -> bool:
    """Whether a capitalized ``value`` also stands in ``text`` in lower case, as a word."""
    lower = value.lower()
    return lower != value and any(
        _bounded(text, start, start + len(lower)) for start in _occurrences(text, lower)
    )


def _parts(entity_type: str, value: str) -> list[str]:
    """The parts of a found value worth following alone: the capitalized words of a
    name, and a company's name without its article and legal form ("D’Amico" of
    "The D’Amico Company")."""
    if entity_type == "PERSON":
        return _NAME_PART.findall(value)
    if entity_type == "ORGANIZATION":
        bare = LEGAL_FORM_END.sub("", _ARTICLE.sub("", value))
        if bare != value and len(bare) >= _MIN_CHARS and bare[0].isupper():
            return [bare]
    return []


def propagate(text: str, findings: Sequence[Finding]) -> list[Finding]:
    """``findings`` plus a copy at each other occurrence of a found value, ordered by start."""
    values: dict[str, Finding] = {}
    for finding in sorted(findings, key=lambda f: (-f.score, f.start)):
        if finding.entity_type in _NOT_PROPAGATED:
            continue
        value = finding.value_in(text)
        parts = _parts(finding.entity_type, value)
        for needle in (value, *parts):
            if len(needle.strip()) >= _MIN_CHARS and needle not in values:
                values[needle] = finding
    values = {v: f for v, f in values.items() if not common_word(text, v)}
    if not values:
        return list(findings)

    taken = bytearray(len(text))
    for finding in findings:
        taken[finding.start : finding.end] = b"\x01" * (finding.end - finding.start)
    added: list[Finding] = []

    # Longest first, so that "John Smith" is claimed before "John".
    for needle, source in sorted(values.items(), key=lambda item: -len(item[0]))[:MAX_VALUES]:
        for start in _occurrences(text, needle):
            end = start + len(needle)
            if taken.find(1, start, end) == -1 and _bounded(text, start, end):
                taken[start:end] = b"\x01" * (end - start)
                added.append(
                    Finding(source.entity_type, start, end, source.score, REPEATED, source.language)
                )

    if not added:
        return list(findings)
    return sorted([*findings, *added], key=lambda f: (f.start, f.end))


def share_relations(text: str, findings: Sequence[Finding]) -> list[Finding]:
    """``findings`` with every occurrence of a value personal once marked personal."""
    personal = {(f.entity_type, fold(f.value_in(text))) for f in findings if f.relation == PERSONAL}
    if not personal:
        return list(findings)
    return [
        replace(f, relation=PERSONAL)
        if f.relation is None and (f.entity_type, fold(f.value_in(text))) in personal
        else f
        for f in findings
    ]
