"""Presidio recognizers for organizations that only their surroundings reveal.

spaCy's small English model finds "Google" in "I work at Google", but not a
company written in lower case, a small firm it never saw, or a stock ticker.
The surroundings say what the word is:

* a legal form after the name: "Aurionpro solutions ltd", "Quasi Ventures
  Inc.", "The D’Amico Company" (for the ambiguous "Company" and "Group" only
  capitalized names count);
* a naming phrase: "a company called tech stop", "an app named "Mario"",
  "the brand known as Chic";
* a job before the name: "a pen tester at cloudflare", "I work for rev.";
  a lower-case name must end its clause or be followed by a word that
  carries the sentence on ("and", "as", "since" ...);
* a stock ticker: a cashtag ("$AAPL"), an exchange prefix ("NASDAQ: MSFT"),
  or the rows of a holdings table, where a ticker stands before a dollar
  price ("AAPL $179,96"); a table needs two such rows.

Every finding is an ``ORGANIZATION``, so a policy treats these the way it
treats the organizations NER finds. English only: the cues are English words.

Guarantees: every regular expression runs in linear time (each repetition is
bounded and none nest over the same characters); context is read from the raw
text; the recognizers hold no per-call state; a matched value never appears in
an exception or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Final

from presidio_analyzer import EntityRecognizer, Pattern
from spacy.lang.en.stop_words import STOP_WORDS

from privacy_partition.detection.recognizers._zh import _Candidate, _RawTextRecognizer

__all__ = ["LEGAL_FORM_END", "organization_recognizers"]

_ENTITY: Final = "ORGANIZATION"
_CONTEXT: Final = ("company", "firm", "brand", "business", "stock", "shares", "ticker")

# A word of a name: letters, digits and the marks names carry (D’Amico, AT&T, high-tech).
_WORD: Final = r"[^\W_][\w&’'.-]{0,39}"
_CAP_WORD: Final = r"[^\W\d_a-z][\w&’'.-]{0,39}"

# Legal forms that only a company carries, matched in any case ("ltd", "Ltd.").
_LEGAL_FORMS: Final = (
    r"ltd\.?|inc\.?|llc|l\.l\.c\.|gmbh|corp\.?|plc|llp|pvt\.?[ \t]+ltd\.?"
    r"|co\.,?[ \t]*ltd\.?|pte\.?[ \t]+ltd\.?|s\.a\.r\.l\.|sdn\.?[ \t]+bhd\.?"
)
# Forms that are also plain words ("the company", "supplies limited"): capitalized names only.
_WORD_FORMS: Final = (
    r"Company|Corporation|Limited|Incorporated|Group|Holdings|Enterprises"
    r"|AG|SA|S\.A\.|N\.V\.|B\.V\."
)

# Words that end a name read backwards from its legal form: "with Quasi Ventures Inc."
# keeps "Quasi Ventures".
_NOT_NAME_WORDS: Final = frozenset(STOP_WORDS) | {
    "dear",
    "hi",
    "hello",
    "company",
    "companies",
    "firm",
    "from",
    "about",
    "include",
    "includes",
    "including",
}

# Nouns a naming phrase follows: "a company called ...", "an app named ...".
_NAMED_THINGS: Final = (
    r"company|firm|brand|business|startup|start-up|agency|store|shop|boutique|restaurant|"
    r"caf[eé]|bakery|salon|clinic|hotel|school|academy|app|application|website|site|"
    r"platform|channel|podcast|organi[sz]ation|charity|foundation|nonprofit|non-profit|"
    r"product|project|service|studio|label|band|team|club|group|venture|enterprise"
)
# Where a name after a naming phrase stops.
_NAME_STOP_WORDS: Final = frozenset(STOP_WORDS) | {
    "located",
    "based",
    "situated",
    "specializing",
    "specialising",
    "offering",
    "selling",
    "providing",
    "focused",
    "focusing",
    "founded",
    "owned",
    "run",
    "operating",
}

# Jobs and employment words a company follows: "a pen tester at cloudflare".
_JOB_WORDS: Final = (
    r"work(?:s|ed|ing)?|intern(?:s|ed|ing|ship)?|employed|employee|hired|job|position|"
    r"role|tester|engineer|developer|programmer|manager|analyst|designer|consultant|"
    r"scientist|researcher|specialist|director|officer|executive|recruiter|accountant|"
    r"cashier|driver|associate|representative|coordinator"
)
# After a lower-case company: the clause ends, or a word carries the sentence on.
_AFTER_LOWER: Final = re.compile(
    r"[ \t]*(?:[,.;:!?)\n]|$|(?:and|as|since|for|where|but|so|in|on|who|which|that)(?![\w’']))"
)
# Lower-case words that follow "work at/for" without naming anyone's employer.
_NOT_EMPLOYERS: Final = frozenset(STOP_WORDS) | {
    "home",
    "night",
    "free",
    "money",
    "fun",
    "hours",
    "years",
    "months",
    "weeks",
    "days",
    "time",
    "least",
    "once",
    "length",
    "scale",
    "random",
    "work",
    "company",
    "companies",
    "office",
    "school",
    "college",
    "university",
    "startup",
    "startups",
    "clients",
    "customers",
    "people",
    "others",
    "myself",
    "yourself",
    "everyone",
    "everybody",
    "anyone",
    "life",
    "pay",
    "hire",
    "sale",
    "rent",
    "good",
    "real",
    "peace",
    "change",
    "success",
    "beginners",
    "kids",
    "children",
    "students",
    "government",
    "ai",
    "chatgpt",
    "openai",
    "heart",
    "hand",
    "present",
    "best",
    "first",
    "most",
    "all",
    "times",
    "risk",
    "ease",
    "will",
    "rest",
    "large",
    "dawn",
    "noon",
    "midnight",
    "lunch",
    "dinner",
    "breakfast",
    "weekends",
    "nights",
    "holidays",
    "christmas",
    "cost",
    "profit",
    "minimum",
    "wage",
    "food",
    "tips",
    "exposure",
    "experience",
    "credit",
}

# Currency codes and units that stand before a price in the same shape as a ticker.
_NOT_TICKERS: Final = frozenset(
    {"USD", "EUR", "GBP", "CAD", "AUD", "NZD", "HKD", "SGD", "JPY", "CNY", "RMB", "INR"}
    | {"CHF", "SEK", "NOK", "DKK", "MXN", "BRL", "ZAR", "RUB", "KRW", "TWD", "AED", "SAR"}
    | {"US", "USA", "NT", "TOTAL", "SUM", "AVG", "MIN", "MAX", "PRICE", "COST", "TAX", "VAT"}
    | {"FEE", "NET", "GROSS", "PAID", "DUE", "NOW", "WAS", "SALE", "OFF", "ONLY", "FROM"}
    | {"AND", "OR", "THE", "FOR", "PER", "EACH", "NEW", "OLD", "ID", "NO", "YES", "OK"}
)


LEGAL_FORM_END: Final = re.compile(rf"[ \t]*,?[ \t]+(?:(?i:{_LEGAL_FORMS})|{_WORD_FORMS})$")
"""A legal form ending an organization's name: what ``propagate`` strips to follow the name."""


