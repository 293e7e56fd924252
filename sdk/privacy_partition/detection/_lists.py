"""Lists of names: an item of a list of people is a person too, and of companies a company.

NER judges each word on its own, so in "Chelsea, Carlos, Santi, Mr. Lambert,
Claire, Nico, Dr. Kapur" it finds most names and misses the ones that are
also words ("Star") or rare ("Nico"). A comma-separated list whose items are
mostly names found as ``PERSON`` is a list of people, so ``complete_lists``
adds a ``PERSON`` finding for each capitalized item left over. A list of
companies ("partnerships with BYD, Gotion High-Tech, CATL and Envision") is
completed the same way with ``ORGANIZATION``.

A list counts when it has at least ``MIN_ITEMS`` items and at least
``MIN_SHARE`` of them already hold a finding of one of ``LIST_TYPES``
("Mr. Lambert" holds "Lambert"). An item holding a finding of another type
keeps it. An item is one to three capitalized words ("Nico", "Mr. Lambert");
an item that the text also uses in lower case is a common word and is left
alone.

Guarantees: pure and deterministic; existing findings are never moved,
retyped or dropped; an added finding never overlaps another; one linear
regular-expression pass over the text.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from typing import Final

from privacy_partition.detection._finding import Finding
from privacy_partition.detection._propagate import common_word

__all__ = ["LIST_ITEM", "LIST_TYPES", "MIN_ITEMS", "MIN_SHARE", "complete_lists", "overlapping"]

LIST_ITEM: Final = "NameListItem"
"""The recognizer name of a finding added as an item of a list of names."""
LIST_TYPES: Final = ("PERSON", "ORGANIZATION")
"""The types whose lists are completed: a list of people, a list of companies."""
MIN_ITEMS: Final = 4
MIN_SHARE: Final = 0.6
_SCORE: Final = 0.6

# A title ("Mr.", "Dr.") and one to three capitalized words.
_TITLE: Final = r"(?:Mr|Mrs|Ms|Mx|Dr|Prof|Rev|Sr|Sra|St|Capt|Col|Gen|Lt|Sgt)\.?[ \t]"
_NAME: Final = r"[^\W\d_a-z][\w’'-]{0,29}"
_ITEM: Final = rf"(?:{_TITLE})?{_NAME}(?:[ \t]{_NAME}){{0,2}}"
# Items joined by commas, the last one possibly by "and"/"&" (with or without a comma
# before it); every repetition is bounded by a mandatory comma, so the expression runs
# in linear time.
_LIST: Final = re.compile(
    rf"(?<![\w’'.-])(?:{_ITEM},[ \t]{{0,3}}){{{MIN_ITEMS - 1},}}(?:(?:and|&)[ \t]+)?{_ITEM}"
    rf"(?:[ \t]+(?:and|&)[ \t]+{_ITEM})?(?![\w’'-])"
)
_ITEM_RE: Final = re.compile(_ITEM)


def complete_lists(text: str, findings: Sequence[Finding]) -> list[Finding]:
    """``findings`` plus a ``PERSON`` for each uncovered item of a list of names."""
    ordered = sorted(findings, key=lambda f: (f.start, f.end))
    starts = [f.start for f in ordered]
    added: list[Finding] = []
    for match in _LIST.finditer(text):
        items = [
            (m.start() + match.start(), m.end() + match.start())
            for m in _ITEM_RE.finditer(match.group())
        ]
        covering = [overlapping(ordered, starts, start, end) for start, end in items]
        kind = _list_kind(covering)
        if kind is None:
            continue
        language = next(f.language for found in covering for f in found if f.entity_type == kind)
        for (start, end), found in zip(items, covering, strict=True):
            value = text[start:end]
            if found or common_word(text, value):
                continue
            added.append(Finding(kind, start, end, _SCORE, LIST_ITEM, language))
    if not added:
        return list(findings)
    return sorted([*findings, *added], key=lambda f: (f.start, f.end))


def _list_kind(covering: Sequence[Sequence[Finding]]) -> str | None:
    """The type at least ``MIN_SHARE`` of the items hold, among ``LIST_TYPES``, else None."""
    for kind in LIST_TYPES:
        holding = sum(1 for found in covering if any(f.entity_type == kind for f in found))
        if holding >= MIN_SHARE * len(covering):
            return kind
    return None


def overlapping(
    ordered: Sequence[Finding], starts: list[int], start: int, end: int
) -> list[Finding]:
    """The findings of ``ordered`` (sorted and resolved: none overlap) over ``[start, end)``."""
    found = []
    index = bisect_left(starts, end) - 1
    while index >= 0 and ordered[index].end > start:
        found.append(ordered[index])
        index -= 1
    return found
