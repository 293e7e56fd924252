"""Hong Kong and Taiwan identity cards, and the travel permits of China's regions.

Detected entities (``en`` and ``zh``):

* ``HK_ID``: a Hong Kong identity card number, one or two letters, six
  digits and a check character (0-9 or A), the last often in parentheses
  (``A123456(3)``); reported only when the MOD 11 check holds (score 0.85,
  boosted next to 身份证 / HKID).
* ``TW_ID``: a Taiwan national identification number (or resident
  certificate number), a letter, 1, 2, 8 or 9, and eight digits; reported
  only when the weighted MOD 10 check holds (score 0.85, boosted in context).
* ``CN_TRAVEL_PERMIT``: the permits mainland, Hong Kong, Macau and Taiwan
  residents travel between the regions with:

  - 往来港澳通行证 (mainland residents to Hong Kong and Macau): C and eight
    characters, the first a letter or digit (electronic), or W and eight
    digits (booklet);
  - 往来台湾通行证 (mainland residents to Taiwan): L or T and eight digits;
  - 港澳居民来往内地通行证 (回乡证): H or M and eight or ten digits;
  - 台湾居民来往大陆通行证 (台胞证): eight digits, or ten and a letter in
    parentheses.

  The letter-prefixed forms score 0.35 alone, as passport numbers do, and
  are reported only at a policy's threshold next to a permit word (通行证,
  回乡证, 台胞证, permit); the digits-only forms only next to one.

Guarantees: every pattern is bounded and linear in time; a match never takes
in part of a longer run of letters and digits; context is read from the raw
text; recognizers hold no per-call state and may be shared between threads;
a matched value never appears in an exception or a log line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from presidio_analyzer import EntityRecognizer, Pattern

from privacy_partition.detection.recognizers._zh import _NumberRecognizer

__all__ = [
    "HkIdRecognizer",
    "TravelPermitRecognizer",
    "TwIdRecognizer",
    "hk_id_valid",
    "regional_id_recognizers",
    "tw_id_valid",
]

_LANGUAGES: Final = ("en", "zh")
_CHECKED_SCORE: Final = 0.85
_PERMIT_SCORE: Final = 0.35

_HK_CONTEXT: Final = (
    "身份证",
    "香港身份证",
    "身份證",
    "hkid",
    "hong kong id",
    "identity card",
    "id",
)
_TW_CONTEXT: Final = ("身份证", "身分證", "身分证", "台湾身份证", "national id", "id", "taiwan id")
_PERMIT_CONTEXT: Final = (
    "通行证",
    "通行證",
    "港澳通行证",
    "回乡证",
    "回鄉證",
    "台胞证",
    "台胞證",
    "permit",
    "travel permit",
    "home return permit",
    "exit-entry permit",
)

# Taiwan's letters stand for two-digit area codes, not in alphabetical order.
_TW_LETTERS: Final = dict(
    zip(
        "ABCDEFGHJKLMNPQRSTUVXYWZIO",
        range(10, 36),
        strict=True,
    )
)


def hk_id_valid(value: str) -> bool:
    """Whether a Hong Kong identity card number (parentheses optional) passes MOD 11."""
    code = value.replace("(", "").replace(")", "").upper()
    letters = code[:-7]
    digits, check = code[-7:-1], code[-1]
    if len(letters) not in (1, 2) or not letters.isalpha() or not digits.isdigit():
        return False
    # A one-letter prefix counts as a space (36) before the letter.
    values = [36] * (2 - len(letters)) + [ord(c) - 55 for c in letters] + [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    expected = (11 - total % 11) % 11
    return check == ("A" if expected == 10 else str(expected))


def tw_id_valid(value: str) -> bool:
    """Whether a Taiwan identification number passes its weighted MOD 10 check."""
    code = value.upper()
    if len(code) != 10 or code[0] not in _TW_LETTERS or not code[1:].isdigit():
        return False
    area = _TW_LETTERS[code[0]]
    weights = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)
    digits = [area // 10, area % 10, *(int(c) for c in code[1:])]
    return sum(d * w for d, w in zip(digits, weights, strict=True)) % 10 == 0


class HkIdRecognizer(_NumberRecognizer):
    """``HK_ID``: letters, six digits and a MOD 11 check character."""

    def __init__(self, language: str, context: Sequence[str] = _HK_CONTEXT) -> None:
        regex = (
            r"(?<![0-9A-Za-z])(?P<value>[A-Z]{1,2}[0-9]{6}(?:\([0-9A]\)|[0-9A]))"
            r"(?![0-9A-Za-z])"
        )
        super().__init__(
            entity="HK_ID",
            language=language,
            patterns=[Pattern("hk_id", regex, _CHECKED_SCORE)],
            context=context,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return hk_id_valid(pattern_text)


class TwIdRecognizer(_NumberRecognizer):
    """``TW_ID``: a letter, 1, 2, 8 or 9, eight digits, and a valid weighted check."""

    def __init__(self, language: str, context: Sequence[str] = _TW_CONTEXT) -> None:
        regex = r"(?<![0-9A-Za-z])(?P<value>[A-Z][1289][0-9]{8})(?![0-9A-Za-z])"
        super().__init__(
            entity="TW_ID",
            language=language,
            patterns=[Pattern("tw_id", regex, _CHECKED_SCORE)],
            context=context,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return tw_id_valid(pattern_text)


class TravelPermitRecognizer(_NumberRecognizer):
    """``CN_TRAVEL_PERMIT``: the regions' travel permits; confident only next to a permit word."""

    _DIGITS_ONLY: Final = "taiwan_compatriot_permit"

    def __init__(self, language: str, context: Sequence[str] = _PERMIT_CONTEXT) -> None:
        lettered = (
            r"(?<![0-9A-Za-z])(?P<value>"
            r"[Cc][0-9A-Za-z][0-9]{7}"  # to Hong Kong and Macau, electronic
            r"|[Ww][0-9]{8}"  # to Hong Kong and Macau, booklet
            r"|[LlTt][0-9]{8}"  # to Taiwan
            r"|[HhMm][0-9]{8}(?:[0-9]{2})?"  # Hong Kong and Macau residents to the mainland
            r")(?![0-9A-Za-z])"
        )
        digits_only = r"(?<![0-9A-Za-z])(?P<value>[0-9]{8}|[0-9]{10}\([A-Za-z]\))(?![0-9A-Za-z(])"
        super().__init__(
            entity="CN_TRAVEL_PERMIT",
            language=language,
            patterns=[
                Pattern("regional_travel_permit", lettered, _PERMIT_SCORE),
                Pattern(self._DIGITS_ONLY, digits_only, _PERMIT_SCORE),
            ],
            context=context,
        )

    def _score(self, value: str, pattern: Pattern, in_context: bool) -> float | None:
        # Eight digits alone are as likely a date, an amount or an order number.
        if pattern.name == self._DIGITS_ONLY and not in_context:
            return None
        return super()._score(value, pattern, in_context)


def regional_id_recognizers(language: str) -> list[EntityRecognizer]:
    """The Hong Kong, Taiwan and travel-permit recognizers for ``language`` ("en" or "zh")."""
    if language not in _LANGUAGES:
        raise ValueError(f"regional id recognizers support {_LANGUAGES}, not {language!r}")
    return [HkIdRecognizer(language), TwIdRecognizer(language), TravelPermitRecognizer(language)]
