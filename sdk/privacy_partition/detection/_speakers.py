"""Speaker labels: the names that open the lines of a dialogue or a transcript.

In "Anna: I will call you back.\\nTomas: Fine, after lunch." NER finds
"Tomas" and misses "Anna": a name at the head of a line, before a colon, has
little sentence around it. The layout says what it is. A text whose lines
open with labels ("Name:", "[00:04] Dr. Okafor:") at least ``MIN_TURNS``
times is a dialogue, and when one of its labels already holds a ``PERSON``
finding, it is a dialogue between people: ``complete_speakers`` adds a
``PERSON`` finding for each other label that is a capitalized name.

Left alone: a label that is a role or a field ("User", "Customer", "Q",
"From", "Note"), a stop word ("Me"), a word the text also uses in lower case,
and every label of a layout where no label is a known person (a form:
"Name: Jane Roe\\nAge: 32" has people in its values, not in its labels).

Guarantees: pure and deterministic; existing findings are never moved,
retyped or dropped; an added finding never overlaps another; one linear
regular-expression pass over the text, and one more for its lower-case words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from spacy.lang.en.stop_words import STOP_WORDS

from privacy_partition.detection._finding import Finding
from privacy_partition.detection._lists import overlapping

__all__ = ["MIN_TURNS", "SPEAKER_LABEL", "complete_speakers"]

SPEAKER_LABEL: Final = "SpeakerLabel"
"""The recognizer name of a finding added as the label of a dialogue line."""
MIN_TURNS: Final = 2
_SCORE: Final = 0.6

# Roles, parties and fields that label lines without naming anyone.
_ROLES: Final = frozenset(
    {
        "a", "agent", "ai", "answer", "assistant", "bot", "buyer", "caller", "cc", "chatbot",
        "client", "customer", "date", "doctor", "dr", "employee", "example", "from", "guest",
        "host", "human", "input", "interviewee", "interviewer", "manager", "moderator",
        "narrator", "note", "nurse", "operator", "output", "patient", "q", "question", "re",
        "reply", "response", "seller", "speaker", "staff", "student", "subject", "support",
        "system", "teacher", "tip", "title", "to", "user", "warning", "you",
    }
)  # fmt: skip

# A timestamp before the label: "[00:04] ", "(12:30) ", "00:04:11 ".
_STAMP: Final = r"(?:[\[(][0-9:.,]{1,12}[\])][ \t]*|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?[ \t]+)?"
_TITLE: Final = r"(?:(?:Mr|Mrs|Ms|Mx|Dr|Prof)\.?[ \t])?"
_NAME: Final = r"[^\W\d_][\w’'-]{0,29}"
# A line that opens with a label of one to three words and a colon, then speech.
_TURN: Final = re.compile(
    rf"^[ \t]{{0,8}}{_STAMP}(?P<label>{_TITLE}{_NAME}(?:[ \t]{_NAME}){{0,2}})[ \t]{{0,3}}:[ \t]*\S",
    re.MULTILINE,
)
_TITLE_RE: Final = re.compile(_TITLE)
_WORD: Final = re.compile(r"[^\W\d_][\w’'-]*")


def complete_speakers(text: str, findings: Sequence[Finding]) -> list[Finding]:
    """``findings`` plus a ``PERSON`` for each speaker label of a dialogue between people."""
    turns = [(m.start("label"), m.end("label")) for m in _TURN.finditer(text)]
    if len(turns) < MIN_TURNS:
        return list(findings)
    ordered = sorted(findings, key=lambda f: (f.start, f.end))
    starts = [f.start for f in ordered]
    covering = [overlapping(ordered, starts, start, end) for start, end in turns]
    people = [f for found in covering for f in found if f.entity_type == "PERSON"]
    if not people:
        return list(findings)
    lower_words = {w for w in _WORD.findall(text) if w.islower()}
    added = []
    for (start, end), found in zip(turns, covering, strict=True):
        title = _TITLE_RE.match(text, start, end)
        name_start = title.end() if title else start
        label = text[name_start:end]
        if found or not label[:1].isupper() or _generic(label, lower_words):
            continue
        language = people[0].language
        added.append(Finding("PERSON", name_start, end, _SCORE, SPEAKER_LABEL, language))
    if not added:
        return list(findings)
    return sorted([*findings, *added], key=lambda f: (f.start, f.end))


def _generic(label: str, lower_words: set[str]) -> bool:
    """A role, a stop word, or words the text also writes in lower case ("Will: ... I will")."""
    words = label.lower().split()
    if all(w in _ROLES or w in STOP_WORDS for w in words):
        return True
    return len(label) < 2 or all(w in lower_words for w in words)