class LegalFormRecognizer(_RawTextRecognizer):
    """A company named before its legal form: "Aurionpro solutions ltd", "Acme GmbH"."""

    _SCORE: Final = 0.7

    def __init__(self, language: str, context: Sequence[str]) -> None:
        words = rf"(?P<value>{_WORD}(?:[ \t]+{_WORD}){{0,3}}?)"
        regex = (
            rf"(?<![\w&’'.-]){words}[ \t]*,?[ \t]+(?P<form>(?i:{_LEGAL_FORMS})|{_WORD_FORMS})"
            r"(?![\w&’'-])"
        )
        self._pattern = Pattern("legal_form", regex, self._SCORE)
        self._word_form = re.compile(_WORD_FORMS)
        super().__init__(
            entity=_ENTITY, language=language, patterns=[self._pattern], context=context
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for match in self._compiled[0][1].finditer(text):
            capitals_only = self._word_form.fullmatch(match.group("form")) is not None
            words = list(re.finditer(r"\S+", match.group("value")))
            # Read the name backwards from its form, up to a word that is no part of it.
            start = None
            for word in reversed(words):
                bare = word.group().strip("’'.-").lower()
                if not bare or bare in _NOT_NAME_WORDS:
                    break
                if capitals_only and not word.group()[0].isupper():
                    break
                start = match.start("value") + word.start()
            if start is not None:
                yield _Candidate(start, match.end("form"), self._SCORE, self._pattern)


class NamedThingRecognizer(_RawTextRecognizer):
    """A name after a naming phrase: "a company called tech stop", "app named "Mario"".

    A quoted name is taken whole; an unquoted one runs for up to four words and
    stops at punctuation or a word that cannot be part of a name.
    """

    _QUOTED_SCORE: Final = 0.7
    _SCORE: Final = 0.6

    def __init__(self, language: str, context: Sequence[str]) -> None:
        regex = (
            rf"(?i:(?<![\w-])(?:{_NAMED_THINGS})[ \t]+(?:called|named|titled|known[ \t]+as)[ \t]+)"
            r"(?:[\"“”'‘’«](?P<quoted>[^\"“”'‘’«»\n]{1,60})[\"“”'‘’»]"
            rf"|(?P<value>{_WORD}(?:[ \t]+{_WORD}){{0,3}}))"
        )
        self._pattern = Pattern("named_thing", regex, self._SCORE)
        super().__init__(
            entity=_ENTITY, language=language, patterns=[self._pattern], context=context
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for match in self._compiled[0][1].finditer(text):
            if match.group("quoted") is not None:
                start, end = match.span("quoted")
                if text[start:end].strip():
                    yield _Candidate(start, end, self._QUOTED_SCORE, self._pattern)
                continue
            start = match.start("value")
            end = start
            for word in re.finditer(r"\S+", match.group("value")):
                bare = word.group().rstrip(".,;:!?)").lower()
                if not bare or bare in _NAME_STOP_WORDS:
                    break
                end = start + word.start() + len(word.group().rstrip(".,;:!?)"))
                if word.group() != word.group().rstrip(".,;:!?)"):
                    break
            if end > start:
                yield _Candidate(start, end, self._SCORE, self._pattern)


class EmployerRecognizer(_RawTextRecognizer):
    """A company after a job: "a pen tester at cloudflare", "I work for rev."

    Capitalized names are spaCy's to find; this one takes the lower-case single
    word spaCy misses, when it ends its clause and is not a common complement
    ("work at home", "work for free").
    """

    _SCORE: Final = 0.55

    def __init__(self, language: str, context: Sequence[str]) -> None:
        regex = (
            rf"(?i:(?<![\w-])(?:{_JOB_WORDS})[ \t]+(?:at|for)[ \t]+)"
            r"(?P<value>[a-z][a-z0-9&-]{1,29})(?![\w&’'-])"
        )
        self._pattern = Pattern("employer_cue", regex, self._SCORE)
        super().__init__(
            entity=_ENTITY, language=language, patterns=[self._pattern], context=context
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for match in self._compiled[0][1].finditer(text):
            word = match.group("value")
            if word in _NOT_EMPLOYERS or word.endswith(("ing", "ly")):
                continue
            if not _AFTER_LOWER.match(text, match.end("value")):
                continue
            yield _Candidate(*match.span("value"), self._SCORE, self._pattern)


class TickerRecognizer(_RawTextRecognizer):
    """A stock ticker: "$AAPL", "NASDAQ: MSFT", or the rows of a holdings table."""

    _SCORE: Final = 0.6
    _MIN_ROWS: Final = 2

    def __init__(self, language: str, context: Sequence[str]) -> None:
        cashtag = r"(?<![\w$])\$(?P<value>[A-Z]{1,5}(?:\.[A-Z])?)(?![\w.])"
        exchange = (
            r"(?<![\w])(?:NASDAQ|NYSE|AMEX|NYSEARCA|LSE|TSX|ASX|HKEX|SGX)[ \t]*:[ \t]*"
            r"(?P<value>[A-Z]{1,5}(?:\.[A-Z]{1,2})?)(?![\w])"
        )
        row = r"(?<![\w$.-])(?P<value>[A-Z]{2,5})(?=[ \t]{1,8}-?\$[ \t]?\d)"
        self._cashtag = Pattern("ticker_cashtag", cashtag, self._SCORE)
        self._exchange = Pattern("ticker_exchange", exchange, self._SCORE)
        self._row = Pattern("ticker_row", row, self._SCORE)
        super().__init__(
            entity=_ENTITY,
            language=language,
            patterns=[self._cashtag, self._exchange, self._row],
            context=context,
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        (_, cashtag_re), (_, exchange_re), (_, row_re) = self._compiled
        for match in cashtag_re.finditer(text):
            if match.group("value") not in _NOT_TICKERS:
                yield _Candidate(*match.span("value"), self._SCORE, self._cashtag)
        for match in exchange_re.finditer(text):
            yield _Candidate(*match.span("value"), self._SCORE, self._exchange)
        rows = [m for m in row_re.finditer(text) if m.group("value") not in _NOT_TICKERS]
        if len({m.group("value") for m in rows}) >= self._MIN_ROWS:
            for match in rows:
                yield _Candidate(*match.span("value"), self._SCORE, self._row)


def organization_recognizers(language: str) -> list[EntityRecognizer]:
    """The organization recognizers for ``language``: every one for "en", none otherwise.

    Each call builds new instances; build once and reuse them.
    """
    if language != "en":
        return []
    return [
        LegalFormRecognizer(language, _CONTEXT),
        NamedThingRecognizer(language, _CONTEXT),
        EmployerRecognizer(language, _CONTEXT),
        TickerRecognizer(language, _CONTEXT),
    ]
