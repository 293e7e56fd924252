"""What detection reads: the text with its disguises taken off, and the way back.

A value can be hidden from pattern recognizers without changing how it
looks: an invisible character inside it (``jane\\u200b@example.org``),
full-width forms (``２１２-５５５-０１９９``), or a Cyrillic or Greek letter that
looks Latin (``jаne@example.org`` with a Cyrillic ``а``). ``normalize``
undoes these before any recognizer runs:

* invisible characters are removed: zero-width spaces and joiners, the word
  joiner, the byte order mark, the soft hyphen, bidirectional controls,
  invisible operators, variation selectors, tag characters, Hangul fillers;
* every other character is replaced by its NFKC form where that form is one
  character (full-width ASCII, mathematical letters, circled digits, no-break
  spaces); forms of more than one character (``ﬁ``, ``½``) stay as written.
  The full-width punctuation Chinese is written with (``，：；！？（）``) stays
  too: Chinese recognizers and sentence splitting read it;
* decimal digits of any script become ASCII digits;
* in a word that mixes them with Latin letters, ASCII digits or ``@``,
  Cyrillic, Greek and Armenian letters that look Latin become the Latin
  letter (or the digit they look like, in a word of digits), from a small
  table of common confusables. A word written wholly in another script is
  left as it is: it is not a disguise.

Every character of the result comes from exactly one character of the
original, in order, so a span of the result maps back to a span of the
original (``Normalized.to_original``); the span in the original covers the
invisible characters inside the value, so a transform replaces them too.

Guarantees: pure, deterministic and idempotent; linear in the text (ASCII
text is returned as it is, without a copy); thread-safe.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from privacy_partition.detection._finding import Finding

__all__ = ["Normalized", "normalize"]

# Removed wherever they stand: they render as nothing (or as a hyphen only at
# a line break) and serve to split a value where a recognizer cannot see it.
_INVISIBLE_CLASS: Final = (
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u061c"  # Arabic letter mark
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u180b-\u180f"  # Mongolian variation selectors and vowel separator
    "\u200b-\u200f"  # zero-width space, non-joiner, joiner; LRM, RLM
    "\u202a-\u202e"  # bidirectional embeddings and overrides
    "\u2060-\u2064"  # word joiner, invisible operators
    "\u2066-\u206f"  # bidirectional isolates, deprecated format characters
    "\ufe00-\ufe0f"  # variation selectors
    "\ufeff"  # zero-width no-break space (byte order mark)
    "\ufff9-\ufffb"  # interlinear annotation
    "\U0001bca0-\U0001bca3"  # shorthand format controls
    "\U0001d173-\U0001d17a"  # musical formatting
    "\U000e0000-\U000e007f"  # tag characters
    "\U000e0100-\U000e01ef"  # variation selectors supplement
)
_INVISIBLE: Final = re.compile(f"[{_INVISIBLE_CLASS}]")

# Chinese punctuation in its full-width form: Chinese text is written with it.
_KEEP: Final = frozenset("！（），：；？")

# Letters of other scripts that look like a Latin letter, as that letter.
_LETTERS: Final = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "һ": "h",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ѵ": "v", "ү": "y", "ɡ": "g",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Һ": "H",
    "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W", "Ӏ": "I", "Ѵ": "V", "Ү": "Y",
    # Greek
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "γ": "y",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Armenian
    "ա": "w", "հ": "h", "ո": "n", "ս": "u", "օ": "o", "ց": "g", "զ": "q",
    # Latin letters that read as plain ones
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɩ": "i", "ʏ": "y",
}  # fmt: skip
# The same letters, where they stand among digits.
_DIGITS: Final = {
    "О": "0", "о": "0", "Ο": "0", "ο": "0", "օ": "0",
    "З": "3", "з": "3", "б": "6",
    "І": "1", "і": "1", "Ι": "1", "ι": "1", "ӏ": "1", "Ӏ": "1", "ı": "1",
}  # fmt: skip
_AS_LETTERS: Final = str.maketrans(_LETTERS)
_AS_DIGITS: Final = str.maketrans(_DIGITS)
_CONFUSABLE_CLASS: Final = "".join(sorted(set(_LETTERS) | set(_DIGITS)))
_CONFUSABLE: Final = re.compile(f"[{_CONFUSABLE_CLASS}]")
_CONFUSABLES: Final = re.compile(f"[{_CONFUSABLE_CLASS}]+")
_DIGIT_CLASS: Final = "".join(sorted(_DIGITS))
_DIGIT_LIKE: Final = re.compile(f"[{_DIGIT_CLASS}]+")
# A word that reads as (part of) a number: "+І" (+1), "(ЗІО)".
_NUMBER_LIKE: Final = re.compile(rf"(?=.*[-+().])[-+().{_DIGIT_CLASS}]+")
# A whole word (between whitespace) holding a confusable. Anchored at a word
# start and possessive, so that the scan is linear however long the word.
_CONFUSABLE_WORD: Final = re.compile(rf"(?<!\S)[^\s{_CONFUSABLE_CLASS}]*+[{_CONFUSABLE_CLASS}]\S*")
_LATIN: Final = re.compile(r"[A-Za-z0-9@]")
_ASCII_LETTER: Final = re.compile(r"[A-Za-z]")

# The per-character map is cached; bounded, since a text can hold any character.
_CACHE_LIMIT: Final = 1 << 16


def _one_to_one(code: int) -> int | None:
    """What character ``code`` becomes (its own code when unchanged); None to remove it."""
    char = chr(code)
    if _INVISIBLE.match(char):
        return None
    if char in _KEEP:
        return code
    mapped = unicodedata.normalize("NFKC", char)
    if len(mapped) != 1 or _INVISIBLE.match(mapped):
        mapped = char
    digit = unicodedata.decimal(mapped, None)
    if digit is not None:
        mapped = str(digit)
    return ord(mapped)


class _Table(dict[int, int | None]):
    """``str.translate``'s table, filled on first use of each character."""

    def __missing__(self, code: int) -> int | None:
        value = _one_to_one(code)
        if len(self) < _CACHE_LIMIT:
            self[code] = value
        return value


