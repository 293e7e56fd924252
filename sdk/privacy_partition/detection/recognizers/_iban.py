"""IBANs of every country in the IBAN registry, by ISO 13616's rules.

Presidio's IBAN pattern lacks the countries that joined the registry lately
(Russia, El Salvador, Somalia, the Falklands, ...) and, on an IBAN printed in
groups, runs on into the next short word ("DE89 3704 0044 0532 0130 00
today"). This recognizer reads a country code, two check digits and the
account part, ungrouped or in the print format's groups of four separated by
single spaces, cuts the match at the length the country's IBANs have
(:data:`LENGTHS`, from the SWIFT IBAN registry), and reports ``IBAN_CODE``
when the ISO 7064 MOD 97-10 check holds: score 1.0. A wrong length or check
digit is not an IBAN.

Guarantees: linear time (one bounded pattern, at most 41 characters a match);
letters may be of either case; a match never takes in part of a longer
alphanumeric run; recognizers hold no per-call state and may be shared between
threads; a matched value never appears in an exception or a log line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from presidio_analyzer import EntityRecognizer, Pattern

from privacy_partition.detection.recognizers._zh import _Candidate, _RawTextRecognizer

__all__ = ["LENGTHS", "IsoIbanRecognizer", "iban_checksum_valid", "iban_recognizers"]

_ENTITY: Final = "IBAN_CODE"
_SCORE: Final = 1.0

LENGTHS: Final = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip
"""IBAN length by country code, as the SWIFT IBAN registry lists them."""

# Country code and check digits, then the account part: contiguous, or in groups of
# four after single spaces (the print format), the last group shorter.
_RUN: Final = (
    r"(?<![0-9A-Za-z])(?P<value>[A-Za-z]{2}[0-9]{2}"
    r"(?:[0-9A-Za-z]{11,30}|(?: [0-9A-Za-z]{4}){2,7}(?: [0-9A-Za-z]{1,4})?))"
)


def iban_checksum_valid(iban: str) -> bool:
    """Whether ``iban`` (letters and digits only) passes ISO 7064 MOD 97-10."""
    moved = (iban[4:] + iban[:4]).upper()
    number = "".join(str(int(char, 36)) for char in moved)
    return int(number) % 97 == 1


class IsoIbanRecognizer(_RawTextRecognizer):
    """Named apart from Presidio's IbanRecognizer, which its registry looks up by class name.

    ``IBAN_CODE``: a registry country's length and a valid MOD 97-10 check."""

    def __init__(self, language: str) -> None:
        super().__init__(
            entity=_ENTITY,
            language=language,
            patterns=[Pattern("IBAN, contiguous or in groups of four", _RUN, _SCORE)],
            context=("iban", "bank account", "account"),
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for pattern, compiled in self._compiled:
            for match in compiled.finditer(text):
                start = match.start("value")
                length = LENGTHS.get(match.group("value")[:2].upper())
                if length is None:
                    continue
                end = _end_of(text, start, match.end("value"), length)
                if end is None:
                    continue
                compact = text[start:end].replace(" ", "")
                if end < len(text) and text[end].isalnum() and " " not in text[start:end]:
                    continue  # a slice of a longer run of letters and digits
                if iban_checksum_valid(compact):
                    yield _Candidate(start, end, _SCORE, pattern)


def _end_of(text: str, start: int, stop: int, length: int) -> int | None:
    """Where the ``length``-th letter or digit from ``start`` ends, before ``stop``."""
    seen = 0
    for index in range(start, stop):
        if text[index] != " ":
            seen += 1
            if seen == length:
                return index + 1
    return None


def iban_recognizers(language: str) -> list[EntityRecognizer]:
    """The IBAN recognizer for ``language``; build once and reuse."""
    return [IsoIbanRecognizer(language)]
