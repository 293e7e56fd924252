"""US SSNs and ITINs, from the SSA's and IRS's numbering rules (Presidio's recognizers).

SSN: area 001-899 but 666, group 01-99, serial 0001-9999 (SSA, since 2011 randomized).
ITIN: 9, two digits, a group in 50-65, 70-88, 90-92 or 94-99, four digits (IRS).
"""

from __future__ import annotations

import pytest

from privacy_partition.detection import Analyzer

SSNS = ["536-22-1234", "001-01-0001", "899-99-9999", "665-45-6789", "536 22 1234", "772-10-5555"]
NOT_SSNS = ["000-12-3456", "666-12-3456", "536-00-1234", "536-22-0000"]
ITINS = [
    f"9{area:02d}-{group:02d}-1234"
    for area in (0, 12, 99)
    for group in (50, 65, 70, 88, 90, 92, 94, 99)
]


def found(analyzer: Analyzer, text: str, entity: str) -> list[str]:
    return [
        text[f.start : f.end]
        for f in analyzer.analyze(text, language="en")
        if f.entity_type == entity
    ]


@pytest.mark.parametrize("value", SSNS)
def test_valid_ssns(analyzer: Analyzer, value: str) -> None:
    assert found(analyzer, f"My SSN is {value}.", "US_SSN") == [value]


@pytest.mark.parametrize("value", NOT_SSNS)
def test_numbers_the_ssa_never_issues(analyzer: Analyzer, value: str) -> None:
    assert found(analyzer, f"My SSN is {value}.", "US_SSN") == []


@pytest.mark.parametrize("value", ITINS)
def test_itins_in_every_group_range(analyzer: Analyzer, value: str) -> None:
    assert found(analyzer, f"My ITIN is {value}.", "US_ITIN") == [value]