_TABLE: Final = _Table()


def _is_ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _is_ascii_digit(char: str) -> bool:
    return char.isascii() and char.isdigit()


def _unmask_word(match: re.Match[str]) -> str:
    """A word that mixes look-alike letters with Latin ones or digits, in Latin."""
    word = match.group()
    if not _LATIN.search(word) and not _NUMBER_LIKE.fullmatch(word):
        return word  # written in another script: not a disguise
    spelled = _ASCII_LETTER.search(word) is not None
    parts: list[str] = []
    cursor = 0
    for run in _CONFUSABLES.finditer(word):
        start, end = run.span()
        before = word[start - 1] if start else ""
        after = word[end : end + 1]
        # Digits where the look-alikes all stand for digits and touch digits, not letters.
        as_digits = (
            _DIGIT_LIKE.fullmatch(run.group()) is not None
            and not (_is_ascii_letter(before) or _is_ascii_letter(after))
            and (_is_ascii_digit(before) or _is_ascii_digit(after) or not spelled)
        )
        parts += (
            word[cursor:start],
            run.group().translate(_AS_DIGITS if as_digits else _AS_LETTERS),
        )
        cursor = end
    parts.append(word[cursor:])
    return "".join(parts)


class Normalized:
    """A text as detection reads it (``text``) and the offsets of the original it came from.

    Holds the original's offsets only where characters were removed, one
    integer per removed run; a text with none removed maps to itself.
    """

    __slots__ = ("_breaks", "_shifts", "text")

    def __init__(self, text: str, removed: Sequence[int] = ()) -> None:
        """``removed``: the sorted offsets, in the original, of the characters taken out."""
        self.text = text
        # After the k-th removal, result offsets from breaks[k] on lie shifts[k] further on.
        self._breaks: list[int] = []
        self._shifts: list[int] = []
        for count, position in enumerate(removed, start=1):
            at = position - count + 1
            if self._breaks and self._breaks[-1] == at:
                self._shifts[-1] = count
            else:
                self._breaks.append(at)
                self._shifts.append(count)

    def __repr__(self) -> str:
        removed = self._shifts[-1] if self._shifts else 0
        return f"Normalized({len(self.text)} chars, {removed} removed)"

    def _original(self, index: int) -> int:
        k = bisect.bisect_right(self._breaks, index)
        return index + (self._shifts[k - 1] if k else 0)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original that ``text[start:end]`` (not empty) came from."""
        return self._original(start), self._original(end - 1) + 1

    def to_original(self, findings: Sequence[Finding]) -> list[Finding]:
        """``findings`` on ``text``, moved to the original's offsets (order and gaps kept)."""
        if not self._breaks:
            return list(findings)
        moved = []
        for finding in findings:
            start, end = self.original_span(finding.start, finding.end)
            moved.append(replace(finding, start=start, end=end))
        return moved


def normalize(text: str) -> Normalized:
    """``text`` with invisible characters removed and look-alike forms mapped (module doc)."""
    if text.isascii():
        return Normalized(text)
    removed = [match.start() for match in _INVISIBLE.finditer(text)]
    result = text.translate(_TABLE)
    if _CONFUSABLE.search(result):
        result = _CONFUSABLE_WORD.sub(_unmask_word, result)
    return Normalized(result, removed)
