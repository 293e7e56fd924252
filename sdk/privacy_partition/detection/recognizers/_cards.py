"""Payment card numbers, complete by the card schemes' numbering rules.

Presidio's card pattern knows a few prefixes and fixed groupings: it misses
the Mastercard 2-series (2221-2720), 19-digit Visa, UnionPay, Discover and
JCB numbers, Mir, and numbers grouped other than in fours. This recognizer
reads every run of 13 to 19 digits, ungrouped or grouped by single spaces or
hyphens in any way, and reports ``CREDIT_CARD`` when the digits pass the Luhn
check (ISO/IEC 7812-1) and either

* their issuer identification number and length belong to a scheme in use
  (:data:`ISSUERS`, from the schemes' published ranges): score 1.0, as
  Presidio gives a card that passes its checks; or
* a card cue ("card number", "credit card", "Visa", 卡号, 银行卡 ...) stands
  at most 16 characters before them, with no digit or line break between,
  whatever their prefix (a private-label or new range): score 0.9.

Guarantees:

* Linear time: one bounded pattern (at most 37 characters a match) and no
  backtracking across matches.
* A run that is part of a longer digit run (20 digits or more, with or
  without separators) is never reported in part.
* In Chinese text a number the Chinese bank-card recognizer reports
  (``CN_BANK_CARD``: UnionPay and other Luhn-valid 16-19 digit cards in
  groups of four) is left to it, so Chinese policies see one type for them.
* Context is read from the raw text, as in the Chinese recognizers.
* Recognizers hold no per-call state and may be shared between threads; a
  matched value never appears in an exception or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from presidio_analyzer import EntityRecognizer, Pattern

from privacy_partition.detection.recognizers._zh import (
    CnBankCardRecognizer,
    _Candidate,
    _RawTextRecognizer,
    chinese_recognizers,
)

__all__ = ["ISSUERS", "CardRecognizer", "card_recognizers", "is_card_number", "luhn_valid"]

_ENTITY: Final = "CREDIT_CARD"
_LANGUAGES: Final = ("en", "zh")
_SCHEME_SCORE: Final = 1.0
_CUE_SCORE: Final = 0.9


@dataclass(frozen=True, slots=True)
class Issuer:
    """A range of issuer identification numbers and the lengths its cards have."""

    scheme: str
    low: str
    high: str
    """Inclusive; ``low`` and ``high`` have the same number of digits."""
    lengths: frozenset[int]

    def issued(self, digits: str) -> bool:
        width = len(self.low)
        return len(digits) in self.lengths and self.low <= digits[:width] <= self.high


def _issuer(scheme: str, low: str, high: str, lengths: range | tuple[int, ...]) -> Issuer:
    return Issuer(scheme, low, high, frozenset(lengths))


_ALL: Final = range(13, 20)
_LONG: Final = range(16, 20)

ISSUERS: Final = (
    _issuer("Visa", "4", "4", (13, 16, 19)),
    _issuer("Mastercard", "51", "55", (16,)),
    _issuer("Mastercard", "2221", "2720", (16,)),
    _issuer("American Express", "34", "34", (15,)),
    _issuer("American Express", "37", "37", (15,)),
    _issuer("Diners Club International", "36", "36", range(14, 20)),
    _issuer("Diners Club Carte Blanche", "300", "305", range(14, 20)),
    _issuer("Diners Club International", "3095", "3095", _LONG),
    _issuer("Diners Club International", "38", "39", range(14, 20)),
    _issuer("Discover", "6011", "6011", _LONG),
    _issuer("Discover", "644", "649", _LONG),
    _issuer("Discover", "65", "65", _LONG),
    _issuer("Discover", "622126", "622925", _LONG),
    _issuer("JCB", "3528", "3589", _LONG),
    _issuer("UnionPay", "62", "62", _LONG),
    _issuer("UnionPay", "8100", "8171", _LONG),
    _issuer("Maestro", "5018", "5018", _ALL),
    _issuer("Maestro", "5020", "5020", _ALL),
    _issuer("Maestro", "5038", "5038", _ALL),
    _issuer("Maestro", "5893", "5893", _ALL),
    _issuer("Maestro", "6304", "6304", _ALL),
    _issuer("Maestro", "6759", "6759", _ALL),
    _issuer("Maestro", "6761", "6763", _ALL),
    _issuer("Mir", "2200", "2204", _LONG),
    _issuer("RuPay", "60", "60", (16,)),
    _issuer("RuPay", "81", "82", (16,)),
    _issuer("RuPay", "508", "508", (16,)),
    _issuer("RuPay", "353", "353", (16,)),
    _issuer("RuPay", "356", "356", (16,)),
    _issuer("Troy", "9792", "9792", (16,)),
    _issuer("Verve", "506099", "506198", (16, 18, 19)),
    _issuer("Verve", "507865", "507964", (16, 18, 19)),
    _issuer("Verve", "650002", "650027", (16, 18, 19)),
    _issuer("Dankort", "5019", "5019", (16,)),
    _issuer("BORICA", "2205", "2205", (16,)),
    _issuer("Humo", "9860", "9860", (16,)),
    _issuer("UzCard", "8600", "8600", (16,)),
    _issuer("InterPayment", "636", "636", _LONG),
    _issuer("UATP", "1", "1", (15,)),
)
"""Issuer ranges and lengths in use, as the schemes publish them (Visa, Mastercard, American
Express, Discover/Diners, JCB, UnionPay, Maestro, Mir, RuPay, Troy, Verve and national schemes)."""

# 13 to 19 digits, each but the last followed by at most one space, hyphen or no-break
# space; not inside a longer run of digits, whatever separates them.
_SEPARATOR: Final = "[ \\-\u00a0]"
_RUN: Final = (
    rf"(?<!\d)(?<!\d{_SEPARATOR})(?P<value>(?:\d{_SEPARATOR}?){{12,18}}\d)(?!{_SEPARATOR}?\d)"
)
_CUES: Final = {
    "en": (
        "card",
        "card number",
        "card no",
        "credit card",
        "debit card",
        "cc",
        "pan",
        "visa",
        "mastercard",
        "amex",
        "american express",
        "discover",
        "jcb",
        "unionpay",
        "maestro",
        "mir",
    ),
    "zh": ("卡号", "银行卡", "信用卡", "借记卡", "储蓄卡", "银联", "卡"),
}


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` (only digits) pass the Luhn check of ISO/IEC 7812-1."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """Whether ``digits`` could be a card a scheme of :data:`ISSUERS` issued."""
    return luhn_valid(digits) and any(issuer.issued(digits) for issuer in ISSUERS)


class CardRecognizer(_RawTextRecognizer):
    """``CREDIT_CARD``: Luhn-valid numbers of a known scheme, or of any prefix after a cue."""

    def __init__(self, language: str, defer_to: _RawTextRecognizer | None = None) -> None:
        """``defer_to``: a recognizer whose findings of the same span win over this one's."""
        super().__init__(
            entity=_ENTITY,
            language=language,
            patterns=[Pattern("card number, 13-19 digits, any grouping", _RUN, _SCHEME_SCORE)],
            context=_CUES[language],
        )
        self._cue_before = re.compile(
            rf"(?:{self._context_re.pattern})[^\d\n]{{0,16}}$", self._context_re.flags
        )
        self._defer_to = defer_to

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        deferred: set[tuple[int, int]] = set()
        if self._defer_to is not None:
            found = self._defer_to.analyze(text, self._defer_to.supported_entities, None)
            deferred = {(result.start, result.end) for result in found}
        for pattern, compiled in self._compiled:
            for match in compiled.finditer(text):
                start, end = match.span("value")
                if (start, end) in deferred:
                    continue
                digits = re.sub(r"\D", "", match.group("value"))
                if not luhn_valid(digits):
                    continue
                if any(issuer.issued(digits) for issuer in ISSUERS):
                    yield _Candidate(start, end, _SCHEME_SCORE, pattern)
                    continue
                before = text[max(0, start - self._window[0]) : start]
                cue = self._cue_before.search(before)
                if cue is not None:
                    yield _Candidate(start, end, _CUE_SCORE, pattern, cue.group().strip())


def card_recognizers(language: str) -> list[EntityRecognizer]:
    """The card recognizer for ``language`` ("en" or "zh"); build once and reuse."""
    if language not in _LANGUAGES:
        raise ValueError(f"card recognizers support {_LANGUAGES}, not {language!r}")
    if language == "zh":
        bank_card = next(
            r for r in chinese_recognizers(language) if isinstance(r, CnBankCardRecognizer)
        )
        return [CardRecognizer(language, defer_to=bank_card)]
    return [CardRecognizer(language)]
