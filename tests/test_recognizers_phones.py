"""Phone numbers of the main markets, in E.164 and in each market's national format.

Regions read in national format: US, CA, UK, DE, FR, NL, IN, BR, AU, IL (and Italy's
numbers through them); any country in E.164 (+CC ...). Spanish (bare 9 digits: a US
passport number), Polish and Italian national
formats are not read as such: on PUPA_New they turned decimals, US SSNs and digit lists
into phone numbers (15 false spans in 664 prompts); Chinese numbers come from the
Chinese recognizers (mobiles anywhere, landlines next to a phone word).
"""

from __future__ import annotations

import pytest

from privacy_partition.detection import Analyzer

NUMBERS = {
    "US": ["(415) 555-0132", "415-555-0132", "+1 415 555 0132", "+14155550132"],
    "UK": ["020 7946 0018", "+44 20 7946 0018", "07700 900123", "+447911123456"],
    "DE": ["030 123456789", "+49 30 123456789", "0151 23456789", "+49 151 23456789"],
    "FR": ["01 23 45 67 89", "+33 1 23 45 67 89", "06 12 34 56 78", "+33612345678"],
    "ES": ["+34 912 345 678", "+34 612 34 56 78"],
    "IT": ["06 1234 5678", "+39 06 1234 5678", "312 345 6789", "+39 312 345 6789"],
    "NL": ["020 123 4567", "+31 20 123 4567", "06 12345678", "+31 6 12345678"],
    "PL": ["+48 22 123 45 67", "+48 512 345 678"],
    "CN": ["13812345678", "138 1234 5678", "+86 138 1234 5678", "+86 10 1234 5678"],
    "IN": ["098765 43210", "+91 98765 43210", "9876543210", "022 2345 6789"],
    "BR": ["(11) 91234-5678", "+55 11 91234-5678", "(21) 2345-6789", "+55 21 2345 6789"],
}
CASES = [(region, number) for region, numbers in NUMBERS.items() for number in numbers]


def phones_in(analyzer: Analyzer, text: str, language: str = "en") -> list[str]:
    return [
        text[f.start : f.end]
        for f in analyzer.analyze(text, language=language)
        if f.entity_type == "PHONE_NUMBER"
    ]


@pytest.mark.parametrize(("region", "number"), CASES, ids=[f"{r}-{n}" for r, n in CASES])
def test_found_whole(analyzer: Analyzer, region: str, number: str) -> None:
    text = f"You can reach me on {number} after lunch."
    assert phones_in(analyzer, text) == [number]


def test_a_chinese_landline_next_to_a_phone_word(analyzer: Analyzer) -> None:
    assert phones_in(analyzer, "办公室电话 010-62345678", language="zh") == ["010-62345678"]
    assert phones_in(analyzer, "office phone 010-62345678") == ["010-62345678"]
